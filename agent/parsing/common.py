"""Pieces every reply syntax shares: proposals in model space, thinking, numbers, quoting."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from agent.errors import ParseError
from sandbox.actions import Button, Direction, Status
from sandbox.text import shorten

Point = tuple[float, float]
Box = tuple[float, float, float, float]

# Tokens that carry no meaning for us wherever they appear (end of turn, Qwen-Agent rendering marks).
_NOISE = re.compile(r"<\|im_end\|>|<\|endoftext\|>|<\|im_start\|>(?:assistant)?|^\s*\[ANSWER\]\s*", re.M)
_THINK_BLOCK = re.compile(r"<(think|thinking)>(.*?)</\1>", re.S)
_THINK_CLOSE = re.compile(r"</(think|thinking)>")
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
NUMBER_RE = re.compile(_NUMBER)
QUOTE_LIMIT = 160


def quote(text: str, limit: int = QUOTE_LIMIT) -> str:
    """The offending part of a reply, shortened (sandbox.text.shorten), as it appears in error messages."""
    return repr(shorten(text.strip(), limit))


# What a reply proposes, one dataclass per action, with coordinates still in the model's space: the syntax
# parsers make these, and agent/parsing/__init__.py turns each into a sandbox action in screen space.


@dataclass(frozen=True, slots=True, kw_only=True)
class ProposedClick:
    source: str  # the part of the reply it came from (as in every proposal)
    point: Point
    button: Button = "left"
    count: int = 1
    box: Box | None = None  # the model's box when it gave one (the point is its centre)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProposedMove:
    source: str
    point: Point
    box: Box | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ProposedDrag:
    source: str
    start: Point | None  # None: from where the pointer is
    end: Point


@dataclass(frozen=True, slots=True, kw_only=True)
class ProposedScroll:
    source: str
    point: Point | None  # None: where the pointer is
    direction: Direction
    amount: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ProposedType:
    source: str
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ProposedHotkey:
    source: str
    keys: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProposedWait:
    source: str
    seconds: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ProposedFinish:
    source: str
    status: Status
    answer: str | None


Proposal = (
    ProposedClick
    | ProposedMove
    | ProposedDrag
    | ProposedScroll
    | ProposedType
    | ProposedHotkey
    | ProposedWait
    | ProposedFinish
)


def split_thinking(raw: str) -> tuple[str | None, str]:
    """Separate `<think>...</think>` (or a lone `</think>`) from the answer; thinking is never parsed."""
    text = _NOISE.sub("", raw)
    thoughts = [m.group(2).strip() for m in _THINK_BLOCK.finditer(text)]
    text = _THINK_BLOCK.sub("", text)
    closes = list(_THINK_CLOSE.finditer(text))
    if closes:  # the chat template opened <think>; everything up to the last close is thinking
        last = closes[-1]
        thoughts.insert(0, _THINK_CLOSE.sub("", text[: last.start()]).replace("<think>", "").strip())
        text = text[last.end() :]
    elif "<think>" in text:  # opened and never closed: the whole rest is thinking, no answer
        head, _, tail = text.partition("<think>")
        thoughts.append(tail.strip())
        text = head
    thought = "\n".join(t for t in thoughts if t) or None
    return thought, text.strip()


class DuplicateKeyError(ValueError):
    """A JSON object that names one key twice: which value the model meant is unknown, so neither is taken."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise DuplicateKeyError(f"the key {key!r} appears twice")
        seen[key] = value
    return seen


# Every JSON a reply holds is read with this decoder: a repeated key is an error, never "the last one wins".
STRICT_JSON = json.JSONDecoder(object_pairs_hook=_unique_keys)


def to_number(value: object, what: str, source: str) -> float:
    """A finite number from a JSON value; numeric strings are accepted (models emit `"time": "3"`)."""
    if isinstance(value, bool):
        raise ParseError(f"{what} must be a number, got {value!r} in {quote(source)}")
    if isinstance(value, (int, float)) or isinstance(value, str) and re.fullmatch(r"\s*" + _NUMBER + r"\s*", value):
        number = float(value)
    else:
        raise ParseError(f"{what} must be a number, got {value!r} in {quote(source)}")
    if not math.isfinite(number):
        raise ParseError(f"{what} is not finite ({value!r}) in {quote(source)}")
    return number


_PAIR = rf"\s*({_NUMBER})\s*(?:,\s*|\s+)({_NUMBER})\s*"
_POINT_STRING = re.compile(rf"\s*(?:\[{_PAIR}\]|\({_PAIR}\)|{_PAIR})\s*")


def to_point(value: object, what: str, source: str) -> Point:
    """[x, y] from JSON: two numbers, or a string that is exactly "x, y", "[x, y]" or "(x, y)"."""
    if isinstance(value, str):
        match = _POINT_STRING.fullmatch(value)
        if match is None:
            raise ParseError(f"{what} must be [x, y], got {value!r} in {quote(source)}")
        x, y = (n for n in match.groups() if n is not None)
        return to_number(x, what, source), to_number(y, what, source)
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ParseError(f"{what} must be [x, y], got {value!r} in {quote(source)}")
    return to_number(value[0], what, source), to_number(value[1], what, source)


def box_centre(box: Box) -> Point:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def click_at_box(box: Box, source: str) -> ProposedClick:
    return ProposedClick(source=source, point=box_centre(box), box=box)


def click_at(point: Point, source: str) -> ProposedClick:
    return ProposedClick(source=source, point=point)


def type_then_enter(text: str, source: str) -> list[Proposal]:
    """UI-TARS convention: a trailing newline in typed text means press Enter after typing it."""
    proposals: list[Proposal] = []
    body = text[:-1] if text.endswith("\n") else text
    if body:
        proposals.append(ProposedType(source=source, text=body))
    if text.endswith("\n"):
        proposals.append(ProposedHotkey(source=source, keys=("enter",)))
    if not proposals:
        raise ParseError(f"type has no text in {quote(source)}")
    return proposals

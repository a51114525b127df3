"""The one place model text becomes actions: raw reply -> thought + actions in screen coordinates.

`parse_reply` strips thinking (kept as the thought, never parsed), reads the family's syntax into
proposals in model space, then converts every coordinate through the frame (sandbox.geometry). Anything
that is not well formed raises ParseError quoting the offending part; nothing is guessed. Text enters
deskpilot here, so what comes out is valid UTF-8: a lone surrogate becomes U+FFFD, and the reply says how
many there were (ParsedReply.repaired).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from agent.errors import ParseError
from agent.families import Family
from agent.parsing import grounding, pyautogui, refbox, toolcall, uitars
from agent.parsing.common import (
    Box,
    Point,
    Proposal,
    ProposedClick,
    ProposedDrag,
    ProposedFinish,
    ProposedHotkey,
    ProposedMove,
    ProposedScroll,
    ProposedType,
    ProposedWait,
    quote,
    split_thinking,
)
from sandbox.actions import (
    Action,
    Click,
    Drag,
    Finish,
    Hotkey,
    Move,
    Scroll,
    Type,
    Wait,
    action_to_json,
    assert_never,
)
from sandbox.errors import ActionError, GeometryError
from sandbox.geometry import ModelFrame
from sandbox.text import valid_text

MAX_REPLY_CHARS = 200_000
KEPT_REPLY_CHARS = 4000  # of an oversized reply, this much is recorded and shown to the model again

_SYNTAXES = {
    "qwen-tool-call": toolcall.parse,
    "ui-tars": uitars.parse,
    "qwen-vl-ref": refbox.parse_qwen_vl,
    "qwen2-vl-box": refbox.parse_qwen2_vl,
    "point-json": grounding.parse_point,
    "pyautogui": pyautogui.parse,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedAction:
    """A screen action plus what the model wrote for it (model-space coordinates, box, source text)."""

    action: Action
    model: dict[str, Any]  # the action's JSON with coordinates as the model wrote them
    source: str
    box: tuple[int, int, int, int] | None = None  # the model's box in screen coordinates


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedReply:
    thought: str | None
    actions: tuple[ParsedAction, ...]
    # lone surrogates (half of a UTF-16 pair: half an emoji, a JSON `\ud800`) that were replaced with U+FFFD:
    # no file, terminal or server takes them (sandbox.text.valid_text); 0 for a reply that had none
    repaired: int = 0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"thought": self.thought, "actions": [action_to_json(p.action) for p in self.actions]}
        if self.repaired:
            out["repaired"] = self.repaired
        return out


def parse_reply(raw: str, *, family: Family, frame: ModelFrame) -> ParsedReply:
    """Parse one raw model reply of `family` for the screenshot described by `frame`. Everything it returns or
    raises is valid text (see ParsedReply.repaired)."""
    if not isinstance(raw, str):
        raise ParseError(f"a reply must be text, got {type(raw).__name__}")
    if len(raw) > MAX_REPLY_CHARS:
        raise ParseError(f"reply is {len(raw)} characters, more than {MAX_REPLY_CHARS}")
    raw, repaired = valid_text(raw)
    try:
        thinking, answer = split_thinking(raw)
        if not answer:
            raise ParseError("empty reply" if not raw.strip() else f"reply has thinking but no answer: {quote(raw)}")
        try:
            prose, proposals = _SYNTAXES[family.syntax](answer)
        except RecursionError:  # JSON (or brackets) nested deeper than Python's stack: never a crash, never a guess
            raise ParseError(f"the reply is nested too deeply to read: {quote(answer)}") from None
        if not proposals:
            raise ParseError(f"no action found in {quote(answer)}")
        thought, in_thought = valid_text("\n".join(t for t in (thinking, prose) if t))
        valid = [_valid(p) for p in proposals]
        actions = tuple(_convert(p, frame) for p, _ in valid)
    except ParseError as exc:  # quote() escapes a surrogate, but a message may name a decoded value otherwise
        message, bad = valid_text(str(exc))
        if bad:
            raise ParseError(message) from None
        raise
    repaired += in_thought + sum(count for _, count in valid)
    return ParsedReply(thought=thought or None, actions=actions, repaired=repaired)


def _valid(proposal: Proposal) -> tuple[Proposal, int]:
    """`proposal` with valid text, and the lone surrogates replaced in what it does (its typed text and answer;
    an escape such as JSON's `\\ud800` decodes to one); in a key name one is an error, as the key is unknown.
    Its source is made valid without counting: it is the reply's own text, or a JSON rendering of the rest."""
    if isinstance(proposal, ProposedHotkey) and any(valid_text(key)[1] for key in proposal.keys):
        raise ParseError(f"a key name holds a lone surrogate (half of a UTF-16 pair) in {quote(proposal.source)}")
    changes: dict[str, Any] = {}
    replaced = 0
    for name in ("source", "text", "answer"):
        value = getattr(proposal, name, None)
        if isinstance(value, str):
            fixed, count = valid_text(value)
            if count:
                changes[name] = fixed
                replaced += 0 if name == "source" else count
    return (replace(proposal, **changes) if changes else proposal), replaced


def shorten_reply(raw: str) -> str:
    """A reply as it is recorded and sent back to the model: valid text (lone surrogates replaced, as
    parse_reply does), and an oversized one cut to its first KEPT_REPLY_CHARS, saying so."""
    raw = valid_text(raw)[0]
    if len(raw) <= MAX_REPLY_CHARS:
        return raw
    return f"{raw[:KEPT_REPLY_CHARS]}\n[... cut by deskpilot: the reply was {len(raw)} characters]"


def _convert(proposal: Proposal, frame: ModelFrame) -> ParsedAction:
    try:
        return _convert_unchecked(proposal, frame)
    except (GeometryError, ActionError) as exc:
        raise ParseError(f"{exc} in {quote(proposal.source)}") from None


def _convert_unchecked(p: Proposal, frame: ModelFrame) -> ParsedAction:
    """The sandbox action in screen space, and the model's own JSON of it (its coordinates as written)."""
    action: Action
    model: dict[str, Any]
    match p:
        case ProposedClick(point=(x, y)):
            at = frame.to_screen(x, y)
            model = {"kind": "click", "x": x, "y": y, **_boxed(p.box), "button": p.button, "count": p.count}
            action = Click(x=at[0], y=at[1], button=p.button, count=p.count)
        case ProposedMove(point=(x, y)):
            at = frame.to_screen(x, y)
            model = {"kind": "move", "x": x, "y": y, **_boxed(p.box)}
            action = Move(x=at[0], y=at[1])
        case ProposedDrag(start=start, end=(to_x, to_y)):
            x1, y1 = (None, None) if start is None else frame.to_screen(*start)
            x2, y2 = frame.to_screen(to_x, to_y)
            model = {"kind": "drag", **_at(start), "to_x": to_x, "to_y": to_y}
            action = Drag(x=x1, y=y1, to_x=x2, to_y=y2)
        case ProposedScroll(point=point):
            x1, y1 = (None, None) if point is None else frame.to_screen(*point)
            model = {"kind": "scroll", **_at(point), "direction": p.direction, "amount": p.amount}
            action = Scroll(x=x1, y=y1, direction=p.direction, amount=p.amount)
        case ProposedType(text=text):
            model, action = {"kind": "type", "text": text}, Type(text=text)
        case ProposedHotkey(keys=keys):
            model, action = {"kind": "hotkey", "keys": list(keys)}, Hotkey(keys=keys)
        case ProposedWait(seconds=seconds):
            model, action = {"kind": "wait", "seconds": seconds}, Wait(seconds=seconds)
        case ProposedFinish(status=status, answer=answer):
            model = {"kind": "finish", "status": status, "answer": answer}
            action = Finish(status=status, answer=answer)
        case _:
            assert_never(p)
    box = None
    if isinstance(p, (ProposedClick, ProposedMove)) and p.box is not None:
        x1, y1 = frame.to_screen(p.box[0], p.box[1])
        x2, y2 = frame.to_screen(p.box[2], p.box[3])
        box = (x1, y1, x2, y2)
    return ParsedAction(action=action, model=model, source=p.source, box=box)


def _at(point: Point | None) -> dict[str, float]:
    """A point's model JSON: x and y as the model wrote them, nothing when there is none."""
    return {} if point is None else {"x": point[0], "y": point[1]}


def _boxed(box: Box | None) -> dict[str, list[float]]:
    return {} if box is None else {"box": list(box)}


__all__ = ["ParseError", "ParsedAction", "ParsedReply", "parse_reply", "shorten_reply"]

"""The one place model text becomes actions: raw reply -> thought + actions in screen coordinates.

`parse_reply` strips thinking (kept as the thought, never parsed), reads the family's syntax into
proposals in model space, then converts every coordinate through the frame (sandbox.geometry). Anything
that is not well formed raises ParseError quoting the offending part; nothing is guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
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

    def to_json(self) -> dict[str, Any]:
        return {"thought": self.thought, "actions": [action_to_json(p.action) for p in self.actions]}


def parse_reply(raw: str, *, family: Family, frame: ModelFrame) -> ParsedReply:
    """Parse one raw model reply of `family` for the screenshot described by `frame`."""
    if not isinstance(raw, str):
        raise ParseError(f"a reply must be text, got {type(raw).__name__}")
    if len(raw) > MAX_REPLY_CHARS:
        raise ParseError(f"reply is {len(raw)} characters, more than {MAX_REPLY_CHARS}")
    thinking, answer = split_thinking(raw)
    if not answer:
        raise ParseError("empty reply" if not raw.strip() else f"reply has thinking but no answer: {quote(raw)}")
    try:
        prose, proposals = _SYNTAXES[family.syntax](answer)
    except RecursionError:  # JSON (or brackets) nested deeper than Python's stack: never a crash, never a guess
        raise ParseError(f"the reply is nested too deeply to read: {quote(answer)}") from None
    if not proposals:
        raise ParseError(f"no action found in {quote(answer)}")
    thought = "\n".join(t for t in (thinking, prose) if t) or None
    return ParsedReply(thought=thought, actions=tuple(_convert(p, frame) for p in proposals))


def shorten_reply(raw: str) -> str:
    """An oversized reply cut to its first KEPT_REPLY_CHARS, saying so; a reply within the limit as it is."""
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

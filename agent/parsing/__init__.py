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
from agent.parsing.common import Proposal, quote, split_thinking
from sandbox.actions import Action, Click, Drag, Finish, Hotkey, Move, Scroll, Type, Wait, action_to_json
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
    def screen(point: tuple[float, float] | None) -> tuple[int, int] | tuple[None, None]:
        return (None, None) if point is None else frame.to_screen(*point)

    x, y = screen(p.point)
    model: dict[str, Any] = {"kind": p.kind}
    if p.point is not None:
        model.update(x=p.point[0], y=p.point[1])
    if p.end is not None:
        model.update(to_x=p.end[0], to_y=p.end[1])
    if p.box is not None:
        model["box"] = list(p.box)
    model.update({k: list(v) if isinstance(v, tuple) else v for k, v in p.params.items()})

    action: Action
    if p.kind == "click":
        action = Click(_need(x), _need(y), button=p.params["button"], count=p.params["count"])
    elif p.kind == "move":
        action = Move(_need(x), _need(y))
    elif p.kind == "drag":
        to_x, to_y = screen(p.end)
        action = Drag(x, y, _need(to_x), _need(to_y))
    elif p.kind == "scroll":
        action = Scroll(x, y, direction=p.params["direction"], amount=p.params["amount"])
    elif p.kind == "type":
        action = Type(p.params["text"])
    elif p.kind == "hotkey":
        action = Hotkey(tuple(p.params["keys"]))
    elif p.kind == "wait":
        action = Wait(p.params["seconds"])
    elif p.kind == "finish":
        action = Finish(p.params["status"], p.params.get("answer"))
    else:  # pragma: no cover - the syntax parsers only make the kinds above
        raise ParseError(f"internal: unknown proposal kind {p.kind!r}")
    box = None
    if p.box is not None:
        x1, y1 = frame.to_screen(p.box[0], p.box[1])
        x2, y2 = frame.to_screen(p.box[2], p.box[3])
        box = (x1, y1, x2, y2)
    return ParsedAction(action=action, model=model, source=p.source, box=box)


def _need(value: int | None) -> int:
    if value is None:  # pragma: no cover - proposals of these kinds always carry a point
        raise ParseError("internal: missing point")
    return value


__all__ = ["ParseError", "ParsedAction", "ParsedReply", "parse_reply", "shorten_reply"]

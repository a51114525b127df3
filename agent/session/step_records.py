"""The records inside one step's line of steps.jsonl, each with its JSON (records.py holds the step itself).

As in records.py: `to_json` is what the recorder writes, `from_json` its strict mirror for the reader.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from agent.effects import SCREEN_CHANGES, Effect
from agent.session.fields import (
    action_or_null_from_json,
    action_or_null_to_json,
    verdict_from_json,
    verdict_to_json,
)
from sandbox.actions import Action, action_to_json
from sandbox.element_rules import element_text
from sandbox.fields import Fields, shown
from sandbox.policy import Verdict

SHA256_HEX = re.compile(r"[0-9a-f]{64}")
StepEventKind = Literal["paused", "resumed", "deferred", "refined", "looked_again"]
EVENTS_WITH_REASON: tuple[StepEventKind, ...] = ("paused", "deferred", "refined", "looked_again")


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageRef:
    file: str  # relative to the session folder, e.g. images/0003-screen.png
    width: int
    height: int

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "width": self.width, "height": self.height}

    @classmethod
    def from_json(cls, f: Fields) -> ImageRef:
        return cls(file=f.text("file"), width=f.integer("width", minimum=1), height=f.integer("height", minimum=1))


RecordedPart = str | ImageRef  # a prompt part: its text, or the file of its image


def part_to_json(part: RecordedPart) -> dict[str, Any]:
    if isinstance(part, ImageRef):
        return {"type": "image", **part.to_json()}
    return {"type": "text", "text": part}


def part_from_json(f: Fields) -> RecordedPart:
    kind = f.text("type")
    if kind == "text":
        return f.text("text")
    if kind == "image":
        return ImageRef.from_json(f)
    f.fail(f"part type must be text or image, got {shown(kind)}")


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordedMessage:
    role: str
    parts: tuple[RecordedPart, ...]

    def to_json(self) -> dict[str, Any]:
        return {"role": self.role, "parts": [part_to_json(p) for p in self.parts]}

    @classmethod
    def from_json(cls, f: Fields) -> RecordedMessage:
        parts = tuple(part_from_json(f.inner(p, f.where, "part")) for p in f.array("parts"))
        return cls(role=f.text("role"), parts=parts)


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordedPrompt:
    sha256: str  # agent.session.format.messages_digest of the prompt as sent
    messages: tuple[RecordedMessage, ...]

    def to_json(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "messages": [m.to_json() for m in self.messages]}

    @classmethod
    def from_json(cls, f: Fields) -> RecordedPrompt:
        messages = tuple(
            RecordedMessage.from_json(f.inner(m, f.at(f"message {n}"), "message"))
            for n, m in enumerate(f.array("messages"))
        )
        sha = f.text("sha256")
        if not SHA256_HEX.fullmatch(sha):  # it reaches the report: nothing but hex digits
            f.fail(f"field 'sha256' must be 64 lowercase hex digits, got {shown(sha)}")
        return cls(sha256=sha, messages=messages)


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    raw: str  # as the model wrote it (an oversized reply cut down)
    input_tokens: int | None
    output_tokens: int | None
    image_tokens: int | None
    reasoning: str | None = None  # the server's separate reasoning channel, never parsed (absent before: null)
    repaired: int = 0  # lone surrogates replaced by U+FFFD in raw and reasoning (absent before: 0)

    def to_json(self) -> dict[str, Any]:
        return {
            "raw": self.raw,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "image_tokens": self.image_tokens,
            "reasoning": self.reasoning,
            "repaired": self.repaired,
        }

    @classmethod
    def from_json(cls, f: Fields) -> Reply:
        return cls(
            raw=f.text("raw"),
            input_tokens=f.integer_or_null("input_tokens", minimum=0),
            output_tokens=f.integer_or_null("output_tokens", minimum=0),
            image_tokens=f.integer_or_null("image_tokens", minimum=0),
            reasoning=f.text_or_null("reasoning", optional=True),
            repaired=f.integer("repaired", minimum=0) if "repaired" in f.data else 0,
        )


def effect_to_json(effect: Effect | None) -> dict[str, Any] | None:
    if effect is None:
        return None
    return {"screen": effect.screen, "focus_moved": effect.focus_moved, "waited_s": effect.waited_s}


def effect_from_json(f: Fields, name: str) -> Effect | None:
    """A step's effect (agent/effects.py), null, or missing (sessions recorded before it: null)."""
    data = f.data.get(name)
    if data is None:
        return None
    e = f.inner(data, f.at(name), name)
    screen = e.text("screen")
    if screen not in SCREEN_CHANGES:
        e.fail(f"field 'screen' must be one of {', '.join(SCREEN_CHANGES)}, got {shown(screen)}")
    moved = e.get("focus_moved")
    if moved is not None and not isinstance(moved, bool):
        e.wrong("focus_moved", "true, false or null", moved)
    return Effect(screen=screen, focus_moved=moved, waited_s=e.number("waited_s", minimum=0))  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True, kw_only=True)
class Executed:
    action: Action  # what ran (the user may have moved the point before approving)
    edited: bool
    confirmed: bool
    at: float  # time.time() when it had run
    check_s: float
    execute_s: float

    @property
    def started(self) -> float:
        return self.at - self.execute_s

    def to_json(self) -> dict[str, Any]:
        return {
            "action": action_to_json(self.action),
            "edited": self.edited,
            "confirmed": self.confirmed,
            "at": self.at,
            "check_s": self.check_s,
            "execute_s": self.execute_s,
        }

    @classmethod
    def from_json(cls, f: Fields) -> Executed:
        action = action_or_null_from_json(f, "action")
        if action is None:
            f.fail("field 'action' must be an action")
        return cls(
            action=action,
            edited=f.flag("edited"),
            confirmed=f.flag("confirmed"),
            at=f.number("at"),
            check_s=f.number("check_s"),
            execute_s=f.number("execute_s"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PointedElement:
    """What an action's point hit, as the accessibility tree said at the check: role, name, box (screen px)."""

    role: str
    name: str
    box: tuple[int, int, int, int]  # x, y, width, height

    def describe(self) -> str:
        return element_text(self.role, self.name)

    def to_json(self) -> dict[str, Any]:
        return {"role": self.role, "name": self.name, "box": list(self.box)}

    @classmethod
    def from_json(cls, f: Fields) -> PointedElement:
        box = f.array("box")
        if len(box) != 4 or not all(isinstance(v, int) and not isinstance(v, bool) for v in box):
            f.fail("field 'box' must be four integers")
        return cls(role=f.text("role"), name=f.text("name"), box=(box[0], box[1], box[2], box[3]))


def element_from_json(f: Fields, name: str) -> PointedElement | None:
    """An action's element, null, or missing (sessions recorded before elements were: null)."""
    data = f.data.get(name)
    return None if data is None else PointedElement.from_json(f.inner(data, f.at(name), name))


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionRecord:
    index: int
    model: dict[str, Any] | None  # the action as the model wrote it (model space)
    screen: Action | None  # the parsed action in screen coordinates
    box: tuple[int, int, int, int] | None  # the model's box, screen coordinates
    source: str | None
    verdict: Verdict | None
    rejected: bool
    note: str | None  # the user's note when rejected
    blocked: Verdict | None
    executed: Executed | None
    blocked_action: Action | None = None  # what was refused, with `blocked`
    element: PointedElement | None = None  # what the proposed point hit (None: no tree answered there)

    def to_json(self) -> dict[str, Any]:
        blocked = None
        if self.blocked is not None:
            blocked = {"action": action_or_null_to_json(self.blocked_action), **verdict_to_json(self.blocked)}
        return {
            "index": self.index,
            "model": self.model,
            "screen": action_or_null_to_json(self.screen),
            "box": None if self.box is None else list(self.box),
            "source": self.source,
            "verdict": None if self.verdict is None else verdict_to_json(self.verdict),
            "rejected": {"note": self.note} if self.rejected else None,
            "blocked": blocked,
            "executed": None if self.executed is None else self.executed.to_json(),
            "element": None if self.element is None else self.element.to_json(),
        }

    @classmethod
    def from_json(cls, f: Fields) -> ActionRecord:
        box = f.array_or_null("box")
        if box is not None and (len(box) != 4 or not all(isinstance(v, int) and not isinstance(v, bool) for v in box)):
            f.fail("field 'box' must be four integers or null")
        verdict = f.obj_or_null("verdict")
        rejected = f.obj_or_null("rejected")
        blocked = f.obj_or_null("blocked")
        executed = f.obj_or_null("executed")
        blocked_fields = None if blocked is None else f.inner(blocked, f.at("blocked"), "blocked")
        return cls(
            index=f.integer("index", minimum=0),
            model=f.obj_or_null("model"),
            screen=action_or_null_from_json(f, "screen"),
            box=None if box is None else (box[0], box[1], box[2], box[3]),
            source=f.text_or_null("source"),
            verdict=None if verdict is None else verdict_from_json(f.inner(verdict, f.at("verdict"), "verdict")),
            rejected=rejected is not None,
            note=None if rejected is None else f.inner(rejected, f.at("rejected"), "rejected").text_or_null("note"),
            blocked=None if blocked_fields is None else verdict_from_json(blocked_fields),
            executed=None if executed is None else Executed.from_json(f.inner(executed, f.at("executed"), "executed")),
            blocked_action=None if blocked_fields is None else action_or_null_from_json(blocked_fields, "action"),
            element=element_from_json(f, "element"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class StepEvent:
    kind: StepEventKind
    at: float  # time.time()
    reason: str | None = None  # why it paused, why an action was deferred, what the second look gave

    def to_json(self) -> dict[str, Any]:
        if self.kind in EVENTS_WITH_REASON:
            return {"kind": self.kind, "reason": self.reason, "at": self.at}
        return {"kind": self.kind, "at": self.at}

    @classmethod
    def from_json(cls, f: Fields) -> StepEvent:
        kind = f.text("kind")
        if kind == "resumed":
            return cls(kind="resumed", at=f.number("at"))
        for known in EVENTS_WITH_REASON:
            if kind == known:
                return cls(kind=known, at=f.number("at"), reason=f.text_or_null("reason"))
        f.fail(f"event kind must be paused, resumed, deferred, refined or looked_again, got {shown(kind)}")

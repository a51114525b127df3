"""Strict typed access to the JSON of a session, and the JSON of the sandbox's own types in it.

`Fields` wraps one JSON object: each getter checks the type and raises a SessionError naming where
(`folder/steps.jsonl:7: action 0: field 'x' ...`), so every record's `from_json` (records.py) is as
strict as the reader's promise. The pairs below (verdict, model frame, action) are the JSON of types that
live in sandbox/, next to their readers, so that the recorder and the reader share one spelling of each.
"""

from __future__ import annotations

import math
from typing import Any, Literal, NoReturn

from agent.errors import SessionError
from sandbox.actions import Action, action_from_json, action_to_json
from sandbox.errors import ActionError, GeometryError
from sandbox.geometry import ModelFrame, ModelSpace
from sandbox.policy import Allow, Confirm, Deny, Verdict

SHOWN_VALUE_CHARS = 60  # a wrong value is quoted (repr) in the error, cut to this


class Fields:
    """Typed access to one JSON object's fields; a wrong one is a SessionError naming `where`."""

    def __init__(self, data: object, where: str, what: str = "record") -> None:
        self.where = where
        if not isinstance(data, dict):
            self.fail(f"the {what} must be a JSON object")
        self.data: dict[str, Any] = data

    def fail(self, message: str) -> NoReturn:
        raise SessionError(f"{self.where}: {message}")

    def at(self, name: str) -> str:
        """Where a field's own object is: `where: name`."""
        return f"{self.where}: {name}"

    def get(self, name: str) -> Any:
        if name not in self.data:
            self.fail(f"missing field {name!r}")
        return self.data[name]

    def _wrong(self, name: str, expected: str, value: object) -> NoReturn:
        self.fail(f"field {name!r} must be {expected}, got {value!r:.{SHOWN_VALUE_CHARS}}")

    def text(self, name: str) -> str:
        value = self.get(name)
        if not isinstance(value, str):
            self._wrong(name, "a string", value)
        return value

    def text_or_null(self, name: str, *, optional: bool = False) -> str | None:
        """A string or null; `optional`: a missing field is null too (a field added in a later version)."""
        if optional and name not in self.data:
            return None
        value = self.get(name)
        if not (value is None or isinstance(value, str)):
            self._wrong(name, "a string or null", value)
        return value

    def integer(self, name: str, *, minimum: int | None = None) -> int:
        value = self.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or (minimum is not None and value < minimum):
            self._wrong(name, "an integer" + ("" if minimum is None else f" >= {minimum}"), value)
        return value

    def integer_or_null(self, name: str, *, minimum: int | None = None) -> int | None:
        return None if self.get(name) is None else self.integer(name, minimum=minimum)

    def number(self, name: str) -> float:
        """A finite number, kept as written (an int stays an int, so writing it again gives the same text)."""
        value = self.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            self._wrong(name, "a number", value)
        return value

    def flag(self, name: str) -> bool:
        value = self.get(name)
        if not isinstance(value, bool):
            self._wrong(name, "true or false", value)
        return value

    def obj(self, name: str) -> dict[str, Any]:
        value = self.get(name)
        if not isinstance(value, dict):
            self.fail(f"field {name!r} must be an object")
        return value

    def obj_or_null(self, name: str) -> dict[str, Any] | None:
        return None if self.get(name) is None else self.obj(name)

    def array(self, name: str) -> list[Any]:
        value = self.get(name)
        if not isinstance(value, list):
            self.fail(f"field {name!r} must be an array")
        return value

    def array_or_null(self, name: str) -> list[Any] | None:
        return None if self.get(name) is None else self.array(name)

    def sub(self, name: str) -> Fields:
        return Fields(self.obj(name), self.at(name), name)


def verdict_to_json(verdict: Verdict) -> dict[str, Any]:
    return {"verdict": verdict.verdict, "rule": verdict.rule, "reason": verdict.reason}


def verdict_from_json(f: Fields) -> Verdict:
    kind = f.text("verdict")
    if kind == "allow":
        return Allow()
    if kind in ("deny", "confirm"):
        return (Deny if kind == "deny" else Confirm)(f.text("rule"), f.text("reason"))
    f.fail(f"verdict must be allow, deny or confirm, got {kind!r:.{SHOWN_VALUE_CHARS}}")


def frame_to_json(frame: ModelFrame) -> dict[str, Any]:
    return {
        "shot_width": frame.shot_width,
        "shot_height": frame.shot_height,
        "origin_x": frame.origin_x,
        "origin_y": frame.origin_y,
        "scale": frame.scale,
        "space": {"kind": frame.space.kind, "width": frame.space.width, "height": frame.space.height},
    }


def frame_from_json(f: Fields) -> ModelFrame:
    space = f.sub("space")
    kind: Literal["relative", "absolute"]
    match space.text("kind"):
        case "relative":
            kind = "relative"
        case "absolute":
            kind = "absolute"
        case other:
            space.fail(f"unknown model space kind {other!r:.{SHOWN_VALUE_CHARS}}")
    try:
        return ModelFrame(
            f.integer("shot_width", minimum=1),
            f.integer("shot_height", minimum=1),
            ModelSpace(kind, space.number("width"), space.number("height")),
            origin_x=f.number("origin_x"),
            origin_y=f.number("origin_y"),
            scale=f.number("scale"),
        )
    except GeometryError as exc:
        f.fail(f"not a model frame: {exc}")


def action_or_null_to_json(action: Action | None) -> dict[str, Any] | None:
    return None if action is None else action_to_json(action)


def action_or_null_from_json(f: Fields, name: str) -> Action | None:
    data = f.get(name)
    if data is None:
        return None
    try:
        return action_from_json(data)
    except ActionError as exc:
        f.fail(f"{name}: {exc}")

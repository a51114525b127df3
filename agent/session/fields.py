"""Strict typed access to the JSON of a session, and the JSON of the sandbox's own types in it.

`session_fields` reads one JSON object with the one strict field reader (sandbox/fields.py): each getter
checks the type and raises a SessionError naming where (`folder/steps.jsonl:7: action 0: field 'x' ...`),
so every record's `from_json` (records.py) is as strict as the reader's promise. The pairs below (verdict, model frame, action) are the JSON of types that
live in sandbox/, next to their readers, so that the recorder and the reader share one spelling of each.
"""

from __future__ import annotations

from typing import Any, Literal

from agent.errors import SessionError
from sandbox.actions import Action, action_from_json, action_to_json
from sandbox.errors import ActionError, GeometryError
from sandbox.fields import Fields, shown
from sandbox.geometry import ModelFrame, ModelSpace
from sandbox.policy import Allow, Confirm, Deny, Verdict


def session_fields(data: object, where: str, what: str = "record") -> Fields:
    """One object of a session's JSON, read strictly: a wrong field is a SessionError naming `where`."""
    return Fields(data, where, what, error=SessionError)


def verdict_to_json(verdict: Verdict) -> dict[str, Any]:
    return {"verdict": verdict.verdict, "rule": verdict.rule, "reason": verdict.reason}


def verdict_from_json(f: Fields) -> Verdict:
    kind = f.text("verdict")
    if kind == "allow":
        return Allow()
    if kind in ("deny", "confirm"):
        return (Deny if kind == "deny" else Confirm)(f.text("rule"), f.text("reason"))
    f.fail(f"verdict must be allow, deny or confirm, got {shown(kind)}")


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
            space.fail(f"unknown model space kind {shown(other)}")
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

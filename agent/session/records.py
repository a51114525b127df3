"""What a session folder holds, as typed values, each with its JSON (format: docs/sessions.md).

The recorder builds these records and writes `to_json()`; the reader parses with `from_json()`, which
mirrors it field by field, side by side, so the two cannot drift (the records inside a step's line are in
step_records.py). `from_json` is strict: anything not as `to_json` writes it is a SessionError naming where
(file, line, field). It checks the record alone: that the files a step names lie in the session and are
images is the reader's check (reader.py, files.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any, cast, get_args

from PIL import Image

from agent.effects import Effect
from agent.events import Outcome, RunStarted
from agent.session.fields import frame_from_json, frame_to_json, session_fields
from agent.session.files import read_png
from agent.session.step_records import (
    ActionRecord,
    Executed,
    ImageRef,
    PointedElement,
    RecordedMessage,
    RecordedPart,
    RecordedPrompt,
    Reply,
    StepEvent,
    effect_from_json,
    effect_to_json,
)
from sandbox.errors import GeometryError
from sandbox.fields import Fields, shown
from sandbox.geometry import ModelFrame, ScreenGeometry

__all__ = [
    "INTERRUPTED",
    "ActionRecord",
    "End",
    "Executed",
    "Header",
    "ImageRef",
    "PointedElement",
    "RecordedMessage",
    "RecordedPart",
    "RecordedPrompt",
    "Reply",
    "Session",
    "SessionSummary",
    "StepEvent",
    "StepRecord",
]

INTERRUPTED = "interrupted"
SESSION_KIND = "deskpilot-session"
OUTCOMES: tuple[str, ...] = get_args(Outcome)
# `started` as the recorder writes it (datetime.isoformat with the local offset); fromisoformat must accept it too
ISO_8601_WITH_OFFSET = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?"
    r"[+-][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{6})?)?"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class StepRecord:
    line: int  # of steps.jsonl, from 1 (not written: it is where the record is)
    step: int
    started: float
    ended: float
    screenshot: ImageRef
    model_image: ImageRef
    frame: ModelFrame
    cursor: tuple[int, int] | None
    prompt: RecordedPrompt | None
    reply: Reply | None  # None when the run stopped before the model answered
    thought: str | None
    parse_error: str | None
    actions: tuple[ActionRecord, ...]
    events: tuple[StepEvent, ...]  # paused / resumed
    timings: dict[str, float]
    effect: Effect | None = None  # what the performed actions visibly did (None: nothing acted, or before it)

    @property
    def raw(self) -> str | None:
        return None if self.reply is None else self.reply.raw

    @property
    def prompt_sha256(self) -> str | None:
        return None if self.prompt is None else self.prompt.sha256

    @property
    def messages(self) -> tuple[RecordedMessage, ...]:
        return () if self.prompt is None else self.prompt.messages

    def images(self) -> list[tuple[str, ImageRef]]:
        """Every image the step names, with where in the record: for the reader's check of the files."""
        named = [("screenshot", self.screenshot), ("model_image", self.model_image)]
        for n, message in enumerate(self.messages):
            named += [(f"prompt: message {n}", p) for p in message.parts if isinstance(p, ImageRef)]
        return named

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "step",
            "step": self.step,
            "started": self.started,
            "ended": self.ended,
            "screenshot": self.screenshot.to_json(),
            "model_image": self.model_image.to_json(),
            "frame": frame_to_json(self.frame),
            "cursor": None if self.cursor is None else list(self.cursor),
            "prompt": None if self.prompt is None else self.prompt.to_json(),
            "reply": None if self.reply is None else self.reply.to_json(),
            "thought": self.thought,
            "parse_error": self.parse_error,
            "actions": [a.to_json() for a in self.actions],
            "events": [e.to_json() for e in self.events],
            "timings": self.timings,
            "effect": effect_to_json(self.effect),
        }

    @classmethod
    def from_json(cls, data: object, *, where: str, line: int) -> StepRecord:
        f = session_fields(data, where)
        if f.text("kind") != "step":
            f.fail("not a step record")
        cursor = f.array_or_null("cursor")
        if cursor is not None and (
            len(cursor) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in cursor)
        ):
            f.fail("field 'cursor' must be two integers or null")
        prompt = f.obj_or_null("prompt")
        reply = f.obj_or_null("reply")
        timings = f.obj("timings")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in timings.values()):
            f.fail("field 'timings' must map names to numbers")
        return cls(
            line=line,
            step=f.integer("step", minimum=1),
            started=f.number("started"),
            ended=f.number("ended"),
            screenshot=ImageRef.from_json(f.sub("screenshot")),
            model_image=ImageRef.from_json(f.sub("model_image")),
            frame=frame_from_json(f.sub("frame")),
            cursor=None if cursor is None else (cursor[0], cursor[1]),
            prompt=None if prompt is None else RecordedPrompt.from_json(f.inner(prompt, f.at("prompt"), "prompt")),
            reply=None if reply is None else Reply.from_json(f.inner(reply, f.at("reply"), "reply")),
            thought=f.text_or_null("thought"),
            parse_error=f.text_or_null("parse_error"),
            actions=tuple(
                ActionRecord.from_json(f.inner(a, f.at(f"action {n}"), "action"))
                for n, a in enumerate(f.array("actions"))
            ),
            events=tuple(StepEvent.from_json(f.inner(e, f.at("events"), "event")) for e in f.array("events")),
            timings=dict(timings),
            effect=effect_from_json(f, "effect"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class End:
    line: int  # of steps.jsonl (not written)
    outcome: Outcome
    reason: str
    steps: int
    answer: str | None
    ended: float

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "end",
            "outcome": self.outcome,
            "reason": self.reason,
            "steps": self.steps,
            "answer": self.answer,
            "ended": self.ended,
        }

    @classmethod
    def from_json(cls, data: object, *, where: str, line: int) -> End:
        f = session_fields(data, where)
        if f.text("kind") != "end":
            f.fail("not an end record")
        outcome = f.text("outcome")
        if outcome not in OUTCOMES:  # it reaches exports and the terminal: one of the known words only
            f.fail(f"field 'outcome' must be one of {', '.join(OUTCOMES)}, got {shown(outcome)}")
        return cls(
            line=line,
            outcome=cast(Outcome, outcome),
            reason=f.text("reason"),
            steps=f.integer("steps", minimum=0),
            answer=f.text_or_null("answer"),
            ended=f.number("ended"),
        )


def _started(f: Fields) -> str:
    value = f.text("started")
    problem = not ISO_8601_WITH_OFFSET.fullmatch(value)
    if not problem:
        try:
            problem = datetime.fromisoformat(value).tzinfo is None
        except ValueError:
            problem = True
    if problem:
        f.fail(
            "field 'started' must be an ISO 8601 time with its offset (as 2026-11-26T08:41:28.160+01:00), "
            f"got {shown(value)}"
        )
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class Header(RunStarted):
    """The run's RunStarted event as recorded, and what the recorder adds: its fields are the event's, once."""

    schema: int
    deskpilot_version: str
    started: str  # ISO 8601 with the local offset
    t: float  # the same moment, seconds since the epoch
    run: dict[str, Any] = field(default_factory=dict)  # extra facts from the caller (mode, driver, ...)

    @classmethod
    def from_event(
        cls, event: RunStarted, *, schema: int, deskpilot_version: str, started: str, t: float, run: dict[str, Any]
    ) -> Header:
        shared = {f.name: getattr(event, f.name) for f in fields(RunStarted)}
        return cls(**shared, schema=schema, deskpilot_version=deskpilot_version, started=started, t=t, run=run)

    def to_json(self) -> dict[str, Any]:
        event = {f.name: getattr(self, f.name) for f in fields(RunStarted)}
        return {
            "schema": self.schema,
            "kind": SESSION_KIND,
            **event,
            "screen": self.screen.to_json(),
            "deskpilot_version": self.deskpilot_version,
            "started": self.started,
            "t": self.t,
            "run": self.run,
        }

    @classmethod
    def from_json(cls, data: object, *, where: str, newest_schema: int) -> Header:
        f = session_fields(data, where, "header")
        schema = f.integer("schema", minimum=1)
        if schema > newest_schema:
            f.fail(f"schema {schema} was written by a newer deskpilot (this one reads up to {newest_schema})")
        try:
            screen = ScreenGeometry.from_json(f.array("screen"))
        except (GeometryError, KeyError, TypeError, ValueError) as exc:
            f.fail(f"field 'screen' is not a list of monitors: {exc}")
        event = RunStarted(
            task=f.text("task"),
            backend=f.text("backend"),
            model=f.text_or_null("model"),
            family=f.text("family"),
            min_pixels=f.integer("min_pixels", minimum=0),
            max_pixels=f.integer("max_pixels", minimum=0),
            screen=screen,
            monitor=f.integer("monitor", minimum=0),
            policy_digest=f.text("policy_digest"),
        )
        return cls.from_event(
            event,
            schema=schema,
            deskpilot_version=f.text("deskpilot_version"),
            started=_started(f),
            t=f.number("t"),
            run=f.obj("run"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Session:
    folder: Path
    header: Header
    steps: tuple[StepRecord, ...]
    end: End | None
    error: str | None = None  # with partial=True: the first problem, whose line and what follows were left out

    @property
    def outcome(self) -> str:
        return self.end.outcome if self.end is not None else INTERRUPTED

    def path(self, ref: ImageRef) -> Path:
        return self.folder / ref.file

    def png(self, ref: ImageRef) -> bytes:
        """The image file's bytes, read once and checked (agent.session.files.read_png); SessionError if not."""
        return read_png(self.folder, ref.file, (ref.width, ref.height))[0]

    def image(self, ref: ImageRef) -> Image.Image:
        """The image, decoded from its checked bytes (RGB)."""
        return read_png(self.folder, ref.file, (ref.width, ref.height))[1].convert("RGB")


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionSummary:
    folder: Path
    task: str | None
    started: str | None
    outcome: str  # the run's outcome, "interrupted", or "corrupt"
    steps: int
    error: str | None = None
    t: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "folder": str(self.folder),
            "task": self.task,
            "started": self.started,
            "outcome": self.outcome,
            "steps": self.steps,
            "error": self.error,
        }

"""Reading session folders back, strictly: every problem is a SessionError naming the file and line.

A run that was killed has no end record: that is not corruption, its outcome reads "interrupted".
Anything else that is not as written by the recorder (a broken line, a wrong field, a missing image, a
bad header) is corruption; `partial=True` keeps the whole steps before the first bad line instead.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any, NoReturn

from agent.errors import SessionError
from agent.session.format import HEADER, IMAGES, KNOWN_ENTRIES, SCHEMA_VERSION, STEPS, TMP_SUFFIX, frame_from_json
from agent.session.records import (
    ActionRecord,
    End,
    Executed,
    Header,
    ImageRef,
    RecordedMessage,
    RecordedPart,
    Session,
    SessionSummary,
    StepRecord,
)
from sandbox.actions import Action, action_from_json
from sandbox.errors import ActionError, GeometryError
from sandbox.geometry import ScreenGeometry
from sandbox.policy import Allow, Confirm, Deny, Verdict

__all__ = [
    "ActionRecord",
    "End",
    "Executed",
    "Header",
    "ImageRef",
    "RecordedMessage",
    "Session",
    "SessionSummary",
    "StepRecord",
    "delete_session",
    "list_sessions",
    "read_header",
    "read_session",
]


class _Fields:
    """Typed access to one JSON object's fields; a wrong one is a SessionError naming `where`."""

    def __init__(self, data: object, where: str, what: str = "record") -> None:
        self.where = where
        if not isinstance(data, dict):
            self.fail(f"the {what} must be a JSON object")
        self.data: dict[str, Any] = data

    def fail(self, message: str) -> NoReturn:
        raise SessionError(f"{self.where}: {message}")

    def get(self, name: str) -> Any:
        if name not in self.data:
            self.fail(f"missing field {name!r}")
        return self.data[name]

    def text(self, name: str, *, null: bool = False) -> Any:
        value = self.get(name)
        if not (isinstance(value, str) or (null and value is None)):
            self.fail(f"field {name!r} must be a string{' or null' if null else ''}, got {value!r:.60}")
        return value

    def integer(self, name: str, *, minimum: int | None = None) -> int:
        value = self.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or (minimum is not None and value < minimum):
            bound = "" if minimum is None else f" >= {minimum}"
            self.fail(f"field {name!r} must be an integer{bound}, got {value!r:.60}")
        return value

    def number(self, name: str, *, null: bool = False) -> Any:
        value = self.get(name)
        if null and value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            self.fail(f"field {name!r} must be a number, got {value!r:.60}")
        return float(value)

    def flag(self, name: str) -> bool:
        value = self.get(name)
        if not isinstance(value, bool):
            self.fail(f"field {name!r} must be true or false, got {value!r:.60}")
        return value

    def obj(self, name: str, *, null: bool = False) -> Any:
        value = self.get(name)
        if not (isinstance(value, dict) or (null and value is None)):
            self.fail(f"field {name!r} must be an object{' or null' if null else ''}")
        return value

    def array(self, name: str, *, null: bool = False) -> Any:
        value = self.get(name)
        if not (isinstance(value, list) or (null and value is None)):
            self.fail(f"field {name!r} must be an array{' or null' if null else ''}")
        return value

    def sub(self, name: str) -> _Fields:
        return _Fields(self.obj(name), f"{self.where}: {name}", name)


def read_header(folder: Path) -> Header:
    path = folder / HEADER
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SessionError(f"{path}: missing (not a session folder, or the run was killed as it started)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SessionError(f"{path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise SessionError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    f = _Fields(data, str(path), "header")
    schema = f.integer("schema", minimum=1)
    if schema > SCHEMA_VERSION:
        f.fail(f"schema {schema} was written by a newer deskpilot (this one reads up to {SCHEMA_VERSION})")
    try:
        screen = ScreenGeometry.from_json(f.array("screen"))
    except (GeometryError, KeyError, TypeError, ValueError) as exc:
        f.fail(f"field 'screen' is not a list of monitors: {exc}")
    return Header(
        schema,
        f.text("task"),
        f.text("backend"),
        f.text("model", null=True),
        f.text("family"),
        f.integer("min_pixels", minimum=0),
        f.integer("max_pixels", minimum=0),
        screen,
        f.integer("monitor", minimum=0),
        f.text("policy_digest"),
        f.text("deskpilot_version"),
        f.text("started"),
        f.number("t"),
        f.obj("run"),
    )


def _verdict(data: Any, f: _Fields, name: str) -> Verdict | None:
    if data is None:
        return None
    v = _Fields(data, f"{f.where}: {name}", name)
    kind = v.text("verdict")
    if kind == "allow":
        return Allow()
    if kind in ("deny", "confirm"):
        return (Deny if kind == "deny" else Confirm)(v.text("rule"), v.text("reason"))
    v.fail(f"verdict must be allow, deny or confirm, got {kind!r}")


def _action(data: Any, f: _Fields, name: str) -> Action | None:
    if data is None:
        return None
    try:
        return action_from_json(data)
    except ActionError as exc:
        f.fail(f"{name}: {exc}")


def _image(f: _Fields, name: str, folder: Path) -> ImageRef:
    i = f.sub(name)
    ref = ImageRef(i.text("file"), i.integer("width", minimum=1), i.integer("height", minimum=1))
    _check_file(ref, folder, i)
    return ref


def _check_file(ref: ImageRef, folder: Path, f: _Fields) -> None:
    path = Path(ref.file)
    if path.is_absolute() or ".." in path.parts or not ref.file.startswith(IMAGES + "/"):
        f.fail(f"image file {ref.file!r} is not inside the session's {IMAGES}/ folder")
    if not (folder / path).is_file():
        f.fail(f"image {ref.file} is missing")


def _action_record(data: Any, where: str) -> ActionRecord:
    f = _Fields(data, where, "action")
    box = f.array("box", null=True)
    if box is not None and (len(box) != 4 or not all(isinstance(v, int) and not isinstance(v, bool) for v in box)):
        f.fail("field 'box' must be four integers or null")
    rejected = f.obj("rejected", null=True)
    blocked = f.obj("blocked", null=True)
    executed = f.obj("executed", null=True)
    done = None
    if executed is not None:
        e = _Fields(executed, f"{where}: executed", "executed")
        ran = _action(e.obj("action"), e, "action")
        assert ran is not None
        done = Executed(
            ran, e.flag("edited"), e.flag("confirmed"), e.number("at"), e.number("check_s"), e.number("execute_s")
        )
    note = _Fields(rejected, f"{where}: rejected").text("note", null=True) if rejected is not None else None
    return ActionRecord(
        f.integer("index", minimum=0),
        f.obj("model", null=True),
        _action(f.get("screen"), f, "screen"),
        None if box is None else (box[0], box[1], box[2], box[3]),
        f.text("source", null=True),
        _verdict(f.get("verdict"), f, "verdict"),
        rejected is not None,
        note,
        _verdict(blocked, f, "blocked"),
        done,
    )


def _messages(
    prompt: dict[str, Any] | None, f: _Fields, folder: Path
) -> tuple[str | None, tuple[RecordedMessage, ...]]:
    if prompt is None:
        return None, ()
    p = _Fields(prompt, f"{f.where}: prompt", "prompt")
    messages = []
    for n, item in enumerate(p.array("messages")):
        m = _Fields(item, f"{p.where}: message {n}", "message")
        parts: list[RecordedPart] = []
        for part in m.array("parts"):
            q = _Fields(part, m.where, "part")
            kind = q.text("type")
            if kind == "text":
                parts.append(q.text("text"))
            elif kind == "image":
                ref = ImageRef(q.text("file"), q.integer("width", minimum=1), q.integer("height", minimum=1))
                _check_file(ref, folder, q)
                parts.append(ref)
            else:
                q.fail(f"part type must be text or image, got {kind!r}")
        messages.append(RecordedMessage(m.text("role"), tuple(parts)))
    sha = p.text("sha256")
    if len(sha) != 64:
        p.fail("field 'sha256' must be 64 hex digits")
    return sha, tuple(messages)


def _step(f: _Fields, line: int, folder: Path) -> StepRecord:
    try:
        frame = frame_from_json(f.obj("frame"))
    except (GeometryError, KeyError, TypeError, ValueError) as exc:
        f.fail(f"field 'frame' is not a model frame: {exc}")
    cursor = f.array("cursor", null=True)
    if cursor is not None and (len(cursor) != 2 or not all(isinstance(v, int) for v in cursor)):
        f.fail("field 'cursor' must be two integers or null")
    reply = f.obj("reply", null=True)
    raw = _Fields(reply, f"{f.where}: reply", "reply").text("raw") if reply is not None else None
    sha, messages = _messages(f.obj("prompt", null=True), f, folder)
    timings = f.obj("timings")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in timings.values()):
        f.fail("field 'timings' must map names to numbers")
    actions = tuple(_action_record(a, f"{f.where}: action {n}") for n, a in enumerate(f.array("actions")))
    events = f.array("events")
    if not all(isinstance(e, dict) and isinstance(e.get("kind"), str) for e in events):
        f.fail("field 'events' must be a list of objects with a kind")
    return StepRecord(
        line,
        f.integer("step", minimum=1),
        f.number("started"),
        f.number("ended"),
        _image(f, "screenshot", folder),
        _image(f, "model_image", folder),
        frame,
        None if cursor is None else (cursor[0], cursor[1]),
        sha,
        messages,
        raw,
        f.text("thought", null=True),
        f.text("parse_error", null=True),
        actions,
        {k: float(v) for k, v in timings.items()},
        tuple(events),
    )


def _end(f: _Fields, line: int) -> End:
    return End(
        line,
        f.text("outcome"),
        f.text("reason"),
        f.integer("steps", minimum=0),
        f.text("answer", null=True),
        f.number("ended"),
    )


def read_session(folder: Path, *, partial: bool = False) -> Session:
    """The whole session. SessionError naming file and line for corruption; `partial`: stop before it instead."""
    folder = Path(folder)
    header = read_header(folder)
    path = folder / STEPS
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        data = b""  # killed before the first step was written
    except OSError as exc:
        raise SessionError(f"{path}: cannot read: {exc.strerror or exc}") from None
    steps: list[StepRecord] = []
    end: End | None = None
    lines = data.split(b"\n")
    for number, chunk in enumerate(lines, start=1):
        if number == len(lines):
            if chunk:
                problem = f"{path}:{number}: the last line is cut off (no newline at its end)"
                if partial:
                    return Session(folder, header, tuple(steps), end, problem)
                raise SessionError(problem)
            break
        try:
            if end is not None:
                raise SessionError(f"{path}:{number}: a line after the end record")
            try:
                record = json.loads(chunk.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                raise SessionError(f"{path}:{number}: not valid JSON") from None
            f = _Fields(record, f"{path}:{number}")
            kind = f.text("kind")
            if kind == "step":
                step = _step(f, number, folder)
                if steps and step.step <= steps[-1].step:
                    f.fail(f"step {step.step} comes after step {steps[-1].step}")
                steps.append(step)
            elif kind == "end":
                end = _end(f, number)
            else:
                f.fail(f"unknown record kind {kind!r} (known: step, end)")
        except SessionError as exc:
            if partial:
                return Session(folder, header, tuple(steps), end, str(exc))
            raise
    return Session(folder, header, tuple(steps), end)


def list_sessions(root: Path) -> list[SessionSummary]:
    """Every session folder under `root`, newest first. A corrupt one is listed with its error, never raised
    (SessionError only when `root` itself cannot be listed)."""
    root = Path(root)
    if not root.is_dir():
        return []
    summaries = []
    try:
        folders = sorted(root.iterdir())
    except OSError as exc:
        raise SessionError(f"{root}: cannot list the sessions folder: {exc.strerror or exc}") from None
    for folder in folders:
        try:
            if not folder.is_dir() or not ((folder / HEADER).exists() or (folder / STEPS).exists()):
                continue
        except OSError:  # unreadable entry: not ours to judge
            continue
        try:
            session = read_session(folder)
            summaries.append(
                SessionSummary(
                    folder,
                    session.header.task,
                    session.header.started,
                    session.outcome,
                    len(session.steps),
                    None,
                    session.header.t,
                )
            )
        except SessionError as exc:
            summaries.append(_corrupt(folder, str(exc)))
    return sorted(summaries, key=lambda s: (s.t, s.folder.name), reverse=True)


def _corrupt(folder: Path, error: str) -> SessionSummary:
    try:
        session = read_session(folder, partial=True)
        header: Header | None = session.header
        steps = len(session.steps)
    except SessionError:
        header, steps = None, 0
    try:
        t = header.t if header is not None else folder.stat().st_mtime
    except OSError:
        t = 0.0
    return SessionSummary(
        folder, header.task if header else None, header.started if header else None, "corrupt", steps, error, t
    )


def delete_session(folder: Path) -> None:
    """Delete a session folder; refuses a folder that holds anything a session does not."""
    folder = Path(folder)
    if not folder.is_dir() or not ((folder / HEADER).exists() or (folder / STEPS).exists()):
        raise SessionError(f"{folder}: not a session folder (no {HEADER} or {STEPS}); nothing deleted")
    strange = sorted(
        p.name for p in folder.iterdir() if p.name not in KNOWN_ENTRIES and not p.name.endswith(TMP_SUFFIX)
    )
    if strange:
        raise SessionError(f"{folder}: holds files a session does not ({', '.join(strange[:5])}); nothing deleted")
    try:
        shutil.rmtree(folder)
    except OSError as exc:
        raise SessionError(f"{folder}: cannot delete: {exc.strerror or exc}") from None

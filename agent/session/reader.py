"""Reading session folders back, strictly: every problem is a SessionError naming the file and line.

A run that was killed has no end record: that is not corruption, its outcome reads "interrupted".
Anything else that is not as written by the recorder (a broken line, a wrong field, a missing image, a
bad header) is corruption; `partial=True` keeps the whole steps before the first bad line instead.

A session folder is untrusted input (someone may hand you one): its files are read only as regular files
of bounded size, and every image a step names must be a regular file inside its images/ folder (files.py).
Each record is parsed by its type's `from_json` (records.py), the mirror of what the recorder writes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from agent.errors import SessionError
from agent.session.fields import session_fields
from agent.session.files import image_path, read_file
from agent.session.format import (
    HEADER,
    HEADER_LIMIT_BYTES,
    KNOWN_ENTRIES,
    SCHEMA_VERSION,
    STEPS,
    STEPS_LIMIT_BYTES,
)
from agent.session.records import (
    ActionRecord,
    End,
    Executed,
    Header,
    ImageRef,
    RecordedMessage,
    RecordedPrompt,
    Reply,
    Session,
    SessionSummary,
    StepEvent,
    StepRecord,
)
from sandbox.fields import shown
from sandbox.files import TMP_SUFFIX

__all__ = [
    "ActionRecord",
    "End",
    "Executed",
    "Header",
    "ImageRef",
    "RecordedMessage",
    "RecordedPrompt",
    "Reply",
    "Session",
    "SessionSummary",
    "StepEvent",
    "StepRecord",
    "delete_session",
    "list_sessions",
    "read_header",
    "read_session",
]


def read_header(folder: Path) -> Header:
    path = folder / HEADER
    try:
        data = json.loads(read_file(path, limit=HEADER_LIMIT_BYTES).decode("utf-8"))
    except FileNotFoundError:
        raise SessionError(f"{path}: missing (not a session folder, or the run was killed as it started)") from None
    except UnicodeDecodeError as exc:
        raise SessionError(f"{path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise SessionError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except RecursionError:
        raise SessionError(f"{path}: not valid JSON (nested too deeply)") from None
    return Header.from_json(data, where=str(path), newest_schema=SCHEMA_VERSION)


class _ImageCheck:
    """Checks every image a step names (files.image_path); each file once per read, however often named."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._checked: set[str] = set()

    def __call__(self, step: StepRecord, where: str) -> None:
        for name, ref in step.images():
            if ref.file in self._checked:
                continue
            try:
                image_path(self.folder, ref.file)
            except SessionError as exc:
                raise SessionError(f"{where}: {name}: {exc}") from None
            self._checked.add(ref.file)


def _record(chunk: bytes, where: str, number: int) -> StepRecord | End:
    try:
        record = json.loads(chunk.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise SessionError(f"{where}: not valid JSON") from None
    kind = record.get("kind") if isinstance(record, dict) else None
    if kind == "step":
        return StepRecord.from_json(record, where=where, line=number)
    if kind == "end":
        return End.from_json(record, where=where, line=number)
    session_fields(record, where).text("kind")  # not an object, or no string kind: say so
    raise SessionError(f"{where}: unknown record kind {shown(kind)} (known: step, end)")


def read_session(folder: Path, *, partial: bool = False) -> Session:
    """The whole session. SessionError naming file and line for corruption; `partial`: stop before it instead."""
    folder = Path(folder)
    header = read_header(folder)
    path = folder / STEPS
    try:
        data = read_file(path, limit=STEPS_LIMIT_BYTES)
    except FileNotFoundError:
        data = b""  # killed before the first step was written
    check_images = _ImageCheck(folder)
    steps: list[StepRecord] = []
    end: End | None = None
    lines = data.split(b"\n")
    for number, chunk in enumerate(lines, start=1):
        if number == len(lines):
            if chunk:
                problem = f"{path}:{number}: the last line is cut off (no newline at its end)"
                if partial:
                    return Session(folder=folder, header=header, steps=tuple(steps), end=end, error=problem)
                raise SessionError(problem)
            break
        try:
            where = f"{path}:{number}"
            if end is not None:
                raise SessionError(f"{where}: a line after the end record")
            record = _record(chunk, where, number)
            if isinstance(record, End):
                end = record
                continue
            if steps and record.step <= steps[-1].step:
                raise SessionError(f"{where}: step {record.step} comes after step {steps[-1].step}")
            check_images(record, where)
            steps.append(record)
        except SessionError as exc:
            if partial:
                return Session(folder=folder, header=header, steps=tuple(steps), end=end, error=str(exc))
            raise
    return Session(folder=folder, header=header, steps=tuple(steps), end=end)


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
                    folder=folder,
                    task=session.header.task,
                    started=session.header.started,
                    outcome=session.outcome,
                    steps=len(session.steps),
                    error=None,
                    t=session.header.t,
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
        folder=folder,
        task=header.task if header else None,
        started=header.started if header else None,
        outcome="corrupt",
        steps=steps,
        error=error,
        t=t,
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

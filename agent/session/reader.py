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
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from agent.errors import SessionError
from agent.session.fields import session_fields
from agent.session.files import image_path, open_regular, read_file, read_lines
from agent.session.format import (
    HEADER,
    HEADER_LIMIT_BYTES,
    KNOWN_ENTRIES,
    SCHEMA_VERSION,
    STEPS,
    STEPS_LIMIT_BYTES,
)
from agent.session.records import (
    INTERRUPTED,
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
    "StepStream",
    "delete_session",
    "list_sessions",
    "read_header",
    "read_session",
    "read_summary",
]

COUNT_CHUNK_BYTES = 1 << 20  # steps.jsonl is counted in pieces this size
TAIL_CHUNK_BYTES = 64 << 10  # and read from its end in pieces this size
LAST_LINES = 2  # a listing reads the end record and the last step before it
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF]")  # in the raw JSON: where one may come from


def read_header(folder: Path) -> Header:
    path = folder / HEADER
    try:
        data = _loads(read_file(path, limit=HEADER_LIMIT_BYTES), str(path))
    except FileNotFoundError:
        raise SessionError(f"{path}: missing (not a session folder, or the run was killed as it started)") from None
    return Header.from_json(data, where=str(path), newest_schema=SCHEMA_VERSION)


def _loads(data: bytes, where: str, *, detail: bool = True) -> Any:
    """One JSON value of a session file; SessionError naming `where` when it is not valid JSON (`detail`: and
    why) or holds a lone surrogate (a `\\ud800` escape: not text, it can be neither printed nor written as
    UTF-8, so no recorder wrote it)."""
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # ValueError: also an int of 4,300+ digits
        if not detail:
            raise SessionError(f"{where}: not valid JSON") from None
        if isinstance(exc, UnicodeDecodeError):
            raise SessionError(f"{where}: cannot read: {exc}") from None
        if isinstance(exc, json.JSONDecodeError):
            raise SessionError(f"{where}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
        if isinstance(exc, RecursionError):
            raise SessionError(f"{where}: not valid JSON (nested too deeply)") from None
        raise SessionError(f"{where}: not valid JSON ({exc})") from None
    if _SURROGATE_ESCAPE.search(data):  # cheap on the bytes; only then is every string looked at
        field = _surrogate_field(value)
        if field is not None:
            raise SessionError(f"{where}: {field} holds a lone surrogate (not text; no recorder writes one)")
    return value


def _surrogate_field(value: Any) -> str | None:
    """Where in `value` (as `reply.raw`, `actions[0].text`) a string or key holds a lone surrogate, if anywhere."""
    todo: list[tuple[str, Any]] = [("", value)]
    while todo:  # a loop, not recursion: the JSON may be nested as deep as json.loads allows
        at, item = todo.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return at or "the value"
        elif isinstance(item, dict):
            for key, inner in item.items():
                name = key if key.isascii() and key.isidentifier() else ascii(key)
                if _SURROGATE.search(key):
                    return f"{at}.{name}".lstrip(".") + " (a key)"
                todo.append((f"{at}.{name}".lstrip("."), inner))
        elif isinstance(item, list):
            todo.extend((f"{at}[{n}]", inner) for n, inner in enumerate(item))
    return None


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
    record = _loads(chunk, where, detail=False)
    kind = record.get("kind") if isinstance(record, dict) else None
    if kind == "step":
        return StepRecord.from_json(record, where=where, line=number)
    if kind == "end":
        return End.from_json(record, where=where, line=number)
    session_fields(record, where).text("kind")  # not an object, or no string kind: say so
    raise SessionError(f"{where}: unknown record kind {shown(kind)} (known: step, end)")


class StepStream:
    """A session read one step at a time, as exports read it (a 10,000-step session is never held whole).

    The header is read at once (SessionError when it is bad); iterating yields each step, checked as
    `read_session` checks it, and then `end` holds the end record (None: interrupted). Corruption raises
    SessionError naming file and line; with `partial`, the iteration stops before it instead and `error` says
    what it was. Iterate once.
    """

    def __init__(self, folder: Path, *, partial: bool = False) -> None:
        self.folder = Path(folder)
        self.header = read_header(self.folder)
        self.partial = partial
        self.end: End | None = None
        self.error: str | None = None

    def __iter__(self) -> Iterator[StepRecord]:
        path = self.folder / STEPS
        try:
            lines = read_lines(path, limit=STEPS_LIMIT_BYTES)
        except FileNotFoundError:
            return  # killed before the first step was written
        check_images = _ImageCheck(self.folder)
        last = 0
        for number, chunk in enumerate(lines, start=1):
            where = f"{path}:{number}"
            try:
                if not chunk.endswith(b"\n"):
                    raise SessionError(f"{where}: the last line is cut off (no newline at its end)")
                if self.end is not None:
                    raise SessionError(f"{where}: a line after the end record")
                record = _record(chunk[:-1], where, number)
                if isinstance(record, End):
                    self.end = record
                    continue
                if last and record.step <= last:
                    raise SessionError(f"{where}: step {record.step} comes after step {last}")
                check_images(record, where)
            except SessionError as exc:
                if self.partial:
                    self.error = str(exc)
                    return
                raise
            last = record.step
            yield record


def read_session(folder: Path, *, partial: bool = False) -> Session:
    """The whole session. SessionError naming file and line for corruption; `partial`: stop before it instead."""
    stream = StepStream(folder, partial=partial)
    steps = tuple(stream)
    return Session(folder=stream.folder, header=stream.header, steps=steps, end=stream.end, error=stream.error)


def read_summary(folder: Path) -> SessionSummary:
    """What `deskpilot sessions` shows of one session, from its header and the last lines of steps.jsonl only
    (read from the end: a 10,000-step session lists at once). Its steps are the last step's number, which is
    their count as the recorder numbers them (1, 2, ..., one line each). A bad header or last line makes it
    "corrupt" with the error (only then is the file counted through, to name the line); a bad line before
    those is found when the session is opened, replayed or exported, which read every line."""
    folder = Path(folder)
    try:
        header = read_header(folder)
    except SessionError as exc:
        try:
            t = folder.stat().st_mtime
        except OSError:
            t = 0.0
        return SessionSummary(folder=folder, task=None, started=None, outcome="corrupt", steps=0, error=str(exc), t=t)

    def summary(outcome: str, steps: int, error: str | None = None) -> SessionSummary:
        return SessionSummary(
            folder=folder,
            task=header.task,
            started=header.started,
            outcome=outcome,
            steps=steps,
            error=error,
            t=header.t,
        )

    path = folder / STEPS
    try:
        lines, cut = _last_lines(path)
    except FileNotFoundError:
        return summary(INTERRUPTED, 0)
    except SessionError as exc:
        return summary("corrupt", 0, str(exc))
    if cut:
        try:
            problem = f"{path}:{_count_lines(path) + 1}: the last line is cut off (no newline at its end)"
        except SessionError as exc:  # changed since
            problem = str(exc)
        return summary("corrupt", _last_step(path, lines), problem)
    if not lines:
        return summary(INTERRUPTED, 0)
    try:
        last = _from_end(path, lines, 0)
    except SessionError as exc:
        return summary("corrupt", _last_step(path, lines[:-1]), str(exc))
    if isinstance(last, StepRecord):
        return summary(INTERRUPTED, last.step)
    try:
        before = _from_end(path, lines, 1) if len(lines) > 1 else None
    except SessionError as exc:
        return summary("corrupt", 0, str(exc))
    return summary(last.outcome, before.step if isinstance(before, StepRecord) else 0)


def _from_end(path: Path, lines: list[bytes], back: int) -> StepRecord | End:
    """The record of `lines[-1 - back]` (the last lines, oldest first); a bad one's error names its line, which
    only then is found by counting the file's lines."""
    chunk = lines[-1 - back]
    try:
        return _record(chunk, str(path), 0)
    except SessionError:
        number = _count_lines(path) - back  # SessionError too, for a file that changed since
        return _record(chunk, f"{path}:{number}", number)  # raises again, now naming the line


def _last_step(path: Path, lines: list[bytes]) -> int:
    """The number of the last step among `lines` that reads (0: none): what a corrupt session's listing shows."""
    for chunk in reversed(lines):
        try:
            record = _record(chunk, str(path), 0)
        except SessionError:
            continue
        if isinstance(record, StepRecord):
            return record.step
    return 0


def _last_lines(path: Path) -> tuple[list[bytes], bool]:
    """(the last LAST_LINES whole lines of the file, oldest first, without newlines; whether bytes follow the
    last newline), read backwards from the end in TAIL_CHUNK_BYTES pieces, never the whole file."""
    with open_regular(path, limit=STEPS_LIMIT_BYTES) as stream:
        end = stream.seek(0, os.SEEK_END)
        pieces, newlines, at = [], 0, end
        while at > 0 and newlines <= LAST_LINES:
            size = min(TAIL_CHUNK_BYTES, at)
            at -= size
            stream.seek(at)
            pieces.append(stream.read(size))
            newlines += pieces[-1].count(b"\n")
    tail = b"".join(reversed(pieces))
    whole, _newline, rest = tail.rpartition(b"\n")
    if not _newline:
        return [], bool(rest)
    lines = whole.split(b"\n")
    if at > 0:
        lines = lines[1:]  # the first piece may be the end of a longer line
    return lines[-LAST_LINES:], bool(rest)


def _count_lines(path: Path) -> int:
    """The newlines of a regular file of at most STEPS_LIMIT_BYTES, counted a chunk at a time (to name a bad
    line: the whole file is read, so only for a session that is corrupt)."""
    lines, size = 0, 0
    with open_regular(path, limit=STEPS_LIMIT_BYTES) as stream:
        while chunk := stream.read(COUNT_CHUNK_BYTES):
            lines += chunk.count(b"\n")
            size += len(chunk)
            if size > STEPS_LIMIT_BYTES:
                raise SessionError(f"{path}: cannot read: more than {STEPS_LIMIT_BYTES} bytes")
    return lines


def list_sessions(root: Path) -> list[SessionSummary]:
    """Every session folder under `root`, newest first, each from its header and last line (read_summary). A
    corrupt one is listed with its error, never raised (SessionError only when `root` itself cannot be listed)."""
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
        summaries.append(read_summary(folder))
    return sorted(summaries, key=lambda s: (s.t, s.folder.name), reverse=True)


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

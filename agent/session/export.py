"""Turning a session into something else: a standalone Python script, training data (JSONL), a report.

- python: a script that needs no deskpilot and performs what executed in the recording and the current
  policy allows (agent/session/script.py: session text only ever as repr'd literals).
- jsonl: one line per usable step in the ms-swift / LLaMA-Factory "messages + images" shape, the images
  copied next to it.
- html: one self-contained page (agent/session/report.py) that draws at most HTML_STEPS_DRAWN steps (each
  costs a decoded screenshot and two encoded pictures), saying so on the page when there were more.

`export_folder` (the command line) streams: it reads the session one step at a time (reader.StepStream) and
writes the JSONL line by line, so a 10,000-step recording is never held whole; `export_session` exports a
session already read (the window). A session is untrusted input and its recording is precious: an export
never writes inside the session folder (after resolving symlinks), and images are copied or embedded only as
the checked PNG bytes read once from inside the session (Session.png), never as whatever file a path leads
to. What is written goes to a temporary file renamed over the output once whole: a failed export leaves
nothing behind.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from agent.errors import SessionError
from agent.session.files import read_png
from agent.session.reader import StepStream
from agent.session.records import End, Header, ImageRef, Session, StepRecord
from agent.session.script import python_script, script_plan
from sandbox.files import TMP_SUFFIX, write_atomically
from sandbox.policy import Policy

__all__ = [
    "FORMATS",
    "HTML_STEPS_DRAWN",
    "Exported",
    "export_folder",
    "export_session",
    "python_script",
    "training_lines",
]

FORMATS: tuple[str, ...] = ("python", "html", "jsonl")
IMAGE_TAG = "<image>"  # ms-swift and LLaMA-Factory's placeholder for the next entry of "images"
HTML_STEPS_DRAWN = 200  # steps a report draws: ~0.1 s and ~0.5 MB each; a page of 10,000 would not open


@dataclass(frozen=True, slots=True, kw_only=True)
class Exported:
    items: int  # python: steps with actions in the script; jsonl: training examples; html: steps drawn
    actions: int = 0  # python: the actions that executed in the recording (finish aside)
    left_out: int = 0  # python: of those, the ones the current policy denies or wants confirmed
    steps: int = 0  # the steps read (html: items of them were drawn)
    error: str | None = None  # partial: the first problem, whose line and what follows were left out


def _usable(step: StepRecord) -> bool:
    """A step worth training on: a parsed reply whose every action ran as proposed (none refused or edited)."""
    return (
        step.raw is not None
        and step.parse_error is None
        and bool(step.messages)
        and bool(step.actions)
        and all(a.executed is not None and not a.executed.edited for a in step.actions)
    )


class _ImageCopies:
    """Copies a session's images (checked PNG bytes) into one folder, each once; remembers what it created."""

    def __init__(self, session_folder: Path, folder: Path, relative_to: Path) -> None:
        self.session_folder, self.folder, self.relative_to = session_folder, folder, relative_to
        self.created: list[Path] = []
        self._made_folder = False
        self._names: dict[str, str] = {}

    def name(self, ref: ImageRef) -> str:
        """The copy's path relative to `relative_to` (copied on first use)."""
        if ref.file not in self._names:
            data = read_png(self.session_folder, ref.file, (ref.width, ref.height))[0]
            target = self.folder / f"{self.session_folder.name}-{Path(ref.file).name}"
            if not self.folder.is_dir():
                self.folder.mkdir(parents=True)
                self._made_folder = True
            existed = target.exists()
            write_atomically(target, data)
            if not existed:
                self.created.append(target)
            self._names[ref.file] = target.relative_to(self.relative_to).as_posix()
        return self._names[ref.file]

    def remove_created(self) -> None:
        """Take back the copies made so far (the export failed: no data set without its JSONL)."""
        for path in self.created:
            path.unlink(missing_ok=True)
        if self._made_folder:
            try:
                self.folder.rmdir()
            except OSError:  # something else is in it now: not ours to delete
                pass


def training_lines(steps: Iterable[StepRecord], copies: _ImageCopies) -> Iterator[dict[str, object]]:
    """One {"messages", "images"} object per usable step, as the steps come; `copies` copies the images."""
    for step in steps:
        if not _usable(step):
            continue
        messages: list[dict[str, str]] = []
        images: list[str] = []
        for message in step.messages:
            content = []
            for part in message.parts:
                if isinstance(part, ImageRef):
                    content.append(IMAGE_TAG)
                    images.append(copies.name(part))
                else:
                    content.append(part)
            messages.append({"role": message.role, "content": "".join(content)})
        assert step.raw is not None
        messages.append({"role": "assistant", "content": step.raw})
        yield {"messages": messages, "images": images}


def refuse_inside(session_folder: Path, path: Path, what: str = "") -> None:
    """SessionError when `path` (a symlink followed) lies in the session folder: an export would overwrite
    or damage the recording it reads."""
    try:
        folder = session_folder.resolve()
        target = path.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop (RuntimeError before Python 3.13)
        raise SessionError(f"{path}: cannot be resolved: {exc}") from None
    if target == folder or folder in target.parents:
        raise SessionError(
            f"{path}{what}: inside the session folder {session_folder}; an export never writes into the "
            "recording it reads (choose a path outside it)"
        )


def _write_streamed(out: Path, chunks: Iterable[bytes]) -> None:
    """`out.tmp` written chunk by chunk as they come, fsynced and renamed over `out` (as
    sandbox.files.write_atomically, without holding the whole); removed when anything fails."""
    tmp = out.with_name(out.name + TMP_SUFFIX)
    try:
        with open(tmp, "wb") as stream:
            for chunk in chunks:
                stream.write(chunk)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:
        folder = os.open(out.parent, os.O_RDONLY)
    except OSError:  # Windows cannot open folders; the rename is as durable as it gets there
        return
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def _light(step: StepRecord) -> StepRecord:
    """The step as a script needs it: what ran, without the prompt (the bulk of a long session's text)."""
    return replace(step, prompt=None)


def _note(drawn: int, total: int) -> str:
    return (
        f"the report draws the first {drawn} of {total} steps (at most {HTML_STEPS_DRAWN}: a page of every "
        "screenshot would not open); `deskpilot export --format jsonl` or `replay` cover them all"
    )


def _html(folder: Path, header: Header, steps: list[StepRecord], end: End | None, total: int, error: str | None) -> str:
    from agent.session.report import html_report

    if total > len(steps):  # said where the page says it was read in part (agent/session/report.py)
        error = _note(len(steps), total) if error is None else f"{error}; {_note(len(steps), total)}"
    return html_report(Session(folder=folder, header=header, steps=tuple(steps), end=end, error=error))


def _encoded(text: str, out: Path) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:  # a reader lets no lone surrogate through; a session built otherwise might
        raise SessionError(f"cannot write {out}: the text holds a lone surrogate at {exc.start}") from None


def _export(
    folder: Path,
    header: Header,
    steps: Iterable[StepRecord],
    finish: Callable[[], tuple[End | None, str | None]],
    fmt: str,
    out: Path,
    policy: Policy | None,
) -> Exported:
    """What both entries share: `steps` as they come, then `finish()` for the end record and the error."""
    if fmt not in FORMATS:
        raise SessionError(f"unknown export format {fmt!r} (known: {', '.join(FORMATS)})")
    refuse_inside(folder, out)
    if fmt == "python" and policy is None:
        raise SessionError("exporting a script needs the current policy (it runs outside the sandbox)")
    try:
        if fmt == "python":
            assert policy is not None
            light = tuple(_light(step) for step in steps)
            end, error = finish()
            session = Session(folder=folder, header=header, steps=light, end=end, error=error)
            planned = script_plan(session, policy=policy)
            _write_streamed(out, [_encoded(planned.source, out)])
            out.chmod(0o755)
            return Exported(
                items=planned.steps, actions=planned.actions, left_out=planned.left_out, steps=len(light), error=error
            )
        if fmt == "jsonl":
            images = out.parent / f"{out.stem}-images"
            refuse_inside(folder, images, " (the folder for the JSONL's images)")
            counted = _Counted(steps)
            copies = _ImageCopies(folder, images, out.parent)
            written = 0

            def lines() -> Iterator[bytes]:
                nonlocal written
                for line in training_lines(counted, copies):
                    written += 1
                    yield _encoded(json.dumps(line, ensure_ascii=False) + "\n", out)

            try:
                _write_streamed(out, lines())
            except BaseException:
                copies.remove_created()
                raise
            return Exported(items=written, steps=counted.count, error=finish()[1])
        drawn: list[StepRecord] = []
        total = 0
        for step in steps:  # every step is read and checked; the first HTML_STEPS_DRAWN are kept to draw
            total += 1
            if len(drawn) < HTML_STEPS_DRAWN:
                drawn.append(step)
        end, error = finish()
        _write_streamed(out, [_encoded(_html(folder, header, drawn, end, total, error), out)])
        return Exported(items=len(drawn), steps=total, error=error)
    except OSError as exc:
        raise SessionError(f"cannot write {out}: {exc.strerror or exc}") from None


class _Counted:
    """The steps, passed through and counted."""

    def __init__(self, steps: Iterable[StepRecord]) -> None:
        self.steps, self.count = steps, 0

    def __iter__(self) -> Iterator[StepRecord]:
        for step in self.steps:
            self.count += 1
            yield step


def export_session(session: Session, fmt: str, out: Path, *, policy: Policy | None = None) -> Exported:
    """Write `session` (read already) as `fmt` to `out`. SessionError for what cannot be written.

    `policy`: the current policy, which decides what goes into a python script (required for python: the
    script runs outside the sandbox, so this is the only check its actions get).
    """
    return _export(
        session.folder, session.header, session.steps, lambda: (session.end, session.error), fmt, Path(out), policy
    )


def export_folder(
    folder: Path, fmt: str, out: Path, *, policy: Policy | None = None, partial: bool = False
) -> Exported:
    """Read the session in `folder` one step at a time and write it as `fmt` to `out` (export_session's
    result, without holding the session whole). SessionError for corruption (with `partial`: the steps before
    it are exported and `error` says what it was) and for what cannot be written."""
    stream = StepStream(Path(folder), partial=partial)
    return _export(stream.folder, stream.header, stream, lambda: (stream.end, stream.error), fmt, Path(out), policy)

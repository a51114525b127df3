"""Turning a session into something else: a standalone Python script, training data (JSONL), a report.

- python: a script that needs no deskpilot and performs what executed in the recording and the current
  policy allows (agent/session/script.py: session text only ever as repr'd literals).
- jsonl: one line per usable step in the ms-swift / LLaMA-Factory "messages + images" shape, the images
  copied next to it.
- html: one self-contained page (agent/session/report.py).

A session is untrusted input and its recording is precious: an export never writes inside the session
folder (after resolving symlinks), and images are copied or embedded only as the checked PNG bytes read
once from inside the session (Session.png), never as whatever file a path leads to.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from agent.errors import SessionError
from agent.session.records import ImageRef, Session, StepRecord
from agent.session.script import python_script, script_plan
from sandbox.files import write_atomically
from sandbox.policy import Policy

__all__ = ["FORMATS", "Exported", "export_session", "python_script", "training_lines"]

FORMATS: tuple[str, ...] = ("python", "html", "jsonl")
IMAGE_TAG = "<image>"  # ms-swift and LLaMA-Factory's placeholder for the next entry of "images"


@dataclass(frozen=True, slots=True)
class Exported:
    items: int  # python: steps with actions in the script; jsonl: training examples; html: steps
    actions: int = 0  # python: the actions that executed in the recording (finish aside)
    left_out: int = 0  # python: of those, the ones the current policy denies or wants confirmed


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

    def __init__(self, session: Session, folder: Path, relative_to: Path) -> None:
        self.session, self.folder, self.relative_to = session, folder, relative_to
        self.created: list[Path] = []
        self._made_folder = False
        self._names: dict[str, str] = {}

    def name(self, ref: ImageRef) -> str:
        """The copy's path relative to `relative_to` (copied on first use)."""
        if ref.file not in self._names:
            data = self.session.png(ref)
            target = self.folder / f"{self.session.folder.name}-{Path(ref.file).name}"
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


def training_lines(session: Session, copies: _ImageCopies) -> list[dict[str, object]]:
    """One {"messages", "images"} object per usable step; the images it names are copied by `copies`."""
    out = []
    for step in session.steps:
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
        out.append({"messages": messages, "images": images})
    return out


def refuse_inside(session: Session, path: Path, what: str = "") -> None:
    """SessionError when `path` (a symlink followed) lies in the session folder: an export would overwrite
    or damage the recording it reads."""
    try:
        folder = session.folder.resolve()
        target = path.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop (RuntimeError before Python 3.13)
        raise SessionError(f"{path}: cannot be resolved: {exc}") from None
    if target == folder or folder in target.parents:
        raise SessionError(
            f"{path}{what}: inside the session folder {session.folder}; an export never writes into the "
            "recording it reads (choose a path outside it)"
        )


def export_session(session: Session, fmt: str, out: Path, *, policy: Policy | None = None) -> Exported:
    """Write `session` as `fmt` to `out`. SessionError for what cannot be written.

    `policy`: the current policy, which decides what goes into a python script (required for python: the
    script runs outside the sandbox, so this is the only check its actions get).
    """
    out = Path(out)
    if fmt not in FORMATS:
        raise SessionError(f"unknown export format {fmt!r} (known: {', '.join(FORMATS)})")
    refuse_inside(session, out)
    try:
        if fmt == "python":
            if policy is None:
                raise SessionError("exporting a script needs the current policy (it runs outside the sandbox)")
            planned = script_plan(session, policy=policy)
            write_atomically(out, planned.source.encode("utf-8"))
            out.chmod(0o755)
            return Exported(planned.steps, planned.actions, planned.left_out)
        if fmt == "jsonl":
            images = out.parent / f"{out.stem}-images"
            refuse_inside(session, images, " (the folder for the JSONL's images)")
            copies = _ImageCopies(session, images, out.parent)
            try:
                lines = training_lines(session, copies)
                data = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
                write_atomically(out, data.encode("utf-8"))
            except BaseException:
                copies.remove_created()
                raise
            return Exported(len(lines))
        from agent.session.report import html_report

        write_atomically(out, html_report(session).encode("utf-8"))
        return Exported(len(session.steps))
    except OSError as exc:
        raise SessionError(f"cannot write {out}: {exc.strerror or exc}") from None

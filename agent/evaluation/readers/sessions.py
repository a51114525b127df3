"""deskpilot's own sessions as a data set: a session folder, or the folder that holds sessions.

Every click that ran in a run that finished with success is a sample: the step's screenshot, the instruction
"<task>" followed by the step's thought on the next line, and a CircleTarget of `radius` screenshot pixels
around the executed point (the point the person approved, moved or not). A click on another monitor than the
captured one is left out (counted in `skipped`). Sessions are read strictly (agent.session.read_session):
a corrupt session given by name is an error; under a sessions folder it is skipped and counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agent.errors import SessionError
from agent.evaluation.errors import DatasetError
from agent.evaluation.readers.common import Sample, relative_name
from agent.evaluation.targets import CircleTarget
from agent.session import read_session
from agent.session.format import HEADER
from sandbox.actions import Click

FORMAT = "session"
DEFAULT_RADIUS_PX = 14.0


@dataclass(frozen=True, slots=True)
class SessionSamples:
    samples: list[Sample]
    notes: list[str]  # what was left out, and why


def is_session(folder: Path) -> bool:
    return (folder / HEADER).is_file()


def session_folders(folder: Path) -> list[Path]:
    """The session folders a path names: itself, or the sessions directly inside it (by name)."""
    if is_session(folder):
        return [folder]
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir() and is_session(p))
    except OSError as exc:
        raise DatasetError(f"{folder}: cannot list: {exc.strerror or exc}") from None


def read(folder: Path, root: Path, *, radius: float = DEFAULT_RADIUS_PX) -> SessionSamples:
    if not radius > 0:
        raise DatasetError(f"--radius must be positive, got {radius:g}")
    folders = session_folders(folder)
    single = folders == [folder]
    samples: list[Sample] = []
    not_success = corrupt = off_shot = 0
    for path in folders:
        try:
            session = read_session(path)
        except SessionError as exc:
            if single:
                raise DatasetError(str(exc)) from None
            corrupt += 1
            continue
        if session.outcome != "success":
            not_success += 1
            continue
        group = path.name
        for step in session.steps:
            shot = step.screenshot
            instruction = session.header.task + (f"\n{step.thought}" if step.thought else "")
            for record in step.actions:
                if record.executed is None or not isinstance(record.executed.action, Click):
                    continue
                action = record.executed.action
                px, py = step.frame.screen_to_physical(action.x, action.y)
                if not (0 <= px < shot.width and 0 <= py < shot.height):
                    off_shot += 1
                    continue
                sample_id = f"{relative_name(path, root)}/steps.jsonl:{step.line}#{record.index}"
                samples.append(
                    Sample(
                        sample_id,
                        session.path(shot),
                        relative_name(session.path(shot), root),
                        (shot.width, shot.height),
                        instruction,
                        CircleTarget((px, py), radius),
                        group,
                    )
                )
    notes = []
    if not_success:
        notes.append(f"{not_success} session(s) that did not finish with success left out")
    if corrupt:
        notes.append(f"{corrupt} corrupt session(s) left out (deskpilot sessions names the problem)")
    if off_shot:
        notes.append(f"{off_shot} click(s) outside the captured monitor left out")
    return SessionSamples(samples, notes)

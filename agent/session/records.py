"""What a session folder holds, as typed values (read by agent/session/reader.py; format: docs/sessions.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from agent.errors import SessionError
from sandbox.actions import Action
from sandbox.geometry import ModelFrame, ScreenGeometry
from sandbox.policy import Verdict

INTERRUPTED = "interrupted"


@dataclass(frozen=True, slots=True)
class ImageRef:
    file: str  # relative to the session folder, e.g. images/0003-screen.png
    width: int
    height: int


RecordedPart = str | ImageRef  # a prompt part: its text, or the file of its image


@dataclass(frozen=True, slots=True)
class RecordedMessage:
    role: str
    parts: tuple[RecordedPart, ...]


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class StepRecord:
    line: int
    step: int
    started: float
    ended: float
    screenshot: ImageRef
    model_image: ImageRef
    frame: ModelFrame
    cursor: tuple[int, int] | None
    prompt_sha256: str | None
    messages: tuple[RecordedMessage, ...]
    raw: str | None
    thought: str | None
    parse_error: str | None
    actions: tuple[ActionRecord, ...]
    timings: dict[str, float]
    events: tuple[dict[str, Any], ...]  # paused / resumed


@dataclass(frozen=True, slots=True)
class End:
    line: int
    outcome: str
    reason: str
    steps: int
    answer: str | None
    ended: float


@dataclass(frozen=True, slots=True)
class Header:
    schema: int
    task: str
    backend: str
    model: str | None
    family: str
    min_pixels: int
    max_pixels: int
    screen: ScreenGeometry
    monitor: int
    policy_digest: str
    deskpilot_version: str
    started: str  # ISO 8601 with the local offset
    t: float  # the same moment, seconds since the epoch
    run: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
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

    def image(self, ref: ImageRef) -> Image.Image:
        """The image, loaded (RGB)."""
        try:
            with Image.open(self.path(ref)) as image:
                return image.convert("RGB")
        except OSError as exc:
            raise SessionError(f"{self.path(ref)}: cannot read the image: {exc}") from None


@dataclass(frozen=True, slots=True)
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

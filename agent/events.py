"""What a run reports as it goes: frozen events that a CLI, the Qt window and the session recorder consume.

The loop knows no UI; it yields these in order. Each carries what its consumers need (the recorder writes
the screenshots and the raw reply; the window draws the preview), and nothing refers back into the loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from PIL import Image

from agent.effects import Effect
from agent.parsing import ParsedAction
from agent.prompts import Message
from sandbox.accessibility.tree import Element
from sandbox.actions import Action, describe
from sandbox.element_rules import element_text
from sandbox.geometry import ModelFrame, ScreenGeometry
from sandbox.policy import Verdict

Outcome = Literal["success", "failure", "refused", "stopped", "error"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStarted:
    task: str
    backend: str
    model: str | None
    family: str
    min_pixels: int
    max_pixels: int
    screen: ScreenGeometry
    monitor: int
    policy_digest: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelLoading:
    stage: str  # download, files, load
    done: int
    total: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class StepStarted:
    step: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ScreenCaptured:
    step: int
    screenshot: Image.Image  # full resolution, physical pixels of the captured monitor
    model_image: Image.Image  # exactly what the model is given
    frame: ModelFrame
    cursor: tuple[int, int] | None
    settle_s: float
    capture_s: float
    prepare_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelReplied:
    step: int
    raw: str  # as the model wrote it; an oversized reply cut down (agent.parsing.shorten_reply)
    messages: tuple[Message, ...]
    elapsed_s: float
    input_tokens: int | None
    output_tokens: int | None
    image_tokens: int | None
    reasoning: str | None = None  # the server's separate reasoning channel, never parsed
    repaired: int = 0  # lone surrogates replaced by U+FFFD in the reply and its reasoning (sandbox.text.valid_text)


@dataclass(frozen=True, slots=True, kw_only=True)
class LookedAgain:
    """The backend did not find what it looked for (ModelReply.look_again): the loop waited for the screen to
    change and settle, and asks once more with the fresh picture (a ScreenCaptured and ModelReplied follow)."""

    step: int
    raw: str  # the first reply, as kept (not parsed)
    elapsed_s: float  # the first reply's time
    waited_s: float
    changed: bool  # the screen changed before the cap


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplyParsed:
    step: int
    thought: str | None
    actions: tuple[ParsedAction, ...]
    parse_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ParseFailed:
    step: int
    error: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionProposed:
    step: int
    index: int
    parsed: ParsedAction
    verdict: Verdict
    element: Element | None = None  # what the point hits in the accessibility tree (looked up by the executor)


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionBlocked:
    """Refused by the policy (deny), or a confirmation that was needed and not given."""

    step: int
    index: int
    action: Action
    verdict: Verdict


@dataclass(frozen=True, slots=True, kw_only=True)
class PointRefined:
    """The second look (`--refine zoom`) at a crop around the first point: the point it gave, or why not."""

    step: int
    first: Action
    refined: Action | None  # None: the first point stands (the reason says why)
    crop: tuple[int, int, int, int]  # x, y, width, height in the screenshot's pixels
    zoom: int
    raw: str  # the second reply
    elapsed_s: float
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionDeferred:
    """Not run now: deskpilot's own window lay over the point and moved away; the screen is looked at again."""

    step: int
    index: int
    action: Action
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionRejected:
    """The user said no in approve mode; the note goes back to the model."""

    step: int
    index: int
    action: Action
    note: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionExecuted:
    step: int
    index: int
    action: Action  # what ran (the user may have moved the point before approving)
    edited: bool
    confirmed: bool
    check_s: float
    execute_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class EffectSeen:
    """What the step's performed actions visibly did, seen by the look after them (agent/effects.py)."""

    step: int
    effect: Effect


@dataclass(frozen=True, slots=True, kw_only=True)
class RunPaused:
    step: int
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResumed:
    step: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFinished:
    outcome: Outcome
    reason: str
    steps: int
    answer: str | None = None


Event = (
    RunStarted
    | ModelLoading
    | StepStarted
    | ScreenCaptured
    | ModelReplied
    | LookedAgain
    | ReplyParsed
    | ParseFailed
    | ActionProposed
    | ActionBlocked
    | ActionRejected
    | ActionDeferred
    | PointRefined
    | ActionExecuted
    | EffectSeen
    | RunPaused
    | RunResumed
    | RunFinished
)


def element_caption(event: ActionProposed) -> str | None:
    """What the proposed point hits, in words (push button 'Save'); None when no accessibility tree answered."""
    element = event.element
    return None if element is None else element_text(element.role, element.name)


def proposed_text(event: ActionProposed) -> str:
    """The proposed action in words, with what its point hits: click (412, 300) on push button 'Delete'."""
    caption = element_caption(event)
    return describe(event.parsed.action) + ("" if caption is None else f" on {caption}")


def looked_again_text(event: LookedAgain) -> str:
    """What the second ask of a step waited for, in one line (the log, and the recorded step event)."""
    seen = "the screen changed" if event.changed else "nothing changed"
    return f"looked again: {seen} after {event.waited_s:.2f} s"


def refinement_text(event: PointRefined) -> str:
    """What the second look did, in one line (the log, and the recorded step event)."""
    x, y, width, height = event.crop
    where = f"second look at {width}x{height}+{x}+{y} zoomed {event.zoom}x ({event.elapsed_s:.2f} s)"
    first = getattr(event.first, "x", None), getattr(event.first, "y", None)
    if event.refined is None:
        return f"{where}: kept {first[0]},{first[1]}: {event.reason}"
    return f"{where}: {first[0]},{first[1]} -> {getattr(event.refined, 'x', None)},{getattr(event.refined, 'y', None)}"

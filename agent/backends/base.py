"""The one small interface every model backend implements (transformers, openai, ocr, scripted).

A backend gets the step's conversation (agent.prompts), the prepared screenshot and the task, and returns
the model's raw text. Parsing, policy and execution happen outside, the same for every backend.

The loop types against the `Backend` protocol; the backends themselves derive from `BaseBackend`, whose public
methods do once what each would otherwise repeat (as mss's `MSSBase.grab` does for its platforms): the stop
check, the lazy load, the timing of a reply and the lock around `fit`. A backend implements `_load`, `_fit`
and `_generate`.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, Protocol

from PIL import Image

from agent.errors import BackendError
from agent.families import Family, PixelBudget
from agent.prompts import Message, tool_definitions
from sandbox.stop import StopFlag

if TYPE_CHECKING:
    from sandbox.accessibility.tree import Element
    from sandbox.desktops.base import TopWindow
    from sandbox.geometry import ModelFrame

# stage ("download", "files", "load", ...), units done, units in all (None when unknown)
ProgressFn = Callable[[str, int, "int | None"], None]
DEFAULT_MAX_NEW_TOKENS = 512


@dataclass(frozen=True, slots=True, kw_only=True)
class Capabilities:
    """What a backend can do, for the code around it to ask instead of comparing backend names."""

    target: Literal["model", "endpoint", "script"] | None  # the setting that says what to ask (None: nothing)
    named_model: bool  # its answers come from a named model (shown and recorded beside the family)
    fixed_family: str | None = None  # writes this family's syntax whatever is asked for (the OCR grounder)
    literal_tasks: bool = False  # reads tasks as literal commands: asked where to click as `click "<words>"`
    concurrent: bool = False  # can be asked several requests at once (a server)
    refines: bool = True  # a second look at a magnified crop can improve its point (not a plan it follows)
    server_options: bool = False  # takes a server preset and an image format (--server, --image-format)
    speed_ups: bool = False  # takes transformers' opt-in speed-ups (--compile, ...)
    runs_on: str = "CPU"  # where its work happens, as the window says it
    label: str = ""  # what the window's backend picker shows for it

    @property
    def takes_family(self) -> bool:
        """Whether the family is the person's choice, shown and recorded as such (a fixed family is only the
        syntax the backend writes)."""
        return self.fixed_family is None


@dataclass(frozen=True, slots=True, kw_only=True)
class PictureWindow:
    """A top-level window as it lies on the request's picture: a backend that reads the picture itself (ocr) tells
    apart texts of the window in front from those of one behind it, and finds a window by its title."""

    rect: tuple[int, int, int, int]  # x1, y1, x2, y2 in the picture's pixels, clipped to it (frame included)
    title: str
    focused: bool
    order: int  # stacking order on the desktop: higher lies above lower
    deskpilot: bool = False  # one of deskpilot's own windows (any deskpilot process's)


def picture_windows(
    windows: Sequence[TopWindow], frame: ModelFrame, size: tuple[int, int]
) -> tuple[PictureWindow, ...]:
    """The desktop's windows (bottom to top, screen px) on a picture of `size` (width, height) made of the
    screenshot `frame` describes; windows that lie off the picture are left out."""
    width, height = size
    sx, sy = width / frame.shot_width, height / frame.shot_height  # the picture is the whole screenshot, resized
    placed = []
    for order, window in enumerate(windows):
        left, top = frame.screen_to_physical(window.rect.x, window.rect.y)
        right, bottom = frame.screen_to_physical(window.rect.x + window.rect.width, window.rect.y + window.rect.height)
        x1, y1 = max(0, round(left * sx)), max(0, round(top * sy))
        x2, y2 = min(width, round(right * sx)), min(height, round(bottom * sy))
        if x2 <= x1 or y2 <= y1:
            continue
        placed.append(
            PictureWindow(
                rect=(x1, y1, x2, y2),
                title=window.title,
                focused=window.focused,
                order=order,
                deskpilot=window.deskpilot_pid is not None,
            )
        )
    return tuple(placed)


@dataclass(frozen=True, slots=True, kw_only=True)
class PictureElement:
    """An accessible element as it lies on the request's picture (AT-SPI's, sandbox/accessibility/tree.py): a
    backend that reads the picture itself (ocr) finds a field by its label and an icon-only button by its name."""

    role: str
    name: str
    text: str | None  # what a text element holds (None for others and for password fields)
    states: tuple[str, ...]
    rect: tuple[int, int, int, int]  # x1, y1, x2, y2 in the picture's pixels, clipped to it
    window: str  # its top-level window's name (title)
    labelled_by: tuple[str, ...] = ()  # the names of the elements that label it


# the showing elements on the picture, read when first asked (a walk of the tree costs up to a second)
PictureElements = Callable[[], "tuple[PictureElement, ...]"]


def picture_elements(
    elements: Sequence[Element], frame: ModelFrame, size: tuple[int, int]
) -> tuple[PictureElement, ...]:
    """Accessible elements (screen px) on a picture of `size` made of the screenshot `frame` describes, as
    `picture_windows` places windows; those off the picture or without a box are left out."""
    width, height = size
    sx, sy = width / frame.shot_width, height / frame.shot_height
    placed = []
    for element in elements:
        box = element.box
        if box.width <= 0 or box.height <= 0:
            continue
        left, top = frame.screen_to_physical(box.x, box.y)
        right, bottom = frame.screen_to_physical(box.x + box.width, box.y + box.height)
        x1, y1 = max(0, round(left * sx)), max(0, round(top * sy))
        x2, y2 = min(width, round(right * sx)), min(height, round(bottom * sy))
        if x2 <= x1 or y2 <= y1:
            continue
        placed.append(
            PictureElement(
                role=element.role,
                name=element.name,
                text=element.text,
                states=element.states,
                rect=(x1, y1, x2, y2),
                window=element.window,
                labelled_by=element.labelled_by,
            )
        )
    return tuple(placed)


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelRequest:
    family: Family
    messages: tuple[Message, ...]
    task: str
    image: Image.Image  # the current screenshot, prepared at the family's model input size
    step: int  # 1-based
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    feedback: str | None = None  # why the previous reply did not fully run (a refusal, a rejection, ...); None: it ran
    # Families whose chat template presents tools itself (qwen3.5): the tool definitions (OpenAI function format)
    # and the template's options (enable_thinking=False), for the backend to hand to the template or the server.
    tools: tuple[dict[str, Any], ...] = ()
    template_options: tuple[tuple[str, Any], ...] = ()
    # the desktop's windows on `image`, bottom to top (none: the desktop cannot list them); backends that only
    # send the picture to a model ignore them
    windows: tuple[PictureWindow, ...] = ()
    # the accessible elements on `image`, read when called (None: the desktop has no tree); only backends that
    # read the picture themselves (ocr) ask for them
    elements: PictureElements | None = None

    @classmethod
    def for_family(
        cls,
        family: Family,
        messages: tuple[Message, ...],
        task: str,
        image: Image.Image,
        step: int,
        max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
        *,
        feedback: str | None = None,
        windows: tuple[PictureWindow, ...] = (),
        elements: PictureElements | None = None,
    ) -> ModelRequest:
        """A request as a run asks the family's model: with the tools and template options its chat template wants."""
        return cls(
            family=family,
            messages=messages,
            task=task,
            image=image,
            step=step,
            max_new_tokens=max_new_tokens,
            feedback=feedback,
            tools=tool_definitions(family, image),
            template_options=family.template_options,
            windows=windows,
            elements=elements,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelReply:
    raw: str
    elapsed_s: float = 0.0  # seconds the reply took (BaseBackend.generate times it)
    input_tokens: int | None = None
    output_tokens: int | None = None
    image_tokens: int | None = None  # visual tokens of the newest image, where the backend can tell
    reasoning: str | None = None  # a server's separate reasoning channel: shown as the thought, never parsed
    follows_plan: bool = False  # a step of a plan the backend follows: repeating an action is intended (ocr)
    # what the backend looked for is not on this picture yet: the loop waits for the screen to change and settle
    # (the after-action wait) and asks once more with a fresh picture before it acts on this reply (ocr)
    look_again: bool = False


class Backend(Protocol):
    name: str
    capabilities: Capabilities

    def load(self, *, progress: ProgressFn | None = None) -> None:
        """Get ready (download, load weights, connect); idempotent. Raises BackendError."""

    def fit(self, family: Family, shot: tuple[int, int], budget: PixelBudget, *, stop: StopFlag) -> PixelBudget:
        """The budget to prepare a `shot` (width, height) screenshot with, so that the model reads the image
        exactly as deskpilot prepared it: `budget` as it is, or a lower maximum where the model's server would
        shrink the image itself. BackendError when no budget is kept (the run must not act); StoppedError once
        `stop` is set while it asks the server."""

    def generate(self, request: ModelRequest, *, stop: StopFlag) -> ModelReply:
        """One reply. Must give up promptly (StoppedError) once `stop` is set. Raises BackendError."""

    def close(self) -> None:
        """Release the model (GPU memory, connections)."""


class BaseBackend(ABC):
    """The public side of every backend; subclasses implement `loaded`, `_load`, `_generate`, `close` (and
    `_fit` where a server may shrink images).

    `load` and `fit` run under one lock (reentrant, `self._lock`, which a subclass may take for its own state):
    a server's first `fit` probes it once even when several threads ask at once (agent.evaluation.runner), and
    a lazy load never runs twice."""

    name: str  # set by each backend class, as `capabilities` is
    capabilities: Capabilities

    def __init__(self) -> None:
        self._lock = threading.RLock()

    @property
    @abstractmethod
    def loaded(self) -> bool:
        """Whether `load` has nothing left to do."""

    def load(self, *, progress: ProgressFn | None = None) -> None:
        """Get ready (download, load weights, connect); idempotent. Raises BackendError."""
        with self._lock:
            if not self.loaded:
                self._load(progress)

    def fit(self, family: Family, shot: tuple[int, int], budget: PixelBudget, *, stop: StopFlag) -> PixelBudget:
        """See `Backend.fit`; one call at a time."""
        with self._lock:
            return self._fit(family, shot, budget, stop)

    def generate(self, request: ModelRequest, *, stop: StopFlag) -> ModelReply:
        """One reply, its `elapsed_s` the time `_generate` took (a lazy load before it is not counted).
        StoppedError when `stop` is set before it starts; BackendError for a family this backend cannot write."""
        fixed = self.capabilities.fixed_family
        if fixed is not None and request.family.name != fixed:
            raise BackendError(
                f"the {self.name} backend answers in {fixed}'s syntax, not {request.family.name}'s: "
                f"run it with --family {fixed}"
            )
        stop.check_stopped()
        if not self.loaded:
            self.load()
        started = time.perf_counter()
        reply = self._generate(request, stop)
        return replace(reply, elapsed_s=time.perf_counter() - started)

    @abstractmethod
    def close(self) -> None:
        """Release the model (GPU memory, connections)."""

    @abstractmethod
    def _load(self, progress: ProgressFn | None) -> None:
        """The slow part of `load`, called under the lock when not `loaded`."""

    def _fit(self, family: Family, shot: tuple[int, int], budget: PixelBudget, stop: StopFlag) -> PixelBudget:
        """The budget a `shot` is prepared with (under the lock): by default `budget`, what the model reads."""
        return budget

    @abstractmethod
    def _generate(self, request: ModelRequest, stop: StopFlag) -> ModelReply:
        """One reply, after the stop check and the lazy load; its `elapsed_s` is replaced by the time taken.
        Must give up promptly (StoppedError) once `stop` is set."""

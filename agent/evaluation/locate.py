"""The seam of an evaluation: where a backend would click for one instruction on one image.

`locate` asks exactly as a run asks: the image is prepared by agent.loop.prepare_for_model (the family's pixel
budget, lowered where the backend's server would shrink it), the conversation is the family's grounding form
(agent.prompts.build_grounding_messages), and the reply is read by agent.parsing.parse_reply with the frame of
an image at (0, 0) and scale 1, so screen coordinates are the image's own pixels. The OCR backend is asked the
literal task `click "<instruction>"` (quoted, so its grammar takes the words as they are).

The answer: the first action that names a point (a click, a move, a scroll or drag at a point) gives the point;
a reply whose first actions hold no point (terminate, UI-Venus' [-1,-1], a bare answer) declines; a reply that
cannot be read is an error on the sample. A refinement (a second look at a crop) wraps this function.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from PIL import Image

from agent.backends.base import DEFAULT_MAX_NEW_TOKENS, Backend, ModelRequest
from agent.errors import ParseError
from agent.families import Family
from agent.loop import prepare_for_model
from agent.parsing import parse_reply
from agent.prompts import build_grounding_messages
from agent.refine import crop_around, magnified
from sandbox.actions import Finish, action_points
from sandbox.capture import Screenshot
from sandbox.geometry import Monitor, ScreenGeometry
from sandbox.stop import StopFlag

Point = tuple[int, int]
# the OCR grounder's quotes (agent.backends.ocr.grammar), tried in turn: the first whose closing mark the
# instruction does not hold
_OCR_QUOTES = (('"', '"'), ("“", "”"), ("「", "」"), ("『", "』"), ("'", "'"))


@dataclass(frozen=True, slots=True)
class Location:
    """Where the backend would click, in the image's own pixels; None when it declined or the reply was unusable."""

    point: Point | None
    error: str | None  # the reply could not be read (a miss, never raised)
    seconds: float  # preparing, asking and reading
    raw: str | None = None  # the reply as the backend wrote it

    @property
    def declined(self) -> bool:
        return self.point is None and self.error is None


class Locator(Protocol):
    """`locate`'s signature: what a refinement wraps and the runner calls."""

    def __call__(
        self,
        backend: Backend,
        family: Family,
        image: Image.Image,
        instruction: str,
        *,
        stop: StopFlag,
        min_pixels: int | None = None,
        max_pixels: int | None = None,
        max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    ) -> Location: ...


def screenshot_of(image: Image.Image, shown_at: Monitor | None = None) -> Screenshot:
    """A file image as a capture: by default one monitor at (0, 0), scale 1, so screen points are image pixels;
    `shown_at` places it elsewhere (a magnified crop: at the crop's corner, scale = the zoom)."""
    monitor = shown_at or Monitor(0, 0, image.width, image.height, name="image")
    return Screenshot(image.convert("RGB"), monitor, 0, ScreenGeometry((monitor,)), None, 0.0, 0.0)


def ocr_task(instruction: str) -> str:
    """`click "<instruction>"`: the OCR backend's literal task for finding the instruction's words."""
    text = " ".join(instruction.split())
    for opening, closing in _OCR_QUOTES:
        if closing not in text:
            return f"click {opening}{text}{closing}"
    return f"click {text}"


def locate(
    backend: Backend,
    family: Family,
    image: Image.Image,
    instruction: str,
    *,
    stop: StopFlag,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    shown_at: Monitor | None = None,
) -> Location:
    """Ask `backend` once where it would click for `instruction` on `image`. Raises BackendError and
    StoppedError (the eval cannot go on); an unreadable reply is the Location's error. `shown_at`: see
    screenshot_of (the point is then in the coordinates that monitor gives)."""
    started = time.perf_counter()
    stop.check_stopped()
    shot = screenshot_of(image, shown_at)
    model_image, frame = prepare_for_model(backend, family, shot, min_pixels, max_pixels, stop=stop)
    task = ocr_task(instruction) if backend.name == "ocr" else instruction
    messages = build_grounding_messages(family, instruction, model_image)
    request = ModelRequest.for_family(family, messages, task, model_image, 1, max_new_tokens)
    reply = backend.generate(request, stop=stop)
    try:
        parsed = parse_reply(reply.raw, family=family, frame=frame)
    except ParseError as exc:
        return Location(None, f"unusable reply: {exc}", time.perf_counter() - started, reply.raw)
    point: Point | None = None
    for proposal in parsed.actions:
        if isinstance(proposal.action, Finish):
            break
        points = action_points(proposal.action)
        if points:
            point = points[0]
            break
    return Location(point, None, time.perf_counter() - started, reply.raw)


def locate_with_zoom(
    backend: Backend,
    family: Family,
    image: Image.Image,
    instruction: str,
    *,
    stop: StopFlag,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
) -> Location:
    """`--refine zoom`: `locate`, then `locate` again on a magnified crop around the first point (agent.refine).

    The crop is shown to the frame as a monitor at the crop's corner with scale = the zoom, so the second point
    comes back in the image's own pixels with one rounding, exactly as a run maps it. The second point stands
    when there is one; a second look that declines or cannot be read keeps the first point. Time: both asks.
    """
    first = locate(
        backend,
        family,
        image,
        instruction,
        stop=stop,
        min_pixels=min_pixels,
        max_pixels=max_pixels,
        max_new_tokens=max_new_tokens,
    )
    if first.point is None:
        return first
    crop = crop_around(image.size, first.point)
    second = locate(
        backend,
        family,
        magnified(image, crop),
        instruction,
        stop=stop,
        min_pixels=min_pixels,
        max_pixels=max_pixels,
        max_new_tokens=max_new_tokens,
        shown_at=Monitor(crop.x, crop.y, crop.width, crop.height, scale=crop.zoom, name="zoom"),
    )
    seconds = first.seconds + second.seconds
    if second.point is None:
        return Location(first.point, None, seconds, first.raw)
    return Location(second.point, None, seconds, second.raw)


LOCATORS: dict[str, Locator] = {"off": locate, "zoom": locate_with_zoom}

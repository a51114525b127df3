"""Zoom-in refinement: a second look at a crop around the first point, mapped back through the crop's frame.

Published zoom methods (UI-Zoomer, RegionFocus, vendors' zoom tools) ask the model again on a magnified
region around its first answer; small targets grow to a size the model reads well. Here the crop is half the
picture's width and height, centred on the first point and kept inside the picture, and it is magnified
`ZOOM` times, so it reaches the model at about the size of the whole picture: the same pixel budget, twice
the detail per target. Its frame (`Crop.origin`, `Crop.scale`) maps the model's numbers on the crop straight
to the screen (or to the evaluation image's own pixels), with the same arithmetic as a full screenshot:
screen = origin + pixel / scale, where the crop's origin is the picture's origin plus the crop's offset and its
scale is the picture's scale times the zoom.

`look_closer` is the second look for the run (`second_look`) and for evaluation (agent/evaluation/locate.py):
the crop is asked through agent.pointing.ask_point, so its point is read by the one rule there. Nothing is
guessed: the second point replaces the first only when the second answer does the same thing as the first (a
click of the same button and count, a move, ...; `why_first_stands`); a second answer that cannot be read,
that declines or that does another kind of thing leaves the first point as it was.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, replace

from PIL import Image

from agent.backends.base import DEFAULT_MAX_NEW_TOKENS, Backend
from agent.events import PointRefined
from agent.families import Family
from agent.parsing import ParsedReply
from agent.pointing import Answer, Conversation, Point, Reading, ask_point
from agent.prompts import Turn, build_messages
from sandbox.actions import Action, Click, describe
from sandbox.geometry import ModelFrame
from sandbox.stop import StopFlag

ZOOM = 2  # an integer: the magnified crop's pixels stay an exact multiple of the picture's
REFINE_MODES = ("off", "zoom")


@dataclass(frozen=True, slots=True, kw_only=True)
class Crop:
    """A region of a picture (its own pixels), magnified `zoom` times for the second look."""

    x: int
    y: int
    width: int
    height: int
    zoom: int
    picture_origin: tuple[float, float] = (0, 0)  # where the picture's top-left is on the screen
    picture_scale: float = 1.0  # the picture's pixels per screen point

    @property
    def origin(self) -> tuple[float, float]:
        """Where the crop's top-left is on the screen."""
        return (
            self.picture_origin[0] + self.x / self.picture_scale,
            self.picture_origin[1] + self.y / self.picture_scale,
        )

    @property
    def scale(self) -> float:
        """Pixels of the magnified crop per screen point."""
        return self.picture_scale * self.zoom

    @property
    def rect(self) -> tuple[int, int, int, int]:
        """x, y, width, height in the picture's pixels."""
        return self.x, self.y, self.width, self.height


def crop_around(
    size: tuple[int, int],
    point: tuple[float, float],
    *,
    zoom: int = ZOOM,
    picture_origin: tuple[float, float] = (0, 0),
    picture_scale: float = 1.0,
) -> Crop:
    """The 1/zoom-sized region of a `size` picture centred on `point` (picture pixels), moved inside it."""
    if zoom < 1:
        raise ValueError(f"zoom must be at least 1, got {zoom}")
    width, height = size
    crop_w, crop_h = max(1, -(-width // zoom)), max(1, -(-height // zoom))  # ceil: the crop never shrinks to 0
    x = min(max(round(point[0] - crop_w / 2), 0), width - crop_w)
    y = min(max(round(point[1] - crop_h / 2), 0), height - crop_h)
    return Crop(
        x=x,
        y=y,
        width=crop_w,
        height=crop_h,
        zoom=zoom,
        picture_origin=picture_origin,
        picture_scale=picture_scale,
    )


def magnified(picture: Image.Image, crop: Crop) -> Image.Image:
    """The crop at `zoom` times its size (Lanczos), the picture the second look is prepared from."""
    region = picture.crop((crop.x, crop.y, crop.x + crop.width, crop.y + crop.height))
    return region.resize((crop.width * crop.zoom, crop.height * crop.zoom), Image.Resampling.LANCZOS)


def look_closer(
    backend: Backend,
    family: Family,
    picture: Image.Image,
    frame: ModelFrame,
    point: Point,
    *,
    task: str,
    conversation: Conversation,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    step: int = 1,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    stop: StopFlag,
) -> tuple[Crop, Answer]:
    """Ask again on the magnified crop around `point` (screen coordinates of `frame`, the frame `picture` was
    asked with): the one place a crop's frame is built, from the picture's origin and scale."""
    crop = crop_around(
        picture.size,
        frame.screen_to_physical(*point),
        picture_origin=(frame.origin_x, frame.origin_y),
        picture_scale=frame.scale,
    )
    answer = ask_point(
        backend,
        family,
        magnified(picture, crop),
        task=task,
        conversation=conversation,
        origin=crop.origin,
        scale=crop.scale,
        min_pixels=min_pixels,
        max_pixels=max_pixels,
        step=step,
        max_new_tokens=max_new_tokens,
        stop=stop,
    )
    return crop, answer


def why_first_stands(first: Action, second: Reading) -> str | None:
    """None when the second point replaces the first: the second answer does the same thing as `first` (a click
    of the same button and count, or another action of the same kind). Else why the first point stands."""
    if second.parsed is None:
        return f"the second answer could not be used: {second.unusable}"
    answer = second.chosen or second.parsed.actions[0]  # what it did instead, when it gave no point
    if second.chosen is None or not _same_kind(first, answer.action):
        return f"the second answer was another action ({describe(answer.action)})"
    return None


def _same_kind(first: Action, second: Action) -> bool:
    if isinstance(first, Click) and isinstance(second, Click):
        return (first.button, first.count) == (second.button, second.count)
    return first.kind == second.kind


def second_look(
    backend: Backend,
    family: Family,
    task: str,
    picture: Image.Image,
    frame: ModelFrame,
    parsed: ParsedReply,
    *,
    history: tuple[Turn, ...],
    min_pixels: int | None,
    max_pixels: int | None,
    max_new_tokens: int,
    step: int,
    stop: StopFlag,
) -> Generator[PointRefined, None, ParsedReply]:
    """The run's `--refine zoom`: a step whose first action is a click is asked again, with the step's
    conversation, on the magnified crop around that click; the refined click replaces it when the second answer
    is the same kind of click (`why_first_stands`), else the first one stands. Yields what was done."""
    first = parsed.actions[0] if parsed.actions else None
    if first is None or not isinstance(first.action, Click):
        return parsed
    crop, answer = look_closer(
        backend,
        family,
        picture,
        frame,
        (first.action.x, first.action.y),
        task=task,
        conversation=lambda image: build_messages(family, task, image, history=history),
        min_pixels=min_pixels,
        max_pixels=max_pixels,
        step=step,
        max_new_tokens=max_new_tokens,
        stop=stop,
    )
    second = answer.reading
    reason = why_first_stands(first.action, second)
    refined = None
    if reason is None and second.point is not None and second.chosen is not None:
        x, y = second.point
        refined = replace(first, action=replace(first.action, x=x, y=y), box=second.chosen.box)
    yield PointRefined(
        step=step,
        first=first.action,
        refined=None if refined is None else refined.action,
        crop=crop.rect,
        zoom=crop.zoom,
        raw=answer.reply.raw,
        elapsed_s=answer.reply.elapsed_s,
        reason=reason or "",
    )
    if refined is None:
        return parsed
    return ParsedReply(thought=parsed.thought, actions=(refined, *parsed.actions[1:]))

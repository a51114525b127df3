"""Coordinate spaces and the exact conversions between them.

Spaces, and what names them here:
- screen:   logical pixels of the virtual desktop (all monitors). Origin at the virtual desktop's
            top-left; a monitor left of the primary has negative x. Every Action is in this space.
- physical: device pixels of one monitor's screenshot (`shot_*`); physical = logical * scale.
- model:    what a model's numbers mean. `relative`: 0..extent (1000) of the image, independent of
            any resize; `absolute`: pixels of the smart-resized image the model was given.
Conversions are per axis (smart_resize does not keep the aspect ratio exactly).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sandbox.errors import GeometryError

MAX_ASPECT_RATIO = 200
ABSOLUTE_SPILL_FRACTION = 0.05  # contract: absolute values may spill 5% past the image (clamped)


def smart_resize(height: int, width: int, *, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """Qwen2-VL's smart_resize: (height, width) divisible by factor, pixels within [min, max].

    Identical in result to transformers' `image_processing_qwen2_vl.smart_resize` (tested against it).
    """
    if height <= 0 or width <= 0:
        raise GeometryError(f"image size must be positive, got {width}x{height}")
    if max(height, width) / min(height, width) > MAX_ASPECT_RATIO:
        raise GeometryError(
            f"absolute aspect ratio must be smaller than {MAX_ASPECT_RATIO}, got {max(height, width) / min(height, width)}"
        )
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


@dataclass(frozen=True, slots=True)
class Rect:
    """A rectangle in screen (logical) pixels: x, y is its top-left; right and bottom edges excluded."""

    x: int
    y: int
    width: int
    height: int
    name: str = ""

    def contains(self, x: float, y: float) -> bool:
        return self.x <= x < self.x + self.width and self.y <= y < self.y + self.height

    def to_json(self) -> dict[str, Any]:
        return {"x": self.x, "y": self.y, "width": self.width, "height": self.height, "name": self.name}


def subtract(rect: Rect, covers: Sequence[Rect]) -> list[Rect]:
    """The parts of `rect` that none of `covers` overlaps, as non-overlapping rects (named like `rect`)."""
    parts = [rect]
    for cover in covers:
        left, top = cover.x, cover.y
        right, bottom = cover.x + cover.width, cover.y + cover.height
        kept: list[Rect] = []
        for part in parts:
            p_right, p_bottom = part.x + part.width, part.y + part.height
            if right <= part.x or left >= p_right or bottom <= part.y or top >= p_bottom:
                kept.append(part)  # no overlap
                continue
            if top > part.y:  # the band above the cover
                kept.append(Rect(part.x, part.y, part.width, top - part.y, part.name))
            if bottom < p_bottom:  # the band below
                kept.append(Rect(part.x, bottom, part.width, p_bottom - bottom, part.name))
            band_top, band_bottom = max(part.y, top), min(p_bottom, bottom)
            if left > part.x:  # left of the cover, within its rows
                kept.append(Rect(part.x, band_top, left - part.x, band_bottom - band_top, part.name))
            if right < p_right:  # right of it
                kept.append(Rect(right, band_top, p_right - right, band_bottom - band_top, part.name))
        parts = kept
    return parts


@dataclass(frozen=True, slots=True)
class Monitor:
    """One monitor: its rectangle in screen (logical) pixels and its scale (physical per logical)."""

    x: int
    y: int
    width: int
    height: int
    scale: float = 1.0
    name: str = ""

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise GeometryError(f"monitor size must be positive, got {self.width}x{self.height}")
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise GeometryError(f"monitor scale must be a positive number, got {self.scale!r}")

    def contains(self, x: float, y: float) -> bool:
        return self.x <= x < self.x + self.width and self.y <= y < self.y + self.height

    @property
    def physical_size(self) -> tuple[int, int]:
        return round(self.width * self.scale), round(self.height * self.scale)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "x": self.x,
            "y": self.y,
            "width": self.width,
            "height": self.height,
            "scale": self.scale,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Monitor:
        return cls(
            x=int(data["x"]),
            y=int(data["y"]),
            width=int(data["width"]),
            height=int(data["height"]),
            scale=float(data.get("scale", 1.0)),
            name=str(data.get("name", "")),
        )


@dataclass(frozen=True, slots=True)
class ScreenGeometry:
    """All monitors of the virtual desktop. Points on no monitor are not on the screen."""

    monitors: tuple[Monitor, ...]

    def __post_init__(self) -> None:
        if not self.monitors:
            raise GeometryError("a screen needs at least one monitor")

    def monitor_at(self, x: float, y: float) -> Monitor | None:
        for monitor in self.monitors:
            if monitor.contains(x, y):
                return monitor
        return None

    def index_at(self, x: float, y: float) -> int | None:
        for index, monitor in enumerate(self.monitors):
            if monitor.contains(x, y):
                return index
        return None

    @property
    def bounds(self) -> tuple[int, int, int, int]:
        """(left, top, width, height) of the box around every monitor."""
        left = min(m.x for m in self.monitors)
        top = min(m.y for m in self.monitors)
        right = max(m.x + m.width for m in self.monitors)
        bottom = max(m.y + m.height for m in self.monitors)
        return left, top, right - left, bottom - top

    def to_json(self) -> list[dict[str, Any]]:
        return [m.to_json() for m in self.monitors]

    @classmethod
    def from_json(cls, data: list[dict[str, Any]]) -> ScreenGeometry:
        return cls(tuple(Monitor.from_json(m) for m in data))

    @classmethod
    def single(cls, width: int, height: int, *, scale: float = 1.0) -> ScreenGeometry:
        return cls((Monitor(0, 0, width, height, scale=scale, name="primary"),))


@dataclass(frozen=True, slots=True)
class ModelSpace:
    """What a model's numbers mean: `relative` 0..extent, or `absolute` pixels of its input image."""

    kind: Literal["relative", "absolute"]
    width: float
    height: float

    @classmethod
    def relative(cls, extent: float = 1000) -> ModelSpace:
        return cls("relative", extent, extent)

    @classmethod
    def absolute(cls, width: int, height: int) -> ModelSpace:
        return cls("absolute", width, height)


@dataclass(frozen=True, slots=True)
class ModelFrame:
    """One screenshot as the model saw it: its physical size, where it sits on the screen, its model space."""

    shot_width: int
    shot_height: int
    space: ModelSpace
    origin_x: float = 0
    origin_y: float = 0
    scale: float = 1.0

    def __post_init__(self) -> None:
        if self.shot_width <= 0 or self.shot_height <= 0:
            raise GeometryError(f"screenshot size must be positive, got {self.shot_width}x{self.shot_height}")
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise GeometryError(f"scale must be a positive number, got {self.scale!r}")
        if not (math.isfinite(self.origin_x) and math.isfinite(self.origin_y)):
            raise GeometryError("origin must be finite")

    def _model_to_physical(self, value: float, extent: float, shot: int, axis: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise GeometryError(f"{axis}={value!r} is not a finite number")
        if self.space.kind == "relative":
            if not 0 <= value <= extent:
                raise GeometryError(f"{axis}={value:g} is outside the relative space 0..{extent:g}")
        else:
            spill = extent * ABSOLUTE_SPILL_FRACTION
            if not -spill - 1e-9 <= value <= extent + spill + 1e-9:
                raise GeometryError(f"{axis}={value:g} is outside the model image 0..{extent:g} (more than 5% past it)")
            value = min(max(value, 0.0), float(extent))
        return min(value / extent * shot, shot - 1.0)

    def to_screen(self, mx: float, my: float) -> tuple[int, int]:
        """Model numbers -> integer screen point, on this screenshot's monitor. Raises GeometryError."""
        px = self._model_to_physical(mx, self.space.width, self.shot_width, "x")
        py = self._model_to_physical(my, self.space.height, self.shot_height, "y")
        return self.physical_to_screen(px, py)

    def physical_to_screen(self, px: float, py: float) -> tuple[int, int]:
        sx = _round_half_up(self.origin_x + px / self.scale)
        sy = _round_half_up(self.origin_y + py / self.scale)
        last_x = math.floor(self.origin_x + (self.shot_width - 1) / self.scale)
        last_y = math.floor(self.origin_y + (self.shot_height - 1) / self.scale)
        return min(sx, last_x), min(sy, last_y)

    def screen_to_physical(self, sx: float, sy: float) -> tuple[float, float]:
        return (sx - self.origin_x) * self.scale, (sy - self.origin_y) * self.scale

    def from_screen(self, sx: float, sy: float) -> tuple[float, float]:
        """Screen point -> model numbers (floats; a model would round them)."""
        px, py = self.screen_to_physical(sx, sy)
        return px / self.shot_width * self.space.width, py / self.shot_height * self.space.height


def _round_half_up(value: float) -> int:
    return math.floor(value + 0.5)

"""Zoom-in refinement: a second look at a crop around the first point, mapped back through the crop's frame.

Published zoom methods (UI-Zoomer, RegionFocus, vendors' zoom tools) ask the model again on a magnified
region around its first answer; small targets grow to a size the model reads well. Here the crop is half the
picture's width and height, centred on the first point and kept inside the picture, and it is magnified
`ZOOM` times, so it reaches the model at about the size of the whole picture: the same pixel budget, twice
the detail per target. Its frame (`Crop.origin`, `Crop.scale`) maps the model's numbers on the crop straight
to the screen (or to the evaluation image's own pixels), with the same arithmetic as a full screenshot:
screen = origin + pixel / scale, where the crop's origin is the picture's origin plus the crop's offset and its
scale is the picture's scale times the zoom. Nothing is guessed: a second answer that cannot be read, or
that does another kind of thing, leaves the first point as it was.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

ZOOM = 2  # an integer: the magnified crop's pixels stay an exact multiple of the picture's
REFINE_MODES = ("off", "zoom")


@dataclass(frozen=True, slots=True)
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
    return Crop(x, y, crop_w, crop_h, zoom, picture_origin, picture_scale)


def magnified(picture: Image.Image, crop: Crop) -> Image.Image:
    """The crop at `zoom` times its size (Lanczos), the picture the second look is prepared from."""
    region = picture.crop((crop.x, crop.y, crop.x + crop.width, crop.y + crop.height))
    return region.resize((crop.width * crop.zoom, crop.height * crop.zoom), Image.Resampling.LANCZOS)

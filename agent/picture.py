"""A picture as the model gets it, and the frame that maps the model's numbers back to the screen.

The one place a picture is prepared for a backend: the run's screenshot (agent/loop.py), a calibration
screenshot, an evaluation image and a second look's magnified crop (all three through agent/pointing.py).
The budget is the family's (or the person's override), lowered where the backend says its server would shrink
the image itself: the image is prepared at exactly the size the model will read, and the frame converts from
exactly that size.
"""

from __future__ import annotations

from PIL import Image

from agent.backends.base import Backend
from agent.families import Family, model_frame, model_input_size, pixel_budget
from agent.imaging import prepare_image
from sandbox.capture import Screenshot
from sandbox.geometry import ModelFrame
from sandbox.stop import StopFlag


def prepare_picture(
    backend: Backend,
    family: Family,
    image: Image.Image,
    *,
    origin: tuple[float, float] = (0, 0),
    scale: float = 1.0,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    stop: StopFlag,
) -> tuple[Image.Image, ModelFrame]:
    """Any picture for the model, and its frame: `origin` is where its top-left lies on the screen, `scale` its
    pixels per screen point (an evaluation image: (0, 0) and 1, so the frame answers in the image's own pixels;
    a magnified crop: the crop's corner and the picture's scale times the zoom, agent/refine.py)."""
    budget = backend.fit(
        family, image.size, pixel_budget(family, min_pixels=min_pixels, max_pixels=max_pixels), stop=stop
    )
    size = model_input_size(family, *image.size, min_pixels=budget.min_pixels, max_pixels=budget.max_pixels)
    frame = model_frame(
        family,
        *image.size,
        origin=origin,
        scale=scale,
        min_pixels=budget.min_pixels,
        max_pixels=budget.max_pixels,
    )
    return prepare_image(image, size), frame


def prepare_for_model(
    backend: Backend,
    family: Family,
    shot: Screenshot,
    min_pixels: int | None,
    max_pixels: int | None,
    *,
    stop: StopFlag,
) -> tuple[Image.Image, ModelFrame]:
    """prepare_picture for a screenshot: placed where its monitor is, at the monitor's scale."""
    monitor = shot.monitor
    return prepare_picture(
        backend,
        family,
        shot.image,
        origin=(monitor.x, monitor.y),
        scale=monitor.scale,
        min_pixels=min_pixels,
        max_pixels=max_pixels,
        stop=stop,
    )

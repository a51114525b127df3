"""A screen without a display: the one edge of the loop, replay and calibration that needs X, replaced.

`FakeScreen` answers `geometry()` and `grab()` as sandbox.capture.ScreenCapture does (a Screenshot in physical
pixels, deskpilot's own windows greyed out), from an image the test sets; the pointer is where the test says.
With the dry-run driver, a run, its recording and its replay go end to end in the fast part of the suite.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from PIL import Image

from sandbox.capture import MASK_RGB, Screenshot
from sandbox.geometry import Monitor, Rect, ScreenGeometry
from tests.helpers.desktop_image import desktop_image


class FakeScreen:
    def __init__(self, width: int = 1920, height: int = 1080, *, image: Image.Image | None = None) -> None:
        self.screen = ScreenGeometry((Monitor(0, 0, width, height, name="fake"),))
        self.image = image if image is not None else desktop_image(width, height)
        self.pointer: tuple[int, int] | None = (width // 2, height // 2)
        self.grabs = 0

    def show(self, image: Image.Image) -> None:
        """What the screen shows from now on (the size stays the monitor's)."""
        self.image = image.convert("RGB").resize(self.image.size)

    def geometry(self) -> ScreenGeometry:
        return self.screen

    def grab(self, monitor: int = 0, *, mask: Sequence[Rect] = ()) -> Screenshot:
        started = time.perf_counter()
        self.grabs += 1
        image = self.image.copy()
        for rect in mask:
            image.paste(MASK_RGB, (rect.x, rect.y, rect.x + rect.width, rect.y + rect.height))
        area = self.screen.monitors[monitor]
        return Screenshot(image, area, monitor, self.screen, self.pointer, time.time(), time.perf_counter() - started)

    def pointer_position(self) -> tuple[int, int] | None:
        return self.pointer

"""A screen without a display: the one edge of the loop, replay and calibration that needs X, replaced.

`FakeScreen` answers `geometry()`, `grab()` and `focus()` as sandbox.capture.ScreenCapture does (a Screenshot in
physical pixels, deskpilot's own windows greyed out), from an image the test sets; the pointer and the focused
window are what the test says.
With the dry-run driver, a run, its recording and its replay go end to end in the fast part of the suite.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from PIL import Image

from agent.backends.base import Backend
from agent.events import Event
from agent.families import Family
from agent.loop import MakeRoom, RunOptions, run_task
from sandbox.capture import MASK_RGB, Screenshot
from sandbox.drivers import DryRunDriver
from sandbox.executor import Executor
from sandbox.geometry import Monitor, Rect, ScreenGeometry
from sandbox.policy import Policy, PolicyChecker
from sandbox.stop import StopFlag
from tests.helpers.desktop_image import desktop_image

QUICK = RunOptions(settle_cap_s=0.1)  # the screen is still at once: no need to wait for it (nothing acts here)


class FakeScreen:
    def __init__(self, width: int = 1920, height: int = 1080, *, image: Image.Image | None = None) -> None:
        self.screen = ScreenGeometry((Monitor(0, 0, width, height, name="fake"),))
        self.image = image if image is not None else desktop_image(width, height)
        self.pointer: tuple[int, int] | None = (width // 2, height // 2)
        self.focused: int | None = None
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

    def focus(self) -> int | None:
        return self.focused


def run_on_fake_screen(
    task: str,
    backend: Backend,
    family: Family,
    *,
    screen: FakeScreen | None = None,
    options: RunOptions = QUICK,
    make_room: MakeRoom | None = None,
    own_windows: Callable[[], Sequence[Rect]] = tuple,
    on_event: Callable[[Event], Any] | None = None,
    driver: DryRunDriver | None = None,
) -> tuple[list[Event], DryRunDriver]:
    """One whole run on `screen` (a fresh 1920x1080 one by default) under the default policy, through the real
    executor with the dry-run driver (or `driver`, one that plays an app: tests/test_look_after.py): the events
    (each also handed to `on_event`, a recorder say) and the driver, whose calls say what would have been done.
    `own_windows`: where deskpilot's windows are (greyed out of every grab), `make_room` what moves them."""
    screen = screen or FakeScreen()
    driver = driver if driver is not None else DryRunDriver()
    executor = Executor(
        checker=PolicyChecker(Policy()),
        driver=driver,
        screen=screen.geometry,
        pointer=screen.pointer_position,
        stop=StopFlag(),
        pace=False,
    )
    events: list[Event] = []
    for event in run_task(
        task,
        backend=backend,
        family=family,
        executor=executor,
        capture=screen,
        options=options,
        own_windows=own_windows,
        make_room=make_room,
    ):
        events.append(event)
        if on_event is not None:
            on_event(event)
    return events, driver

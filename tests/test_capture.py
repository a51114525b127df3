"""Screen capture against real X servers: exact coordinates, masking, cursor, two monitors, errors."""

from __future__ import annotations

import contextlib
import gc
import os
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sandbox.capture import ALL_MONITORS, MASK_RGB, ScreenCapture, Screenshot
from sandbox.desktops.dry_run import DryRunDesktop
from sandbox.desktops.x11 import X11Desktop
from sandbox.errors import DriverError, GeometryError
from sandbox.geometry import Monitor, Rect, ScreenGeometry
from sandbox.stop import StopFlag
from tests.helpers.target import TargetWindow

display = pytest.mark.display
Factory = Callable[..., TargetWindow]


def _pixel(shot: Screenshot, x: int, y: int) -> tuple[int, int, int]:
    """The pixel at screen point (x, y) of a scale-1 grab."""
    px, py = x - shot.monitor.x, y - shot.monitor.y
    value = shot.image.getpixel((px, py))
    assert isinstance(value, tuple)
    return value[0], value[1], value[2]


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _free_display() -> str:
    for number in range(700, 800):
        if not Path(f"/tmp/.X{number}-lock").exists() and not Path(f"/tmp/.X11-unix/X{number}").exists():
            return f":{number}"
    raise AssertionError("no unused display number in :700..:799")


@display
def test_xvfb_is_one_1920x1080_monitor_at_scale_1() -> None:
    with ScreenCapture() as capture:
        screen = capture.geometry()
    assert len(screen.monitors) == 1
    monitor = screen.monitors[0]
    assert (monitor.x, monitor.y, monitor.width, monitor.height, monitor.scale) == (0, 0, 1920, 1080, 1.0)


@display
def test_the_window_lands_in_the_grab_at_its_exact_place(target_window: Factory) -> None:
    target = target_window(x=300, y=200, width=900, height=600)
    canvas, window = target.widgets["Canvas"], target.window
    assert (window.x, window.y, window.width, window.height) == (300, 200, 900, 600)

    with ScreenCapture() as capture:
        shot = capture.grab(0)

    assert shot.image.mode == "RGB" and shot.image.size == (1920, 1080)
    assert shot.index == 0 and shot.monitor == shot.screen.monitors[0]
    assert _pixel(shot, *target.centre("Canvas")) == target.colours["canvas"]
    # the canvas's edges are where the window says they are, to the pixel
    assert _pixel(shot, canvas.x, canvas.y) == target.colours["canvas"]
    assert _pixel(shot, canvas.x + canvas.width - 1, canvas.y + canvas.height - 1) == target.colours["canvas"]
    assert _pixel(shot, canvas.x - 1, canvas.y) != target.colours["canvas"]
    assert _pixel(shot, canvas.x + canvas.width, canvas.y + canvas.height - 1) != target.colours["canvas"]
    # the window's own corner is its background; the desktop just outside it is not
    assert _pixel(shot, window.x, window.y) == target.colours["window"]
    assert _pixel(shot, window.x - 1, window.y) != target.colours["window"]
    assert _pixel(shot, window.x, window.y - 1) != target.colours["window"]


@display
def test_screenshot_records_when_and_how_long() -> None:
    before = time.time()
    with ScreenCapture() as capture:
        shot = capture.grab()
    assert before <= shot.taken_at <= time.time()
    assert shot.elapsed_s > 0


@display
def test_mask_greys_out_exactly_its_rect(target_window: Factory) -> None:
    target = target_window(x=100, y=100)
    cx, cy = target.centre("Canvas")
    mask = Rect(cx - 50, cy - 40, 100, 80, name="deskpilot")
    canvas_rgb = target.colours["canvas"]

    with ScreenCapture() as capture:
        shot = capture.grab(0, mask=[mask, Rect(5000, 5000, 10, 10)])  # the second lies off the screen

    right, bottom = mask.x + mask.width - 1, mask.y + mask.height - 1
    for x, y in [(mask.x, mask.y), (right, mask.y), (mask.x, bottom), (right, bottom), (cx, cy)]:
        assert _pixel(shot, x, y) == MASK_RGB, (x, y)
    for x, y in [(mask.x - 1, mask.y), (mask.x, mask.y - 1), (right + 1, bottom), (right, bottom + 1)]:
        assert _pixel(shot, x, y) == canvas_rgb, (x, y)


@display
def test_mask_is_clipped_to_the_monitor() -> None:
    with ScreenCapture() as capture:
        shot = capture.grab(0, mask=[Rect(-100, -100, 110, 120)])
    assert _pixel(shot, 0, 0) == MASK_RGB
    assert _pixel(shot, 9, 19) == MASK_RGB
    assert _pixel(shot, 10, 0) != MASK_RGB  # nothing is drawn there on Xvfb: its root is black
    assert _pixel(shot, 0, 20) != MASK_RGB


@display
def test_cursor_is_where_xdotool_put_it() -> None:
    subprocess.run(["xdotool", "mousemove", "1234", "567"], check=True, timeout=10)
    with ScreenCapture() as capture:
        shot = capture.grab()
    assert shot.cursor == (1234, 567)


@display
def test_a_monitor_that_does_not_exist_is_a_geometry_error() -> None:
    with ScreenCapture() as capture, pytest.raises(GeometryError, match="monitor 1 does not exist"):
        capture.grab(1)


@display
def test_threads_share_no_mss_and_leave_none_open() -> None:
    capture = ScreenCapture()
    capture.grab()  # this thread's connections are open from here on
    baseline = _open_fds()
    shots: list[Screenshot] = []

    def grab_in_thread() -> None:
        shots.append(capture.grab())

    threads = [threading.Thread(target=grab_in_thread) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    gc.collect()
    assert len(shots) == 3 and all(shot.image.size == (1920, 1080) for shot in shots)
    assert _open_fds() == baseline  # each ended thread's mss and X connection were closed

    capture.close()
    assert _open_fds() < baseline
    assert capture.grab().image.size == (1920, 1080)  # usable again after close: it reopens
    capture.close()


@display
def test_two_monitor_desktop_lists_both_monitors(two_monitor_display: str) -> None:
    with ScreenCapture(display=two_monitor_display) as capture:
        screen = capture.geometry()
        right = capture.grab(1)
        whole = capture.grab_all()
    boxes = [(m.x, m.y, m.width, m.height, m.scale) for m in screen.monitors]
    assert boxes == [(0, 0, 1920, 1080, 1.0), (1920, 0, 1280, 1024, 1.0)]
    assert right.image.size == (1280, 1024)
    assert right.monitor == Monitor(1920, 0, 1280, 1024, scale=1.0, name=right.monitor.name)
    assert whole.index == ALL_MONITORS and whole.image.size == (3200, 1080)


@display
def test_a_window_on_the_right_monitor_is_in_its_grab(two_monitor_display: str, target_window: Factory) -> None:
    target = target_window(display=two_monitor_display, x=2000, y=100, width=900, height=600)
    cx, cy = target.centre("Canvas")
    assert cx >= 1920

    with ScreenCapture(display=two_monitor_display) as capture:
        right = capture.grab(1)
        left = capture.grab(0)

    assert right.image.getpixel((cx - 1920, cy)) == target.colours["canvas"]
    assert _pixel(right, cx, cy) == target.colours["canvas"]
    assert target.colours["canvas"] not in {c for _, c in left.image.getcolors(1 << 24) or []}


@display
def test_cursor_on_the_right_monitor(two_monitor_display: str) -> None:
    env = {**os.environ, "DISPLAY": two_monitor_display}
    subprocess.run(["xdotool", "mousemove", "2500", "500"], check=True, timeout=10, env=env)
    with ScreenCapture(display=two_monitor_display) as capture:
        assert capture.grab(1).cursor == (2500, 500)


def test_a_display_that_does_not_exist_is_a_driver_error() -> None:
    name = _free_display()
    with ScreenCapture(display=name) as capture:
        with pytest.raises(DriverError, match=f"^cannot capture the screen: no X display '{name}'"):
            capture.grab()
        with pytest.raises(DriverError):
            capture.geometry()


def test_no_display_at_all_is_a_driver_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    with pytest.raises(DriverError, match="DISPLAY is not set"):
        ScreenCapture().grab()


@display
def test_the_x11_route_captures_the_display_it_acts_on(two_monitor_display: str) -> None:
    desktop = X11Desktop(display=two_monitor_display)
    with contextlib.closing(desktop.capture()) as capture:
        boxes = [(m.x, m.y, m.width, m.height) for m in capture.geometry().monitors]
    assert desktop.name == "x11" and boxes == [(0, 0, 1920, 1080), (1920, 0, 1280, 1024)]


def test_the_dry_run_desktop_is_one_fixed_monitor_with_nothing_to_grab() -> None:
    desktop = DryRunDesktop(width=1280, height=800)
    capture = desktop.capture()
    assert capture.geometry() == ScreenGeometry.single(1280, 800)
    desktop.driver("pyautogui").move(10, 20)  # every driver of a dry-run desktop only records
    assert capture.pointer() == (10, 20)
    with pytest.raises(DriverError, match="fixed 1280x800 screen"):
        capture.grab()
    assert desktop.stacking() is None and desktop.stop_route(StopFlag(), "ctrl+alt+x") is None

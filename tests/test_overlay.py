"""The on-screen overlay over a real target window on Xvfb (no window manager, no compositor).

Every check reads the real screen (sandbox.capture) or the X server: the drawing is where the action lands,
the rest of the screen shows through unchanged (the window is shaped, not translucent), a real click goes
through it to the app below, and X input focus never moves.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication
from pytestqt.qtbot import QtBot

from app.gui.preview import verdict_colour
from app.gui.run.capture_exclusion import exclude_from_capture
from app.gui.run.overlay import ARM_PX, BUBBLE, CAPTION_MAX_PX, OVERLAY_PROPERTY, ActionOverlay
from sandbox.actions import Click, Drag, Scroll, Type
from sandbox.capture import ScreenCapture
from sandbox.geometry import Monitor, Rect
from tests.helpers.target import TargetWindow

pytestmark = pytest.mark.display
Factory = Callable[..., TargetWindow]
MONITOR = Monitor(0, 0, 1920, 1080, name="primary")
AWAY = (1700, 1000)  # a pointer position off the target window (its hover effects stay still)
WAIT_MS = 5000


def as_rgb(colour: QColor) -> tuple[int, int, int]:
    return colour.red(), colour.green(), colour.blue()


ALLOW, CONFIRM, DENY = (as_rgb(verdict_colour(v)) for v in ("allow", "confirm", "deny"))


def xdotool(*args: str) -> None:
    subprocess.run(["xdotool", *args], check=True, timeout=10)


def input_focus() -> int:
    """The X input focus: a window id (or 0 None, 1 PointerRoot)."""
    import Xlib.display

    display = Xlib.display.Display()
    try:
        focus = display.get_input_focus().focus
        return focus if isinstance(focus, int) else int(focus.id)
    finally:
        display.close()


def window_pid(window_id: int) -> int | None:
    import Xlib.display
    import Xlib.X

    display = Xlib.display.Display()
    try:
        window = display.create_resource_object("window", window_id)
        prop = window.get_full_property(display.intern_atom("_NET_WM_PID"), Xlib.X.AnyPropertyType)
        return int(prop.value[0]) if prop else None
    finally:
        display.close()


def map_state(window_id: int) -> int:
    import Xlib.display

    display = Xlib.display.Display()
    try:
        return int(display.create_resource_object("window", window_id).get_attributes().map_state)
    finally:
        display.close()


@pytest.fixture
def capture() -> Iterator[ScreenCapture]:
    with ScreenCapture() as screen:
        yield screen


@pytest.fixture
def overlay(qtbot: QtBot) -> Iterator[ActionOverlay]:
    shown = ActionOverlay()
    qtbot.addWidget(shown)
    yield shown
    shown.clear()


def grab(capture: ScreenCapture) -> np.ndarray:
    return np.asarray(capture.grab(0).image).copy()


def at(shot: np.ndarray, x: int, y: int) -> tuple[int, int, int]:
    r, g, b = (int(v) for v in shot[y, x])
    return r, g, b


def blank(shot: np.ndarray, rects: list[Rect]) -> np.ndarray:
    """`shot` with `rects` zeroed (parts of the target that change on their own: the blinking text cursor)."""
    out = shot.copy()
    for rect in rects:
        out[rect.y : rect.y + rect.height, rect.x : rect.x + rect.width] = 0
    return out


def settled(capture: ScreenCapture, qtbot: QtBot, quiet: list[Rect]) -> np.ndarray:
    """A grab equal to the one before it (the target has finished painting)."""
    shots = [grab(capture)]

    def same() -> bool:
        shots.append(grab(capture))
        return bool(np.array_equal(blank(shots[-2], quiet), blank(shots[-1], quiet)))

    qtbot.waitUntil(same, timeout=WAIT_MS)
    return shots[-1]


def shown_at(capture: ScreenCapture, qtbot: QtBot, x: int, y: int, colour: tuple[int, int, int]) -> np.ndarray:
    """Wait for the overlay's first paint to reach the screen (the window maps, then paints on expose)."""
    shots: list[np.ndarray] = []

    def painted() -> bool:
        shots.append(grab(capture))
        return at(shots[-1], x, y) == colour

    qtbot.waitUntil(painted, timeout=WAIT_MS)
    return shots[-1]


def test_a_click_is_drawn_exactly_where_it_lands_and_nowhere_else(
    qtbot: QtBot, overlay: ActionOverlay, capture: ScreenCapture, target_window: Factory
) -> None:
    target = target_window(x=60, y=80, width=1000, height=700)
    xdotool("mousemove", str(AWAY[0]), str(AWAY[1]))
    focus = input_focus()
    assert window_pid(focus) == target.pid  # the target app has X input focus
    quiet = [target.widgets["Name"]]  # the focused field: its text cursor blinks
    sx, sy = target.centre("Submit")
    r = target.widgets["Submit"]
    box = (r.x, r.y, r.x + r.width, r.y + r.height)
    before = settled(capture, qtbot, quiet)

    overlay.show_action(Click(sx, sy), box=box, verdict="allow", monitor=MONITOR)
    shot = shown_at(capture, qtbot, sx, sy, ALLOW)
    assert overlay.target == (sx, sy) and overlay.isVisible()
    assert overlay.windowHandle().property(OVERLAY_PROPERTY) is True
    for dx, dy in ((ARM_PX // 2, 0), (-ARM_PX // 2, 0), (0, ARM_PX // 2), (0, -ARM_PX // 2)):
        assert at(shot, sx + dx, sy + dy) == ALLOW, (dx, dy)  # the arms, on the point's row and column
    for dx, dy in ((3, 0), (0, -3), (4, 4), (-4, 4)):  # between the centre and the arms: the button shows
        assert at(shot, sx + dx, sy + dy) == at(before, sx + dx, sy + dy), (dx, dy)
    top_edge = [at(shot, x, r.y) for x in range(r.x + 8, r.x + r.width - 8)]
    assert top_edge.count(ALLOW) > len(top_edge) // 4 and top_edge.count(ALLOW) < len(top_edge)  # dashed

    changed = np.any(blank(shot, quiet) != blank(before, quiet), axis=2)
    drawing = np.zeros_like(changed)
    reach = ARM_PX + 4
    drawing[sy - reach : sy + reach + 1, sx - reach : sx + reach + 1] = True
    for x0, y0, x1, y1 in ((r.x, r.y, r.x + r.width, r.y), (r.x, r.y + r.height, r.x + r.width, r.y + r.height)):
        drawing[y0 - 4 : y1 + 5, x0 - 4 : x1 + 5] = True  # the box's top and bottom edges
    for x in (r.x, r.x + r.width):
        drawing[r.y - 4 : r.y + r.height + 5, x - 4 : x + 5] = True  # its sides
    assert changed.sum() > 300  # the drawing is on the screen...
    outside = np.argwhere(changed & ~drawing)
    assert len(outside) == 0, f"{len(outside)} pixels changed away from the drawing, e.g. (y, x) {outside[:5]}"
    inside_box = (slice(r.y + 5, r.y + r.height - 5), slice(r.x + 5, sx - reach))
    assert not changed[inside_box].any()  # ...and inside the box, away from the crosshair, the button shows
    assert input_focus() == focus

    overlay.clear()
    assert map_state(int(overlay.winId())) == 0  # IsUnmapped, already when clear() returns
    assert not overlay.isVisible() and overlay.target is None
    qtbot.waitUntil(lambda: np.array_equal(blank(grab(capture), quiet), blank(before, quiet)), timeout=WAIT_MS)
    assert input_focus() == focus


def test_a_real_click_goes_through_the_overlay_to_the_app_under_it(
    qtbot: QtBot, overlay: ActionOverlay, capture: ScreenCapture, target_window: Factory
) -> None:
    target = target_window(x=60, y=80, width=1000, height=700)
    focus = input_focus()
    sx, sy = target.centre("Cancel")
    overlay.show_action(Click(sx, sy), box=None, verdict="confirm", monitor=MONITOR)
    shown_at(capture, qtbot, sx, sy, CONFIRM)
    xdotool("mousemove", str(sx), str(sy), "click", "1")
    press = target.wait_for(lambda e: e["event"] == "press")
    assert (press["x"], press["y"], press["widget"]) == (sx, sy, "Cancel")
    target.wait_for(lambda e: e["event"] == "clicked" and e["clicked"] == "Cancel")
    assert at(grab(capture), sx, sy) == CONFIRM  # still shown, still on top
    assert input_focus() == focus
    overlay.clear()
    assert input_focus() == focus


def test_a_drag_is_an_arrow_from_its_start_or_the_pointer_to_its_end(
    qtbot: QtBot, overlay: ActionOverlay, capture: ScreenCapture, target_window: Factory
) -> None:
    target = target_window(x=60, y=80, width=1000, height=700)
    canvas = target.colours["canvas"]
    cx, cy = target.centre("Canvas")
    start, end = (cx - 200, cy - 120), (cx + 160, cy + 100)
    overlay.show_action(Drag(*start, *end), box=None, verdict="confirm", monitor=MONITOR)
    shot = shown_at(capture, qtbot, *end, CONFIRM)
    assert overlay.target == end
    assert at(shot, *start) == CONFIRM  # the start's dot, centred on it
    middle = ((start[0] + end[0]) // 2, (start[1] + end[1]) // 2)
    near = shot[middle[1] - 2 : middle[1] + 3, middle[0] - 2 : middle[0] + 3].reshape(-1, 3)
    assert any(tuple(int(v) for v in p) == CONFIRM for p in near)  # the arrow's shaft
    assert at(shot, start[0], end[1]) == canvas and at(shot, end[0], start[1]) == canvas  # off the arrow

    pointer = (cx + 220, cy - 150)  # a drag "from the pointer": the arrow starts where the pointer is
    overlay.show_action(Drag(None, None, *end), box=None, verdict="deny", pointer=pointer, monitor=MONITOR)
    shot = shown_at(capture, qtbot, *pointer, DENY)
    assert at(shot, *end) == DENY
    assert at(shot, *start) == canvas  # the previous drawing is gone


def test_typed_text_is_a_caption_beside_the_pointer_or_mid_monitor_and_kept_short(
    qtbot: QtBot, overlay: ActionOverlay, capture: ScreenCapture, target_window: Factory
) -> None:
    target = target_window(x=60, y=80, width=1000, height=700)
    canvas, bubble = target.colours["canvas"], as_rgb(BUBBLE)
    cx, cy = target.centre("Canvas")
    pointer = (cx - 250, cy - 200)

    def bubble_shown(within: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
        """(a grab, the (y, x) of its bubble-coloured pixels) once the bubble is on the screen in `within`."""
        shots: list[np.ndarray] = []

        def found() -> bool:
            shots.append(grab(capture))
            x0, y0, x1, y1 = within
            return int(np.all(shots[-1][y0:y1, x0:x1] == np.array(bubble, np.uint8), axis=2).sum()) > 500

        qtbot.waitUntil(found, timeout=WAIT_MS)
        return shots[-1], np.argwhere(np.all(shots[-1] == np.array(bubble, np.uint8), axis=2))

    overlay.show_action(Type("hello <b>world</b>"), box=None, verdict="allow", monitor=MONITOR, pointer=pointer)
    shot, found = bubble_shown((0, 0, MONITOR.width, MONITOR.height))
    top, left = found.min(axis=0)
    assert overlay.target is None
    assert pointer[0] < left < pointer[0] + 60 and pointer[1] < top < pointer[1] + 60  # beside, below right
    assert at(shot, *pointer) == canvas  # the pointer's own spot is left alone
    assert any(at(shot, x, top - 1) == ALLOW for x in range(left, left + 40))  # the border is the verdict's

    overlay.show_action(Type("x" * 500), box=None, verdict="deny", monitor=MONITOR)  # no pointer: mid-monitor
    middle = (MONITOR.width // 2 - 100, MONITOR.height // 2 - 10, MONITOR.width // 2 + 100, MONITOR.height // 2 + 10)
    shot, found = bubble_shown(middle)
    assert at(shot, *pointer) == canvas  # the first bubble is gone
    (top, left), (bottom, right) = found.min(axis=0), found.max(axis=0)
    assert abs((left + right) / 2 - MONITOR.width / 2) <= 2 and abs((top + bottom) / 2 - MONITOR.height / 2) <= 2
    assert right - left < CAPTION_MAX_PX + 40  # elided, not 500 characters wide


def test_a_scroll_has_a_direction_arrow_and_a_refused_click_a_label_in_the_refusal_colour(
    qtbot: QtBot, overlay: ActionOverlay, capture: ScreenCapture, target_window: Factory
) -> None:
    target = target_window(x=60, y=80, width=1000, height=700)
    canvas = target.colours["canvas"]
    cx, cy = target.centre("Canvas")
    overlay.show_action(Scroll(cx, cy, "down", 5), box=None, verdict="allow", monitor=MONITOR)
    shot = shown_at(capture, qtbot, cx, cy, ALLOW)
    below = [at(shot, cx, y) for y in range(cy + ARM_PX + 8, cy + ARM_PX + 40)]
    above = [at(shot, cx, y) for y in range(cy - ARM_PX - 40, cy - ARM_PX - 8)]
    assert below.count(ALLOW) > 20 and set(above) == {canvas}  # the arrow points down only

    overlay.show_action(Click(cx, cy, button="right", count=2), box=None, verdict="deny", monitor=MONITOR)
    shot = shown_at(capture, qtbot, cx, cy, DENY)
    right = shot[cy - 8 : cy + 9, cx + ARM_PX : cx + ARM_PX + 120].reshape(-1, 3)
    left = shot[cy - 8 : cy + 9, cx - ARM_PX - 120 : cx - ARM_PX - 2].reshape(-1, 3)  # past the arm and its halo
    assert sum(tuple(int(v) for v in p) == DENY for p in right) > 300  # the label's pill, beside the ring
    assert {tuple(int(v) for v in p) for p in left} == {canvas}


def test_the_window_tracker_can_tell_the_overlay_from_deskpilot_windows(overlay: ActionOverlay) -> None:
    """Own windows are never clicked and are greyed out in captures: the monitor-sized overlay must not count."""
    handle = overlay.windowHandle()
    assert handle is not None and handle in QGuiApplication.topLevelWindows()
    assert handle.property(OVERLAY_PROPERTY) is True
    flags = overlay.windowFlags()
    for flag in (Qt.WindowType.WindowDoesNotAcceptFocus, Qt.WindowType.WindowTransparentForInput, Qt.WindowType.Tool):
        assert flags & flag, flag
    assert overlay.testAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the X11 answer")
def test_capture_exclusion_is_not_claimed_on_x11(overlay: ActionOverlay) -> None:
    assert exclude_from_capture(overlay) is False
    assert overlay.excluded_from_capture is False


def test_a_click_names_the_element_it_hits_beside_its_ring(
    qtbot: QtBot, overlay: ActionOverlay, capture: ScreenCapture, target_window: Factory
) -> None:
    target = target_window(x=60, y=80, width=1000, height=700)
    canvas = target.colours["canvas"]
    cx, cy = target.centre("Canvas")

    def pill(shot: np.ndarray) -> list[int]:
        """The columns right of the ring's arm where the caption's pill (the verdict's colour) is."""
        band = shot[cy - 8 : cy + 9, cx + ARM_PX + 6 : cx + ARM_PX + CAPTION_MAX_PX + 80]  # past the arm
        return [x for x in range(band.shape[1]) if any(tuple(int(v) for v in p) == ALLOW for p in band[:, x])]

    overlay.show_action(Click(cx, cy), box=None, verdict="allow", monitor=MONITOR)  # a plain click: no caption
    assert pill(shown_at(capture, qtbot, cx, cy, ALLOW)) == []
    overlay.show_action(Click(cx, cy), box=None, verdict="allow", monitor=MONITOR, element="push button 'Save'")
    qtbot.waitUntil(lambda: len(pill(grab(capture))) > 60, timeout=WAIT_MS)
    overlay.show_action(Click(cx, cy), box=None, verdict="allow", monitor=MONITOR, element="push button 'x" + "x" * 400)
    qtbot.waitUntil(lambda: len(pill(grab(capture))) > 200, timeout=WAIT_MS)
    columns = pill(grab(capture))
    assert max(columns) - min(columns) < CAPTION_MAX_PX + 40  # elided, not 400 characters wide
    assert at(grab(capture), cx - ARM_PX - 60, cy) == canvas  # beside the ring on the right only

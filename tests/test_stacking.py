"""Only the visible parts of deskpilot's windows count: rectangle arithmetic, and the real X stacking order
(a window above covers only where it takes clicks: its SHAPE input region within its bounding region)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox.desktops.x11_stacking import MARK_PROPERTY, X11Stacking
from sandbox.geometry import Rect, subtract
from tests.helpers.target import TargetWindow

Factory = Callable[..., TargetWindow]
small = st.integers(0, 40)
rects = st.builds(Rect, small, small, st.integers(1, 30), st.integers(1, 30))


@given(rect=rects, covers=st.lists(rects, max_size=5))
def test_subtract_keeps_exactly_the_uncovered_pixels(rect: Rect, covers: list[Rect]) -> None:
    parts = subtract(rect, covers)
    for x in range(rect.x - 1, rect.x + rect.width + 1):
        for y in range(rect.y - 1, rect.y + rect.height + 1):
            inside = [p for p in parts if p.contains(x, y)]
            expected = rect.contains(x, y) and not any(c.contains(x, y) for c in covers)
            assert len(inside) == (1 if expected else 0), (x, y, parts)


def x_window(target: TargetWindow) -> int:
    """The viewable X window of a target app (found by its pid)."""
    out = subprocess.run(
        ["xdotool", "search", "--onlyvisible", "--pid", str(target.pid)], capture_output=True, text=True, timeout=10
    )
    ids = [int(line) for line in out.stdout.split()]
    assert ids, out.stderr
    return ids[-1]


@pytest.mark.display
def test_a_window_lying_above_takes_its_part_away(target_window: Factory) -> None:
    lower = target_window(x=100, y=100, width=800, height=600, title="lower")
    upper = target_window(x=500, y=300, width=800, height=600, title="upper")
    low, up = x_window(lower), x_window(upper)
    stacking = X11Stacking()
    both = stacking.visible_parts([low, up])  # deskpilot's own windows never hide each other from the rule
    assert both == {low: [Rect(100, 100, 800, 600)], up: [Rect(500, 300, 800, 600)]}
    covered = Rect(500, 300, 800, 600)
    parts = stacking.visible_parts([low])[low]  # ours alone: the other is an application lying above it
    assert sum(p.width * p.height for p in parts) == 800 * 600 - 400 * 400
    assert all(not (p.contains(600, 400)) for p in parts) and any(p.contains(150, 150) for p in parts)
    assert subtract(Rect(100, 100, 800, 600), [covered]) == parts
    assert stacking.visible_parts([low], ignore=[up])[low] == [Rect(100, 100, 800, 600)]  # a see-through one
    subprocess.run(["xdotool", "windowraise", str(low)], check=True, timeout=10)
    assert stacking.visible_parts([low])[low] == [Rect(100, 100, 800, 600)]
    upper.close()
    assert stacking.visible_parts([up])[up] == []  # gone


Pieces = list[tuple[int, int, int, int]]


@contextmanager
def overlay(
    x: int, y: int, width: int, height: int, *, clicks: Pieces | None = None, shown: Pieces | None = None
) -> Iterator[int]:
    """An override-redirect window on top of everything, as screen annotators and game overlays make: `clicks`
    sets its SHAPE input region, `shown` its bounding region (window-relative pieces; [] is empty, None unshaped)."""
    from Xlib import X, display
    from Xlib.ext import shape

    connection = display.Display()
    screen = connection.screen()
    window = screen.root.create_window(
        x, y, width, height, 0, screen.root_depth, X.InputOutput, X.CopyFromParent,
        override_redirect=True, background_pixel=screen.black_pixel,
    )  # fmt: skip
    for kind, pieces in ((shape.SK.Input, clicks), (shape.SK.Bounding, shown)):
        if pieces is not None:
            window.shape_rectangles(shape.SO.Set, kind, X.Unsorted, 0, 0, pieces)
    window.map()
    connection.sync()
    try:
        yield window.id
    finally:
        window.destroy()
        connection.sync()
        connection.close()


def area(parts: list[Rect]) -> int:
    return sum(p.width * p.height for p in parts)


@pytest.mark.display
def test_click_through_and_invisible_windows_cover_nothing(target_window: Factory) -> None:
    """redteam N5: an override-redirect window with an empty input (and bounding) shape lying over deskpilot's
    window took it away whole ({WID: []}): the own_window denial and the mask went, while a click there
    reached deskpilot's button."""
    ours = x_window(target_window(x=100, y=100, width=400, height=300, title="ours"))
    stacking = X11Stacking()
    whole = stacking.visible_parts([ours])
    assert whole[ours][0].x == 100 and whole[ours][0].y == 100 and len(whole[ours]) == 1  # nothing above it yet
    with overlay(0, 0, 1000, 800, clicks=[], shown=[]):  # the red team's ghost: invisible and click-through
        assert stacking.visible_parts([ours]) == whole
    with overlay(0, 0, 1000, 800, clicks=[]):  # seen, yet clicks pass through it to deskpilot's window
        assert stacking.visible_parts([ours]) == whole
    with overlay(0, 0, 1000, 800, shown=[]):  # nothing shown: the input region is clipped to nothing too
        assert stacking.visible_parts([ours]) == whole
    with overlay(0, 0, 1000, 800):  # an ordinary window on top takes the clicks: ours is covered
        assert stacking.visible_parts([ours]) == {ours: []}


@pytest.mark.display
def test_a_shaped_window_covers_only_where_it_takes_clicks(target_window: Factory) -> None:
    ours = x_window(target_window(x=100, y=100, width=400, height=300, title="ours"))
    stacking = X11Stacking()
    [whole] = stacking.visible_parts([ours])[ours]
    # clicks taken only in a 100x100 square whose window-relative corner (150, 150) is (150, 150) on screen
    with overlay(0, 0, 1000, 800, clicks=[(150, 150, 100, 100)]):
        parts = stacking.visible_parts([ours])[ours]
        assert subtract(whole, [Rect(150, 150, 100, 100)]) == parts
        assert area(parts) == area([whole]) - 100 * 100
        assert not any(p.contains(200, 200) for p in parts) and any(p.contains(120, 120) for p in parts)
    # input wider than the bounding shape: only where both are (the server clips input to the bounding region)
    with overlay(50, 50, 1000, 800, clicks=[(0, 0, 300, 300)], shown=[(100, 100, 500, 500)]):
        parts = stacking.visible_parts([ours])[ours]  # screen (150, 150)-(350, 350) within ours
        assert subtract(whole, [Rect(150, 150, 200, 200)]) == parts


@contextmanager
def marked_window(x: int, y: int, width: int, height: int, *, pid: int, clicks: Pieces | None = None) -> Iterator[int]:
    """A window as another deskpilot process shows it: deskpilot's mark (_DESKPILOT_PID) on it before it is mapped."""
    from Xlib import X, Xatom, display
    from Xlib.ext import shape

    connection = display.Display()
    screen = connection.screen()
    window = screen.root.create_window(
        x, y, width, height, 0, screen.root_depth, X.InputOutput, X.CopyFromParent,
        override_redirect=True, background_pixel=screen.white_pixel,
    )  # fmt: skip
    window.change_property(connection.intern_atom(MARK_PROPERTY), Xatom.CARDINAL, 32, [pid])
    if clicks is not None:
        window.shape_rectangles(shape.SO.Set, shape.SK.Input, X.Unsorted, 0, 0, clicks)
    window.map()
    connection.sync()
    try:
        yield window.id
    finally:
        window.destroy()
        connection.sync()
        connection.close()


@pytest.mark.display
def test_every_deskpilot_processes_windows_are_found_by_their_mark(target_window: Factory) -> None:
    """Issue 18 item 4: `deskpilot run` could press the open window's Calibrate: only its own windows counted."""
    stacking = X11Stacking()
    with marked_window(100, 100, 400, 300, pid=4242) as ours:
        app = x_window(target_window(x=300, y=200, width=400, height=300, title="above"))  # lies over its corner
        windows = {w.id: w for w in stacking.top_windows()}
        assert windows[ours].deskpilot_pid == 4242 and windows[app].deskpilot_pid is None
        assert windows[ours].rect == Rect(100, 100, 400, 300)
        parts = stacking.deskpilot_parts()
        assert area(parts) == 400 * 300 - 200 * 200 and all(p.name == "deskpilot (pid 4242)" for p in parts)
        assert not any(p.contains(350, 250) for p in parts) and any(p.contains(150, 150) for p in parts)
        assert stacking.deskpilot_parts(except_pid=4242) == []  # a process leaves its own to its own tracker
        with marked_window(0, 0, 1000, 800, pid=4243, clicks=[]):  # another deskpilot's click-through preview
            assert stacking.deskpilot_parts() == parts  # masks nothing, and covers nothing of the other
        with marked_window(250, 150, 100, 100, pid=4243):  # deskpilot's windows never cover one another
            found = stacking.deskpilot_parts()
            assert [p for p in found if p.name == "deskpilot (pid 4242)"] == parts
            assert [p for p in found if p.name == "deskpilot (pid 4243)"] == [
                Rect(250, 150, 100, 100, "deskpilot (pid 4243)")
            ]


@pytest.mark.display
def test_the_focused_window_is_known(target_window: Factory) -> None:
    target = target_window(x=100, y=100, width=400, height=300, title="focused")
    target.wait_for(lambda e: e["event"] == "focus", timeout=10)  # it takes the keyboard once shown
    windows = X11Stacking().top_windows()
    assert [w.id for w in windows if w.focused] == [x_window(target)]


@pytest.mark.display
def test_each_window_has_its_title(target_window: Factory) -> None:
    """Issue 18 item 2: `click File in Mousepad` finds a window by its title (_NET_WM_NAME, UTF-8)."""
    first = x_window(target_window(x=100, y=100, width=300, height=200, title="Untitled 1 - Mousepad"))
    second = x_window(target_window(x=500, y=100, width=300, height=200, title="Größe 文件"))
    titles = {w.id: w.title for w in X11Stacking().top_windows()}
    assert titles[first] == "Untitled 1 - Mousepad" and titles[second] == "Größe 文件"

"""Only the visible parts of deskpilot's windows count: rectangle arithmetic, and the real X stacking order."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox.desktops.x11_stacking import X11Stacking
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

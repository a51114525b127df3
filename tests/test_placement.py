"""The main window's default size suits the screen: bounded on 4K, not most of a small laptop screen. The run
panel's corner hides nothing the run needs (app/gui/run/corners.py)."""

from __future__ import annotations

from PySide6.QtCore import QRect

from app.gui.run.corners import MARGIN_PX, best_corner, corners, covered
from app.gui.run.placement import default_geometry
from sandbox.geometry import Monitor, Rect

SCREEN = Monitor(0, 0, 1920, 1080)
PANEL = (380, 204)
RIGHT, BOTTOM = 1920 - 380 - MARGIN_PX, 1080 - 204 - MARGIN_PX


def test_default_size_follows_the_screen() -> None:
    for available, most in (
        (QRect(0, 0, 3840, 2120), 1400),
        (QRect(0, 0, 1920, 1040), 860),
        (QRect(0, 0, 1366, 738), 860),
    ):
        g = default_geometry(available)
        assert available.contains(g) and g.right() == available.right()  # on the screen, against its right edge
        assert g.width() == most and g.height() <= min(1100, available.height())
    four_k = default_geometry(QRect(0, 0, 3840, 2120))
    assert four_k.width() < 3840 / 2 and four_k.height() < 2120 * 0.6  # never a 1920x2160 block
    laptop = default_geometry(QRect(0, 0, 1366, 738))
    assert laptop.height() >= 600 and laptop.width() < 1366 * 0.7


def test_the_panel_goes_to_a_corner_over_bare_desktop() -> None:
    assert best_corner(SCREEN, PANEL) == (RIGHT, BOTTOM)  # nothing open: bottom-right, where a person looks
    calculator = Rect(1585, 715, 330, 360)  # usertrial-2026-12 trial 4: galculator in the bottom-right corner
    editor = Rect(0, 0, 1000, 700)
    at = best_corner(SCREEN, PANEL, [editor, calculator])
    assert covered(Rect(*at, *PANEL), [editor, calculator]) == 0 and at == (MARGIN_PX, BOTTOM)


def test_the_windows_the_run_needs_are_covered_last() -> None:
    big = Rect(0, 0, 1920, 800)  # every corner of the top covers it
    focused = Rect(0, 800, 960, 280)  # bottom-left
    other = Rect(1400, 900, 520, 180)  # in the bottom-right corner, lower than the panel's top edge
    at = best_corner(SCREEN, PANEL, [big, focused, other], avoid=[focused])
    assert covered(Rect(*at, *PANEL), [focused]) == 0
    assert at == (RIGHT, BOTTOM)  # partly on `other`: less than a top corner on `big`


def test_the_target_is_never_covered_and_a_tie_keeps_the_panel_where_it_is() -> None:
    everywhere = [Rect(0, 0, 1920, 1080)]  # a maximised app: every corner covers it alike
    target = (RIGHT + 10, BOTTOM + 10)
    moved = best_corner(SCREEN, PANEL, everywhere, avoid=everywhere, point=target, current=(RIGHT, BOTTOM))
    assert moved == (MARGIN_PX, MARGIN_PX)  # off the target, to the corner farthest from it
    kept = best_corner(SCREEN, PANEL, everywhere, avoid=everywhere, point=(900, 500), current=(RIGHT, MARGIN_PX))
    assert kept == (RIGHT, MARGIN_PX)  # no better corner: it stays
    for corner in corners(SCREEN, PANEL):
        assert not Rect(
            *best_corner(SCREEN, PANEL, point=(corner[0] + 5, corner[1] + 5), current=corner), *PANEL
        ).contains(corner[0] + 5, corner[1] + 5)

"""The main window's default size suits the screen: bounded on 4K, not most of a small laptop screen."""

from __future__ import annotations

from PySide6.QtCore import QRect

from app.gui.run.placement import default_geometry


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

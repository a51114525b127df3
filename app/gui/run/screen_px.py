"""Qt's global pixels and deskpilot's screen pixels.

deskpilot's screen pixels are the system's: X pixels on X11, the desktop's pixels on Windows. Qt scales its
own coordinates when a device pixel ratio applies there (QT_SCALE_FACTOR, Windows display scaling), keeping each
screen's native top-left and scaling from it; where the system itself scales (macOS, Wayland) Qt's pixels are
the ones deskpilot sees. Every window placed by deskpilot (the run panel, the overlay, the practice board)
goes through these functions.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint
from PySide6.QtGui import QGuiApplication, QScreen, QWindow
from PySide6.QtWidgets import QWidget

from sandbox.geometry import Monitor, Rect

NATIVE_PLATFORMS = ("xcb", "windows")  # where deskpilot's screen px are the system's, not Qt's scaled ones


def native_scale(screen: QScreen | None) -> tuple[float, QPoint]:
    """(device pixel ratio, the screen's top-left) to turn Qt's global px into screen px here."""
    if screen is None or QGuiApplication.platformName() not in NATIVE_PLATFORMS:
        return 1.0, QPoint(0, 0)
    return screen.devicePixelRatio(), screen.geometry().topLeft()


def to_screen_px(point: QPoint, screen: QScreen | None) -> tuple[int, int]:
    """A global Qt point -> deskpilot screen px."""
    ratio, origin = native_scale(screen)
    return (round(origin.x() + (point.x() - origin.x()) * ratio), round(origin.y() + (point.y() - origin.y()) * ratio))


def from_screen_px(x: int, y: int, screen: QScreen | None) -> QPoint:
    """deskpilot screen px -> a global Qt point (the inverse of to_screen_px)."""
    ratio, origin = native_scale(screen)
    return QPoint(round(origin.x() + (x - origin.x()) / ratio), round(origin.y() + (y - origin.y()) / ratio))


def screen_rect(window: QWidget | QWindow, *, name: str = "") -> Rect:
    """Where a window or widget is, frame included, in screen px (Qt's pixels scaled where the system's are not)."""
    g = window.frameGeometry()
    x, y = to_screen_px(g.topLeft(), window.screen())
    ratio, _ = native_scale(window.screen())
    return Rect(x, y, round(g.width() * ratio), round(g.height() * ratio), name=name)


def screen_at(x: int, y: int) -> QScreen | None:
    """The Qt screen that holds screen point (x, y) (each screen keeps its native top-left in Qt)."""
    for screen in QGuiApplication.screens():
        ratio, origin = native_scale(screen)
        g = screen.geometry()
        if origin.x() <= x < origin.x() + g.width() * ratio and origin.y() <= y < origin.y() + g.height() * ratio:
            return screen
    return None


def monitor_of(screen: QScreen | None) -> Monitor:
    """A Qt screen as a deskpilot Monitor, in screen px."""
    screen = screen or QGuiApplication.primaryScreen()
    ratio, _ = native_scale(screen)
    g = screen.geometry()
    x, y = to_screen_px(g.topLeft(), screen)
    return Monitor(x, y, round(g.width() * ratio), round(g.height() * ratio), name=screen.name())

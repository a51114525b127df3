"""Where the main window opens: where the person left it, else a size that suits the screen.

A fixed share of the screen does not suit every screen (half of a 3840x2160 monitor is a 1920x2160 block;
900 px of a 1366x768 laptop is most of it): the default is a share bounded in pixels, on the right of the
screen's available area. Qt's own saved geometry (QSettings) is used only when it still lies on a screen.
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QRect, QSettings
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QMainWindow

WIDTH_SHARE, MIN_WIDTH_PX, MAX_WIDTH_PX = 0.42, 860, 1400
HEIGHT_SHARE, MIN_HEIGHT_PX, MAX_HEIGHT_PX = 0.88, 600, 1100
KEY = "main_window/geometry"


def default_geometry(available: QRect) -> QRect:
    """A sensible size for `available` (a screen's available area), against its right edge."""
    width = min(max(round(available.width() * WIDTH_SHARE), MIN_WIDTH_PX), MAX_WIDTH_PX, available.width())
    height = min(max(round(available.height() * HEIGHT_SHARE), MIN_HEIGHT_PX), MAX_HEIGHT_PX, available.height())
    top = available.y() + (available.height() - height) // 2
    return QRect(available.x() + available.width() - width, top, width, height)


def _settings() -> QSettings:
    return QSettings("deskpilot", "window")


def place(window: QMainWindow) -> None:
    """Where the person left it (when that is still on a screen), else the default for the primary screen."""
    saved = _settings().value(KEY)
    if isinstance(saved, QByteArray) and window.restoreGeometry(saved):
        centre = window.frameGeometry().center()
        if QGuiApplication.screenAt(centre) is not None:
            return
    window.setGeometry(default_geometry(QGuiApplication.primaryScreen().availableGeometry()))


def remember_placement(window: QMainWindow) -> None:
    settings = _settings()
    settings.setValue(KEY, window.saveGeometry())
    settings.sync()

"""Keep one of deskpilot's windows out of screen captures, where the system can.

The on-screen action overlay must not end up in the screenshot the model reads next. Where that can be done:
- Windows 10 2004 (build 19041) and later: `SetWindowDisplayAffinity(hwnd, WDA_EXCLUDEFROMCAPTURE)` makes the
  window invisible to capture (it stays visible on the monitor). Older builds do not know the value, and their
  WDA_MONITOR paints the window black in captures (worse than showing it), so nothing is applied there.
- X11: no mechanism (every client reads the same framebuffer); the overlay has to be hidden while grabbing.
- macOS: `NSWindow.sharingType = .none` would need pyobjc (not a dependency), and it is unreliable: Apple calls
  it legacy, and on macOS 15 and later ScreenCaptureKit is reported to capture such windows all the same. A
  promise that does not hold is worse than none, so nothing is applied.
The affinity belongs to the native window: Qt may recreate that (a screen change, new window flags), so it is
applied again on every `QEvent.Type.WinIdChange`.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QWidget

WDA_EXCLUDEFROMCAPTURE = 0x11
MIN_WINDOWS_BUILD = 19041  # Windows 10 2004: the first that knows WDA_EXCLUDEFROMCAPTURE


def exclude_from_capture(widget: QWidget) -> bool:
    """Keep `widget`'s top-level window out of screen captures from now on; True where that was applied."""
    if not _supported():
        return False
    keeper = _AffinityKeeper(widget)  # parented to the widget: lives and dies with it
    widget.installEventFilter(keeper)
    return _apply(widget)


def _supported() -> bool:
    if sys.platform != "win32":
        return False
    return bool(sys.getwindowsversion().build >= MIN_WINDOWS_BUILD)  # type: ignore[attr-defined,unused-ignore]


def _apply(widget: QWidget) -> bool:
    """SetWindowDisplayAffinity on the widget's native window (created here when it has none yet)."""
    import ctypes
    from ctypes import wintypes

    user32 = ctypes.WinDLL("user32", use_last_error=True)  # type: ignore[attr-defined]
    set_affinity = user32.SetWindowDisplayAffinity
    set_affinity.argtypes = (wintypes.HWND, wintypes.DWORD)
    set_affinity.restype = wintypes.BOOL
    hwnd = int(widget.window().winId())
    return bool(set_affinity(hwnd, WDA_EXCLUDEFROMCAPTURE))


class _AffinityKeeper(QObject):
    """Applies the affinity again whenever the widget gets a new native window."""

    def __init__(self, widget: QWidget) -> None:
        super().__init__(widget)
        self._widget = widget

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if watched is self._widget and event.type() == QEvent.Type.WinIdChange:
            _apply(self._widget)
        return False

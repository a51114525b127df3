"""Where deskpilot's own windows are on the screen, for the policy (never clicked) and the capture (greyed out).

Updated on the GUI thread when a window shows, moves or resizes; read from the run's worker thread.
"""

from __future__ import annotations

import threading

from PySide6.QtGui import QGuiApplication

from sandbox.geometry import Rect

TARGET_PROPERTY = "deskpilot_target"  # a window of ours that the agent may act on (the practice board)


class OwnWindows:
    """A thread-safe list of deskpilot's visible top-level windows, in screen pixels."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rects: list[Rect] = []

    def __call__(self) -> list[Rect]:
        with self._lock:
            return list(self._rects)

    def update(self) -> None:
        """Read the visible top-level windows again (GUI thread)."""
        rects = []
        for window in QGuiApplication.topLevelWindows():
            if window.isVisible() and not window.property(TARGET_PROPERTY):
                ratio = window.devicePixelRatio()
                g = window.frameGeometry()
                x, y, w, h = (round(v * ratio) for v in (g.x(), g.y(), g.width(), g.height()))
                rects.append(Rect(x, y, w, h, name="deskpilot"))
        with self._lock:
            self._rects = rects

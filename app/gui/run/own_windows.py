"""Where deskpilot's own windows are on the screen, as they really are: for the policy (never clicked) and the
capture (greyed out of what the model sees).

Only the parts that no other application's window covers count (sandbox/desktops/x11_stacking.py reads the X stacking
order each time it is asked, from the asking thread): an application lying above deskpilot's window is what
the person sees there, so the model sees it too and may click it. Left out entirely: the practice board (a
target on purpose) and the on-screen overlay (input-transparent, and hidden before anything is captured or
done). A window excluded from capture by the system (Windows' WDA_EXCLUDEFROMCAPTURE) is not masked, but it
still may not be clicked.

The windows of every other deskpilot process count too (X11: they carry deskpilot's mark, app/gui/run/x_mark.py):
a second window, or the window beside a `deskpilot run`, is deskpilot's as much as this one's.
"""

from __future__ import annotations

import os
import sys
import threading

from loguru import logger
from PySide6.QtGui import QGuiApplication

from app.desktop import desktop_route
from app.gui.run.overlay import OVERLAY_PROPERTY  # the on-screen preview: never masked, never in a grab
from app.gui.run.screen_px import screen_rect
from app.gui.run.x_mark import TARGET_PROPERTY  # the practice board: a window of ours the agent may act on
from sandbox.desktops.base import TopWindow
from sandbox.errors import DriverError
from sandbox.geometry import Rect

EXCLUDED_PROPERTY = "deskpilot_excluded_from_capture"  # the system keeps it out of screenshots


def _x11() -> bool:
    return sys.platform.startswith("linux") and QGuiApplication.platformName() == "xcb"


def _wayland() -> bool:
    return sys.platform.startswith("linux") and QGuiApplication.platformName().startswith("wayland")


class OwnWindows:
    """deskpilot's visible windows. `update()` on the GUI thread; `blocking()`/`masked()` from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: list[tuple[int, Rect, bool]] = []  # X window id (0 off X11), rect, excluded from capture
        self._see_through: list[int] = []  # X ids of the overlay: above everything, yet it covers nothing
        self._stacking = desktop_route().stacking() if _x11() or _wayland() else None
        # on Wayland a window does not know where it is on the screen: the compositor's tree says (all of ours)
        self._from_tree = _wayland() and self._stacking is not None

    def __call__(self) -> list[Rect]:
        return self.blocking()

    def update(self) -> None:
        """Read deskpilot's visible top-level windows again (GUI thread)."""
        windows, see_through = [], []
        for window in QGuiApplication.topLevelWindows():
            if self._stacking is not None and window.property(OVERLAY_PROPERTY):
                see_through.append(int(window.winId()))
            if not window.isVisible() or window.property(TARGET_PROPERTY) or window.property(OVERLAY_PROPERTY):
                continue
            windows.append(
                (
                    int(window.winId()) if self._stacking else 0,
                    screen_rect(window, name="deskpilot"),
                    bool(window.property(EXCLUDED_PROPERTY)),
                )
            )
        with self._lock:
            self._windows, self._see_through = windows, see_through

    def applications(self) -> list[TopWindow]:
        """The other applications' windows on the screen, bottom to top ([] where that cannot be read)."""
        if self._stacking is None:
            return []
        try:
            return [w for w in self._stacking.top_windows() if w.deskpilot_pid is None]
        except DriverError as exc:
            logger.warning(f"{exc}; the run panel goes where it would go without knowing the windows")
            return []

    def blocking(self) -> list[Rect]:
        """Where a click would reach deskpilot: the visible parts of all its windows."""
        return self._visible(masked_only=False)

    def masked(self) -> list[Rect]:
        """What to grey out of a screenshot: the visible parts of the windows the system does not exclude."""
        return self._visible(masked_only=True)

    def _visible(self, *, masked_only: bool) -> list[Rect]:
        with self._lock:
            windows = [(xid, rect) for xid, rect, excluded in self._windows if not (masked_only and excluded)]
            see_through = list(self._see_through)
        if self._stacking is None:
            return [rect for _, rect in windows]
        if self._from_tree:
            try:
                return self._stacking.deskpilot_parts(except_pid=None)
            except DriverError as exc:  # unreadable tree: the windows as Qt places them (never less than that)
                logger.warning(f"{exc}; counting deskpilot's windows as Qt places them")
                return [rect for _, rect in windows]
        try:
            others = self._stacking.deskpilot_parts(except_pid=os.getpid())
        except DriverError as exc:
            logger.warning(f"{exc}; other deskpilot processes' windows not known this time")
            others = []
        if not windows:
            return others
        try:
            parts = self._stacking.visible_parts([xid for xid, _ in windows], ignore=see_through)
        except DriverError as exc:  # unreadable stacking: the whole windows count (never less than that)
            logger.warning(f"{exc}; counting deskpilot's windows whole")
            return [rect for _, rect in windows] + others
        ours = [Rect(p.x, p.y, p.width, p.height, "deskpilot") for xid, _ in windows for p in parts.get(xid, [])]
        return ours + others

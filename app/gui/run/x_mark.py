"""deskpilot's mark on each of its windows (X11), so that every deskpilot process knows them for its own.

`deskpilot run` in a terminal, with the window open, must neither click the window's buttons nor read its texts
as the screen's (docs: the own-window rule). Each top-level window this process shows gets the X property
`_DESKPILOT_PID` (CARDINAL: this pid) as it is shown, and the xcb plugin writes WM_CLASS "deskpilot" (the
instance name from `-name deskpilot` in app/gui/app.py, the class from the application's name). Any deskpilot
process finds the marked windows in the X stacking order (sandbox/desktops/x11_stacking.py `deskpilot_parts`).

The property is written on Qt's own xcb connection (libxcb through ctypes), in the window's Show event, which
Qt sends before it maps the window: the same connection keeps the order, so the window is never on the screen
unmarked, and no round trip is needed. Left unmarked: the practice board and what belongs to it (a target on
purpose, TARGET_PROPERTY on its QWindow or one it is transient for).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

from loguru import logger
from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QGuiApplication, QWindow

from sandbox.desktops.x11_stacking import MARK_PROPERTY

TARGET_PROPERTY = "deskpilot_target"  # a window of ours that the agent may act on (the practice board)
XCB_PROP_MODE_REPLACE = 0
XCB_ATOM_CARDINAL = 6


class _Cookie(ctypes.Structure):
    _fields_ = [("sequence", ctypes.c_uint)]


class _AtomReply(ctypes.Structure):
    _fields_ = [
        ("response_type", ctypes.c_uint8),
        ("pad0", ctypes.c_uint8),
        ("sequence", ctypes.c_uint16),
        ("length", ctypes.c_uint32),
        ("atom", ctypes.c_uint32),
    ]


class _Xcb:
    """The few libxcb calls that write one CARDINAL property on Qt's own connection."""

    def __init__(self, connection: int) -> None:
        name = ctypes.util.find_library("xcb") or "libxcb.so.1"
        lib = ctypes.CDLL(name)
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        lib.xcb_intern_atom.argtypes = (ctypes.c_void_p, ctypes.c_uint8, ctypes.c_uint16, ctypes.c_char_p)
        lib.xcb_intern_atom.restype = _Cookie
        lib.xcb_intern_atom_reply.argtypes = (ctypes.c_void_p, _Cookie, ctypes.c_void_p)
        lib.xcb_intern_atom_reply.restype = ctypes.POINTER(_AtomReply)
        lib.xcb_change_property.argtypes = (
            ctypes.c_void_p,
            ctypes.c_uint8,
            ctypes.c_uint32,
            ctypes.c_uint32,
            ctypes.c_uint32,
            ctypes.c_uint8,
            ctypes.c_uint32,
            ctypes.c_void_p,
        )
        lib.xcb_change_property.restype = _Cookie
        lib.xcb_flush.argtypes = (ctypes.c_void_p,)
        lib.xcb_flush.restype = ctypes.c_int
        libc.free.argtypes = (ctypes.c_void_p,)
        self._lib, self._libc, self._connection = lib, libc, ctypes.c_void_p(connection)
        self.atom = self._intern(MARK_PROPERTY)

    def _intern(self, name: str) -> int:
        raw = name.encode()
        reply = self._lib.xcb_intern_atom_reply(
            self._connection, self._lib.xcb_intern_atom(self._connection, 0, len(raw), raw), None
        )
        if not reply:
            raise OSError(f"the X server did not intern {name}")
        atom = int(reply.contents.atom)
        self._libc.free(ctypes.cast(reply, ctypes.c_void_p))
        return atom

    def mark(self, window: int, pid: int) -> None:
        value = ctypes.c_uint32(pid)
        self._lib.xcb_change_property(
            self._connection, XCB_PROP_MODE_REPLACE, window, self.atom, XCB_ATOM_CARDINAL, 32, 1, ctypes.byref(value)
        )
        self._lib.xcb_flush(self._connection)


class WindowMarker(QObject):
    """Marks every top-level window of this process as it is shown (an application-wide event filter)."""

    def __init__(self, xcb: _Xcb, parent: QObject) -> None:
        super().__init__(parent)
        self._xcb, self._pid = xcb, os.getpid()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        shown = event.type() == QEvent.Type.Show and isinstance(watched, QWindow) and watched.parent() is None
        if shown and not _a_target(watched):  # type: ignore[arg-type]
            self._xcb.mark(int(watched.winId()), self._pid)  # type: ignore[attr-defined]
        return False


def _a_target(window: QWindow | None) -> bool:
    """Whether a window is the practice board, or transient for it (its popups)."""
    for _ in range(16):
        if window is None:
            return False
        if window.property(TARGET_PROPERTY):
            return True
        window = window.transientParent()
    return False


def mark_deskpilot_windows() -> None:
    """From now on, every window this process shows carries deskpilot's mark (X11; once per process)."""
    app = QGuiApplication.instance()
    if app is None or not sys.platform.startswith("linux") or QGuiApplication.platformName() != "xcb":
        return
    if app.property("deskpilot_marker"):
        return
    native = app.nativeInterface()  # type: ignore[attr-defined]
    try:
        xcb = _Xcb(int(native.connection()))
    except (OSError, AttributeError, TypeError) as exc:  # no libxcb to load: the other processes cannot tell
        logger.warning(f"deskpilot's windows cannot be marked for other deskpilot processes: {exc}")
        return
    marker = WindowMarker(xcb, app)
    app.installEventFilter(marker)
    app.setProperty("deskpilot_marker", True)
    for window in QGuiApplication.topLevelWindows():  # shown before the marker was there
        if window.isVisible() and window.parent() is None and not _a_target(window):
            xcb.mark(int(window.winId()), os.getpid())

"""Which top-level window is on top at a screen point, and whose process owns it (X11).

The accessibility tree cannot say which of two overlapping windows is in front, nor that a window without a
tree (Tk, xterm) covers an accessible one; the X server's stacking order can. `root.query_tree()` lists the
top-level windows bottom to top; the first viewable one from the top whose bounding box holds the point, and
whose input region (SHAPE) takes clicks there, is what a click there reaches: a click-through overlay (an empty
input region, like deskpilot's own) is passed over. Under a reparenting window manager that window is a frame:
its client is the descendant with WM_STATE, and `_NET_WM_PID` on the client names the process.
python-xlib is imported on first use (it fails without a display); the connection is not thread-safe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sandbox.errors import DriverError
from sandbox.geometry import Rect

MAX_FRAME_DEPTH = 4  # levels below a window manager's frame searched for its client


@dataclass(frozen=True, kw_only=True)
class TopWindow:
    """The top-level window at a point: its frame (itself without a window manager), its client, its owner."""

    frame: Rect
    client: Rect
    pid: int | None  # _NET_WM_PID (None when the client does not set it)
    title: str


class X11WindowAt:
    """Answers "which window is on top at (x, y)" for one X display (None: the default $DISPLAY)."""

    def __init__(self, display: str | None = None) -> None:
        self.display = display
        self._connection: Any = None

    def __call__(self, x: int, y: int) -> TopWindow | None:
        from Xlib import X
        from Xlib.error import XError

        connection = self._connect()
        root = connection.screen().root
        try:
            for window in reversed(root.query_tree().children):
                attributes = window.get_attributes()
                if attributes.map_state != X.IsViewable or attributes.win_class != X.InputOutput:
                    continue
                frame = _rect(window)
                if not frame.contains(x, y) or not self._takes_clicks(connection, window, frame, x, y):
                    continue
                client = _client(connection, window, MAX_FRAME_DEPTH) or window
                return TopWindow(
                    frame=frame, client=_root_rect(client, root), pid=_pid(connection, client), title=_title(client)
                )
        except XError:  # a window went away while it was read: say nothing rather than guess
            return None
        return None

    def _connect(self) -> Any:
        if self._connection is None:
            try:
                from Xlib import display as xdisplay

                self._connection = xdisplay.Display(self.display)
            except Exception as exc:  # noqa: BLE001 - no X, a refused connection: say it in one line
                raise DriverError(f"cannot read the windows of display {self.display or '$DISPLAY'}: {exc}") from None
        return self._connection

    @staticmethod
    def _takes_clicks(connection: Any, window: Any, frame: Rect, x: int, y: int) -> bool:
        if not connection.has_extension("SHAPE"):
            return True
        from Xlib.ext import shape

        border = window.get_geometry().border_width
        pieces = window.shape_get_rectangles(shape.SK.Input).rectangles
        inside_x, inside_y = x - frame.x - border, y - frame.y - border
        return any(r.x <= inside_x < r.x + r.width and r.y <= inside_y < r.y + r.height for r in pieces)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _rect(window: Any) -> Rect:
    g = window.get_geometry()
    return Rect(g.x, g.y, g.width + 2 * g.border_width, g.height + 2 * g.border_width)


def _root_rect(window: Any, root: Any) -> Rect:
    g = window.get_geometry()
    origin = window.translate_coords(root, 0, 0)  # root's origin in the window's coordinates
    return Rect(-origin.x, -origin.y, g.width, g.height)


def _client(connection: Any, window: Any, depth: int) -> Any:
    """The window with WM_STATE at or below `window` (None when no window manager set one)."""
    if window.get_full_property(connection.intern_atom("WM_STATE"), 0) is not None:
        return window
    if depth == 0:
        return None
    for child in reversed(window.query_tree().children):
        found = _client(connection, child, depth - 1)
        if found is not None:
            return found
    return None


def _pid(connection: Any, window: Any) -> int | None:
    from Xlib import Xatom

    prop = window.get_full_property(connection.intern_atom("_NET_WM_PID"), Xatom.CARDINAL)
    return int(prop.value[0]) if prop is not None and len(prop.value) else None


def _title(window: Any) -> str:
    try:
        name = window.get_wm_name()
    except Exception:  # noqa: BLE001 - an undecodable title is no title
        return ""
    return name if isinstance(name, str) else ""

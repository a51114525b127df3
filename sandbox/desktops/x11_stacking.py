"""Which parts of some X windows are really visible, from the X stacking order (X11).

A window of deskpilot's that lies under another application's window is not what a click there reaches, nor
what the person (or the model) sees there: the application is. So only the parts of deskpilot's windows
that no other window covers count, for the screenshot's mask and for the policy's own_window rule.

`root.query_tree()` lists the top-level windows bottom to top; under a reparenting window manager our window's
top-level is its frame (the title bar belongs to it: a click there would move or close our window). Only
viewable windows above ours cover it, and each only where it takes clicks: its SHAPE input region clipped to
its bounding region (what the X server itself does). A click-through overlay (an empty input region) or an
invisible window (an empty bounding region) covers nothing, so it can neither unprotect deskpilot's window
for the policy nor unmask it in a screenshot; a shaped window covers only its shape. One answer serves both
uses: where a window is visible but lets clicks through, deskpilot's part stays masked too (never less
masked than it should be). A shape of more than MAX_SHAPE_RECTANGLES pieces covers nothing (the fail-safe
side). python-xlib connections are not thread-safe: each thread gets its own, opened on first use.

Every deskpilot process marks its windows (MARK_PROPERTY: its pid, on the client window; app/gui/run/x_mark.py),
so any deskpilot process finds the windows of every other one (`deskpilot_parts`): `deskpilot run` in a terminal
masks and refuses the open window's buttons as it does its own. `top_windows` lists the other applications'
windows with their places, for the run panel to find a corner that hides none of them (app/gui/run/corners.py),
and with their titles and which one is focused, for the OCR grounder to tell the window in front from the one
behind it and to find a window by its title (agent/backends/ocr/windows.py).
Under a reparenting window manager the mark and the window type sit on the client, inside the frame: the client
is the window that carries ICCCM's WM_STATE (without a manager no window does, and the top-level is the client).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from sandbox.desktops.base import TopWindow
from sandbox.errors import DriverError
from sandbox.geometry import Rect, subtract

MAX_SHAPE_RECTANGLES = 256  # pieces of one window's click-taking shape followed; more: it covers nothing
MARK_PROPERTY = "_DESKPILOT_PID"  # CARDINAL: the pid of the deskpilot process whose window this is
MAX_CLIENT_DEPTH = 3  # a window manager's frame holds its client this deep at most


class X11Stacking:
    """The X stacking order of one display, read afresh on every call (one connection per thread)."""

    def __init__(self, display: str | None = None) -> None:
        self.display = display
        self._local = threading.local()

    def _connection(self) -> Any:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            try:
                from Xlib import display as xdisplay

                connection = xdisplay.Display(self.display)
            except Exception as exc:  # noqa: BLE001 - no X, a refused connection: say it in one line
                raise DriverError(f"cannot read the window stacking order: {exc}") from None
            self._local.connection = connection
            self._local.shape = self._shape_kinds(connection)
        return connection

    @staticmethod
    def _shape_kinds(connection: Any) -> tuple[int, ...] | None:
        """The SHAPE kinds whose intersection takes clicks (bounding, and input from SHAPE 1.1 on); None
        without the extension (no window is shaped then)."""
        if not connection.has_extension("SHAPE"):
            return None
        from Xlib.ext import shape

        version = connection.shape_query_version()
        has_input = (version.major_version, version.minor_version) >= (1, 1)
        return (shape.SK.Bounding, shape.SK.Input) if has_input else (shape.SK.Bounding,)

    def top_windows(self) -> list[TopWindow]:
        """The viewable top-level windows that take clicks, bottom to top, with their places, titles, deskpilot
        mark and which one has the keyboard focus; desktop windows (a wallpaper covering the screen) left out."""
        from Xlib import X
        from Xlib.error import XError

        connection = self._connection()
        root = connection.screen().root
        try:
            focus = connection.get_input_focus().focus
            focus_id = focus if isinstance(focus, int) else focus.id
            focused = self._top_level(connection, focus_id, root.id) if focus_id > 1 else None  # 1: PointerRoot
            found = []
            for top in [child.id for child in root.query_tree().children]:
                rect = self._rect(connection, top) if self._viewable(connection, top, X) else None
                if rect is None:
                    continue
                client = self._client(connection, top)
                clicks = self._takes_clicks(connection, top, rect)
                if not clicks or self._is_desktop(connection, client):
                    continue
                found.append(
                    TopWindow(
                        id=top,
                        rect=rect,
                        clicks=tuple(clicks),
                        deskpilot_pid=self._mark(connection, client),
                        focused=top == focused,
                        title=self._title(connection, client),
                    )
                )
            return found
        except XError as exc:  # a window vanished between two requests: read it all again next time
            raise DriverError(f"the window stacking changed while it was read: {exc}") from None

    def deskpilot_parts(self, *, except_pid: int | None = None) -> list[Rect]:
        """The visible parts of every deskpilot window on the display (any process's, but `except_pid`'s): the
        parts that no other application's window above it covers, named after the process. deskpilot's windows
        never cover one another here, and a click-through one (the on-screen preview) is none of them."""
        windows = self.top_windows()
        parts: list[Rect] = []
        for index, window in enumerate(windows):
            if window.deskpilot_pid is None or window.deskpilot_pid == except_pid:
                continue
            x, y, width, height = window.rect.x, window.rect.y, window.rect.width, window.rect.height
            covers = [r for w in windows[index + 1 :] if w.deskpilot_pid is None for r in w.clicks]
            parts.extend(subtract(Rect(x, y, width, height, f"deskpilot (pid {window.deskpilot_pid})"), covers))
        return parts

    def visible_parts(self, windows: Sequence[int], *, ignore: Sequence[int] = ()) -> dict[int, list[Rect]]:
        """For each X window id: the parts of its top-level window (frame included) that no other viewable
        top-level window above it covers, in root (screen) pixels. Windows that are gone or not viewable map
        to []. `ignore`: windows that cover nothing (deskpilot's input-transparent overlay)."""
        from Xlib import X
        from Xlib.error import XError

        connection = self._connection()
        root = connection.screen().root
        try:
            stack = [child.id for child in root.query_tree().children]  # bottom to top
            tops = {window: self._top_level(connection, window, root.id) for window in windows}
            ours = {top for top in tops.values() if top is not None}
            ours |= {top for top in (self._top_level(connection, w, root.id) for w in ignore) if top is not None}
            result: dict[int, list[Rect]] = {}
            geometry: dict[int, Rect | None] = {}
            shapes: dict[int, list[Rect]] = {}
            for window, top in tops.items():
                if top is None or top not in stack or not self._viewable(connection, top, X):
                    result[window] = []
                    continue
                rect = geometry.setdefault(top, self._rect(connection, top))
                if rect is None:
                    result[window] = []
                    continue
                covers = []
                for above in stack[stack.index(top) + 1 :]:
                    if above in ours or not self._viewable(connection, above, X):
                        continue
                    outline = geometry.setdefault(above, self._rect(connection, above))
                    if outline is None or _overlap(outline, rect) is None:
                        continue
                    if above not in shapes:
                        shapes[above] = self._takes_clicks(connection, above, outline)
                    covers.extend(shapes[above])
                result[window] = subtract(rect, covers)
            return result
        except XError as exc:  # a window vanished between two requests: read it all again next time
            raise DriverError(f"the window stacking changed while it was read: {exc}") from None

    @staticmethod
    def _top_level(connection: Any, window: int, root: int) -> int | None:
        """The child of the root that holds `window` (its window manager frame, or itself)."""
        current = window
        for _ in range(16):  # frames nest a few levels at most
            try:
                parent = connection.create_resource_object("window", current).query_tree().parent
            except Exception:  # noqa: BLE001 - the window is gone
                return None
            parent_id = int(parent) if isinstance(parent, int) else parent.id
            if parent_id in (0, root):
                return current
            current = parent_id
        return None

    @staticmethod
    def _property(connection: Any, window: int, name: str, kind: int) -> list[int]:
        """The values of a 32-bit property of a window ([] when it has none, or is gone)."""
        try:
            value = connection.create_resource_object("window", window).get_full_property(
                connection.get_atom(name), kind
            )
        except Exception:  # noqa: BLE001 - gone
            return []
        return [int(v) for v in value.value] if value is not None and value.format == 32 else []

    def _client(self, connection: Any, top: int) -> int:
        """The application's own window in a top-level one: the first (breadth first) that carries WM_STATE, or
        the top-level itself (no window manager: no WM_STATE anywhere)."""

        layer = [top]
        for _ in range(MAX_CLIENT_DEPTH):
            for window in layer:
                if self._property(connection, window, "WM_STATE", 0):
                    return window
            try:
                layer = [
                    c.id for w in layer for c in connection.create_resource_object("window", w).query_tree().children
                ]
            except Exception:  # noqa: BLE001 - gone
                break
            if not layer:
                break
        return top

    def _mark(self, connection: Any, client: int) -> int | None:
        """The pid in deskpilot's mark, None for an application's window."""
        from Xlib import Xatom

        values = self._property(connection, client, MARK_PROPERTY, Xatom.CARDINAL)
        return values[0] if values else None

    @staticmethod
    def _title(connection: Any, client: int) -> str:
        """The client's title: _NET_WM_NAME (UTF-8), else WM_NAME (Latin-1 as ICCCM says, UTF-8 where it decodes);
        "" when it has neither, or is gone."""
        window = connection.create_resource_object("window", client)
        for name, kind in (("_NET_WM_NAME", connection.get_atom("UTF8_STRING")), ("WM_NAME", 0)):
            try:
                value = window.get_full_property(connection.get_atom(name), kind)
            except Exception:  # noqa: BLE001 - gone
                return ""
            if value is None or value.format != 8 or not value.value:
                continue
            raw = value.value if isinstance(value.value, bytes) else str(value.value).encode("utf-8", "replace")
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError:
                return raw.decode("latin-1")
        return ""

    def _is_desktop(self, connection: Any, client: int) -> bool:
        """A desktop window (_NET_WM_WINDOW_TYPE_DESKTOP): the wallpaper and icons behind every window."""
        from Xlib import Xatom

        desktop = connection.get_atom("_NET_WM_WINDOW_TYPE_DESKTOP")
        return desktop in self._property(connection, client, "_NET_WM_WINDOW_TYPE", Xatom.ATOM)

    @staticmethod
    def _viewable(connection: Any, window: int, X: Any) -> bool:
        try:
            attributes = connection.create_resource_object("window", window).get_attributes()
        except Exception:  # noqa: BLE001 - gone
            return False
        return bool(attributes.map_state == X.IsViewable and attributes.win_class == X.InputOutput)

    def _takes_clicks(self, connection: Any, window: int, outline: Rect) -> list[Rect]:
        """Where a window above ours takes clicks, in root pixels: its input region clipped to its bounding
        region (each as rectangles); its whole `outline` when it is not shaped or SHAPE is missing."""
        kinds = getattr(self._local, "shape", None)
        if not kinds:
            return [outline]
        resource = connection.create_resource_object("window", window)
        border = resource.get_geometry().border_width
        origin_x, origin_y = outline.x + border, outline.y + border  # shapes are relative to the inside corner
        region = [outline]
        for kind in kinds:
            pieces = resource.shape_get_rectangles(kind).rectangles
            if len(region) * len(pieces) > MAX_SHAPE_RECTANGLES**2:
                return []  # too fine a shape to follow: it covers nothing (deskpilot's part stays whole)
            shaped = [Rect(origin_x + r.x, origin_y + r.y, r.width, r.height) for r in pieces]
            region = [part for a in region for b in shaped if (part := _overlap(a, b)) is not None]
            if len(region) > MAX_SHAPE_RECTANGLES:
                return []  # too fine a shape to follow: it covers nothing (deskpilot's part stays whole)
        return region

    @staticmethod
    def _rect(connection: Any, window: int) -> Rect | None:
        try:
            g = connection.create_resource_object("window", window).get_geometry()
        except Exception:  # noqa: BLE001 - gone
            return None
        return Rect(g.x, g.y, g.width + 2 * g.border_width, g.height + 2 * g.border_width)

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None


def _overlap(a: Rect, b: Rect) -> Rect | None:
    """The rectangle two rectangles share, or None when they share no pixel."""
    left, top = max(a.x, b.x), max(a.y, b.y)
    right, bottom = min(a.x + a.width, b.x + b.width), min(a.y + a.height, b.y + b.height)
    return Rect(left, top, right - left, bottom - top) if right > left and bottom > top else None

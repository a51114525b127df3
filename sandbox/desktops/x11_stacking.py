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
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from sandbox.errors import DriverError
from sandbox.geometry import Rect, subtract

MAX_SHAPE_RECTANGLES = 256  # pieces of one window's click-taking shape followed; more: it covers nothing


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

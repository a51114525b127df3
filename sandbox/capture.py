"""Screen capture with mss: one monitor (or the whole desktop) as an RGB image in physical pixels.

mss objects are not thread-safe and are slow to create, so each thread gets its own, reused for every
grab and closed when that thread ends or when the ScreenCapture is closed (an mss left open keeps an X
connection and a shared-memory segment alive).

Scale (physical px per logical px) is measured, never assumed: it is the width of a real grab divided by
the monitor's logical width, cached per monitor. X11 gives 1.0; macOS Retina gives 2.0.

The focused window (`focus()`, X11) is read beside the frames, so the loop can tell whether an action moved the
keyboard focus (agent/effects.py).

mss, Xlib and pynput are imported inside functions: they fail at import time without a display.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sandbox.errors import DriverError, GeometryError
from sandbox.geometry import Monitor, Rect, ScreenGeometry

if TYPE_CHECKING:
    from PIL import Image

MASK_RGB: tuple[int, int, int] = (128, 128, 128)  # flat neutral grey over deskpilot's own windows
PROBE_PX = 64  # logical side of the small grab that measures an unseen monitor's scale
ALL_MONITORS = -1  # Screenshot.index of a grab of the whole virtual desktop


@dataclass(frozen=True, slots=True)
class Screenshot:
    """One grab: the image in physical pixels and exactly where it lies on the screen."""

    image: Image.Image  # mode RGB, physical pixels
    monitor: Monitor  # the grabbed area in screen (logical) px, with the measured scale
    index: int  # index into screen.monitors, or ALL_MONITORS for the whole desktop
    screen: ScreenGeometry  # every monitor at the time of the grab
    cursor: tuple[int, int] | None  # pointer in screen px; None when it could not be read
    taken_at: float  # time.time() when the grab started
    elapsed_s: float  # grab + conversion + masking, time.perf_counter


def _is_x11() -> bool:
    return sys.platform.startswith("linux")


def _close_resources(resources: list[Any]) -> None:
    """Close one thread's mss and Xlib display (a weakref.finalize callback: no reference to the owner)."""
    for resource in resources:
        try:
            resource.close()
        except Exception:  # noqa: BLE001 - closing is best effort; the connection may already be gone
            pass
    resources.clear()


class _ThreadResources:
    """What one thread holds; when the thread ends its thread-local entry is dropped and `closer` runs."""

    def __init__(self, sct: Any) -> None:
        self.sct = sct
        self.xdisplay: Any = None
        self.resources: list[Any] = [sct]
        self.closer = weakref.finalize(self, _close_resources, self.resources)


class ScreenCapture:
    """Grabs monitors of one display. Usable from any thread; `close()` (or `with`) releases everything."""

    def __init__(self, *, display: str | None = None) -> None:
        if display is not None and not _is_x11():
            raise DriverError(f"cannot capture the screen: an X display name ({display!r}) only applies on Linux")
        self.display = display
        self._local = threading.local()
        self._lock = threading.Lock()
        self._holders: weakref.WeakSet[_ThreadResources] = weakref.WeakSet()
        self._scales: dict[tuple[int, int, int, int], float] = {}

    def __enter__(self) -> ScreenCapture:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every thread's mss and X connection. A later grab opens new ones."""
        with self._lock:
            holders = list(self._holders)
            self._holders.clear()
        for holder in holders:
            holder.closer()

    # -- geometry --------------------------------------------------------------------------------------

    def geometry(self) -> ScreenGeometry:
        """All monitors now, in screen (logical) px, each with its measured scale."""
        sct = self._resources().sct
        return self._geometry(sct, self._read_monitors(sct))

    def _geometry(self, sct: Any, raw: list[dict[str, Any]]) -> ScreenGeometry:
        monitors = []
        for number, mon in enumerate(raw, 1):
            key = _key(mon)
            with self._lock:
                scale = self._scales.get(key)
            if scale is None:
                scale = self._probe_scale(sct, mon)
            name = str(mon.get("name") or mon.get("output") or f"monitor{number}")
            monitors.append(Monitor(key[0], key[1], key[2], key[3], scale=scale, name=name))
        return ScreenGeometry(tuple(monitors))

    def _read_monitors(self, sct: Any) -> list[dict[str, Any]]:
        """mss's monitors[1:] (or the root when it lists none), read afresh so a changed layout is seen."""
        import mss

        # mss caches the list for the life of the instance; forget it (0.3 ms on X to read it again).
        version = tuple(int(part) for part in mss.__version__.split(".")[:2] if part.isdigit())
        if hasattr(sct, "_monitors"):
            sct._monitors = None if version >= (10, 2) else []
        try:
            monitors: list[dict[str, Any]] = list(sct.monitors)
        except (mss.ScreenShotError, OSError) as exc:
            raise DriverError(f"cannot capture the screen: cannot list the monitors of {self._name()} ({exc})") from exc
        if not monitors:
            raise DriverError(f"cannot capture the screen: {self._name()} lists no monitor")
        return monitors[1:] or monitors[:1]

    def _probe_scale(self, sct: Any, mon: dict[str, Any]) -> float:
        side_w, side_h = min(PROBE_PX, int(mon["width"])), min(PROBE_PX, int(mon["height"]))
        region = {"left": int(mon["left"]), "top": int(mon["top"]), "width": side_w, "height": side_h}
        shot = self._mss_grab(sct, region)
        return self._remember_scale(_key(mon), shot.size[0] / side_w)

    def _remember_scale(self, key: tuple[int, int, int, int], scale: float) -> float:
        with self._lock:
            self._scales[key] = scale
        return scale

    # -- grabbing --------------------------------------------------------------------------------------

    def grab(self, monitor: int = 0, *, mask: Sequence[Rect] = ()) -> Screenshot:
        """One monitor (an index into geometry().monitors) as RGB; `mask` rects (screen px) greyed out."""
        started, taken_at = time.perf_counter(), time.time()
        holder = self._resources()
        raw = self._read_monitors(holder.sct)
        if not 0 <= monitor < len(raw):
            raise GeometryError(f"monitor {monitor} does not exist: the screen has {len(raw)} monitor(s)")
        shot = self._mss_grab(holder.sct, _region(raw[monitor]))
        self._remember_scale(_key(raw[monitor]), shot.size[0] / int(raw[monitor]["width"]))
        screen = self._geometry(holder.sct, raw)
        return self._finish(shot, screen.monitors[monitor], monitor, screen, holder, mask, started, taken_at)

    def grab_all(self, *, mask: Sequence[Rect] = ()) -> Screenshot:
        """The whole virtual desktop as one image (index ALL_MONITORS). Areas on no monitor come as X draws them."""
        started, taken_at = time.perf_counter(), time.time()
        holder = self._resources()
        screen = self._geometry(holder.sct, self._read_monitors(holder.sct))
        left, top, width, height = screen.bounds
        shot = self._mss_grab(holder.sct, {"left": left, "top": top, "width": width, "height": height})
        area = Monitor(left, top, width, height, scale=shot.size[0] / width, name="all")
        return self._finish(shot, area, ALL_MONITORS, screen, holder, mask, started, taken_at)

    def _finish(
        self,
        shot: Any,
        area: Monitor,
        index: int,
        screen: ScreenGeometry,
        holder: _ThreadResources,
        mask: Sequence[Rect],
        started: float,
        taken_at: float,
    ) -> Screenshot:
        from PIL import Image

        # BGRA -> RGB by PIL's raw decoder straight from mss's bytearray. 1920x1080 grab+convert on Xvfb:
        # 1.3 ms (grab alone 0.5); via `shot.bgra` (a copy) 2.3, RGBA+convert 3.3, `shot.rgb` 5.6, numpy 7.0.
        image = Image.frombytes("RGB", shot.size, shot.raw, "raw", "BGRX")
        apply_mask(image, area, mask)
        cursor = self._cursor(holder)
        return Screenshot(
            image=image,
            monitor=area,
            index=index,
            screen=screen,
            cursor=cursor,
            taken_at=taken_at,
            elapsed_s=time.perf_counter() - started,
        )

    def _mss_grab(self, sct: Any, region: dict[str, int]) -> Any:
        import mss

        try:
            return sct.grab(region)
        except (mss.ScreenShotError, OSError) as exc:
            raise DriverError(f"cannot capture the screen: grabbing {region} on {self._name()} failed ({exc})") from exc

    # -- per-thread resources --------------------------------------------------------------------------

    def _resources(self) -> _ThreadResources:
        holder: _ThreadResources | None = getattr(self._local, "holder", None)
        if holder is not None and holder.closer.alive:
            return holder
        holder = _ThreadResources(self._open_mss())
        self._local.holder = holder
        with self._lock:
            self._holders.add(holder)
        return holder

    def _open_mss(self) -> Any:
        try:
            import mss
        except ImportError as exc:
            raise DriverError(f"cannot capture the screen: mss is not installed ({exc})") from exc
        factory: Any = getattr(mss, "MSS", None) or mss.mss  # mss >= 10.2 deprecates the mss() factory
        kwargs = {"display": self.display} if self.display is not None else {}
        if _is_x11() and self.display is None and not os.environ.get("DISPLAY"):
            raise DriverError("cannot capture the screen: no X display (DISPLAY is not set)")
        try:
            return factory(**kwargs)
        except (mss.ScreenShotError, OSError) as exc:
            raise DriverError(f"cannot capture the screen: no X display {self._name()} (is DISPLAY set?)") from exc

    def _name(self) -> str:
        if not _is_x11():
            return "the desktop"
        return repr(self.display if self.display is not None else os.environ.get("DISPLAY", ""))

    # -- cursor ----------------------------------------------------------------------------------------

    def pointer(self) -> tuple[int, int] | None:
        """Where the pointer is now on this display, in screen px; None when it cannot be read."""
        return self._cursor(self._resources())

    def focus(self) -> int | None:
        """The X id of the window with the keyboard focus (X's PointerRoot and None come as 1 and 0); None where
        it cannot be read (not X11, or Xlib failed)."""
        if not _is_x11():
            return None
        reply = self._ask_x(self._resources(), lambda xdisplay: xdisplay.get_input_focus())
        if reply is None:
            return None
        focus = reply.focus
        return int(focus) if isinstance(focus, int) else int(focus.id)

    def _cursor(self, holder: _ThreadResources) -> tuple[int, int] | None:
        """The pointer in screen px: Xlib query_pointer on our display on X, pynput elsewhere."""
        if not _is_x11():
            return _pynput_position()
        reply = self._ask_x(holder, lambda xdisplay: xdisplay.screen().root.query_pointer())
        if reply is None or not reply.same_screen:
            return None
        return int(reply.root_x), int(reply.root_y)

    def _ask_x(self, holder: _ThreadResources, request: Any) -> Any:
        """`request(xdisplay)` on this thread's Xlib connection to our display (opened once); None when it fails
        (the connection is dropped and opened again next time)."""
        try:
            if holder.xdisplay is None:
                import Xlib.display

                holder.xdisplay = Xlib.display.Display(self.display)
                holder.resources.append(holder.xdisplay)
            return request(holder.xdisplay)
        except Exception:  # noqa: BLE001 - Xlib raises many kinds; an unreadable answer is None
            if holder.xdisplay is not None:
                _close_resources([holder.xdisplay])
                holder.resources.remove(holder.xdisplay)
                holder.xdisplay = None
            return None


def _pynput_position() -> tuple[int, int] | None:
    try:
        from pynput.mouse import Controller

        x, y = Controller().position
    except Exception:  # noqa: BLE001 - no backend, no permission: the cursor is unknown
        return None
    return round(x), round(y)


def _key(mon: dict[str, Any]) -> tuple[int, int, int, int]:
    return int(mon["left"]), int(mon["top"]), int(mon["width"]), int(mon["height"])


def _region(mon: dict[str, Any]) -> dict[str, int]:
    left, top, width, height = _key(mon)
    return {"left": left, "top": top, "width": width, "height": height}


def monitor_screenshot(
    image: Image.Image,
    screen: ScreenGeometry,
    index: int,
    *,
    mask: Sequence[Rect],
    cursor: tuple[int, int] | None,
    started: float,
    taken_at: float,
) -> Screenshot:
    """A picture of monitor `index` of `screen` as a Screenshot, as the Wayland routes grab one: the scale is the one
    the picture shows (the frame is the truth, as on X11), `mask` greyed out; `started` from time.perf_counter."""
    area = screen.monitors[index]
    if image.width != round(area.width * area.scale):
        area = Monitor(area.x, area.y, area.width, area.height, scale=image.width / area.width, name=area.name)
    apply_mask(image, area, mask)
    return Screenshot(
        image=image,
        monitor=area,
        index=index,
        screen=screen,
        cursor=cursor,
        taken_at=taken_at,
        elapsed_s=time.perf_counter() - started,
    )


def apply_mask(image: Image.Image, area: Monitor, mask: Sequence[Rect]) -> None:
    """Grey out each rect (screen px) where it overlaps `area`; edges round outward, so nothing leaks."""
    for rect in mask:
        x0, y0 = max(rect.x, area.x), max(rect.y, area.y)
        x1, y1 = min(rect.x + rect.width, area.x + area.width), min(rect.y + rect.height, area.y + area.height)
        if x0 >= x1 or y0 >= y1:
            continue
        box = (
            max(0, math.floor((x0 - area.x) * area.scale)),
            max(0, math.floor((y0 - area.y) * area.scale)),
            min(image.width, math.ceil((x1 - area.x) * area.scale)),
            min(image.height, math.ceil((y1 - area.y) * area.scale)),
        )
        image.paste(MASK_RGB, box)


__all__ = ["ALL_MONITORS", "MASK_RGB", "ScreenCapture", "Screenshot", "apply_mask", "monitor_screenshot"]

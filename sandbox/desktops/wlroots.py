"""The wlroots desktop (Sway, Hyprland, labwc, river, niri): Wayland's first route.

- monitors: wl_output (mode, integer scale) and xdg-output (logical place and size), read from the compositor
  on each `geometry()`; the scale is the grab's width over the logical width, as on X11 (measured, not assumed);
- capture: `grim` (wlr-screencopy) per output, as PPM on a pipe: no compression, one process per grab;
- input: the virtual pointer and virtual keyboard protocols over one connection (sandbox/desktops/wlroots_input.py);
- the pointer's place: Wayland tells no client where the pointer is, so it is where deskpilot last put it
  (None before its first move);
- the windows' places: a Wayland client cannot read other windows', but Sway's IPC tells them
  (sandbox/desktops/sway_tree.py): deskpilot's own windows (app_id "deskpilot") are greyed out of the picture
  and refused for clicks as on X11. Other wlroots compositors (Hyprland, labwc, river, niri) offer no such tree
  here: `stacking()` is None there and deskpilot's windows are neither masked nor protected (doctor says so);
- no stop key and no watch on the person's input yet: no Wayland client may hear keys meant for others.
  `deskpilot stop` (sandbox/stop.py, bound to a key in the compositor's config) is the stop route here.

`probe_wlroots()` says what this compositor offers, without acting: app/desktop.py refuses before acting when a
part is missing, and `deskpilot doctor` shows the same findings.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sandbox.capture import Screenshot, monitor_screenshot
from sandbox.desktops.sway_tree import SwayStacking, find_socket, read_tree
from sandbox.desktops.wayland_wire import Output, WaylandConnection, WaylandError
from sandbox.desktops.wlroots_input import Layout, WlrootsInput
from sandbox.drivers import DRY_RUN_DRIVER, DryRunDriver
from sandbox.errors import DriverError, GeometryError
from sandbox.geometry import Monitor, Rect, ScreenGeometry
from sandbox.stop import SelfInputLedger, StopFlag

GRIM_TIMEOUT_S = 10.0
CAPTURE_PROTOCOLS = ("zwlr_screencopy_manager_v1",)  # what grim 1.4 (Debian 12) speaks
INPUT_PROTOCOLS = ("zwlr_virtual_pointer_manager_v1", "zwp_virtual_keyboard_manager_v1", "wl_seat")


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteCheck:
    """One part of a route: which, whether it works here, and why not."""

    route: str | None
    ok: bool
    why: str | None = None

    def to_json(self) -> dict[str, object]:
        return {"route": self.route, "ok": self.ok, "why": self.why}


@dataclass(frozen=True, slots=True, kw_only=True)
class WlrootsProbe:
    capture: RouteCheck
    input: RouteCheck
    globals: tuple[str, ...]


def probe_wlroots(connection: WaylandConnection | None = None) -> WlrootsProbe:
    """What the compositor offers for capture (screencopy and grim) and input (virtual pointer and keyboard)."""
    try:
        conn = connection or WaylandConnection()
    except WaylandError as exc:
        failed = RouteCheck(route=None, ok=False, why=str(exc))
        return WlrootsProbe(capture=failed, input=failed, globals=())
    try:
        offered = set(conn.globals)
    finally:
        if connection is None:
            conn.close()
    missing_capture = [name for name in CAPTURE_PROTOCOLS if name not in offered]
    if missing_capture:
        capture = RouteCheck(route=None, ok=False, why=f"the compositor does not offer {missing_capture[0]}")
    elif shutil.which("grim") is None:
        capture = RouteCheck(route="grim", ok=False, why="grim is not installed (apt install grim)")
    else:
        capture = RouteCheck(route="grim", ok=True)
    missing_input = [name for name in INPUT_PROTOCOLS if name not in offered]
    if missing_input:
        what = " and ".join(missing_input)
        route_input = RouteCheck(route=None, ok=False, why=f"the compositor does not offer {what}")
    else:
        route_input = RouteCheck(route="virtual-pointer+virtual-keyboard", ok=True)
    return WlrootsProbe(capture=capture, input=route_input, globals=tuple(sorted(offered)))


def probe_stacking() -> RouteCheck:
    """Whether deskpilot's own windows can be found here (Sway's IPC tree), for `deskpilot doctor`."""
    path = find_socket()
    if path is None:
        why = "no Sway IPC socket ($SWAYSOCK): deskpilot's own windows are not greyed out or protected here"
        return RouteCheck(route=None, ok=False, why=why)
    try:
        read_tree(path)
    except DriverError as exc:
        return RouteCheck(route=None, ok=False, why=f"{exc}: deskpilot's own windows are not greyed out here")
    return RouteCheck(route="sway-ipc", ok=True)


def read_geometry(connection: WaylandConnection) -> tuple[ScreenGeometry, list[Output]]:
    """The monitors in logical px; each scale is the mode's width over the logical width (wl_output's integer
    scale where xdg-output is missing)."""
    outputs = [output for output in connection.read_outputs() if output.mode is not None]
    if not outputs:
        raise DriverError("cannot capture the screen: the Wayland compositor lists no output")
    monitors = []
    x = 0
    for output in outputs:
        assert output.mode is not None
        width, height = output.mode
        if output.logical is not None:
            left, top, logical_w, logical_h = output.logical
        else:
            left, top, logical_w, logical_h = x, 0, width // output.scale, height // output.scale
        x = max(x, left + logical_w)
        monitors.append(Monitor(left, top, logical_w, logical_h, scale=width / logical_w, name=output.name))
    return ScreenGeometry(tuple(monitors)), outputs


class GrimCapture:
    """The screen of a wlroots compositor: monitors from the compositor, frames from grim."""

    def __init__(self, *, where: Callable[[], tuple[int, int] | None]) -> None:
        self._where = where
        self._lock = threading.Lock()
        try:
            self._conn = WaylandConnection()
        except WaylandError as exc:
            raise DriverError(f"cannot capture the screen: {exc}") from exc

    def geometry(self) -> ScreenGeometry:
        return self._read()[0]

    def _read(self) -> tuple[ScreenGeometry, list[Output]]:
        with self._lock:
            try:
                return read_geometry(self._conn)
            except WaylandError as exc:
                raise DriverError(f"cannot capture the screen: {exc}") from exc

    def grab(self, monitor: int = 0, *, mask: Sequence[Rect] = ()) -> Screenshot:
        from PIL import Image

        started, taken_at = time.perf_counter(), time.time()
        screen, outputs = self._read()
        if not 0 <= monitor < len(screen.monitors):
            raise GeometryError(f"monitor {monitor} does not exist: the screen has {len(screen.monitors)} monitor(s)")
        command = ["grim", "-t", "ppm"]
        if outputs[monitor].name:
            command += ["-o", outputs[monitor].name]
        try:
            done = subprocess.run([*command, "-"], capture_output=True, timeout=GRIM_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DriverError(f"cannot capture the screen: grim failed ({exc})") from exc
        if done.returncode != 0:
            reason = done.stderr.decode(errors="replace").strip().splitlines()
            raise DriverError(f"cannot capture the screen: grim failed ({reason[-1] if reason else done.returncode})")
        image = Image.open(io.BytesIO(done.stdout)).convert("RGB")
        return monitor_screenshot(
            image, screen, monitor, mask=mask, cursor=self._where(), started=started, taken_at=taken_at
        )

    def pointer(self) -> tuple[int, int] | None:
        return self._where()

    def close(self) -> None:
        self._conn.close()


class WlrootsDriver:
    """deskpilot's input driver on a wlroots compositor; one, whatever X-era driver name was asked for."""

    def __init__(self, name: str, layout: Layout) -> None:
        self.name = name
        try:
            self._conn = WaylandConnection()
        except WaylandError as exc:
            raise DriverError(f"cannot send input on Wayland: {exc}") from exc
        self._input = WlrootsInput(self._conn, layout)

    @property
    def last_position(self) -> tuple[int, int] | None:
        return self._input.position

    def position(self) -> tuple[int, int]:
        return self._input.position or (0, 0)

    def move(self, x: int, y: int) -> None:
        self._call(self._input.move, x, y)

    def button_down(self, button: str) -> None:
        self._call(self._input.button, button, down=True)

    def button_up(self, button: str) -> None:
        self._call(self._input.button, button, down=False)

    def click(self, button: str) -> None:
        self.button_down(button)
        self.button_up(button)

    def scroll(self, direction: str, notches: int) -> None:
        self._call(self._input.wheel, direction, notches)

    def key_down(self, key: str) -> None:
        self._call(self._input.key_down, key)

    def key_up(self, key: str) -> None:
        self._call(self._input.key_up, key)

    def type_text(self, text: str) -> None:
        self._call(self._input.type_text, text)

    def _call(self, method: Callable[..., None], *args: object, **kwargs: object) -> None:
        try:
            method(*args, **kwargs)
        except WaylandError as exc:
            raise DriverError(f"Wayland input failed: {exc}") from exc

    def close(self) -> None:
        self._input.close()
        self._conn.close()


@dataclass(slots=True)
class _Pointer:
    driver: WlrootsDriver | None = None

    def where(self) -> tuple[int, int] | None:
        return self.driver.last_position if self.driver is not None else None


@dataclass(frozen=True, slots=True, kw_only=True)
class WlrootsDesktop:
    """The wlroots compositor of $WAYLAND_DISPLAY."""

    compositor: str | None = None
    _pointer: _Pointer = field(default_factory=_Pointer)

    @property
    def name(self) -> str:
        return "wlroots"

    def capture(self) -> GrimCapture:
        return GrimCapture(where=self._pointer.where)

    def driver(self, name: str) -> WlrootsDriver | DryRunDriver:
        if name == DRY_RUN_DRIVER:
            return DryRunDriver()
        try:
            conn = WaylandConnection()
        except WaylandError as exc:
            raise DriverError(f"cannot send input on Wayland: {exc}") from exc
        with contextlib.closing(conn):
            screen, _ = read_geometry(conn)
        left, top, width, height = screen.bounds
        driver = WlrootsDriver(name, Layout(x=left, y=top, width=width, height=height))
        self._pointer.driver = driver
        return driver

    def stacking(self) -> SwayStacking | None:
        """Sway's window tree where its IPC socket is reachable; None on the other wlroots compositors."""
        path = find_socket()
        return SwayStacking(path) if path is not None else None

    def stop_route(self, flag: StopFlag, combo: str) -> None:
        return None  # no client may hear a global key on Wayland: `deskpilot stop` bound in the compositor

    def user_input_watcher(
        self,
        flag: StopFlag,
        ledger: SelfInputLedger,
        *,
        auto_resume_after_s: float | None,
        own_windows: Callable[[], Sequence[Rect]],
    ) -> None:
        return None

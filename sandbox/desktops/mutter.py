"""GNOME on Wayland: Mutter's own D-Bus interfaces, as GNOME Remote Desktop and GTK's headless tests use them.

- monitors: org.gnome.Mutter.DisplayConfig `GetCurrentState` (logical monitors, their scale and the current
  modes), read on each `geometry()`;
- input: an org.gnome.Mutter.RemoteDesktop session (`CreateSession`), joined by an org.gnome.Mutter.ScreenCast
  session (`remote-desktop-session-id`) that records every monitor (`RecordMonitor`): absolute pointer motion
  is relative to one of those streams. `Start` starts both; then `NotifyPointerMotionAbsolute(stream, x, y)`,
  `NotifyPointerButton(evdev code, state)`, `NotifyPointerAxisDiscrete` and `NotifyKeyboardKeysym` (keys as
  keysyms: sandbox/desktops/remote_input.py). Mutter ends the session when the connection that created it goes.
  No consent dialog: these interfaces are Mutter's private API on the session bus (gnome-remote-desktop's);
- capture: a second org.gnome.Mutter.ScreenCast session of its own, one stream per monitor with the pointer left
  out (`cursor-mode` 0), started at the first grab and kept for the capture's life (GNOME shows its screen-sharing
  indicator meanwhile); a frame is read from the stream's PipeWire node (sandbox/desktops/pipewire_frame.py).
  Where GStreamer's PipeWire source is missing, the portal's Screenshot (sandbox/desktops/portal.py) instead;
  org.gnome.Shell.Screenshot is never used: GNOME Shell 41+ answers it only to its own allow-listed callers.
  Mutter starts a stream only when PipeWire runs: without it `Start` fails with "Failed to create pipewire
  context".
- the first events: on a seat with no keyboard or pointer yet (a headless GNOME, as GNOME Remote Desktop's
  headless sessions and the tests run it) the first event of each new virtual device only makes the seat gain
  that device; the apps bind it a moment later and whatever came before is lost. So a started session sends one
  harmless event per device (a pointer motion of zero, a Shift tap) and waits WARM_UP_S before the first real one.
  Measured on headless Mutter 43: without it the first click and the first one or two characters were lost, with
  it none in 5 of 5 runs (tests/test_gnome_routes.py types into zenity through it).

Tested on a real headless Mutter 43 with PipeWire and WirePlumber (tests/test_gnome_routes.py): a native GTK3 app
(zenity) filled in by `deskpilot run ... --backend ocr`, the screen read through the screen-cast stream; the
portal's capture against a D-Bus mock.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.capture import Screenshot, monitor_screenshot
from sandbox.desktops.dbus_calls import BusError, SessionBus
from sandbox.desktops.pipewire_frame import missing_reader, read_frame
from sandbox.desktops.portal import DbusProbe, PortalCapture, probe_screenshot
from sandbox.desktops.remote_input import RemoteDesktopDriver
from sandbox.desktops.wlroots import RouteCheck
from sandbox.drivers import DRY_RUN_DRIVER, DryRunDriver
from sandbox.errors import DriverError, GeometryError
from sandbox.geometry import Monitor, Rect, ScreenGeometry
from sandbox.stop import SelfInputLedger, StopFlag

REMOTE_DESKTOP = "org.gnome.Mutter.RemoteDesktop"
SCREENCAST = "org.gnome.Mutter.ScreenCast"
DISPLAY_CONFIG = "org.gnome.Mutter.DisplayConfig"
KEYBOARD, POINTER = 1, 2  # SupportedDeviceTypes bits
LOGICAL_LAYOUT = 1  # DisplayConfig layout-mode: 1 logical pixels, 2 physical
CURSOR_HIDDEN = 0  # ScreenCast cursor-mode
STREAM_START_TIMEOUT_S = 5.0
WARM_UP_S = 0.3
SHIFT_KEYSYM = 0xFFE1


def _path(name: str) -> str:
    return "/" + name.replace(".", "/")


def pipewire_socket() -> Path | None:
    """PipeWire's socket where a client looks for it ($PIPEWIRE_RUNTIME_DIR or $XDG_RUNTIME_DIR), if present."""
    folder = os.environ.get("PIPEWIRE_RUNTIME_DIR") or os.environ.get("XDG_RUNTIME_DIR")
    if not folder:
        return None
    path = Path(folder) / os.environ.get("PIPEWIRE_REMOTE", "pipewire-0")
    return path if path.exists() else None


def probe_mutter(bus: SessionBus | None = None) -> DbusProbe:
    """Mutter's RemoteDesktop and ScreenCast for input (PipeWire running for the streams), its ScreenCast read
    through GStreamer for capture, else the portal's Screenshot; nothing is started and nobody is asked."""
    try:
        conn = bus or SessionBus()
    except BusError as exc:
        failed = RouteCheck(route=None, ok=False, why=str(exc))
        return DbusProbe(capture=failed, input=failed)
    try:
        missing = [name for name in (REMOTE_DESKTOP, SCREENCAST) if not conn.has_owner(name)]
        if missing:
            why = f"Mutter's {' and '.join(missing)} is not on the session bus"
            route_input = RouteCheck(route=None, ok=False, why=why)
        elif int(conn.get_property(REMOTE_DESKTOP, _path(REMOTE_DESKTOP), REMOTE_DESKTOP, "SupportedDeviceTypes")) & (
            KEYBOARD | POINTER
        ) != (KEYBOARD | POINTER):
            route_input = RouteCheck(route=None, ok=False, why="Mutter's RemoteDesktop offers no keyboard and pointer")
        elif pipewire_socket() is None:
            why = "PipeWire is not running: Mutter's screen-cast streams (for pointer positions) need it"
            route_input = RouteCheck(route=None, ok=False, why=why)
        else:
            route_input = RouteCheck(route="mutter-remote-desktop", ok=True)
        return DbusProbe(capture=_probe_capture(conn), input=route_input)
    except BusError as exc:
        failed = RouteCheck(route=None, ok=False, why=str(exc))
        return DbusProbe(capture=failed, input=failed)
    finally:
        if bus is None:
            conn.close()


def _probe_capture(bus: SessionBus) -> RouteCheck:
    why: str | None
    if not bus.has_owner(SCREENCAST):
        why = f"Mutter's {SCREENCAST} is not on the session bus"
    elif pipewire_socket() is None:
        why = "PipeWire is not running: Mutter's screen-cast streams need it"
    else:
        why = missing_reader()
    if why is None:
        return RouteCheck(route="mutter-screencast", ok=True)
    portal = probe_screenshot(bus)
    return portal if portal.ok else RouteCheck(route=None, ok=False, why=f"{why}; and {portal.why}")


def read_monitors(bus: SessionBus) -> list[tuple[str, Monitor]]:
    """Each logical monitor's first connector and its place, size (logical px) and scale."""
    _, monitors, logical, properties = bus.call(
        DISPLAY_CONFIG, _path(DISPLAY_CONFIG), DISPLAY_CONFIG, "GetCurrentState"
    )
    modes: dict[str, tuple[int, int]] = {}
    for (connector, *_), monitor_modes, _ in monitors:
        for _, width, height, _, _, _, mode_props in monitor_modes:
            if mode_props.get("is-current", ("b", False))[1]:
                modes[connector] = (int(width), int(height))
    layout = int(properties.get("layout-mode", ("u", LOGICAL_LAYOUT))[1])
    found: list[tuple[str, Monitor]] = []
    for x, y, scale, transform, _, specs, _ in logical:
        connector = next((spec[0] for spec in specs if spec[0] in modes), None)
        if connector is None:
            continue
        width, height = modes[connector]
        if transform % 2:  # 90 and 270 degrees (and their flipped forms)
            width, height = height, width
        if layout == LOGICAL_LAYOUT:
            size, pixel_scale = (round(width / scale), round(height / scale)), float(scale)
        else:  # physical layout: the coordinates are the pixels
            size, pixel_scale = (width, height), 1.0
        found.append((connector, Monitor(int(x), int(y), size[0], size[1], scale=pixel_scale, name=connector)))
    return found


class MutterSession:
    """A started Mutter remote-desktop session with one screen-cast stream per monitor."""

    def __init__(self) -> None:
        self._bus = SessionBus()
        self._path: str | None = None
        try:
            self._start(self._bus)
        except BaseException:
            self.close()
            raise

    def _start(self, bus: SessionBus) -> None:
        connectors = read_monitors(bus)
        if not connectors:
            raise DriverError("cannot send input on GNOME: Mutter lists no monitor")
        session_interface = REMOTE_DESKTOP + ".Session"
        self._path = str(bus.call(REMOTE_DESKTOP, _path(REMOTE_DESKTOP), REMOTE_DESKTOP, "CreateSession")[0])
        session_id = str(bus.get_property(REMOTE_DESKTOP, self._path, session_interface, "SessionId"))
        options = {"remote-desktop-session-id": ("s", session_id)}
        cast = str(bus.call(SCREENCAST, _path(SCREENCAST), SCREENCAST, "CreateSession", "a{sv}", (options,))[0])
        self._streams: list[tuple[str | int, Monitor]] = []
        for connector, monitor in connectors:
            stream = bus.call(SCREENCAST, cast, SCREENCAST + ".Session", "RecordMonitor", "sa{sv}", (connector, {}))
            self._streams.append((str(stream[0]), monitor))
        bus.call(REMOTE_DESKTOP, self._path, session_interface, "Start")
        self._warm_up()

    def _warm_up(self) -> None:
        """One harmless event per new device, then a moment for the apps to bind it (the module's docstring)."""
        self._notify("NotifyPointerMotionRelative", "dd", 0.0, 0.0)
        self.keysym(SHIFT_KEYSYM, down=True)
        self.keysym(SHIFT_KEYSYM, down=False)
        time.sleep(WARM_UP_S)

    def streams(self) -> Sequence[tuple[str | int, Monitor]]:
        return self._streams

    def _notify(self, method: str, signature: str, *args: Any) -> None:
        assert self._path is not None
        self._bus.call(REMOTE_DESKTOP, self._path, REMOTE_DESKTOP + ".Session", method, signature, args)

    def motion_absolute(self, stream: str | int, x: float, y: float) -> None:
        self._notify("NotifyPointerMotionAbsolute", "sdd", str(stream), float(x), float(y))

    def button(self, code: int, *, down: bool) -> None:
        self._notify("NotifyPointerButton", "ib", code, down)

    def axis_discrete(self, axis: int, steps: int) -> None:
        self._notify("NotifyPointerAxisDiscrete", "ui", axis, steps)

    def keysym(self, keysym: int, *, down: bool) -> None:
        self._notify("NotifyKeyboardKeysym", "ub", keysym, down)

    def close(self) -> None:
        if self._path is not None:
            try:
                self._bus.call(REMOTE_DESKTOP, self._path, REMOTE_DESKTOP + ".Session", "Stop")
            except BusError:
                pass  # already stopped: Mutter ends it with the connection anyway
            self._path = None
        self._bus.close()


class ScreenCastNodes:
    """A started screen-cast session of Mutter's recording `connectors` (pointer hidden): each one's PipeWire node.
    Mutter ends it when `bus`'s connection goes."""

    def __init__(self, bus: SessionBus, connectors: Sequence[str]) -> None:
        self._bus = bus
        self.connectors = tuple(connectors)
        self._path = str(bus.call(SCREENCAST, _path(SCREENCAST), SCREENCAST, "CreateSession", "a{sv}", ({},))[0])
        try:
            self.nodes = self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> tuple[int, ...]:
        options = {"cursor-mode": ("u", CURSOR_HIDDEN)}
        streams = [
            str(
                self._bus.call(
                    SCREENCAST, self._path, SCREENCAST + ".Session", "RecordMonitor", "sa{sv}", (c, options)
                )[0]
            )
            for c in self.connectors
        ]
        with contextlib.ExitStack() as stack:
            added = [
                stack.enter_context(
                    self._bus.expect(interface=SCREENCAST + ".Stream", member="PipeWireStreamAdded", path=stream)
                )
                for stream in streams
            ]
            self._bus.call(SCREENCAST, self._path, SCREENCAST + ".Session", "Start")
            return tuple(int(next_signal(STREAM_START_TIMEOUT_S)[0]) for next_signal in added)

    def stop(self) -> None:
        with contextlib.suppress(BusError):  # already gone: Mutter ends it with the connection anyway
            self._bus.call(SCREENCAST, self._path, SCREENCAST + ".Session", "Stop")


class MutterCapture:
    """The screen through Mutter's own screen cast: monitors from DisplayConfig, frames from the streams' PipeWire
    nodes. The session starts at the first grab (reading the monitors starts nothing) and is started again when
    the monitors change."""

    def __init__(self, *, where: Callable[[], tuple[int, int] | None]) -> None:
        self._where = where
        self._bus = SessionBus()
        self._lock = threading.Lock()
        self._cast: ScreenCastNodes | None = None

    def _read(self) -> tuple[ScreenGeometry, list[str]]:
        found = read_monitors(self._bus)
        if not found:
            raise DriverError("cannot capture the screen: Mutter lists no monitor")
        return ScreenGeometry(tuple(monitor for _, monitor in found)), [connector for connector, _ in found]

    def geometry(self) -> ScreenGeometry:
        with self._lock:
            return self._read()[0]

    def grab(self, monitor: int = 0, *, mask: Sequence[Rect] = ()) -> Screenshot:
        started, taken_at = time.perf_counter(), time.time()
        with self._lock:
            screen, connectors = self._read()
            if not 0 <= monitor < len(screen.monitors):
                raise GeometryError(
                    f"monitor {monitor} does not exist: the screen has {len(screen.monitors)} monitor(s)"
                )
            if self._cast is None or self._cast.connectors != tuple(connectors):
                if self._cast is not None:
                    self._cast.stop()
                    self._cast = None
                self._cast = ScreenCastNodes(self._bus, connectors)
            image = read_frame(self._cast.nodes[monitor])
        return monitor_screenshot(
            image, screen, monitor, mask=mask, cursor=self._where(), started=started, taken_at=taken_at
        )

    def pointer(self) -> tuple[int, int] | None:
        return self._where()

    def close(self) -> None:
        with self._lock:
            if self._cast is not None:
                self._cast.stop()
                self._cast = None
            self._bus.close()


@dataclass(slots=True)
class _Pointer:
    driver: RemoteDesktopDriver | None = None

    def where(self) -> tuple[int, int] | None:
        return self.driver.last_position if self.driver is not None else None


@dataclass(frozen=True, slots=True, kw_only=True)
class MutterDesktop:
    """GNOME's compositor, Mutter, through its own D-Bus interfaces (capture through the portal where GStreamer's
    PipeWire source is missing)."""

    compositor: str | None = "gnome"
    _pointer: _Pointer = field(default_factory=_Pointer)

    @property
    def name(self) -> str:
        return "mutter"

    def capture(self) -> MutterCapture | PortalCapture:
        if missing_reader() is None:
            return MutterCapture(where=self._pointer.where)
        bus = SessionBus()

        def monitors() -> list[Monitor]:
            return [monitor for _, monitor in read_monitors(bus)]

        return PortalCapture(monitors=monitors, where=self._pointer.where, on_close=bus.close)

    def driver(self, name: str) -> RemoteDesktopDriver | DryRunDriver:
        if name == DRY_RUN_DRIVER:
            return DryRunDriver()
        driver = RemoteDesktopDriver(name, MutterSession())
        self._pointer.driver = driver
        return driver

    def stacking(self) -> None:
        return None

    def stop_route(self, flag: StopFlag, combo: str) -> None:
        return None  # no client hears a global key on Wayland: `deskpilot stop` bound in GNOME's settings

    def user_input_watcher(
        self,
        flag: StopFlag,
        ledger: SelfInputLedger,
        *,
        auto_resume_after_s: float | None,
        own_windows: Callable[[], Sequence[Rect]],
    ) -> None:
        return None

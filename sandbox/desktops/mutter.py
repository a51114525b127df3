"""GNOME on Wayland: Mutter's own D-Bus interfaces, as GNOME Remote Desktop and GTK's headless tests use them.

- monitors: org.gnome.Mutter.DisplayConfig `GetCurrentState` (logical monitors, their scale and the current
  modes), read on each `geometry()`;
- input: an org.gnome.Mutter.RemoteDesktop session (`CreateSession`), joined by an org.gnome.Mutter.ScreenCast
  session (`remote-desktop-session-id`) that records every monitor (`RecordMonitor`): absolute pointer motion
  is relative to one of those streams. `Start` starts both; then `NotifyPointerMotionAbsolute(stream, x, y)`,
  `NotifyPointerButton(evdev code, state)`, `NotifyPointerAxisDiscrete` and `NotifyKeyboardKeysym` (keys as
  keysyms: sandbox/desktops/remote_input.py). Mutter ends the session when the connection that created it goes.
  No consent dialog: these interfaces are Mutter's private API on the session bus (gnome-remote-desktop's);
- capture: the portal's Screenshot (sandbox/desktops/portal.py). Chosen over the screen-cast stream because a
  frame from a PipeWire stream needs a PipeWire client (GStreamer's pipewiresrc) in deskpilot's process, and
  over org.gnome.Shell.Screenshot because GNOME Shell 41+ answers that one only to its own allow-listed
  callers. Mutter's ScreenCast is still needed for input (the streams), and Mutter starts a stream only when
  PipeWire runs: without it `Start` fails with "Failed to create pipewire context".

Tested on a real headless Mutter 43 with PipeWire (tests/test_gnome_routes.py): the session, its streams and
every Notify call are accepted by Mutter itself, and `deskpilot act` clicks through them; the portal's capture
against a D-Bus mock. Not asserted there: that a native app receives the events. Headless Mutter 43 without a
GPU (surfaceless renderer, no real seat) drops the first events until a client has bound the new virtual
devices and hands a pointer event to the client only with a later input event, so a test of delivery would
measure that headless artefact, not this route; a real GNOME session has a seat with devices already.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.desktops.dbus_calls import BusError, SessionBus
from sandbox.desktops.portal import DbusProbe, PortalCapture, probe_screenshot
from sandbox.desktops.remote_input import RemoteDesktopDriver
from sandbox.desktops.wlroots import RouteCheck
from sandbox.drivers import DRY_RUN_DRIVER, DryRunDriver
from sandbox.errors import DriverError
from sandbox.geometry import Monitor, Rect
from sandbox.stop import SelfInputLedger, StopFlag

REMOTE_DESKTOP = "org.gnome.Mutter.RemoteDesktop"
SCREENCAST = "org.gnome.Mutter.ScreenCast"
DISPLAY_CONFIG = "org.gnome.Mutter.DisplayConfig"
KEYBOARD, POINTER = 1, 2  # SupportedDeviceTypes bits
LOGICAL_LAYOUT = 1  # DisplayConfig layout-mode: 1 logical pixels, 2 physical


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
    """Mutter's RemoteDesktop and ScreenCast for input (PipeWire running for the streams), the portal's
    Screenshot for capture; nothing is started and nobody is asked."""
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
        return DbusProbe(capture=probe_screenshot(conn), input=route_input)
    except BusError as exc:
        failed = RouteCheck(route=None, ok=False, why=str(exc))
        return DbusProbe(capture=failed, input=failed)
    finally:
        if bus is None:
            conn.close()


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


@dataclass(slots=True)
class _Pointer:
    driver: RemoteDesktopDriver | None = None

    def where(self) -> tuple[int, int] | None:
        return self.driver.last_position if self.driver is not None else None


@dataclass(frozen=True, slots=True, kw_only=True)
class MutterDesktop:
    """GNOME's compositor, Mutter, through its own D-Bus interfaces (capture through the portal)."""

    compositor: str | None = "gnome"
    _pointer: _Pointer = field(default_factory=_Pointer)

    @property
    def name(self) -> str:
        return "mutter"

    def capture(self) -> PortalCapture:
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

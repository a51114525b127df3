"""The XDG desktop portal route: KDE Plasma, and GNOME where Mutter's own interfaces are out of reach.

Written against the portal's documented D-Bus interfaces (org.freedesktop.portal.Screenshot, .ScreenCast,
.RemoteDesktop, .Request, .Session; xdg-desktop-portal 1.16 is Debian 12's) and tested against a D-Bus mock
(tests/test_gnome_routes.py): no real portal runs headless here, and its consent dialog cannot be automated.

- capture: Screenshot with `interactive` off: one PNG of the whole desktop per grab, which the portal writes
  to a file; deskpilot reads it and deletes it (about 100-300 ms a grab; a PipeWire stream would be cheaper
  per frame but needs GStreamer or a PipeWire client in-process, which deskpilot does not carry);
- input: one RemoteDesktop session (keyboard and pointer), combined with a ScreenCast of every monitor so that
  absolute pointer motion has streams to be relative to; each stream's position and size are the monitors;
- consent: the portal asks the person once; the `restore_token` it returns is kept in deskpilot's config
  folder (`portal-restore-token`, mode 600) and offered on the next start, so the dialog does not come back
  (`persist_mode` 2: until the person revokes it). A token is good for one start: each start stores the next.
- declined (response 1) or failed (2): the one-line refusal, before anything is done.

Every request follows the portal's pattern: subscribe to the Response signal of the request path the portal
will use (derived from our unique name and a fresh `handle_token`), then call, then wait for the response.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from sandbox.capture import Screenshot, monitor_screenshot
from sandbox.desktops.dbus_calls import BusError, SessionBus
from sandbox.desktops.remote_input import RemoteDesktopDriver
from sandbox.desktops.wlroots import RouteCheck
from sandbox.drivers import DRY_RUN_DRIVER, DryRunDriver
from sandbox.errors import DriverError, GeometryError, first_line
from sandbox.geometry import Monitor, Rect, ScreenGeometry
from sandbox.stop import SelfInputLedger, StopFlag

PORTAL = "org.freedesktop.portal.Desktop"
PORTAL_PATH = "/org/freedesktop/portal/desktop"
SCREENSHOT = "org.freedesktop.portal.Screenshot"
SCREENCAST = "org.freedesktop.portal.ScreenCast"
REMOTE_DESKTOP = "org.freedesktop.portal.RemoteDesktop"
REQUEST = "org.freedesktop.portal.Request"
SESSION = "org.freedesktop.portal.Session"
KEYBOARD, POINTER = 1, 2  # RemoteDesktop device types
MONITOR = 1  # ScreenCast source type
PERSIST_UNTIL_REVOKED = 2
RESPONSE_TIMEOUT_S = 120.0  # the person may be reading the consent dialog
SCREENSHOT_TIMEOUT_S = 10.0
TOKEN_FILE = "portal-restore-token"
RESPONSES = {1: "the person declined the portal's request", 2: "the portal ended the request"}


def token_file() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir("deskpilot")) / TOKEN_FILE


def read_token(path: Path | None = None) -> str | None:
    try:
        token = (path or token_file()).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return token or None


def write_token(token: str, path: Path | None = None) -> None:
    """Kept where only this user reads it: it stands for the person's consent."""
    path = path or token_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(token + "\n")
    os.replace(path.with_suffix(".tmp"), path)


class PortalDeclined(DriverError):
    """The person declined the portal's dialog (response 1), or the portal ended the request (2)."""


def request(
    bus: SessionBus,
    interface: str,
    method: str,
    signature: str,
    body: Callable[[str], tuple[Any, ...]],
    *,
    timeout_s: float = RESPONSE_TIMEOUT_S,
) -> dict[str, Any]:
    """One portal request: `body(handle_token)` is the call's arguments; the results of a response 0, else
    PortalDeclined naming the method."""
    token = "deskpilot_" + secrets.token_hex(8)
    sender = bus.unique_name.lstrip(":").replace(".", "_")
    path = f"{PORTAL_PATH}/request/{sender}/{token}"
    with bus.expect(interface=REQUEST, member="Response", path=path) as next_response:
        bus.call(PORTAL, PORTAL_PATH, interface, method, signature, body(token))
        code, results = next_response(timeout_s)
    if code != 0:
        raise PortalDeclined(
            f"{RESPONSES.get(code, f'the portal answered {code}')} ({interface.rsplit('.', 1)[-1]}.{method})"
        )
    return {name: value for name, (_, value) in results.items()}


@dataclass(frozen=True, slots=True, kw_only=True)
class DbusProbe:
    """What a D-Bus route offers here for capture and input, said without asking the person anything."""

    capture: RouteCheck
    input: RouteCheck


def probe_screenshot(bus: SessionBus) -> RouteCheck:
    if not bus.has_owner(PORTAL):
        return RouteCheck(route=None, ok=False, why=f"the XDG desktop portal ({PORTAL}) is not on the session bus")
    try:
        bus.get_property(PORTAL, PORTAL_PATH, SCREENSHOT, "version")
    except BusError:
        return RouteCheck(route=None, ok=False, why="the XDG desktop portal offers no Screenshot interface")
    return RouteCheck(route="portal-screenshot", ok=True)


def probe_portal(bus: SessionBus | None = None) -> DbusProbe:
    """The portal's Screenshot for capture, its RemoteDesktop (keyboard and pointer) with a ScreenCast of the
    monitors for input; whether the person already consented is told by `read_token()`."""
    try:
        conn = bus or SessionBus()
    except BusError as exc:
        failed = RouteCheck(route=None, ok=False, why=str(exc))
        return DbusProbe(capture=failed, input=failed)
    try:
        capture = probe_screenshot(conn)
        if not capture.ok and capture.why and "not on the session bus" in capture.why:
            return DbusProbe(capture=capture, input=capture)
        try:
            devices = int(conn.get_property(PORTAL, PORTAL_PATH, REMOTE_DESKTOP, "AvailableDeviceTypes"))
            sources = int(conn.get_property(PORTAL, PORTAL_PATH, SCREENCAST, "AvailableSourceTypes"))
        except BusError:
            why = "the XDG desktop portal offers no RemoteDesktop and ScreenCast interfaces (xdg-desktop-portal-wlr has none)"
            return DbusProbe(capture=capture, input=RouteCheck(route=None, ok=False, why=why))
        if devices & (KEYBOARD | POINTER) != KEYBOARD | POINTER or not sources & MONITOR:
            why = f"the portal's RemoteDesktop offers devices {devices}, ScreenCast sources {sources}: a keyboard, a pointer and monitors are needed"
            return DbusProbe(capture=capture, input=RouteCheck(route=None, ok=False, why=why))
        return DbusProbe(capture=capture, input=RouteCheck(route="portal-remote-desktop", ok=True))
    except BusError as exc:
        failed = RouteCheck(route=None, ok=False, why=str(exc))
        return DbusProbe(capture=failed, input=failed)
    finally:
        if bus is None:
            conn.close()


def portal_screenshot(bus: SessionBus) -> Any:
    """The whole desktop as the portal's Screenshot gives it (a PIL image), its file deleted once read."""
    from PIL import Image

    options = lambda token: ("", {"handle_token": ("s", token), "interactive": ("b", False), "modal": ("b", False)})  # noqa: E731
    results = request(bus, SCREENSHOT, "Screenshot", "sa{sv}", options, timeout_s=SCREENSHOT_TIMEOUT_S)
    uri = urlparse(str(results.get("uri", "")))
    if uri.scheme != "file":
        raise DriverError(f"cannot capture the screen: the portal's Screenshot gave no file ({results.get('uri')!r})")
    path = Path(unquote(uri.path))
    try:
        with Image.open(path) as image:
            picture = image.convert("RGB")
    except OSError as exc:
        raise DriverError(f"cannot capture the screen: cannot read the portal's screenshot {path}: {exc}") from exc
    with contextlib.suppress(OSError):
        path.unlink()  # made for this grab only
    return picture


def crop_monitor(whole: Any, screen: ScreenGeometry, index: int) -> Any:
    """One monitor's part of a whole-desktop picture, at the scale the picture shows."""
    left, top, width, height = screen.bounds
    scale = whole.width / width
    area = screen.monitors[index]
    box = (
        round((area.x - left) * scale),
        round((area.y - top) * scale),
        round((area.x - left + area.width) * scale),
        round((area.y - top + area.height) * scale),
    )
    return whole.crop(box)


class PortalCapture:
    """The screen through the portal: monitors from `monitors()`, pictures from its Screenshot."""

    def __init__(
        self,
        *,
        monitors: Callable[[], Sequence[Monitor]],
        where: Callable[[], tuple[int, int] | None],
        on_close: Callable[[], None] = lambda: None,
    ) -> None:
        self._monitors = monitors
        self._where = where
        self._on_close = on_close
        self._lock = threading.Lock()
        self._bus = SessionBus()

    def geometry(self) -> ScreenGeometry:
        monitors = tuple(self._monitors())
        if not monitors:
            raise DriverError("cannot capture the screen: the desktop lists no monitor")
        return ScreenGeometry(monitors)

    def grab(self, monitor: int = 0, *, mask: Sequence[Rect] = ()) -> Screenshot:
        started, taken_at = time.perf_counter(), time.time()
        screen = self.geometry()
        if not 0 <= monitor < len(screen.monitors):
            raise GeometryError(f"monitor {monitor} does not exist: the screen has {len(screen.monitors)} monitor(s)")
        with self._lock:
            whole = portal_screenshot(self._bus)
        return monitor_screenshot(
            crop_monitor(whole, screen, monitor),
            screen,
            monitor,
            mask=mask,
            cursor=self._where(),
            started=started,
            taken_at=taken_at,
        )

    def pointer(self) -> tuple[int, int] | None:
        return self._where()

    def close(self) -> None:
        self._bus.close()
        self._on_close()


class PortalSession:
    """A started RemoteDesktop session with a ScreenCast of every monitor (the person consents once: the
    restore token); the Notify* primitives of sandbox/desktops/remote_input.py."""

    def __init__(self, *, token_path: Path | None = None) -> None:
        self._token_path = token_path
        self._bus = SessionBus()
        self.handle: str | None = None
        self._closed = False
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def _start(self) -> None:
        bus = self._bus
        created = request(
            bus,
            REMOTE_DESKTOP,
            "CreateSession",
            "a{sv}",
            lambda token: (
                {"handle_token": ("s", token), "session_handle_token": ("s", "deskpilot_" + secrets.token_hex(8))},
            ),
        )
        self.handle = str(created["session_handle"])
        devices: dict[str, Any] = {"types": ("u", KEYBOARD | POINTER), "persist_mode": ("u", PERSIST_UNTIL_REVOKED)}
        kept = read_token(self._token_path)
        if kept:
            devices["restore_token"] = ("s", kept)
        request(
            bus,
            REMOTE_DESKTOP,
            "SelectDevices",
            "oa{sv}",
            lambda token: (self.handle, {"handle_token": ("s", token), **devices}),
        )
        request(
            bus,
            SCREENCAST,
            "SelectSources",
            "oa{sv}",
            lambda token: (
                self.handle,
                {"handle_token": ("s", token), "types": ("u", MONITOR), "multiple": ("b", True)},
            ),
        )
        started = request(
            bus, REMOTE_DESKTOP, "Start", "osa{sv}", lambda token: (self.handle, "", {"handle_token": ("s", token)})
        )
        if started.get("restore_token"):
            write_token(str(started["restore_token"]), self._token_path)
        if int(started.get("devices", 0)) & (KEYBOARD | POINTER) != KEYBOARD | POINTER:
            raise PortalDeclined("the person did not allow both keyboard and pointer in the portal's dialog")
        self._streams: list[tuple[str | int, Monitor]] = []
        for index, (node, props) in enumerate(started.get("streams", [])):
            values = {name: value for name, (_, value) in props.items()}
            if "position" not in values or "size" not in values:
                continue
            (x, y), (width, height) = values["position"], values["size"]
            self._streams.append((int(node), Monitor(int(x), int(y), int(width), int(height), name=f"portal-{index}")))
        if not self._streams:
            raise PortalDeclined("the portal shared no monitor: pointer positions have nothing to be relative to")

    def streams(self) -> Sequence[tuple[str | int, Monitor]]:
        return self._streams

    def monitors(self) -> list[Monitor]:
        return [monitor for _, monitor in self._streams]

    def _notify(self, method: str, signature: str, *args: Any) -> None:
        self._bus.call(PORTAL, PORTAL_PATH, REMOTE_DESKTOP, method, "oa{sv}" + signature, (self.handle, {}, *args))

    def motion_absolute(self, stream: str | int, x: float, y: float) -> None:
        self._notify("NotifyPointerMotionAbsolute", "udd", int(stream), float(x), float(y))

    def button(self, code: int, *, down: bool) -> None:
        self._notify("NotifyPointerButton", "iu", code, int(down))

    def axis_discrete(self, axis: int, steps: int) -> None:
        self._notify("NotifyPointerAxisDiscrete", "ui", axis, steps)

    def keysym(self, keysym: int, *, down: bool) -> None:
        self._notify("NotifyKeyboardKeysym", "iu", keysym, int(down))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.handle is not None:
            with contextlib.suppress(BusError):
                self._bus.call(PORTAL, self.handle, SESSION, "Close")
        self._bus.close()


@dataclass(slots=True)
class _Shared:
    """The one session a route starts (capture needs its monitors, input its streams), and its driver."""

    token_path: Path | None = None
    compositor: str | None = None
    session: PortalSession | None = None
    driver: RemoteDesktopDriver | None = None

    def started(self) -> PortalSession:
        """The session, started on first use; a refusal naming Wayland and `deskpilot doctor` when the person
        declines or the portal fails, before anything is done."""
        if self.session is None:
            try:
                self.session = PortalSession(token_path=self.token_path)
            except DriverError as exc:
                where = f"Wayland ({self.compositor})" if self.compositor else "Wayland"
                raise DriverError(
                    f"{where}: deskpilot cannot act here: no portal route ({first_line(exc)}); "
                    "run `deskpilot doctor` for what to do"
                ) from exc
        return self.session

    def where(self) -> tuple[int, int] | None:
        return self.driver.last_position if self.driver is not None else None

    def close(self) -> None:
        if self.session is not None:
            self.session.close()


@dataclass(frozen=True, slots=True, kw_only=True)
class PortalDesktop:
    """The desktop through the XDG desktop portal (KDE Plasma; GNOME without Mutter's own interfaces)."""

    compositor: str | None = None
    token_path: Path | None = None
    _shared: _Shared = field(default_factory=_Shared)

    @property
    def name(self) -> str:
        return "portal"

    def capture(self) -> PortalCapture:
        shared = self._shared
        shared.token_path, shared.compositor = self.token_path, self.compositor
        return PortalCapture(monitors=lambda: shared.started().monitors(), where=shared.where, on_close=shared.close)

    def driver(self, name: str) -> RemoteDesktopDriver | DryRunDriver:
        if name == DRY_RUN_DRIVER:
            return DryRunDriver()
        self._shared.token_path, self._shared.compositor = self.token_path, self.compositor
        driver = RemoteDesktopDriver(name, self._shared.started())
        self._shared.driver = driver
        return driver

    def stacking(self) -> None:
        return None

    def stop_route(self, flag: StopFlag, combo: str) -> None:
        return None  # no client hears a global key on Wayland: `deskpilot stop` bound in the desktop's settings

    def user_input_watcher(
        self,
        flag: StopFlag,
        ledger: SelfInputLedger,
        *,
        auto_resume_after_s: float | None,
        own_windows: Callable[[], Sequence[Rect]],
    ) -> None:
        return None

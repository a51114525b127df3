"""A private accessibility stack for the AT-SPI tests: its own D-Bus session and AT-SPI bus, and apps on it.

`AtspiSession(display, folder)` starts, on enter, a session bus (`dbus-daemon --session`) and
at-spi-bus-launcher on it (which starts the accessibility bus and, on demand, the registry), and stops all of it
on exit; nothing of the machine's own session (CI runs as root with none) is used or changed: settings go to
GSettings' memory backend, sockets to the test's folder, and the launcher's AT_SPI_BUS property is taken off
the display at the end. `session.env` is the environment for apps and for `deskpilot inspect`.
`session.app(kind)` starts tests/helpers/gtk_app.py (SYSTEM python3), tests/helpers/qt_app.py or
tests/helpers/tk_entry.py on it; `session.wait_until_published(pid)` waits for an app's tree to reach the
registry (the registry's ChildrenChanged signal, no polling).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tests.helpers.entry_apps import SYSTEM_PYTHON, AppUnavailable, check_available

LAUNCHER = Path("/usr/libexec/at-spi-bus-launcher")
HELPERS = Path(__file__).resolve().parent
READY_TIMEOUT_S = 30.0
COMMANDS = {
    "gtk": [SYSTEM_PYTHON, str(HELPERS / "gtk_app.py")],
    "qt": [sys.executable, str(HELPERS / "qt_app.py")],
    "tk": [sys.executable, str(HELPERS / "tk_entry.py")],
}


def check_stack() -> None:
    """AppUnavailable (the test skips, naming the packages) without dbus-daemon or at-spi2-core."""
    if shutil.which("dbus-daemon") is None or not LAUNCHER.exists():
        raise AppUnavailable("needs dbus-daemon and at-spi2-core (make system)")
    try:
        import jeepney  # noqa: F401
    except ImportError as exc:
        raise AppUnavailable("needs jeepney (pip install -e .)") from exc


class TreeApp:
    """An app on the session's bus; `widgets` are its own boxes of its widgets (screen px)."""

    def __init__(self, kind: str, env: dict[str, str], *, x: int, y: int, args: tuple[str, ...] = ()) -> None:
        check_available(kind)
        self.kind = kind
        self.process = subprocess.Popen(
            [*COMMANDS[kind], "--x", str(x), "--y", str(y), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        self.ready: dict[str, Any] = {}
        self._ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self._ready.wait(READY_TIMEOUT_S):
            self.close()
            raise AssertionError(f"the {kind} app did not say it was ready")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            event = json.loads(line)
            if event["event"] == "ready":
                self.ready = event
                self._ready.set()

    def box(self, name: str) -> tuple[int, int, int, int]:
        boxes = self.ready.get("widgets") or {"entry": self.ready.get("entry")}
        x, y, w, h = boxes[name]
        return x, y, w, h

    def centre(self, name: str) -> tuple[int, int]:
        x, y, w, h = self.box(name)
        return x + w // 2, y + h // 2

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)


class AtspiSession:
    def __init__(self, display: str, folder: Path) -> None:
        check_stack()
        self.display = display
        self.folder = folder
        self._processes: list[subprocess.Popen[str]] = []
        self._apps: list[TreeApp] = []
        runtime = folder / "runtime"
        runtime.mkdir(mode=0o700, exist_ok=True)
        self.env = {
            **os.environ,
            "DISPLAY": display,
            "XDG_RUNTIME_DIR": str(runtime),
            "GSETTINGS_BACKEND": "memory",  # IsEnabled would otherwise be written to the user's dconf
            "LC_ALL": "C.UTF-8",
        }
        for name in ("AT_SPI_BUS_ADDRESS", "NO_AT_BRIDGE", "QT_LINUX_ACCESSIBILITY_ALWAYS_ON", "GDK_SCALE"):
            self.env.pop(name, None)

    def __enter__(self) -> AtspiSession:
        try:
            daemon = self._start(["dbus-daemon", "--session", "--nofork", "--print-address=1"], stdout=True)
            assert daemon.stdout is not None
            self.env["DBUS_SESSION_BUS_ADDRESS"] = daemon.stdout.readline().strip()
            self._wait_for_name("org.a11y.Bus", lambda: self._start([str(LAUNCHER), "--launch-immediately"]))
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self, command: list[str], *, stdout: bool = False) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE if stdout else subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
            env=self.env,
            start_new_session=True,  # its children (the accessibility bus, the registry) share its group
        )
        self._processes.append(process)
        return process

    def _session(self) -> Any:
        from jeepney.io.blocking import open_dbus_connection

        return open_dbus_connection(self.env["DBUS_SESSION_BUS_ADDRESS"])

    def _wait_for_name(self, name: str, start: Any) -> None:
        """Start something and wait until it owns `name` on the session bus (NameOwnerChanged)."""
        from jeepney import MatchRule, message_bus

        rule = MatchRule(type="signal", interface="org.freedesktop.DBus", member="NameOwnerChanged")
        rule.add_arg_condition(0, name)
        with self._session() as session:
            session.send_and_get_reply(message_bus.AddMatch(rule), timeout=5)
            with session.filter(rule) as matches:
                start()
                session.recv_until_filtered(matches, timeout=READY_TIMEOUT_S)

    def status(self, name: str = "IsEnabled", value: bool | None = None) -> bool:
        """org.a11y.Status's switch `name`; set first when `value` is given."""
        from jeepney import DBusAddress, Properties
        from jeepney.wrappers import unwrap_msg

        status = Properties(DBusAddress("/org/a11y/bus", bus_name="org.a11y.Bus", interface="org.a11y.Status"))
        with self._session() as session:
            if value is not None:
                unwrap_msg(session.send_and_get_reply(status.set(name, "b", value), timeout=5))
            return bool(unwrap_msg(session.send_and_get_reply(status.get(name), timeout=5))[0][1])

    def app(self, kind: str, *, x: int = 200, y: int = 200, args: tuple[str, ...] = (), **env: str) -> TreeApp:
        app = TreeApp(kind, {**self.env, **env}, x=x, y=y, args=args)
        self._apps.append(app)
        return app

    def wait_until_published(self, pid: int, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Return once the process `pid` has registered its tree with the registry; AssertionError after
        `timeout_s`."""
        from jeepney import DBusAddress, MatchRule, message_bus, new_method_call
        from jeepney.io.blocking import open_dbus_connection
        from jeepney.wrappers import unwrap_msg

        with self._session() as session:
            a11y = DBusAddress("/org/a11y/bus", bus_name="org.a11y.Bus", interface="org.a11y.Bus")
            address = unwrap_msg(session.send_and_get_reply(new_method_call(a11y, "GetAddress"), timeout=5))[0]
        root = DBusAddress(
            "/org/a11y/atspi/accessible/root", bus_name="org.a11y.atspi.Registry", interface="org.a11y.atspi.Accessible"
        )
        rule = MatchRule(type="signal", interface="org.a11y.atspi.Event.Object", member="ChildrenChanged")
        deadline = time.monotonic() + timeout_s
        with open_dbus_connection(address) as bus:
            bus.send_and_get_reply(message_bus.AddMatch(rule), timeout=5)
            with bus.filter(rule, bufsize=64) as matches:
                while True:
                    children = unwrap_msg(bus.send_and_get_reply(new_method_call(root, "GetChildren"), timeout=5))[0]
                    pids = [
                        unwrap_msg(bus.send_and_get_reply(message_bus.GetConnectionUnixProcessID(name), timeout=5))[0]
                        for name, _ in children
                    ]
                    if pid in pids:
                        return
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise AssertionError(f"process {pid} published no accessibility tree in {timeout_s:.0f} s")
                    try:
                        bus.recv_until_filtered(matches, timeout=left)
                    except TimeoutError:
                        pass

    def close(self) -> None:
        for app in self._apps:
            app.close()
        for process in reversed(self._processes):
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        _forget_bus_property(self.display)


def _forget_bus_property(display: str) -> None:
    """Take at-spi-bus-launcher's AT_SPI_BUS off the display's root window: later apps must not find a dead bus."""
    from Xlib import display as xdisplay

    connection = xdisplay.Display(display)
    try:
        root = connection.screen().root
        root.delete_property(connection.intern_atom("AT_SPI_BUS"))
        connection.sync()
    finally:
        connection.close()

"""GNOME and the desktop portal for the GNOME/KDE routes' tests (tests/test_gnome_routes.py):

- `private_session_bus()`: a D-Bus session bus of the test's own;
- `portal_mock(address, ...)`: the XDG desktop portal faked by python-dbusmock (tests/helpers/portal_mock.py) on
  that bus, run by the system python3 (python3-dbusmock);
- `headless_mutter()`: Mutter 43 (`--headless --virtual-monitor`) on a private session bus, with PipeWire
  (Mutter starts its screen-cast streams only when PipeWire runs) and WirePlumber, PipeWire's session manager
  (it links a stream to its reader), as a GNOME session runs them. No GNOME Shell and no portal: the portal is
  faked by `portal_mock` on Mutter's bus where a test needs it.

Mutter runs as root here (CI's user) without complaint, unlike Sway. `env` is what a client needs: the
runtime dir, the Wayland socket, the session bus, and the session's type and desktop (wayland, GNOME).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers.wayland import CompositorUnavailable

START_TIMEOUT_S = 20.0
POLL_S = 0.05
SOCKET = "deskpilot-mutter"
SYSTEM_PYTHON = "/usr/bin/python3"
PORTAL_TEMPLATE = Path(__file__).with_name("portal_mock.py")
PORTAL = "org.freedesktop.portal.Desktop"


@dataclass(slots=True)
class Mutter:
    runtime: Path
    bus_address: str
    processes: list[subprocess.Popen[bytes]]
    apps: list[subprocess.Popen[str]] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "SWAYSOCK", "AT_SPI_BUS_ADDRESS")}
        env.update(
            XDG_RUNTIME_DIR=str(self.runtime),
            WAYLAND_DISPLAY=SOCKET,
            XDG_SESSION_TYPE="wayland",
            XDG_CURRENT_DESKTOP="GNOME",
            DBUS_SESSION_BUS_ADDRESS=self.bus_address,
        )
        return env

    def launch(self, argv: Sequence[str]) -> subprocess.Popen[str]:
        """A native Wayland GTK app in this Mutter; its stdout is piped."""
        env = {**self.env, "GDK_BACKEND": "wayland", "NO_AT_BRIDGE": "1"}
        app = subprocess.Popen(list(argv), env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.apps.append(app)
        return app


def _owned(address: str, name: str) -> bool:
    from jeepney import DBusAddress, new_method_call
    from jeepney.io.blocking import open_dbus_connection

    bus = DBusAddress("/org/freedesktop/DBus", bus_name="org.freedesktop.DBus", interface="org.freedesktop.DBus")
    with open_dbus_connection(address) as connection:
        reply = connection.send_and_get_reply(new_method_call(bus, "NameHasOwner", "s", (name,)), timeout=5)
    return bool(reply.body[0])


def _pipewire_client(env: dict[str, str], name: str) -> bool:
    listed = subprocess.run(["pw-cli", "ls", "Client"], env=env, capture_output=True, text=True, check=False)
    return f'application.name = "{name}"' in listed.stdout


def _wait(what: str, ready: object, processes: list[subprocess.Popen[bytes]], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not ready():  # type: ignore[operator]
        if any(p.poll() is not None for p in processes) or time.monotonic() > deadline:
            raise CompositorUnavailable(f"{what} did not start: {log.read_text(errors='replace')[-600:]}")
        time.sleep(POLL_S)


def _stop(processes: Sequence[subprocess.Popen[bytes]] | Sequence[subprocess.Popen[str]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def private_session_bus() -> Iterator[str]:
    """A session bus of the test's own; its address."""
    if shutil.which("dbus-daemon") is None:
        raise CompositorUnavailable("dbus-daemon is not installed (make system installs dbus)")
    bus = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--print-address=1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert bus.stdout is not None
        address = bus.stdout.readline().decode().strip()
        if not address:
            raise CompositorUnavailable("dbus-daemon did not start")
        yield address
    finally:
        _stop([bus])


@contextmanager
def portal_mock(address: str, **parameters: object) -> Iterator[subprocess.Popen[bytes]]:
    """The desktop portal faked on the bus at `address` (parameters: tests/helpers/portal_mock.py)."""
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import dbusmock"], capture_output=True, check=False)
    if probe.returncode != 0:
        raise CompositorUnavailable("python3-dbusmock is not installed (make system installs it)")
    env = {**os.environ, "DBUS_SESSION_BUS_ADDRESS": address}
    argv = [SYSTEM_PYTHON, "-m", "dbusmock", "--session", "--template", str(PORTAL_TEMPLATE)]
    log = tempfile.NamedTemporaryFile(prefix="portal-mock-", suffix=".log")  # noqa: SIM115 - closed below
    mock = subprocess.Popen([*argv, "-p", json.dumps(parameters)], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait("the portal mock", lambda: _owned(address, PORTAL), [mock], Path(log.name))
        yield mock
    finally:
        _stop([mock])
        log.close()


@contextmanager
def headless_mutter(width: int = 1280, height: int = 800) -> Iterator[Mutter]:
    for program in ("mutter", "pipewire", "wireplumber", "pw-cli", "dbus-daemon"):
        if shutil.which(program) is None:
            raise CompositorUnavailable(f"{program} is not installed (make system installs it)")
    runtime = Path(tempfile.mkdtemp(prefix="deskpilot-mutter-"))
    log_path = runtime / "mutter.log"
    log = open(log_path, "wb")  # noqa: SIM115 - closed below
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "XDG_RUNTIME_DIR": str(runtime), "HOME": str(runtime)}
    processes: list[subprocess.Popen[bytes]] = []
    mutter: Mutter | None = None
    try:
        bus = subprocess.Popen(
            ["dbus-daemon", "--session", "--nofork", "--print-address=1"], env=base, stdout=subprocess.PIPE, stderr=log
        )
        processes.append(bus)
        assert bus.stdout is not None
        address = bus.stdout.readline().decode().strip()
        if not address:
            raise CompositorUnavailable(f"dbus-daemon did not start: {log_path.read_text(errors='replace')[-400:]}")
        env = {**base, "DBUS_SESSION_BUS_ADDRESS": address}
        processes.append(subprocess.Popen(["pipewire"], env=env, stdout=log, stderr=subprocess.STDOUT))
        _wait("pipewire", lambda: (runtime / "pipewire-0").exists(), processes, log_path)
        processes.append(subprocess.Popen(["wireplumber"], env=env, stdout=log, stderr=subprocess.STDOUT))
        _wait("wireplumber", lambda: _pipewire_client(env, "WirePlumber [export]"), processes, log_path)
        argv = [
            "mutter",
            "--headless",
            "--virtual-monitor",
            f"{width}x{height}",
            "--no-x11",
            "--wayland-display",
            SOCKET,
        ]
        processes.append(subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT))
        _wait("mutter", lambda: _owned(address, "org.gnome.Mutter.RemoteDesktop"), processes, log_path)
        mutter = Mutter(runtime=runtime, bus_address=address, processes=processes)
        yield mutter
    finally:
        _stop(mutter.apps if mutter else [])
        _stop(list(reversed(processes)))
        log.close()
        shutil.rmtree(runtime, ignore_errors=True)

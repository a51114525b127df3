"""Headless Wayland compositors for the Wayland tests: Sway (wlroots: screencopy, virtual pointer and keyboard)
and Weston (none of them: the refusal).

Both run with their own runtime dir and no seat, GPU or XWayland (`WLR_BACKENDS=headless`, the pixman
renderer). Sway refuses to run as root, so under root (CI) the compositor runs as `nobody` with a runtime dir
that user owns; root still reaches its socket. `env` is what a client needs: the runtime dir and socket, and
no DISPLAY unless a test puts XWayland's stand-in there.
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

START_TIMEOUT_S = 20.0
POLL_S = 0.05


class CompositorUnavailable(RuntimeError):
    """The compositor is not installed or did not start here."""


@dataclass(slots=True)
class Compositor:
    name: str
    runtime: Path
    socket: str
    process: subprocess.Popen[bytes]
    apps: list[subprocess.Popen[str]] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "SWAYSOCK")}
        env.update(XDG_RUNTIME_DIR=str(self.runtime), WAYLAND_DISPLAY=self.socket, XDG_SESSION_TYPE="wayland")
        env.pop("XDG_CURRENT_DESKTOP", None)
        env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        return env

    def launch(self, argv: Sequence[str], **extra: str) -> subprocess.Popen[str]:
        """A native Wayland app in this compositor (GTK and Qt told to use Wayland); its stdout is piped."""
        env = {**self.env, "GDK_BACKEND": "wayland", "QT_QPA_PLATFORM": "wayland", "NO_AT_BRIDGE": "1", **extra}
        app = subprocess.Popen(list(argv), env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.apps.append(app)
        return app

    def windows(self) -> list[dict[str, object]]:
        """Sway's visible windows (app_id, rect) from its IPC; Sway only."""
        sock = next(self.runtime.glob("sway-ipc.*.sock"))
        done = subprocess.run(
            ["swaymsg", "-s", str(sock), "-t", "get_tree", "-r"], capture_output=True, text=True, timeout=10
        )
        found: list[dict[str, object]] = []

        def walk(node: dict[str, object]) -> None:
            if node.get("app_id") and node.get("visible"):
                found.append({"app_id": node["app_id"], "rect": node["rect"]})
            for child in [*node.get("nodes", []), *node.get("floating_nodes", [])]:  # type: ignore[misc]
                walk(child)

        walk(json.loads(done.stdout))
        return found

    def wait_for_window(self, app_id: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not any(w["app_id"] == app_id for w in self.windows()):
            if time.monotonic() > deadline:
                raise AssertionError(f"no window of {app_id} appeared in {self.name}")
            time.sleep(POLL_S)


def _runtime_dir() -> tuple[Path, list[str]]:
    """A fresh private runtime dir, and how to start a program as its owner (nobody under root)."""
    runtime = Path(tempfile.mkdtemp(prefix="deskpilot-wl-"))
    if os.geteuid() != 0:
        return runtime, []
    if shutil.which("setpriv") is None:
        raise CompositorUnavailable("running as root and setpriv is missing: cannot start a compositor as nobody")
    os.chown(runtime, 65534, 65534)
    return runtime, ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


@contextmanager
def _compositor(name: str, argv: list[str], socket: str, runtime: Path, extra: dict[str, str]) -> Iterator[Compositor]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "XDG_RUNTIME_DIR": str(runtime), "HOME": str(runtime)}
    log = open(runtime / "compositor.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(argv, env={**env, **extra}, stdout=log, stderr=subprocess.STDOUT)
    compositor = Compositor(name=name, runtime=runtime, socket=socket, process=process)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not (runtime / socket).exists():
            if process.poll() is not None or time.monotonic() > deadline:
                tail = (runtime / "compositor.log").read_text(errors="replace")[-400:]
                raise CompositorUnavailable(f"{name} did not start: {tail}")
            time.sleep(POLL_S)
        yield compositor
    finally:
        for app in compositor.apps:
            if app.poll() is None:
                app.terminate()
            try:
                app.wait(5)
            except subprocess.TimeoutExpired:
                app.kill()
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        shutil.rmtree(runtime, ignore_errors=True)


@contextmanager
def headless_sway(width: int = 1280, height: int = 800) -> Iterator[Compositor]:
    if shutil.which("sway") is None:
        raise CompositorUnavailable("sway is not installed (make system installs it)")
    runtime, as_owner = _runtime_dir()
    config = runtime / "config"
    config.write_text(f"output HEADLESS-1 mode {width}x{height}\nseat seat0 fallback true\nxwayland disable\n")
    if as_owner:
        os.chown(config, 65534, 65534)
    extra = {
        "WLR_BACKENDS": "headless",
        "WLR_RENDERER": "pixman",
        "WLR_LIBINPUT_NO_DEVICES": "1",
        "WLR_HEADLESS_OUTPUTS": "1",
    }
    with _compositor("sway", [*as_owner, "sway", "-c", str(config)], "wayland-1", runtime, extra) as sway:
        yield sway


@contextmanager
def headless_weston() -> Iterator[Compositor]:
    if shutil.which("weston") is None:
        raise CompositorUnavailable("weston is not installed (make system installs it)")
    runtime, as_owner = _runtime_dir()
    argv = [*as_owner, "weston", "--backend=headless-backend.so", "--socket=wayland-1", "--idle-time=0"]
    with _compositor("weston", argv, "wayland-1", runtime, {}) as weston:
        yield weston

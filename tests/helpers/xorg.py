"""A real two-monitor X desktop for tests: Xorg with the dummy driver (the recipe is in docs/testing.md).

Layout: left 1920x1080 at (0, 0), right 1280x1024 at (1920, 0), one 3200x1080 framebuffer. The strip
x >= 1920, y >= 1024 lies on no monitor.

Why Xorg: Xvfb puts two screens both at 0,0 and refuses `xrandr --setmonitor`; Xephyr clamps the XTest
pointer to its first head. Xorg needs root (or a setuid wrapper) and the xserver-xorg-video-dummy package;
`start_two_monitor_xorg()` raises XorgUnavailable with the reason when it cannot run, and the fixture turns
that into a skip.

Display numbers: two test sessions at once must not collide. We skip numbers with a socket or a lock file,
and since the lock file is what Xorg itself creates atomically, a server that loses a race exits with
"Server is already active"; then we try the next number. Once xrandr answers we also check that the lock
holds our server's pid, so we never configure someone else's display.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

FIRST_DISPLAY = 90
DISPLAY_TRIES = 60
START_TIMEOUT_S = 20.0
XRANDR_TIMEOUT_S = 10.0
LEFT = (0, 0, 1920, 1080)
RIGHT = (1920, 0, 1280, 1024)

CONFIG = """\
Section "Device"
    Identifier "dummy"
    Driver "dummy"
    VideoRam 256000
EndSection
Section "ServerFlags"
    Option "AutoAddDevices" "false"
    Option "DontVTSwitch" "true"
EndSection
"""
# a mode wide enough for both monitors (from the reference; cvt-style timings the dummy driver accepts)
MODE = ["3200x1080", "288.00", "3200", "3248", "3280", "3360", "1080", "1083", "1088", "1100"]


class XorgUnavailable(Exception):
    """Xorg cannot run here (not installed, not root, no dummy driver); the message says why."""


class TwoMonitorXorg:
    """A running dummy Xorg with the two monitors laid out. `name` is its display, e.g. ":91"."""

    def __init__(self, number: int, process: subprocess.Popen[bytes], workdir: Path) -> None:
        self.number = number
        self.name = f":{number}"
        self.process = process
        self.workdir = workdir

    @property
    def log_path(self) -> Path:
        return self.workdir / f"xorg-{self.number}.log"

    def xrandr(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["xrandr", *args],
            env={**os.environ, "DISPLAY": self.name},
            capture_output=True,
            text=True,
            timeout=XRANDR_TIMEOUT_S,
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.workdir, ignore_errors=True)


def _taken(number: int) -> bool:
    return Path(f"/tmp/.X{number}-lock").exists() or Path(f"/tmp/.X11-unix/X{number}").exists()


def _lock_pid(number: int) -> int | None:
    try:
        return int(Path(f"/tmp/.X{number}-lock").read_text().strip())
    except (OSError, ValueError):
        return None


def _log_tail(path: Path, lines: int = 8) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    errors = [line for line in text if line.startswith("(EE)") and line.strip() != "(EE)"]
    return " | ".join((errors or text)[-lines:])


def _start_on(number: int, workdir: Path, xorg: str) -> TwoMonitorXorg | None:
    """Start Xorg on `number`; None when another server won that number. XorgUnavailable on other failures."""
    config = workdir / "xorg-dummy.conf"
    confdir = workdir / "xorg.conf.d"  # empty: the system's snippets must not change our server
    confdir.mkdir(exist_ok=True)
    config.write_text(CONFIG)
    log = workdir / f"xorg-{number}.log"
    command = [
        xorg,
        f":{number}",
        "-noreset",
        "-novtswitch",
        "-nolisten",
        "tcp",
        "-config",
        str(config),
        "-configdir",
        str(confdir),
        "-logfile",
        str(log),
    ]
    with open(workdir / f"xorg-{number}.out", "wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    server = TwoMonitorXorg(number, process, workdir)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = (workdir / f"xorg-{number}.out").read_text(errors="replace")
            if "already active" in output:
                return None
            raise XorgUnavailable(f"Xorg :{number} exited with {process.returncode}: {_log_tail(log)}")
        if _lock_pid(number) == process.pid and server.xrandr("--query").returncode == 0:
            return server
        time.sleep(0.1)
    server.stop()
    raise XorgUnavailable(f"Xorg :{number} did not answer within {START_TIMEOUT_S:g} s: {_log_tail(log)}")


def _lay_out(server: TwoMonitorXorg) -> None:
    """Make the framebuffer 3200x1080 and split it into the two RandR monitors."""
    query = server.xrandr("--query").stdout
    found = re.search(r"^(\S+) connected", query, re.MULTILINE)
    if found is None:
        raise XorgUnavailable(f"the dummy Xorg has no connected output: {query.strip()[:300]}")
    output = found.group(1)
    steps = [
        ["--newmode", *MODE],
        ["--addmode", output, MODE[0]],
        ["--output", output, "--mode", MODE[0]],
        ["--setmonitor", "L", "1920/508x1080/286+0+0", output],
        ["--setmonitor", "R", "1280/338x1024/271+1920+0", "none"],
    ]
    for step in steps:
        done = server.xrandr(*step)
        if done.returncode != 0:
            raise XorgUnavailable(f"xrandr {' '.join(step)} failed: {done.stderr.strip()[:300]}")
    listed = server.xrandr("--listmonitors").stdout
    if "Monitors: 2" not in listed:
        raise XorgUnavailable(f"xrandr lists other monitors than the two we made: {listed.strip()[:300]}")


def start_two_monitor_xorg() -> TwoMonitorXorg:
    """Start a dummy Xorg on a free display and lay out the two monitors. XorgUnavailable says why not."""
    xorg = shutil.which("Xorg")
    if xorg is None:
        raise XorgUnavailable("Xorg is not installed (apt-get install xserver-xorg-core xserver-xorg-video-dummy)")
    if shutil.which("xrandr") is None:
        raise XorgUnavailable("xrandr is not installed (apt-get install x11-xserver-utils)")
    if os.geteuid() != 0:
        raise XorgUnavailable("the dummy Xorg needs root here (tests run as an ordinary user)")
    workdir = Path(tempfile.mkdtemp(prefix="deskpilot-xorg-"))
    try:
        tried = 0
        for number in range(FIRST_DISPLAY, FIRST_DISPLAY + 10 * DISPLAY_TRIES):
            if _taken(number):
                continue
            server = _start_on(number, workdir, xorg)
            if server is None:
                tried += 1
                if tried >= DISPLAY_TRIES:
                    break
                continue
            try:
                _lay_out(server)
            except BaseException:
                server.stop()
                raise
            return server
        raise XorgUnavailable(f"no free X display number from :{FIRST_DISPLAY}")
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise

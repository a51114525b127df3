"""X displays: which one a connection goes to, and an isolated display for the agent (Linux).

pynput and pyautogui take the X display from $DISPLAY when they connect, and have no parameter for it.
`on_display(name)` sets $DISPLAY for the moment a connection is made, under one process-wide lock, and puts
it back: so under `--isolated` the drivers and the user-input watcher connect to the nested display while
the stop key listens on the person's own (a key pressed on their desktop must always stop the run).

`IsolatedDisplay` starts a nested Xephyr window when a display is up (Xvfb otherwise) on a free display
number and waits until it answers; capture, drivers and watcher are given its name; `launch()` starts a
program in it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from sandbox.errors import DriverError

X11_SOCKETS = Path("/tmp/.X11-unix")
START_TIMEOUT_S = 10.0
FIRST_DISPLAY = 40
_DISPLAY_ENV_LOCK = threading.RLock()


@contextlib.contextmanager
def on_display(name: str | None) -> Iterator[None]:
    """$DISPLAY is `name` inside (None: left as it is) and restored after; one process-wide lock around it,
    held for the whole block, so connections made inside by any thread go to `name`."""
    with _DISPLAY_ENV_LOCK:
        if name is None:
            yield
            return
        before = os.environ.get("DISPLAY")
        os.environ["DISPLAY"] = name
        try:
            yield
        finally:
            if before is None:
                os.environ.pop("DISPLAY", None)
            else:
                os.environ["DISPLAY"] = before


def free_display_number(start: int = FIRST_DISPLAY) -> int:
    """The first display number with neither a socket nor a lock file."""
    for number in range(start, start + 200):
        if not (X11_SOCKETS / f"X{number}").exists() and not Path(f"/tmp/.X{number}-lock").exists():
            return number
    raise DriverError("no free X display number found")


def display_answers(name: str) -> bool:
    """True when an X server answers on `name` (checked with python-xlib, which we already depend on)."""
    try:
        from Xlib import display as xdisplay
        from Xlib.error import DisplayError
    except ImportError:  # pragma: no cover - python-xlib is a dependency on Linux
        return (X11_SOCKETS / f"X{name.lstrip(':').split('.')[0]}").exists()
    try:
        connection = xdisplay.Display(name)
    except (DisplayError, OSError, Exception):
        return False
    connection.close()
    return True


class IsolatedDisplay:
    """A private X display of `width`x`height`; `nested=None` picks Xephyr when a parent display exists."""

    def __init__(self, width: int = 1920, height: int = 1080, *, nested: bool | None = None) -> None:
        self.width, self.height = width, height
        want_nested = bool(os.environ.get("DISPLAY")) if nested is None else nested
        self.server = "Xephyr" if want_nested and shutil.which("Xephyr") else "Xvfb"
        if shutil.which(self.server) is None:
            raise DriverError(
                f"--isolated needs Xephyr or Xvfb (apt-get install xserver-xephyr xvfb); {self.server} is missing"
            )
        self.number = free_display_number()
        self.name = f":{self.number}"
        self._process: subprocess.Popen[bytes] | None = None
        self._children: list[subprocess.Popen[bytes]] = []

    def start(self) -> IsolatedDisplay:
        size = f"{self.width}x{self.height}"
        if self.server == "Xephyr":
            command = [
                "Xephyr",
                self.name,
                "-screen",
                size,
                "-title",
                "deskpilot isolated display",
                "-nolisten",
                "tcp",
                "-noreset",
            ]
        else:
            command = ["Xvfb", self.name, "-screen", "0", f"{size}x24", "-nolisten", "tcp", "-noreset"]
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                error = (self._process.stderr.read() if self._process.stderr else b"").decode(errors="replace")
                raise DriverError(
                    f"{self.server} {self.name} exited at start: {error.strip().splitlines()[-1:] or '?'}"
                )
            if display_answers(self.name):
                return self
            time.sleep(0.05)
        self.close()
        raise DriverError(f"{self.server} {self.name} did not answer within {START_TIMEOUT_S:g} s")

    def env(self) -> dict[str, str]:
        return {**os.environ, "DISPLAY": self.name}

    def launch(self, command: Sequence[str]) -> subprocess.Popen[bytes]:
        """Start a program inside the isolated display; it is ended with the display."""
        try:
            child = subprocess.Popen(
                list(command), env=self.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        except OSError as exc:
            raise DriverError(f"cannot start {command[0]!r} in {self.name}: {exc}") from exc
        self._children.append(child)
        return child

    def close(self) -> None:
        for child in self._children:
            if child.poll() is None:
                child.terminate()
        for child in self._children:
            try:
                child.wait(timeout=3)
            except subprocess.TimeoutExpired:
                child.kill()
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._process = None

    def __enter__(self) -> IsolatedDisplay:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

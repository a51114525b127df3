"""Apps no one here wrote, or written as plainly as they are, that show what typing really delivered.

- `EntryApp`: tests/helpers/gtk_entry.py (the SYSTEM python3: PyGObject is not in the virtualenv),
  tests/helpers/qt_entry.py or tests/helpers/tk_entry.py; each prints where its entry is and every text it holds.
- `Terminal`: xterm running `cat > FILE` (or a shell): what arrived is in FILE once a line ends. xterm ignores
  synthetic (XSendEvent) keys by default, so it tells XTest from XSendEvent.
- `private_display(...)`: an Xvfb of its own, with openbox as the window manager and/or another keyboard layout,
  for what must not change the session's shared display.
None of them is given the keyboard focus: a click on the field is what gives it, as for a person.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HELPERS = Path(__file__).resolve().parent
SYSTEM_PYTHON = "/usr/bin/python3"
COMMANDS = {
    "gtk": [SYSTEM_PYTHON, str(HELPERS / "gtk_entry.py")],
    "qt": [sys.executable, str(HELPERS / "qt_entry.py")],
    "tk": [sys.executable, str(HELPERS / "tk_entry.py")],
}
READY_TIMEOUT_S = 30.0


class AppUnavailable(Exception):
    """The app cannot run here (a system package is missing): the test skips, naming it."""


def check_available(kind: str) -> None:
    if kind == "gtk":
        probe = "import gi; gi.require_version('Gtk', '3.0'); from gi.repository import Gtk"
        if not Path(SYSTEM_PYTHON).exists() or subprocess.run([SYSTEM_PYTHON, "-c", probe]).returncode != 0:
            raise AppUnavailable("needs python3-gi and gir1.2-gtk-3.0 (make system)")
    if kind == "tk":
        try:
            import tkinter  # noqa: F401
        except ImportError as exc:
            raise AppUnavailable("needs tkinter (python3-tk)") from exc
    if kind in ("xterm", "openbox") and shutil.which(kind) is None:
        raise AppUnavailable(f"needs {kind} (make system)")


def _environment(display: str) -> dict[str, str]:
    return {**os.environ, "DISPLAY": display, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}


class EntryApp:
    """One of the entry apps, started on enter (waits for its `ready` line), killed on exit."""

    def __init__(self, kind: str, *, display: str, x: int = 300, y: int = 260) -> None:
        check_available(kind)
        self.kind = kind
        self._process = subprocess.Popen(
            [*COMMANDS[kind], "--x", str(x), "--y", str(y)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
            env=_environment(display),
        )
        self.texts: list[str] = []
        self._ready = threading.Event()
        self.entry: tuple[int, int, int, int] = (0, 0, 0, 0)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            event: dict[str, Any] = json.loads(line)
            if event["event"] == "ready":
                self.entry = tuple(event["entry"])  # type: ignore[assignment]
                self._ready.set()
            elif event["event"] == "text":
                self.texts.append(event["text"])

    def __enter__(self) -> EntryApp:
        if not self._ready.wait(READY_TIMEOUT_S):
            self.close()
            raise AssertionError(f"the {self.kind} entry app did not say it was ready")
        time.sleep(0.3)  # a window manager may still be placing it
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def centre(self) -> tuple[int, int]:
        x, y, w, h = self.entry
        return x + w // 2, y + h // 2

    def wait_for_text(self, expected: str, timeout: float = 20.0) -> str:
        """The entry's text once it is `expected`; AssertionError with what it held otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.texts and self.texts[-1] == expected:
                return expected
            time.sleep(0.05)
        raise AssertionError(f"the {self.kind} entry holds {self.texts[-1:]!r}, expected {expected!r}")

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait(10)


class Terminal:
    """xterm at (x, y) running `command` (default: `cat > FILE`, what arrived is in FILE)."""

    def __init__(self, folder: Path, *, display: str, x: int = 300, y: int = 260, command: str | None = None) -> None:
        check_available("xterm")
        self.file = folder / "typed.txt"
        self.geometry = (x, y)
        script = command or f"cat > {self.file}"
        self._process = subprocess.Popen(
            ["xterm", "-u8", "-fa", "Mono", "-fs", "12", "-geometry", f"100x12+{x}+{y}", "-e", "sh", "-c", script],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=_environment(display),
            cwd=folder,
        )
        _wait_for_window(display, "xterm", self._process)

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def centre(self) -> tuple[int, int]:
        return self.geometry[0] + 200, self.geometry[1] + 60

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait(10)


def wait_for_file(path: Path, expected: str, timeout: float = 20.0) -> str:
    """The file's text once it is `expected`; AssertionError with what it held otherwise."""
    deadline = time.monotonic() + timeout
    text = None
    while time.monotonic() < deadline:
        text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else None
        if text == expected:
            return text
        time.sleep(0.05)
    raise AssertionError(f"{path.name} holds {text!r}, expected {expected!r}")


def _wait_for_window(display: str, name: str, process: subprocess.Popen[Any]) -> None:
    """Until a window of class `name` is mapped on `display` (xdotool search --sync, which only looks)."""
    found = subprocess.run(
        ["xdotool", "search", "--sync", "--onlyvisible", "--class", name],
        capture_output=True,
        timeout=READY_TIMEOUT_S,
        env=_environment(display),
    )
    if found.returncode != 0 or process.poll() is not None:
        raise AssertionError(f"{name} did not open a window on {display}")
    time.sleep(0.5)  # it draws its first frame


@contextlib.contextmanager
def private_display(*, window_manager: bool = False, layout: str | None = None) -> Iterator[str]:
    """An Xvfb of its own (1920x1080x24), with openbox running and/or keyboard `layout`; yields its name."""
    if window_manager:
        check_available("openbox")
    read, write = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", "1920x1080x24", "-nolisten", "tcp", "-noreset"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    helpers: list[subprocess.Popen[bytes]] = []
    try:
        with os.fdopen(read) as numbers:
            display = f":{numbers.readline().strip()}"
        env = {**os.environ, "DISPLAY": display}
        if layout is not None:
            subprocess.run(["setxkbmap", layout], check=True, timeout=30, env=env)
        if window_manager:
            helpers.append(subprocess.Popen(["openbox"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env))
            time.sleep(1.0)  # openbox takes the screen (it manages windows mapped after this)
        yield display
    finally:
        for helper in helpers:
            helper.kill()
            helper.wait(10)
        server.terminate()
        server.wait(10)

"""Real X programs whose text is small, each telling what a click did: for the OCR grounder's small-text tests and
bench/ocr_step.py.

X core fonts (xmessage, xterm's default "fixed"), Tk's default font and GTK at 9 pt are the smallest text a
desktop shows, and the detector misses such text amid a large empty frame. The programs here are the real ones,
started with their defaults; what they report is the truth of a click:

- `xmessage(...)`: `xmessage -print -buttons Yes:0,No:1 TEXT`; prints the button's name, exits 1 for No.
- `terminal(...)`: xterm in its default font running tests/helpers/xterm_clicks.py: shows a line of words and
  writes the character cell of the first mouse press (xterm's own mouse reporting) to a file.
- `tk_question(...)`: Tk's yes/no message box (tkinter.messagebox.askyesno) in Tk's default font; prints True/False.
- `gtk_question(...)`: `zenity --question` with GTK's font set to "Sans 9"; exits 1 for No.
- `xvfb(width, height)`: an Xvfb of its own, for a screen size other than pytest-xvfb's 1920x1080.
- `set_root(display, arguments)`: the screen's background, with xsetroot.
- `settled_screen(...)`, `press(...)`: the screen once still, and a click with xdotool (for bench/ocr_step.py).

The programs' starters are context managers that yield a started `Program` once its window is mapped, and kill
it on exit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from PIL import Image

HELPERS = Path(__file__).resolve().parent
READY_TIMEOUT_S = 30.0
SETTLE_POLL_S = 0.1
TK_TITLE = "small text test"
XTERM_FIRST_COLUMN = 1  # the words start in this cell column (1-based), on the first row


class ProgramUnavailable(Exception):
    """A program the test needs is not installed: the test skips, naming it."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Program:
    """A started program and how to learn what a click did to it."""

    process: subprocess.Popen[str]
    display: str
    clicks: Path | None = None  # xterm: where the pressed cell is written ("column row", 1-based)

    def result(self, timeout: float = 20.0) -> tuple[int, str]:
        """The exit status and what it printed, once it has ended (a button ends it); TimeoutExpired if it does
        not."""
        out, _ = self.process.communicate(timeout=timeout)
        return self.process.returncode, out.strip()

    def pressed_cell(self, timeout: float = 20.0) -> tuple[int, int]:
        """xterm: the (column, row) of the first mouse press, 1-based, once it came (the script then ends);
        TimeoutExpired if none came."""
        assert self.clicks is not None
        self.process.wait(timeout)
        column, row = self.clicks.read_text(encoding="ascii").split()
        return int(column), int(row)


def require(*programs: str) -> None:
    missing = [name for name in programs if shutil.which(name) is None]
    if missing:
        raise ProgramUnavailable(f"needs {', '.join(missing)} (make system)")


def _environment(display: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "DISPLAY": display, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", **extra}


@contextlib.contextmanager
def xvfb(width: int, height: int) -> Iterator[str]:
    """An Xvfb of its own at width x height x 24 (no window manager); yields its name."""
    require("Xvfb")
    read, write = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp", "-noreset"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    try:
        with os.fdopen(read) as numbers:
            yield f":{numbers.readline().strip()}"
    finally:
        server.terminate()
        server.wait(10)


@contextlib.contextmanager
def _started(
    command: list[str], display: str, window: list[str], *, env: dict[str, str] | None = None
) -> Iterator[Program]:
    """`command` started, once a window that `xdotool search` finds by `window` (e.g. ["--class", "zenity"]) shows."""
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env or _environment(display)
    )
    try:
        found = subprocess.run(
            ["xdotool", "search", "--sync", "--onlyvisible", *window],
            capture_output=True,
            timeout=READY_TIMEOUT_S,
            env=_environment(display),
        )
        if found.returncode != 0 or process.poll() is not None:
            raise AssertionError(f"{command[0]} did not open a window on {display}")
        yield Program(process=process, display=display)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


@contextlib.contextmanager
def xmessage(display: str, text: str = "Proceed?", *, geometry: str | None = None) -> Iterator[Program]:
    """xmessage with a Yes and a No button, in its default X core font, at the screen's top-left unless placed."""
    require("xmessage", "xdotool")
    where = ["-geometry", geometry] if geometry else []
    with _started(
        ["xmessage", "-print", *where, "-buttons", "Yes:0,No:1", text], display, ["--class", "Xmessage"]
    ) as program:
        yield program


@contextlib.contextmanager
def terminal(display: str, words: str, folder: Path, *, geometry: str = "80x10+0+0") -> Iterator[Program]:
    """xterm in its default font (X core "fixed") showing `words` on its first line; the first press is reported."""
    require("xterm", "xdotool")
    clicks = folder / "xterm-click.txt"
    ready = clicks.with_suffix(".ready")
    clicks.unlink(missing_ok=True)
    ready.unlink(missing_ok=True)
    script = [sys.executable, str(HELPERS / "xterm_clicks.py"), str(clicks), words]
    with _started(["xterm", "-geometry", geometry, "-e", *script], display, ["--class", "xterm"]) as program:
        _wait_for(ready)
        yield dataclasses.replace(program, clicks=clicks)


def _wait_for(path: Path) -> None:
    """Until the script in the terminal says it shows its words and listens (it writes `path`)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"the terminal's script never wrote {path.name}")
        time.sleep(0.05)


@contextlib.contextmanager
def tk_question(display: str, text: str = "Proceed?") -> Iterator[Program]:
    """Tk's own yes/no message box, in Tk's default font; prints True (Yes) or False (No)."""
    require("xdotool")
    try:
        import tkinter  # noqa: F401
    except ImportError as exc:
        raise ProgramUnavailable("needs tkinter (python3-tk)") from exc
    code = (
        "import tkinter, tkinter.messagebox as box\n"
        "root = tkinter.Tk()\nroot.withdraw()\n"
        f"print(box.askyesno({TK_TITLE!r}, {text!r}), flush=True)\n"
    )
    with _started([sys.executable, "-c", code], display, ["--name", TK_TITLE]) as program:
        yield program


@contextlib.contextmanager
def gtk_question(display: str, folder: Path, text: str = "Proceed?", *, points: int = 9) -> Iterator[Program]:
    """`zenity --question` (No and Yes buttons) with GTK's font at `points`; exits 0 for Yes, 1 for No."""
    require("zenity", "xdotool")
    settings = folder / "gtk-config" / "gtk-3.0" / "settings.ini"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(f"[Settings]\ngtk-font-name=Sans {points}\n", encoding="utf-8")
    env = _environment(display, XDG_CONFIG_HOME=str(settings.parents[1]), NO_AT_BRIDGE="1")
    with _started(["zenity", "--question", f"--text={text}"], display, ["--class", "zenity"], env=env) as program:
        yield program


def settled_screen(display: str, *, unlike: Image.Image | None = None, timeout: float = READY_TIMEOUT_S) -> Image.Image:
    """The screen of `display` (the project's capture) once two grabs in a row match and, given `unlike`, once it
    differs from that: for the benchmark, which reads what a step left behind as the loop's settle wait would."""
    from sandbox.capture import ScreenCapture

    deadline = time.monotonic() + timeout
    with ScreenCapture(display=display) as capture:
        last = capture.grab().image
        while time.monotonic() < deadline:
            time.sleep(SETTLE_POLL_S)
            image = capture.grab().image
            if image.tobytes() == last.tobytes() and (unlike is None or image.tobytes() != unlike.tobytes()):
                return image
            last = image
    raise AssertionError(f"the screen of {display} did not settle" + (" after changing" if unlike else ""))


def press(display: str, point: tuple[int, int]) -> None:
    """A left click at `point` (screen px) with xdotool, as a person's click would arrive."""
    x, y = point
    subprocess.run(
        ["xdotool", "mousemove", str(x), str(y), "click", "1"], check=True, timeout=10, env=_environment(display)
    )


def set_root(display: str, arguments: list[str]) -> None:
    """The screen's background, as `xsetroot ARGUMENTS` sets it (e.g. ["-solid", "steelblue"], ["-gray"])."""
    require("xsetroot")
    subprocess.run(["xsetroot", *arguments], check=True, timeout=10, env=_environment(display))

"""Issue 18, items 3 and 4, end to end with real processes on Xvfb.

- Every deskpilot window carries deskpilot's mark (WM_CLASS "deskpilot", _DESKPILOT_PID), and a second deskpilot
  process (`deskpilot run` in a terminal) neither reads nor presses the open window's buttons: it was free to
  click the window's own Calibrate (usertrial-2026-12, trial 5h).
- The run panel never hides the app it drives: an app in the panel's old corner (bottom-right) is driven from
  `deskpilot gui --task ... --exit-when-done` (usertrial-2026-12, trial 4: "Could not find '1'").
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sandbox.desktops.base import TopWindow
from sandbox.desktops.x11_stacking import X11Stacking
from sandbox.geometry import Rect
from tests.helpers.target import TargetWindow

pytestmark = pytest.mark.display
DESKPILOT = Path(sys.executable).with_name("deskpilot")
TK_GO = Path(__file__).parent / "helpers" / "tk_go.py"
GUI_GEOMETRY = (900, 60, 1000, 900)  # where the open window sits (X,Y,W,H); its Calibrate button is in it
READY_TIMEOUT_S = 60.0
POLL_S = 0.05


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """The environment of a person's first start: nothing of the tester's own config or sessions."""
    env = dict(os.environ)
    for name, folder in (("HOME", "home"), ("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data")):
        (tmp_path / folder).mkdir()
        env[name] = str(tmp_path / folder)
    return env


def windows_of(pid: int) -> list[TopWindow]:
    return [w for w in X11Stacking().top_windows() if w.deskpilot_pid == pid]


def wait_for_window(process: subprocess.Popen[str]) -> TopWindow:
    """The process's first marked window on the screen (it is another process: polled, as TargetWindow does)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        found = windows_of(process.pid)
        if found:
            return found[0]
        time.sleep(POLL_S)
    raise AssertionError("deskpilot's window never appeared, marked")


@pytest.fixture
def open_window(home: dict[str, str], tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], TopWindow]]:
    """`deskpilot gui` as a person starts it, with its window at GUI_GEOMETRY."""
    geometry = ",".join(str(v) for v in GUI_GEOMETRY)
    process = subprocess.Popen(
        [str(DESKPILOT), "gui", "--settings", str(tmp_path / "gui.toml"), "--geometry", geometry],
        env=home,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield process, wait_for_window(process)
    finally:
        process.terminate()
        process.communicate(timeout=30)


def x_property(window: int, name: str) -> str:
    out = subprocess.run(["xprop", "-id", str(window), name], capture_output=True, text=True, timeout=10)
    return out.stdout.strip()


def points_in(text: str) -> list[tuple[int, int]]:
    """The points a run would act at ("would click at (x, y)"); a failure naming the masked area is no point."""
    return [(int(x), int(y)) for x, y in re.findall(r" at \((\d+), (\d+)\)(?! of the screen)", text)]


def test_another_deskpilot_never_presses_the_windows_own_buttons(
    open_window: tuple[subprocess.Popen[str], TopWindow], home: dict[str, str]
) -> None:
    gui, window = open_window
    assert x_property(window.id, "WM_CLASS") == 'WM_CLASS(STRING) = "deskpilot", "deskpilot"'
    assert x_property(window.id, "_DESKPILOT_PID") == f"_DESKPILOT_PID(CARDINAL) = {gui.pid}"
    shown = subprocess.run(
        ["xdotool", "search", "--onlyvisible", "--pid", str(gui.pid)], capture_output=True, text=True
    )
    area = Rect(*GUI_GEOMETRY)
    dry = subprocess.run(
        [str(DESKPILOT), "run", "click Calibrate", "--backend", "ocr", "--dry-run", "--no-record"],
        capture_output=True,
        text=True,
        timeout=180,
        env=home,
    )
    said = dry.stdout + dry.stderr
    assert dry.returncode != 0, said
    assert not [p for p in points_in(said) if area.contains(*p)], said  # it never points into the window
    real = subprocess.run(
        [str(DESKPILOT), "run", "click Calibrate", "--backend", "ocr", "--yes", "--no-record"],
        capture_output=True,
        text=True,
        timeout=180,
        env=home,
    )
    said = real.stdout + real.stderr
    assert real.returncode != 0, said
    assert "Could not find 'Calibrate'" in said or "own_window" in said, said
    assert "did click" not in said, said
    now = subprocess.run(["xdotool", "search", "--onlyvisible", "--pid", str(gui.pid)], capture_output=True, text=True)
    assert now.stdout.split() == shown.stdout.split()  # Calibrate would have opened the practice board
    assert gui.poll() is None


def test_an_app_in_the_panels_corner_is_driven_from_the_window(
    home: dict[str, str], tmp_path: Path, target_window: Callable[..., TargetWindow]
) -> None:
    # a desktop with another app open (the OCR's whole-frame look misses a lone small window on a bare black
    # screen today: issue 18 item 1); the panel must avoid both
    other = target_window(x=100, y=100, width=1000, height=700)
    app = subprocess.Popen(
        [sys.executable, str(TK_GO), "--x", "1640", "--y", "900"], stdout=subprocess.PIPE, text=True, env=home
    )
    try:
        assert app.stdout is not None
        ready = json.loads(app.stdout.readline())
        box = Rect(*ready["window"])
        assert box.x + box.width > 1920 - 16 - 380 and box.y + box.height > 1080 - 16 - 204  # under the old panel
        settings = tmp_path / "gui.toml"
        settings.write_text(f'countdown_s = 0.2\nrecording_dir = "{tmp_path / "sessions"}"\n')
        gui = subprocess.run(
            [
                str(DESKPILOT), "gui", "--backend", "ocr", "--mode", "auto", "--task", "click Go",
                "--exit-when-done", "--settings", str(settings),
            ],
            capture_output=True, text=True, timeout=240, env=home,
        )  # fmt: skip
    finally:
        app.terminate()
        logged, _ = app.communicate(timeout=30)
    assert gui.returncode == 0, gui.stdout + gui.stderr
    assert [json.loads(line) for line in logged.splitlines()] == [{"event": "clicked"}]
    assert not other.events("press")

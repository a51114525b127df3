"""Issue 17's "wait for what an action opens", on a real Tk app on Xvfb: a button whose window opens 0.7 s later,
and `deskpilot act` saying what an action visibly did. No window is given the focus by hand, nothing sleeps:
the run's own look waits."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.capture import ScreenCapture

pytestmark = pytest.mark.display
DESKPILOT = Path(sys.executable).with_name("deskpilot")
APP = Path(__file__).resolve().parent / "helpers" / "delayed_dialog.py"
READY_TIMEOUT_S = 30


class App:
    def __init__(self, process: subprocess.Popen[str], ready: dict[str, list[int]]) -> None:
        self.process = process
        self.rects = ready

    def centre(self, name: str) -> tuple[int, int]:
        x, y, w, h = self.rects[name]
        return x + w // 2, y + h // 2


@pytest.fixture
def delayed_app() -> Iterator[App]:
    app = subprocess.Popen(
        [sys.executable, str(APP), "--x", "150", "--y", "150", "--delay-ms", "700"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert app.stdout is not None
    ready = json.loads(app.stdout.readline())
    assert ready["event"] == "ready", ready
    try:
        yield App(app, ready)
    finally:
        if app.poll() is None:
            app.terminate()
        app.wait(timeout=10)


def test_a_window_that_opens_late_is_clicked(delayed_app: App) -> None:
    out = subprocess.run(
        [str(DESKPILOT), "run", "click Open then click Confirm", "--backend", "ocr", "--no-record"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr
    rest, _ = delayed_app.process.communicate(timeout=READY_TIMEOUT_S)
    assert [json.loads(line)["event"] for line in rest.splitlines()] == ["opened", "confirmed"]


def test_act_says_what_a_click_did(delayed_app: App) -> None:
    def act(x: int, y: int) -> dict[str, object]:
        out = subprocess.run(
            [str(DESKPILOT), "act", json.dumps({"kind": "click", "x": x, "y": y}), "--change-wait", "1"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        report = json.loads(out.stdout)
        assert isinstance(report, dict) and report["executed"] is True
        return report

    nothing = act(1800, 1000)["effect"]  # the empty desktop: nothing changes, the focus stays
    assert isinstance(nothing, dict) and nothing["screen"] == "none" and nothing["focus_moved"] is False
    label = act(*delayed_app.centre("label"))["effect"]  # a label: a click changes nothing there either
    assert isinstance(label, dict) and label["screen"] == "none"
    button = act(*delayed_app.centre("open"))["effect"]  # Tk's button lights up under the pointer and presses
    assert isinstance(button, dict) and button["screen"] == "near"


def test_the_focused_window_can_be_read() -> None:
    with ScreenCapture() as capture:
        focus = capture.focus()
    assert isinstance(focus, int) and focus >= 0

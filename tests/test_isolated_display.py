"""The isolated display: a private X server (Xvfb, or Xephyr nested in the current display) where
programs start and where capture and input go, leaving the user's display alone."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sandbox.capture import ScreenCapture
from sandbox.display import IsolatedDisplay, display_answers
from tests.helpers.target import TargetWindow

pytestmark = pytest.mark.display
DESKPILOT = Path(sys.executable).with_name("deskpilot")


@pytest.mark.parametrize("nested", [False, True])
def test_programs_capture_and_input_stay_inside(nested: bool, tmp_path: Path) -> None:
    if nested and shutil.which("Xephyr") is None:
        pytest.skip("Xephyr is not installed")
    with IsolatedDisplay(1280, 800, nested=nested) as isolated:
        assert isolated.server == ("Xephyr" if nested else "Xvfb")
        assert isolated.name != os.environ["DISPLAY"] and display_answers(isolated.name)
        with ScreenCapture(display=isolated.name) as capture:
            monitors = capture.geometry().monitors
            assert [(m.width, m.height) for m in monitors] == [(1280, 800)]
        with (
            TargetWindow(display=isolated.name, x=50, y=50, width=900, height=600, log_dir=tmp_path) as inside,
            TargetWindow(x=50, y=50, width=900, height=600, log_dir=tmp_path) as outside,
        ):
            x, y = inside.centre("Submit")
            env = {**os.environ, "DISPLAY": isolated.name}
            out = subprocess.run(
                [str(DESKPILOT), "act", json.dumps({"kind": "click", "x": x, "y": y})],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert out.returncode == 0, out.stderr
            inside.wait_for(lambda e: e["event"] == "clicked" and e["clicked"] == "Submit")
            time.sleep(0.3)
            assert not outside.events("press")  # the user's display saw nothing
        child = isolated.launch([sys.executable, "-c", "import os, time; print(os.environ['DISPLAY']); time.sleep(30)"])
        assert child.poll() is None
    assert child.poll() is not None  # programs started inside end with the display
    assert not display_answers(isolated.name)


def test_run_isolated_launches_a_program_and_acts_only_inside(tmp_path: Path) -> None:
    from tests.helpers.target import APPS

    log = tmp_path / "inside.jsonl"
    launch = f"{sys.executable} {APPS['qt']} --log {log} --x 40 --y 40 --width 900 --height 600"
    with TargetWindow(x=40, y=40, width=900, height=600, log_dir=tmp_path) as outside:
        out = subprocess.run(
            [str(DESKPILOT), "run", "wait 3 then click Submit", "--backend", "ocr", "--isolated", "--launch", launch],
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert out.returncode == 0, out.stderr
        assert "isolated display :" in out.stderr
        events = [json.loads(line) for line in log.read_text().splitlines()]
        assert any(e.get("clicked") == "Submit" for e in events)
        assert not outside.events("press")


def test_the_stop_key_on_the_persons_display_stops_an_isolated_run() -> None:
    """The agent acts on a nested display, but the person presses the stop key on their own: it must work there."""
    import threading

    process = subprocess.Popen(
        [str(DESKPILOT), "run", "wait 30", "--backend", "ocr", "--isolated", "--no-record"],
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[tuple[float, str]] = []
    waiting = threading.Event()

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append((time.monotonic(), line.rstrip()))
            if "thought:" in line:  # the wait is about to run
                waiting.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert waiting.wait(60), "\n".join(line for _, line in lines)
        time.sleep(0.5)
        pressed = time.monotonic()
        subprocess.run(["xdotool", "key", "ctrl+alt+x"], check=True, timeout=10, env=os.environ)
        assert process.wait(timeout=30) == 3
    finally:
        if process.poll() is None:
            process.kill()
    reader.join(5)
    stopped = [t for t, line in lines if line.startswith("finished: stopped")]
    assert stopped, "\n".join(line for _, line in lines)
    assert stopped[0] - pressed < 1.0, f"stopped {stopped[0] - pressed:.2f} s after the key"

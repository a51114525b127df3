"""The embedded default end to end: `deskpilot run` with the OCR backend on a real window on Xvfb."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers.target import TargetWindow

pytestmark = pytest.mark.display
DESKPILOT = Path(sys.executable).with_name("deskpilot")
Factory = Callable[..., TargetWindow]


def run(task: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(DESKPILOT), "run", task, "--backend", "ocr", *args], capture_output=True, text=True, timeout=180
    )


def test_click_a_label(target_window: Factory) -> None:
    target = target_window(x=100, y=100, width=1000, height=700)
    out = run("click Submit")
    assert out.returncode == 0, out.stderr
    target.wait_for(lambda e: e["event"] == "clicked" and e["clicked"] == "Submit")
    press = target.wait_for(lambda e: e["event"] == "press")
    assert target.widgets["Submit"].contains(press["x"], press["y"])


def test_type_into_a_field_then_click(target_window: Factory) -> None:
    target = target_window(x=100, y=100, width=1000, height=700)
    out = run("type 'Ada Lovelace' into Name, then click Cancel")
    assert out.returncode == 0, out.stderr
    target.wait_for(lambda e: e["event"] == "text" and e["widget"] == "Name" and e["text"] == "Ada Lovelace")
    target.wait_for(lambda e: e["event"] == "clicked" and e["clicked"] == "Cancel")


def test_missing_label_and_model_tasks_end_without_success(target_window: Factory) -> None:
    target = target_window(x=100, y=100, width=1000, height=700)
    out = run("click Frobnicate")
    assert out.returncode == 1 and "Could not find 'Frobnicate'" in out.stderr
    out = run("rename the three PDFs on the desktop by date")
    assert out.returncode == 1 and "needs" in out.stderr and "model" in out.stderr
    assert not target.events("press")

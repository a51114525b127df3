"""`deskpilot calibrate` end to end: it starts the practice board, asks the backend (scripted replies here)
to click each target, and prints hits, offsets and a diagnosis. The board is placed at a known --x/--y,
so the replies are computed from its fixed layout (app.gui.practice.practice_layout)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent.families import get_family, model_input_size
from app.gui.practice import practice_layout
from tests.helpers.replies import tool_call

DESKPILOT = Path(sys.executable).with_name("deskpilot")
SCREEN = (1920, 1080)
X, Y = 300, 150
TARGETS = practice_layout(X, Y)
display = pytest.mark.display


def pixels(x: float, y: float) -> tuple[int, int]:
    """Screen point -> what qwen2.5-vl writes: pixels of its smart-resized image."""
    w, h = model_input_size(get_family("qwen2.5-vl"), *SCREEN)
    return round(x * w / SCREEN[0]), round(y * h / SCREEN[1])


def relative(x: float, y: float) -> tuple[int, int]:
    return round(x / SCREEN[0] * 1000), round(y / SCREEN[1] * 1000)


def script(
    tmp_path: Path, where: Callable[[float, float], tuple[int, int]], *, shift: int = 0, broken: str | None = None
) -> Path:
    lines = []
    for label, rect in TARGETS.items():
        cx, cy = rect.x + rect.width // 2 + shift, rect.y + rect.height // 2 + shift
        raw = (
            "I would click it, I think." if label == broken else tool_call("left_click", coordinate=list(where(cx, cy)))
        )
        lines.append(json.dumps({"raw": raw}))
    path = tmp_path / "script.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def calibrate(
    path: Path, *extra: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], Any]:
    out = subprocess.run(
        [
            str(DESKPILOT),
            "calibrate",
            "--backend",
            "scripted",
            "--family",
            "qwen2.5-vl",
            "--script",
            str(path),
            "--x",
            str(X),
            "--y",
            str(Y),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    report = json.loads(out.stdout) if out.stdout.strip() else None
    return out, report


@display
def test_correct_replies_hit_every_target(tmp_path: Path) -> None:
    out, report = calibrate(script(tmp_path, pixels))
    assert out.returncode == 0, out.stderr
    assert report["hits"] == report["total"] == 9 and report["diagnosis"] is None
    assert report["worst_offset_px"] <= 1.5 and report["executed"] is False
    assert [t["label"] for t in report["targets"]] == list(TARGETS)
    assert "nothing was clicked" in out.stderr and "Traceback" not in out.stderr


@display
def test_a_constant_offset_is_named(tmp_path: Path) -> None:
    out, report = calibrate(script(tmp_path, pixels, shift=40))
    assert out.returncode == 1, out.stderr
    assert report["hits"] < report["total"] and report["pattern"] == "offset"
    assert "(+40, +40) px off" in report["diagnosis"] and "monitor origin" in report["diagnosis"]


@display
def test_relative_replies_under_a_pixel_preset_are_named(tmp_path: Path) -> None:
    out, report = calibrate(script(tmp_path, relative))
    assert out.returncode == 1, out.stderr
    assert report["hits"] == 0 and report["pattern"] == "relative_read_as_pixels"
    assert "0-1000 relative coordinates" in report["diagnosis"] and "qwen3-vl" in report["diagnosis"]


@display
def test_a_malformed_reply_is_a_miss_without_a_point(tmp_path: Path) -> None:
    out, report = calibrate(script(tmp_path, pixels, broken="Violet"))
    assert out.returncode == 1, out.stderr
    assert (report["hits"], report["total"]) == (8, 9)
    violet = next(t for t in report["targets"] if t["label"] == "Violet")
    assert violet["point"] is None and not violet["hit"] and violet["error"].startswith("unusable reply")
    assert "1 of 9 replies gave no usable point" in report["diagnosis"]
    assert "Violet: no point" in out.stderr and "Traceback" not in out.stderr


@display
def test_targets_picks_the_most_spread_first_and_caps_at_nine(tmp_path: Path) -> None:
    path = script(tmp_path, pixels)
    out, report = calibrate(path, "--targets", "3")
    assert out.returncode == 0 and report["total"] == 3
    assert [t["label"] for t in report["targets"]] == list(TARGETS)[:3]
    out, report = calibrate(path, "--targets", "50")
    assert out.returncode == 0 and report["total"] == 9


@display
def test_a_script_shorter_than_the_targets_is_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "short.jsonl"
    path.write_text(json.dumps({"raw": tool_call("left_click", coordinate=list(pixels(100, 100)))}) + "\n")
    out, report = calibrate(path)
    assert out.returncode == 2 and report is None
    assert out.stderr.strip().splitlines()[-1].startswith("error: ") and "ran out" in out.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11: DISPLAY names the display")
def test_no_display_is_a_one_line_error(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    out, report = calibrate(script(tmp_path, pixels), env=env)
    assert out.returncode == 2 and report is None
    assert out.stderr.startswith("error: ") and len(out.stderr.strip().splitlines()) == 1 and "display" in out.stderr

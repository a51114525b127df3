"""What the command line prints is what happened, and nothing more: model and session text never reaches the
terminal raw (escape sequences are shown escaped), and errors are one line, with or without a display."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

DESKPILOT = Path(sys.executable).with_name("deskpilot")
ESCAPES = "\x1b]0;owned-title\x07\x1b[1A\x1b[2Kfake line\x1b]52;c;aGk=\x07"


def deskpilot(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(DESKPILOT), *args], capture_output=True, text=True, timeout=120, env=env or dict(os.environ)
    )


def call(action: str, **arguments: object) -> str:
    body = json.dumps({"name": "computer_use", "arguments": {"action": action, **arguments}})
    return f"<tool_call>\n{body}\n</tool_call>"


@pytest.mark.display
def test_a_hostile_reply_reaches_the_terminal_escaped(tmp_path: Path) -> None:
    """redteam #12: a thought and an answer holding OSC 52 / cursor movement went raw to stderr."""
    script = tmp_path / "script.jsonl"
    replies = [f"{ESCAPES} I will wait.\n" + call("wait", time=0.1), call("answer", text=f"done {ESCAPES}")]
    script.write_text("".join(json.dumps({"raw": raw}) + "\n" for raw in replies))
    out = deskpilot("run", "wait", "--backend", "scripted", "--script", str(script), "--dry-run", "--no-record")
    assert out.returncode == 0, out.stderr
    assert "\x1b" not in out.stderr and "\x07" not in out.stderr and "\x1b" not in out.stdout
    assert "\\x1b]52;c;aGk=\\x07" in out.stderr  # shown, escaped: the person sees what the model wrote


def test_without_a_display_commands_fail_in_one_line(tmp_path: Path) -> None:
    """redteam #22: replay without DISPLAY printed several lines of pynput advice."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    folder = tmp_path / "session"
    folder.mkdir()
    for args in (
        ["act", '{"kind": "click", "x": 1, "y": 1}'],
        ["run", "click Submit", "--no-record"],
        ["replay", str(folder), "--dry-run"],
    ):
        out = deskpilot(*args, env=env)
        lines = out.stderr.strip().splitlines()
        assert out.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), (args, out.stderr)
        assert "Traceback" not in out.stderr


def test_a_bad_change_wait_is_one_line() -> None:
    for value in ("-1", "nan", "31", "soon"):
        out = deskpilot("run", "click Submit", "--change-wait", value, "--no-record")
        lines = out.stderr.strip().splitlines()
        assert out.returncode == 2 and "--change-wait" in lines[-1], (value, out.stderr)


@pytest.mark.display
def test_a_lone_surrogate_in_a_reply_is_said_and_the_run_recorded_whole(tmp_path: Path) -> None:
    """redteam N4, as reproduced: step 2's reply held `\\ud800`; the recording silently stopped there and the
    session listed as interrupted with 1 step while steps 2-4 ran."""
    script = tmp_path / "script_gap.jsonl"
    click = call("left_click", coordinate=[400, 300])
    replies = [click, "ok \ud800 " + click, call("type", text="after the gap"), call("terminate", status="success")]
    script.write_text("".join(json.dumps({"raw": raw}) + "\n" for raw in replies))  # JSON writes "\ud800" escaped
    session = tmp_path / "sess_gap"
    out = deskpilot("run", "t", "--backend", "scripted", "--script", str(script), "--dry-run", "--record", str(session))
    assert out.returncode == 0, out.stderr
    assert "step 2: model replied" in out.stderr and "(1 lone surrogate(s) made U+FFFD)" in out.stderr
    assert "warning" not in out.stderr and "would type 'after the gap'" in out.stderr
    listed = deskpilot("sessions", "--dir", str(tmp_path), "--json")
    assert listed.returncode == 0, listed.stderr
    (entry,) = json.loads(listed.stdout)
    assert entry["outcome"] == "success" and entry["steps"] == 4

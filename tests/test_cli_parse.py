"""`deskpilot parse` as the contract says: JSON for a reply of each family, exit 2 for malformed ones."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPLIES = {
    "qwen-vl": ("<ref>OK</ref><box>(500,500),(500,500)</box>", (960, 540)),
    "qwen2-vl": ("<|object_ref_start|>OK<|object_ref_end|><|box_start|>(500,500),(500,500)<|box_end|>", (960, 540)),
    "qwen2.5-vl": (
        '<tool_call>\n{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [966, 546]}}\n</tool_call>',
        (960, 540),
    ),
    "qwen3-vl": (
        '<tool_call>\n{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [500, 500]}}\n</tool_call>',
        (960, 540),
    ),
    "ui-tars": ("Thought: t\nAction: click(start_box='(500,500)')", (960, 540)),
    "ui-tars-1.5": ("Thought: t\nAction: click(start_box='(966,546)')", (960, 540)),
}


DESKPILOT = Path(sys.executable).with_name("deskpilot")  # the console script, installed beside this Python


def deskpilot(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(DESKPILOT), *args], input=stdin, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("family", sorted(REPLIES))
def test_parse_prints_the_contract_json(family: str) -> None:
    raw, (x, y) = REPLIES[family]
    out = deskpilot("parse", "--family", family, "--screen", "1920x1080", raw)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {
        "thought": json.loads(out.stdout)["thought"],
        "actions": [{"kind": "click", "x": x, "y": y, "button": "left", "count": 1}],
    }


def test_parse_reads_stdin_and_applies_origin_and_scale() -> None:
    raw, _ = REPLIES["qwen3-vl"]
    out = deskpilot(
        "parse", "--family", "qwen3-vl", "--screen", "3840x2160", "--origin=-1920,0", "--scale", "2", stdin=raw
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["actions"][0] == {"kind": "click", "x": -960, "y": 540, "button": "left", "count": 1}


def test_parse_min_max_pixels_override_the_preset() -> None:
    raw = '<tool_call>{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [658, 364]}}</tool_call>'
    out = deskpilot(
        "parse", "--family", "qwen2.5-vl", "--screen", "1920x1080", "--max-pixels", str(1280 * 28 * 28), raw
    )
    assert json.loads(out.stdout)["actions"][0]["x"] == 960


@pytest.mark.parametrize(
    ("args", "stdout_error"),
    [
        (["parse", "--family", "ui-tars", "--screen", "1920x1080", "Action: click(start_box='=')"], True),
        (["parse", "--family", "qwen3-vl", "--screen", "1920x1080", "I have finished."], True),
        (["parse", "--family", "qwen3-vl", "--screen", "1920x1080", ""], True),
        (["parse", "--family", "nope", "--screen", "1920x1080", "x"], False),
        (["parse", "--family", "qwen3-vl", "--screen", "big", "x"], False),
        (["parse", "--family", "qwen3-vl", "--screen", "1920x1080", "--scale", "0", "x"], False),
        (["parse", "--family", "qwen3-vl", "--screen", "1920x1080", "--bogus", "x"], False),
        (["frobnicate"], False),
    ],
)
def test_bad_input_exits_2_with_one_error_line(args: list[str], stdout_error: bool) -> None:
    out = deskpilot(*args)
    assert_one_error_line(out, stdout_error)


def assert_one_error_line(out: subprocess.CompletedProcess[str], stdout_error: bool) -> None:
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    assert "Traceback" not in out.stderr
    if stdout_error:
        assert set(json.loads(out.stdout)) == {"error"}


def test_hostile_replies_on_stdin_are_one_error_line() -> None:
    """redteam #14: 90,000 nested brackets gave `error: RecursionError` and no JSON on stdout."""
    nested = "<tool_call>" + "[" * 90_000
    out = deskpilot("parse", "--family", "qwen2.5-vl", "--screen", "1920x1080", stdin=nested)
    assert_one_error_line(out, stdout_error=True)
    assert "nested too deeply" in out.stderr
    escape = "\x1b]0;owned\x07"  # redteam #12: the quoted reply reaches the terminal escaped
    out = deskpilot("parse", "--family", "qwen3-vl", "--screen", "1920x1080", stdin=f"I am done {escape}")
    assert_one_error_line(out, stdout_error=True)
    assert "\x1b" not in out.stderr and "\x07" not in out.stderr

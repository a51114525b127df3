"""Sessions end to end on Xvfb with the real target window: `deskpilot run --record` against it, then
`deskpilot replay` and the exported pyautogui script on a FRESH instance of it produce the same input events;
a moved target or a stricter policy stop the replay before anything is done; a run killed with SIGKILL
leaves a session that lists and replays up to its last whole step."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.replies import click_reply, finish_reply, type_reply
from tests.helpers.target import Event, TargetWindow

pytestmark = pytest.mark.display
DESKPILOT = Path(sys.executable).with_name("deskpilot")
FAMILY = "qwen2.5-vl"
PLACE = {"x": 140, "y": 110}
KINDS = ("press", "release", "clicked", "text")
WAIT_REPLY = '<tool_call>\n{"name": "computer_use", "arguments": {"action": "wait", "time": 0.2}}\n</tool_call>'
Factory = Callable[..., TargetWindow]


def deskpilot(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(DESKPILOT), *args], capture_output=True, text=True, timeout=timeout)


def inputs(target: TargetWindow, *, until: Callable[[Event], bool] | None = None) -> list[Event]:
    """What the window received, without times and pointer motion (waits for `until` first)."""
    if until is not None:
        target.wait_for(until)
    time.sleep(0.3)  # nothing more is on its way
    return [{k: v for k, v in e.items() if k != "t"} for e in target.events() if e["event"] in KINDS]


def typed(e: Event) -> bool:
    return e["event"] == "text" and e["text"] == "Ada Lovelace"


@dataclass(frozen=True)
class Recording:
    folder: Path
    events: list[Event]
    submit: tuple[int, int]
    submit_rect: tuple[int, int, int, int]


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recording]:
    """`deskpilot run --backend scripted --record DIR`: click Submit, click Name, type, finish."""
    work = tmp_path_factory.mktemp("recording")
    with TargetWindow(log_dir=work, **PLACE) as target:
        submit, name = target.centre("Submit"), target.centre("Name")
        script = work / "script.jsonl"
        replies = [
            click_reply(FAMILY, *submit),
            click_reply(FAMILY, *name),
            type_reply(FAMILY, "Ada Lovelace"),
            finish_reply(FAMILY),
        ]
        script.write_text("".join(json.dumps({"raw": r}) + "\n" for r in replies), encoding="utf-8")
        out = deskpilot(
            "run",
            "fill in the form",
            "--backend",
            "scripted",
            "--script",
            str(script),
            "--family",
            FAMILY,
            "--record",
            str(work / "session"),
        )
        assert out.returncode == 0, out.stderr
        assert f"session: {work / 'session'}" in out.stderr
        events = inputs(target, until=typed)
        rect = target.widgets["Submit"]
    assert [e["event"] for e in events[:3]] == ["press", "release", "clicked"]
    yield Recording(work / "session", events, submit, (rect.x, rect.y, rect.width, rect.height))


def test_replay_on_a_fresh_window_gives_the_same_events(recording: Recording, target_window: Factory) -> None:
    target = target_window(**PLACE)
    out = deskpilot("replay", str(recording.folder), "--speed", "0")
    assert out.returncode == 0, out.stderr
    assert "step 1: did click at" in out.stderr and "finished: replayed 3 step(s), 3 action(s)" in out.stderr
    assert inputs(target, until=typed) == recording.events


def test_the_exported_script_run_by_plain_python_does_the_same(
    recording: Recording, target_window: Factory, tmp_path: Path
) -> None:
    script = tmp_path / "replay_session.py"
    out = deskpilot("export", str(recording.folder), "--format", "python", "-o", str(script))
    assert out.returncode == 0, out.stderr
    source = script.read_text(encoding="utf-8")
    assert "deskpilot" not in "".join(line for line in source.splitlines() if line.startswith(("import", "from")))
    assert "pyautogui.FAILSAFE = True" in source
    target = target_window(**PLACE)
    run = subprocess.run(
        [sys.executable, str(script), "--speed", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": ""},
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0] == f"step 1: click at {recording.submit}"
    assert inputs(target, until=typed) == recording.events


def test_replay_after_the_target_moved_stops_with_a_clear_message(recording: Recording, target_window: Factory) -> None:
    target = target_window(x=PLACE["x"] + 260, y=PLACE["y"] + 170)
    out = deskpilot("replay", str(recording.folder), "--speed", "0")
    assert out.returncode == 1, out.stderr
    x, y = recording.submit
    said = [line for line in out.stderr.strip().splitlines() if not line.startswith("no accessibility bus")]
    plan, error = said  # beside the one notice that elements are judged by pixels alone here
    assert plan == "replay: 3 step(s), 3 action(s)"
    assert error.startswith(
        f"error: step 1: the screen around ({x}, {y}) has changed since the recording (mean difference "
    ) and error.endswith("> 12): what the step aimed at may have moved")
    assert inputs(target) == []


def test_replay_under_a_stricter_policy_refuses_before_anything(
    recording: Recording, target_window: Factory, tmp_path: Path
) -> None:
    x, y, w, h = recording.submit_rect
    policy = tmp_path / "policy.toml"
    region = f'{{x = {x}, y = {y}, width = {w}, height = {h}, name = "Submit"}}'
    policy.write_text(f"[screen]\nforbidden_regions = [{region}]\n", encoding="utf-8")
    text_policy = tmp_path / "text.toml"
    text_policy.write_text('[text]\ndeny = ["lovelace"]\n', encoding="utf-8")
    target = target_window(**PLACE)
    out = deskpilot("replay", str(recording.folder), "--speed", "0", "--policy", str(policy))
    assert out.returncode == 3, out.stderr
    assert "step 1: click at" in out.stderr and "(forbidden_region)" in out.stderr
    assert "nothing was performed" in out.stderr
    out = deskpilot("replay", str(recording.folder), "--speed", "0", "--policy", str(text_policy))
    assert out.returncode == 3 and "step 3: type 'Ada Lovelace'" in out.stderr and "(text_deny)" in out.stderr
    assert inputs(target) == []


def test_corrupt_session_exits_2_and_partial_replays_the_whole_steps(
    recording: Recording, target_window: Factory, tmp_path: Path
) -> None:
    broken = Path(shutil.copytree(recording.folder, tmp_path / "broken"))
    lines = (broken / "steps.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    lines[2] = lines[2][: len(lines[2]) // 2] + "\n"
    (broken / "steps.jsonl").write_text("".join(lines), encoding="utf-8")
    target = target_window(**PLACE)
    out = deskpilot("replay", str(broken), "--speed", "0")
    assert out.returncode == 2 and out.stderr == f"error: {broken / 'steps.jsonl'}:3: not valid JSON\n"
    assert inputs(target) == []
    out = deskpilot("replay", str(broken), "--dry-run", "--partial")
    assert out.returncode == 0, out.stderr
    assert "steps.jsonl:3: not valid JSON; replaying the 2 whole step(s) before it" in out.stderr
    assert out.stderr.count("would click") == 2 and inputs(target) == []
    out = deskpilot(
        "run", "x", "--backend", "scripted", "--script", str(tmp_path / "none.jsonl"), "--record", str(broken)
    )
    assert out.returncode == 2 and "is not empty" in out.stderr


def test_a_killed_run_lists_and_replays_up_to_its_last_whole_step(target_window: Factory, tmp_path: Path) -> None:
    target = target_window(**PLACE)
    canvas = target.widgets["Canvas"]
    replies = []
    for n in range(30):  # clicks on the flat canvas (nothing changes), with waits between
        replies.append(click_reply(FAMILY, canvas.x + 20 + 12 * n, canvas.y + 40 + 5 * n))
        replies.append(WAIT_REPLY)
    script = tmp_path / "long.jsonl"
    script.write_text("".join(json.dumps({"raw": r}) + "\n" for r in replies), encoding="utf-8")
    root = tmp_path / "sessions"
    folder = root / "killed"
    process = subprocess.Popen(
        [
            str(DESKPILOT),
            "run",
            "click around",
            "--backend",
            "scripted",
            "--script",
            str(script),
            "--family",
            FAMILY,
            "--max-steps",
            "60",
            "--record",
            str(folder),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and process.poll() is None:
            steps = folder / "steps.jsonl"
            if steps.exists() and steps.read_bytes().count(b"\n") >= 5:
                break
            time.sleep(0.02)
        assert process.poll() is None, "the run ended before it could be killed"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.wait(10)
    lines = (folder / "steps.jsonl").read_bytes().split(b"\n")
    assert lines[-1] == b"" and all(json.loads(line)["kind"] == "step" for line in lines[:-1])  # whole lines only
    whole = len(lines) - 1

    out = deskpilot("sessions", "--json", "--dir", str(root))
    assert out.returncode == 0, out.stderr
    listed = json.loads(out.stdout)
    assert len(listed) == 1 and listed[0]["outcome"] == "interrupted" and listed[0]["steps"] == whole
    assert listed[0]["error"] is None and listed[0]["task"] == "click around" and listed[0]["folder"] == str(folder)

    clicks = sum(
        1
        for line in lines[:-1]
        if any(a["executed"] and a["executed"]["action"]["kind"] == "click" for a in json.loads(line)["actions"])
    )
    out = deskpilot("replay", str(folder), "--dry-run")
    assert out.returncode == 0, out.stderr
    assert out.stderr.count("would click") == clicks >= 2 and out.stderr.count("would wait") == whole - clicks

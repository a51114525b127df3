"""The loop, the recorder and replay end to end with no display: a fake screen and the dry-run driver are the
only stand-ins (everything between them is the real code a person's run goes through)."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image, ImageDraw

from agent.backends.scripted import ScriptedBackend
from agent.events import ActionExecuted, Event, ParseFailed, RunFinished
from agent.families import get_family, model_input_size
from agent.loop import RunOptions
from agent.session import SessionRecorder, read_session
from agent.session.replay import ReplayFinished, ReplayOptions, replay_session
from sandbox.actions import Click, Type
from sandbox.drivers import DryRunDriver
from sandbox.executor import Executor
from sandbox.policy import Policy, PolicyChecker
from tests.helpers.fake_screen import FakeScreen, run_on_fake_screen

FAMILY = get_family("qwen2.5-vl")
MODEL_W, MODEL_H = model_input_size(FAMILY, 1920, 1080)
FAST = RunOptions(settle_cap_s=0.2, settle_poll_s=0.01, max_failures=2)


def call(action: str, **arguments: object) -> str:
    body = json.dumps({"name": "computer_use", "arguments": {"action": action, **arguments}})
    return f"<tool_call>\n{body}\n</tool_call>"


def click(x: int, y: int) -> str:
    return call("left_click", coordinate=[round(x * MODEL_W / 1920), round(y * MODEL_H / 1080)])


def run(replies: list[str], screen: FakeScreen, folder: Path | None = None) -> tuple[list[Event], DryRunDriver]:
    recorder = SessionRecorder(folder) if folder is not None else None
    try:
        return run_on_fake_screen(
            "fill in the form",
            ScriptedBackend(replies),
            FAMILY,
            screen=screen,
            options=FAST,
            on_event=recorder.handle if recorder is not None else None,
        )
    finally:
        if recorder is not None:
            recorder.close()


def test_a_run_records_and_replays_without_a_display(tmp_path: Path) -> None:
    screen = FakeScreen()
    events, driver = run(
        [click(400, 300), call("type", text="Ada"), call("terminate", status="success")], screen, tmp_path / "session"
    )
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.outcome == "success"
    ran = [e.action for e in events if isinstance(e, ActionExecuted)]
    assert ran[:2] == [Click(400, 300), Type("Ada")]
    assert ("move", 400, 300) in driver.calls and ("type_text", "Ada") in driver.calls
    session = read_session(tmp_path / "session")
    assert session.outcome == "success" and len(session.steps) == 3

    replayed = DryRunDriver()
    executor = Executor(checker=PolicyChecker(Policy()), driver=replayed, screen=screen.geometry, pace=False)
    outcome = list(replay_session(session, executor=executor, capture=screen, options=ReplayOptions(dry_run=True)))
    assert isinstance(outcome[-1], ReplayFinished) and outcome[-1].outcome == "done", outcome[-1]
    assert ("move", 400, 300) in replayed.calls

    changed = screen.image.copy()  # the thing at (400, 300) moved away: replay stops there, clicks nothing
    ImageDraw.Draw(changed).rectangle((330, 230, 470, 370), fill=(255, 0, 255))
    screen.show(changed)
    again = DryRunDriver()
    executor = Executor(checker=PolicyChecker(Policy()), driver=again, screen=screen.geometry, pace=False)
    outcome = list(replay_session(session, executor=executor, capture=screen, options=ReplayOptions(dry_run=True)))
    assert isinstance(outcome[-1], ReplayFinished) and outcome[-1].outcome == "mismatch"
    assert "(400, 300)" in outcome[-1].reason and not again.calls


def test_a_reply_nested_too_deeply_is_one_counted_failure() -> None:
    """redteam #14: 1,200 nested brackets aborted the run (exit 2) instead of counting one unusable reply."""
    nested = "<tool_call>" + "[" * 1200 + "]" * 1200 + "</tool_call>"
    events, driver = run([nested, call("terminate", status="success")], FakeScreen())
    failed = [e for e in events if isinstance(e, ParseFailed)]
    assert len(failed) == 1 and "nested too deeply" in failed[0].error
    assert isinstance(events[-1], RunFinished) and events[-1].outcome == "success"
    assert driver.calls == []


def test_the_model_sees_the_screen_without_deskpilots_own_windows() -> None:
    from sandbox.geometry import Rect

    screen = FakeScreen(image=Image.new("RGB", (1920, 1080), (10, 120, 200)))
    own = Rect(1500, 0, 420, 1080, name="deskpilot")
    shot = screen.grab(0, mask=[own])
    assert shot.image.getpixel((1600, 500)) == (128, 128, 128) and shot.image.getpixel((100, 500)) == (10, 120, 200)


def test_a_point_under_deskpilots_own_window_is_looked_at_again_before_anything_runs() -> None:
    """The window in the way moves first; then the step starts over with a fresh capture and a new reply."""
    from agent.events import ActionDeferred, ScreenCaptured

    screen = FakeScreen()
    asked: list[object] = []

    def make_room(action: object) -> bool:
        asked.append(action)
        return len(asked) == 1  # in the way the first time only: it moved

    replies = [click(1800, 1000), click(1800, 1000), call("terminate", status="success")]
    events, driver = run_on_fake_screen(
        "click the corner", ScriptedBackend(replies), FAMILY, screen=screen, options=FAST, make_room=make_room
    )
    kinds = [type(e).__name__ for e in events]
    deferred = kinds.index("ActionDeferred")
    assert "ActionExecuted" not in kinds[:deferred] and ("move", 1800, 1000) in driver.calls
    assert [type(e).__name__ for e in events[deferred + 1 :]].count("ScreenCaptured") >= 1  # captured again
    first_capture_after = next(i for i, e in enumerate(events) if i > deferred and isinstance(e, ScreenCaptured))
    executed = next(i for i, e in enumerate(events) if isinstance(e, ActionExecuted))
    assert deferred < first_capture_after < executed
    assert isinstance(events[deferred], ActionDeferred) and events[-1].outcome == "success"  # type: ignore[attr-defined]

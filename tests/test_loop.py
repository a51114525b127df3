"""The step loop end to end on a real X display: scripted replies in each family's syntax click and type
where intended on a real window; feedback reaches the model; failures end the run cleanly."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent.backends.base import ModelReply, ModelRequest
from agent.backends.scripted import ScriptedBackend
from agent.events import ActionBlocked, ActionExecuted, Event, ModelReplied, ParseFailed, RunFinished, ScreenCaptured
from agent.families import FAMILIES, Family, PixelBudget, get_family
from agent.loop import Approve, Reject, RunOptions, run_task
from agent.prompts import TextPart
from sandbox.actions import Click
from sandbox.capture import ScreenCapture
from sandbox.drivers import DryRunDriver, make_driver
from sandbox.executor import Executor
from sandbox.policy import Policy, PolicyChecker
from sandbox.stop import StopFlag
from tests.helpers.replies import click_reply, finish_reply, type_reply
from tests.helpers.target import TargetWindow

pytestmark = pytest.mark.display
Factory = Callable[..., TargetWindow]
DESKPILOT = Path(sys.executable).with_name("deskpilot")
SCREEN = (1920, 1080)


@pytest.fixture(scope="module")
def capture() -> Iterator[ScreenCapture]:
    with ScreenCapture() as capture:
        yield capture


def executor(capture: ScreenCapture, driver: object | None = None, policy: Policy | None = None) -> Executor:
    return Executor(
        checker=PolicyChecker(policy or Policy()),
        driver=driver or make_driver("pynput"),  # type: ignore[arg-type]
        screen=capture.geometry,
        stop=StopFlag(),
    )


def run(backend: object, family: str, ex: Executor, capture: ScreenCapture, **options: object) -> list[Event]:
    fast = {"settle_cap_s": 0.3, **options}
    return list(
        run_task(
            "click Submit",
            backend=backend,
            family=get_family(family),
            executor=ex,  # type: ignore[arg-type]
            capture=capture,
            options=RunOptions(**fast),
        )
    )  # type: ignore[arg-type]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_scripted_runs_click_where_intended(family: str, target_window: Factory, capture: ScreenCapture) -> None:
    target = target_window(x=140, y=110)
    x, y = target.centre("Submit")
    replies = [click_reply(family, x, y)]
    if not get_family(family).points_only:  # grounding-only families finish after their one click
        nx, ny = target.centre("Name")
        replies += [click_reply(family, nx, ny), type_reply(family, "Ada Lovelace"), finish_reply(family)]
    events = run(ScriptedBackend(replies), family, executor(capture), capture)
    assert isinstance(events[-1], RunFinished) and events[-1].outcome == "success", events[-1]
    target.wait_for(lambda e: e["event"] == "clicked" and e["clicked"] == "Submit")
    press = target.wait_for(lambda e: e["event"] == "press")
    assert abs(press["x"] - x) <= 1 and abs(press["y"] - y) <= 1  # one model unit of rounding at most
    if not get_family(family).points_only:
        target.wait_for(lambda e: e["event"] == "text" and e["widget"] == "Name" and e["text"] == "Ada Lovelace")


def test_malformed_reply_executes_nothing_and_feeds_back(target_window: Factory, capture: ScreenCapture) -> None:
    target = target_window(x=140, y=110)
    seen: list[ModelRequest] = []

    class Recording:
        name = "recording"

        def load(self, *, progress: object = None) -> None:
            pass

        def fit(self, family: Family, shot: tuple[int, int], budget: PixelBudget, *, stop: StopFlag) -> PixelBudget:
            return budget

        def generate(self, request: ModelRequest, *, stop: StopFlag) -> ModelReply:
            seen.append(request)
            sx, sy = target.centre("Submit")
            return ModelReply(raw=f"I would click Submit at {sx},{sy} and then finish.", elapsed_s=0.0)

        def close(self) -> None:
            pass

    events = run(Recording(), "qwen2.5-vl", executor(capture), capture, max_failures=3)
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.outcome == "error" and "3 unusable replies" in finished.reason
    assert sum(isinstance(e, ParseFailed) for e in events) == 3
    assert not any(isinstance(e, ActionExecuted) for e in events)
    assert not target.events("press")
    last_user = seen[-1].messages[-1]
    assert "could not be used" in "".join(p.text for p in last_user.parts if isinstance(p, TextPart))


def test_denials_go_back_to_the_model_and_repeats_end_the_run(target_window: Factory, capture: ScreenCapture) -> None:
    target_window(x=140, y=110)
    forbidden = '<tool_call>\n{"name": "computer_use", "arguments": {"action": "key", "keys": ["ctrl", "alt", "delete"]}}\n</tool_call>'
    events = run(ScriptedBackend([forbidden] * 3), "qwen2.5-vl", executor(capture, DryRunDriver()), capture)
    assert sum(isinstance(e, ActionBlocked) for e in events) == 3
    assert isinstance(events[-1], RunFinished) and events[-1].outcome == "refused"
    same = click_reply("qwen2.5-vl", 1800, 1000)  # the empty desktop: clicking changes nothing
    events = run(ScriptedBackend([same] * 5), "qwen2.5-vl", executor(capture, DryRunDriver()), capture, max_repeats=2)
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.outcome == "failure" and "stuck" in finished.reason
    assert sum(isinstance(e, ActionExecuted) for e in events) == 1


def test_approve_reject_and_edit(target_window: Factory, capture: ScreenCapture) -> None:
    target = target_window(x=140, y=110)
    sx, sy = target.centre("Submit")
    cx, cy = target.centre("Cancel")
    decisions = [Reject(note="not that one"), Approve(action=Click(cx, cy)), Approve()]
    replies = [click_reply("qwen2.5-vl", sx, sy), click_reply("qwen2.5-vl", sx, sy), finish_reply("qwen2.5-vl")]
    events = list(
        run_task(
            "click",
            backend=ScriptedBackend(replies),
            family=get_family("qwen2.5-vl"),
            executor=executor(capture),
            capture=capture,
            options=RunOptions(settle_cap_s=0.3),
            approve=lambda proposed: decisions.pop(0),
        )
    )
    assert isinstance(events[-1], RunFinished) and events[-1].outcome == "success"
    executed = [e for e in events if isinstance(e, ActionExecuted)]
    assert executed[0].edited and executed[0].action == Click(cx, cy)
    target.wait_for(lambda e: e["event"] == "clicked" and e["clicked"] == "Cancel")
    assert not [e for e in target.events("clicked") if e["clicked"] == "Submit"]


def test_screenshot_and_model_image_are_what_the_family_needs(capture: ScreenCapture) -> None:
    events = run(ScriptedBackend([finish_reply("qwen3-vl")]), "qwen3-vl", executor(capture, DryRunDriver()), capture)
    shot = next(e for e in events if isinstance(e, ScreenCaptured))
    assert shot.screenshot.size == (1920, 1080) and shot.model_image.size == (1920, 1088)
    replied = next(e for e in events if isinstance(e, ModelReplied))
    assert "The screen's resolution is 1000x1000." in replied.messages[0].parts[0].text  # type: ignore[union-attr]


def test_cli_run_malformed_reply_ends_non_zero_without_traceback(tmp_path: Path) -> None:
    script = tmp_path / "script.jsonl"
    script.write_text(
        json.dumps({"raw": "Sure! I clicked it."}) + "\n" + json.dumps({"raw": "<tool_call>{broken"}) + "\n"
    )
    out = subprocess.run(
        [
            str(DESKPILOT),
            "run",
            "click Submit",
            "--backend",
            "scripted",
            "--script",
            str(script),
            "--family",
            "qwen2.5-vl",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1, out.stderr  # the script ran out after two unusable replies
    assert "Traceback" not in out.stderr and "unusable reply" in out.stderr and "did " not in out.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"raw": "x"}\nnot json\n')
    out = subprocess.run(
        [str(DESKPILOT), "run", "t", "--backend", "scripted", "--script", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and out.stderr.startswith("error: ") and f"{bad}:2" in out.stderr

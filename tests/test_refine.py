"""`--refine zoom`: the crop, and the second answer mapped back through the crop's own frame, exactly.

The expected screen points are computed here by hand from the crop's rectangle (not through ModelFrame),
for an absolute and a relative family, on a plain monitor and on a HiDPI monitor left of the primary.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from agent.backends.base import ModelReply, ModelRequest
from agent.backends.scripted import ScriptedBackend
from agent.events import ActionExecuted, PointRefined, RunFinished
from agent.families import get_family, model_input_size
from agent.loop import RunOptions, run_task
from agent.refine import crop_around, magnified
from agent.session.reader import read_session
from agent.session.recorder import SessionRecorder
from sandbox.actions import Click
from sandbox.drivers import DryRunDriver
from sandbox.executor import Executor
from sandbox.geometry import Monitor, ScreenGeometry
from sandbox.policy import Policy, PolicyChecker
from sandbox.stop import StopFlag
from tests.helpers.fake_screen import FakeScreen
from tests.helpers.replies import FINISH, tool_call

TERMINATE = FINISH


def click(x: float, y: float, action: str = "left_click") -> str:
    """A click as the model writes it: (x, y) in the model's own coordinates."""
    return tool_call(action, coordinate=[x, y])


def test_the_crop_is_half_the_picture_centred_and_kept_inside() -> None:
    crop = crop_around((1920, 1080), (1000, 500))
    assert crop.rect == (520, 230, 960, 540) and crop.zoom == 2
    assert crop_around((1920, 1080), (1900, 10)).rect == (960, 0, 960, 540)  # pushed inside at the corner
    assert crop_around((1920, 1080), (0, 1079)).rect == (0, 540, 960, 540)
    assert crop_around((1001, 7), (500, 3)).rect == (250, 1, 501, 4)  # odd sizes round up, never to nothing
    assert crop_around((1, 1), (0, 0)).rect == (0, 0, 1, 1)
    hidpi = crop_around((3840, 2160), (3000, 100), picture_origin=(-1920, 0), picture_scale=2.0)
    assert hidpi.rect == (1920, 0, 1920, 1080)
    assert hidpi.origin == (-1920 + 1920 / 2, 0) and hidpi.scale == 4.0


def test_the_magnified_crop_is_the_region_at_twice_the_size() -> None:
    picture = Image.new("RGB", (40, 20), "white")
    picture.paste((255, 0, 0), (20, 10, 30, 20))  # a red block in the lower right quarter
    crop = crop_around(picture.size, (30, 15))
    assert crop.rect == (20, 10, 20, 10)
    zoomed = magnified(picture, crop)
    assert zoomed.size == (40, 20)
    assert zoomed.getpixel((5, 5)) == (255, 0, 0) and zoomed.getpixel((35, 5)) == (255, 255, 255)


def _run(family: str, replies: list[str], monitor: Monitor, refine: str = "zoom"):  # type: ignore[no-untyped-def]
    screen = FakeScreen(*monitor.physical_size)
    screen.screen = ScreenGeometry((monitor,))
    driver = DryRunDriver()
    executor = Executor(
        checker=PolicyChecker(Policy()), driver=driver, screen=screen.geometry, stop=StopFlag(), pace=False
    )
    backend = RecordingBackend(replies)
    events = list(
        run_task(
            "click Save",
            backend=backend,
            family=get_family(family),
            executor=executor,
            capture=screen,
            options=RunOptions(settle_cap_s=0.1, refine=refine, max_steps=3),
        )
    )
    return events, backend


class RecordingBackend(ScriptedBackend):
    def __init__(self, replies: list[str]) -> None:
        super().__init__(replies)
        self.requests: list[ModelRequest] = []

    def generate(self, request: ModelRequest, *, stop: StopFlag) -> ModelReply:
        self.requests.append(request)
        return super().generate(request, stop=stop)


PLAIN = Monitor(0, 0, 1920, 1080)
HIDPI_LEFT = Monitor(-1920, -200, 1920, 1080, scale=2.0)  # 3840x2160 physical, left of and above the primary


@pytest.mark.parametrize("monitor", [PLAIN, HIDPI_LEFT], ids=["plain", "hidpi-left"])
@pytest.mark.parametrize("family", ["qwen2.5-vl", "qwen3-vl"])
def test_the_second_answer_is_mapped_back_through_the_crop(family: str, monitor: Monitor) -> None:
    fam = get_family(family)
    shot_w, shot_h = monitor.physical_size
    # first answer: the picture point (0.78 w, 0.18 h); second answer: (0.25, 0.75) of the magnified crop
    crop_w, crop_h = -(-shot_w // 2), -(-shot_h // 2)
    first_px = (0.78 * shot_w, 0.18 * shot_h)
    crop_x = min(max(round(first_px[0] - crop_w / 2), 0), shot_w - crop_w)
    crop_y = min(max(round(first_px[1] - crop_h / 2), 0), shot_h - crop_h)
    if fam.coords == "relative":
        first, second = (780, 180), (250, 750)
    else:
        mw, mh = model_input_size(fam, shot_w, shot_h)
        first = (round(0.78 * mw), round(0.18 * mh))
        zw, zh = model_input_size(fam, crop_w * 2, crop_h * 2)  # the magnified crop's model image
        second = (zw / 4, zh * 3 / 4)
    expected_px = (crop_x + crop_w * 0.25, crop_y + crop_h * 0.75)  # in the picture's own pixels
    expected = (
        round(monitor.x + expected_px[0] / monitor.scale),
        round(monitor.y + expected_px[1] / monitor.scale),
    )
    events, backend = _run(family, [click(*first), click(*second), TERMINATE], monitor)
    assert isinstance(events[-1], RunFinished) and events[-1].outcome == "success", events[-1]
    [refined] = [e for e in events if isinstance(e, PointRefined) and e.refined is not None]
    assert refined.crop == (crop_x, crop_y, crop_w, crop_h) and refined.zoom == 2
    executed = [e.action for e in events if isinstance(e, ActionExecuted)]
    assert executed[0] == Click(*expected)
    # the second request saw the magnified crop, prepared at the family's size for it
    assert backend.requests[1].image.size == model_input_size(fam, crop_w * 2, crop_h * 2)
    assert backend.requests[1].step == 1 and backend.requests[2].step == 2


def test_an_unusable_or_different_second_answer_keeps_the_first_point() -> None:
    events, _ = _run("qwen3-vl", [click(500, 500), "I am not sure.", TERMINATE], PLAIN)
    kept = [e for e in events if isinstance(e, PointRefined)]
    assert [e.refined for e in kept] == [None] and "could not be used" in kept[0].reason
    assert [e.action for e in events if isinstance(e, ActionExecuted)][0] == Click(960, 540)

    events, _ = _run("qwen3-vl", [click(500, 500), click(100, 100, "right_click"), TERMINATE], PLAIN)
    [kept_event] = [e for e in events if isinstance(e, PointRefined)]
    assert kept_event.refined is None and "another action" in kept_event.reason
    assert [e.action for e in events if isinstance(e, ActionExecuted)][0] == Click(960, 540)


def test_without_refine_there_is_one_request_per_step() -> None:
    events, backend = _run("qwen3-vl", [click(500, 500), TERMINATE], PLAIN, refine="off")
    assert not [e for e in events if isinstance(e, PointRefined)]
    assert [e.action for e in events if isinstance(e, ActionExecuted)][0] == Click(960, 540)
    assert len(backend.requests) == 2


def test_the_second_look_is_recorded_with_the_step(tmp_path: Path) -> None:
    events, _ = _run("qwen3-vl", [click(500, 500), click(500, 500), TERMINATE], PLAIN)
    recorder = SessionRecorder(tmp_path / "s", run={"refine": "zoom"})
    for event in events:
        recorder.handle(event)
    recorder.close()
    session = read_session(tmp_path / "s")
    [event] = [e for step in session.steps for e in step.events if e.kind == "refined"]
    assert event.reason is not None and "zoomed 2x" in event.reason and "960,540 -> 960,540" in event.reason


def test_run_takes_refine_on_the_command_line(tmp_path: Path) -> None:
    script = tmp_path / "replies.jsonl"
    script.write_text("\n".join(json.dumps(r) for r in [click(500, 500), click(500, 500), TERMINATE]) + "\n")
    deskpilot = Path(sys.executable).with_name("deskpilot")
    out = subprocess.run(
        [str(deskpilot), "run", "click Save", "--backend", "scripted", "--script", str(script)]
        + ["--family", "qwen3-vl", "--refine", "nonsense"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "--refine" in out.stderr

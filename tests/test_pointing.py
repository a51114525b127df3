"""One way to ask "where would you click?" (agent/pointing.py): calibration, evaluation and the run's second look
all ask through `ask_point`, read the reply by its one rule, and agree on a shared case: the same picture and the
same reply give the same point, in each one's own coordinates (a monitor's, an image's, a crop's place)."""

from __future__ import annotations

from typing import Any

import pytest

import agent.calibration
import agent.evaluation.locate
import agent.pointing
import agent.refine
from agent.backends.scripted import ScriptedBackend
from agent.calibration import run_calibration
from agent.evaluation.locate import locate, locate_with_zoom
from agent.events import ActionExecuted, PointRefined
from agent.families import get_family, model_frame
from agent.loop import RunOptions
from agent.pointing import Answer, read_point
from sandbox.actions import Click
from sandbox.geometry import Monitor, Rect, ScreenGeometry
from sandbox.stop import StopFlag
from tests.helpers.desktop_image import desktop_image
from tests.helpers.fake_screen import FakeScreen, run_on_fake_screen
from tests.helpers.replies import FINISH, tool_call

FAMILY = get_family("qwen3-vl")  # 0-1000 relative: the same numbers mean the same place on a picture or a crop
PICTURE = desktop_image(1920, 1080)
REPLY = tool_call("left_click", coordinate=[250, 750])  # a quarter across, three quarters down
AT = (480, 810)  # REPLY on the whole 1920x1080 picture (at 0, 0, scale 1)
FIRST = tool_call("left_click", coordinate=[500, 500])  # the middle: (960, 540)
# REPLY on the 2x-magnified crop around the middle: the crop is 960x540 at (480, 270)
ZOOMED = (480 + 960 // 4, 270 + 540 * 3 // 4)
QUICK_ZOOM = RunOptions(settle_cap_s=0.1, refine="zoom", max_steps=3)


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Answer]]:
    """Every ask_point call, with the module that made it (each caller's own name for the function is spied)."""
    calls: list[tuple[str, Answer]] = []
    for module in (agent.calibration, agent.evaluation.locate, agent.refine):

        def spy(*args: Any, _who: str = module.__name__, **kwargs: Any) -> Answer:
            answer = agent.pointing.ask_point(*args, **kwargs)
            calls.append((_who, answer))
            return answer

        monkeypatch.setattr(module, "ask_point", spy)
    return calls


def _calibrated_point() -> tuple[int, int] | None:
    screen = FakeScreen(image=PICTURE)
    report = run_calibration(
        ScriptedBackend([REPLY]), FAMILY, screen, {"Export": Rect(470, 800, 20, 20)}, stop=StopFlag()
    )
    return report.per_target[0].point


def _run_second_look(screen: FakeScreen) -> list[Any]:
    events, _ = run_on_fake_screen(
        "click Export", ScriptedBackend([FIRST, REPLY, FINISH]), FAMILY, screen=screen, options=QUICK_ZOOM
    )
    return events


def test_calibration_eval_and_the_second_look_ask_through_one_function_and_agree(
    asked: list[tuple[str, Answer]],
) -> None:
    assert _calibrated_point() == AT
    assert locate(ScriptedBackend([REPLY]), FAMILY, PICTURE, "Export", stop=StopFlag()).point == AT
    assert locate_with_zoom(ScriptedBackend([FIRST, REPLY]), FAMILY, PICTURE, "Export", stop=StopFlag()).point == ZOOMED
    events = _run_second_look(FakeScreen(image=PICTURE))
    assert [e.action for e in events if isinstance(e, ActionExecuted)][0] == Click(*ZOOMED)

    callers = [who for who, _ in asked]
    assert callers == [
        "agent.calibration",
        "agent.evaluation.locate",  # locate
        "agent.evaluation.locate",  # locate_with_zoom's first ask
        "agent.refine",  # ... and its second look
        "agent.refine",  # the run's second look
    ]
    shared = [answer for _, answer in asked if answer.reply.raw == REPLY]
    assert [a.point for a in shared] == [AT, AT, ZOOMED, ZOOMED]
    calibration, evaluation, eval_zoom, run_zoom = shared
    assert calibration.frame == evaluation.frame  # a monitor at (0, 0), scale 1, reads as an image's own pixels
    assert eval_zoom.frame == run_zoom.frame  # one crop frame, built in one place
    assert (eval_zoom.frame.origin_x, eval_zoom.frame.origin_y, eval_zoom.frame.scale) == (480, 270, 2)


def test_the_shared_case_on_a_monitor_elsewhere_moves_with_it() -> None:
    """The same picture shown on a HiDPI monitor left of the primary: the point is the same place on it."""
    monitor = Monitor(-960, 100, 960, 540, scale=2.0)
    screen = FakeScreen(image=PICTURE)
    screen.screen = ScreenGeometry((monitor,))
    report = run_calibration(
        ScriptedBackend([REPLY]), FAMILY, screen, {"Export": Rect(-730, 500, 20, 20)}, stop=StopFlag()
    )
    assert report.per_target[0].point == (-960 + AT[0] // 2, 100 + AT[1] // 2)
    events = _run_second_look(screen)
    # the crop's corner (-720, 235) on the screen, at 4 magnified pixels per point: (480, 810) of them -> (120, 202.5)
    assert [e.action for e in events if isinstance(e, ActionExecuted)][0] == Click(-600, 438)


@pytest.mark.parametrize(
    ("raw", "point", "why", "declined"),
    [
        (tool_call("key", keys=["tab"]) + "\n" + FIRST, (960, 540), None, False),  # no point of its own: passed over
        (tool_call("mouse_move", coordinate=[250, 750]) + "\n" + FIRST, AT, None, False),  # a move points too
        (tool_call("scroll", coordinate=[250, 750], pixels=-3) + "\n" + FIRST, AT, None, False),  # a scroll at one
        (tool_call("terminate", status="failure") + "\n" + FIRST, None, "the reply has no click, only: finish", True),
        (tool_call("answer", text="there is none"), None, "the reply has no click, only: finish", True),
        ("I would click it.", None, "unusable reply: ", False),
    ],
)
def test_which_point_counts(raw: str, point: tuple[int, int] | None, why: str | None, declined: bool) -> None:
    reading = read_point(raw, family=FAMILY, frame=model_frame(FAMILY, 1920, 1080))
    assert reading.point == point and reading.declined == declined
    assert reading.why_not is None if why is None else (reading.why_not or "").startswith(why)


def test_a_second_answer_of_another_kind_keeps_the_first_point() -> None:
    """The refine step's own condition (agent.refine.why_first_stands), the same in a run and in an eval."""
    right = tool_call("right_click", coordinate=[250, 750])
    found = locate_with_zoom(ScriptedBackend([FIRST, right]), FAMILY, PICTURE, "Export", stop=StopFlag())
    assert found.point == (960, 540) and found.raw == FIRST
    events, _ = run_on_fake_screen(
        "click Export",
        ScriptedBackend([FIRST, right, FINISH]),
        FAMILY,
        screen=FakeScreen(image=PICTURE),
        options=QUICK_ZOOM,
    )
    [kept] = [e for e in events if isinstance(e, PointRefined)]
    assert kept.refined is None and "another action" in kept.reason
    assert [e.action for e in events if isinstance(e, ActionExecuted)][0] == Click(960, 540)

"""A target under deskpilot's own windows (issue 18 item 3, usertrial-2026-12 trial 4): when the backend misses
its target on a look that those windows masked, they move out of the way before it looks again, and a run that
still gives up says what they covered. No display: a fake screen, and a stand-in for the run panel."""

from __future__ import annotations

from dataclasses import dataclass, field

from PIL import ImageDraw

from agent.backends.base import BaseBackend, Capabilities, ModelReply, ModelRequest, ProgressFn
from agent.events import ActionExecuted, LookedAgain, RunFinished
from agent.families import get_family
from agent.loop import RunOptions
from sandbox.actions import Action, Click
from sandbox.geometry import Rect
from sandbox.stop import StopFlag
from tests.helpers.fake_screen import FakeScreen, run_on_fake_screen
from tests.helpers.replies import FINISH, qwen_click, tool_call

FAMILY = get_family("qwen2.5-vl")
OPTIONS = RunOptions(settle_cap_s=0.5, settle_poll_s=0.01, change_wait_s=3.0)
STILL = RunOptions(settle_cap_s=0.3, settle_poll_s=0.01, change_wait_s=0.4)  # nothing moves: the wait runs out
TARGET_RGB = (250, 120, 0)
TARGET = (1690, 940, 1750, 980)  # under the panel's first place, bottom-right
TARGET_AT = (1720, 960)
PANEL = Rect(1524, 860, 380, 204, name="panel")
ASIDE = Rect(16, 16, 380, 204, name="panel")


def with_target(screen: FakeScreen) -> FakeScreen:
    image = screen.image.copy()
    ImageDraw.Draw(image).rectangle(TARGET, fill=TARGET_RGB)
    screen.show(image)
    return screen


@dataclass
class Panel:
    """deskpilot's run panel as the loop knows it: where it is (`own_windows`) and what moves it (`make_room`)."""

    at: Rect | None = PANEL
    aside: Rect | None = ASIDE  # where stepping aside takes it (None: nowhere better, it stays)
    asked: list[Action | None] = field(default_factory=list)

    def own_windows(self) -> tuple[Rect, ...]:
        return (self.at,) if self.at is not None else ()

    def make_room(self, action: Action | None) -> bool:
        self.asked.append(action)
        if action is None and self.aside is not None and self.at != self.aside:
            self.at = self.aside
            return True
        return False


class LooksForTarget(BaseBackend):
    """Looks for the orange target as the OCR grounder looks for a text: the first miss of a step asks to look
    again, a miss on that second look ends the run with "Could not find"."""

    name = "looks-for-target"
    capabilities = Capabilities(target=None, named_model=False, refines=False)

    def __init__(self) -> None:
        super().__init__()
        self.again: int | None = None  # the step whose reply asked to look again

    @property
    def loaded(self) -> bool:
        return True

    def _load(self, progress: ProgressFn | None) -> None:
        pass

    def close(self) -> None:
        pass

    def _generate(self, request: ModelRequest, stop: StopFlag) -> ModelReply:
        if request.step > 1:
            return ModelReply(raw=FINISH)
        picture = request.image.convert("RGB").resize((1920, 1080))
        pixel = picture.getpixel(TARGET_AT)
        assert isinstance(pixel, tuple)
        if max(abs(a - b) for a, b in zip(pixel, TARGET_RGB, strict=True)) < 40:
            return ModelReply(raw=qwen_click(*TARGET_AT))
        looked, self.again = self.again, request.step
        if looked != request.step:
            wait = tool_call("wait", time=1)
            return ModelReply(raw=f"'Go' is not on the screen yet: looking again.\n{wait}", look_again=True)
        failed = tool_call("terminate", status="failure")
        return ModelReply(raw=f"Could not find 'Go' on the screen.\n{failed}")


def test_a_target_under_deskpilots_panel_is_found_once_the_panel_stepped_aside() -> None:
    panel, screen = Panel(), with_target(FakeScreen())
    events, driver = run_on_fake_screen(
        "click Go",
        LooksForTarget(),
        FAMILY,
        screen=screen,
        options=OPTIONS,
        own_windows=panel.own_windows,
        make_room=panel.make_room,
    )
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.outcome == "success", finished
    assert panel.asked[0] is None and panel.at == ASIDE  # out of the way of everything before the second look
    looked = [e for e in events if isinstance(e, LookedAgain)]
    assert len(looked) == 1 and looked[0].changed  # the panel's move uncovered the screen at once
    clicked = [e.action for e in events if isinstance(e, ActionExecuted)]
    assert clicked and isinstance(clicked[0], Click) and PANEL.contains(clicked[0].x, clicked[0].y)
    assert abs(clicked[0].x - TARGET_AT[0]) <= 2 and abs(clicked[0].y - TARGET_AT[1]) <= 2
    assert "covered" not in finished.reason


def test_a_target_that_is_not_there_fails_naming_what_deskpilot_covered() -> None:
    panel = Panel()
    events, driver = run_on_fake_screen(
        "click Go",
        LooksForTarget(),
        FAMILY,
        options=OPTIONS,
        own_windows=panel.own_windows,
        make_room=panel.make_room,
    )
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.outcome == "failure", finished
    assert panel.asked == [None]  # one step aside, before the second look
    assert finished.reason.endswith("(deskpilot's own windows covered 380x204 px at (16, 16) of the screen)")
    assert not driver.calls


def test_without_a_panel_the_failure_still_names_what_deskpilot_covered() -> None:
    """The command line has no panel to move (no make_room): it looks again as before; deskpilot's windows it
    masks (another deskpilot's, say) are named, cut to the screen."""
    beyond = Rect(1800, 1000, 380, 204, name="beyond the edge")
    events, driver = run_on_fake_screen(
        "click Go", LooksForTarget(), FAMILY, options=STILL, own_windows=lambda: (PANEL, beyond)
    )
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.outcome == "failure", finished
    assert finished.reason.endswith(
        "(deskpilot's own windows covered 380x204 px at (1524, 860) and 120x80 px at (1800, 1000) of the screen)"
    )


def test_nothing_masked_nothing_moves_and_the_failure_is_as_before() -> None:
    panel = Panel(at=None)
    events, driver = run_on_fake_screen(
        "click Go", LooksForTarget(), FAMILY, options=STILL, own_windows=panel.own_windows, make_room=panel.make_room
    )
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.outcome == "failure", finished
    assert panel.asked == [] and finished.reason == "the model gave up"


def test_a_panel_with_nowhere_better_to_go_is_named_where_it_stayed() -> None:
    panel = Panel(aside=None)
    events, driver = run_on_fake_screen(
        "click Go", LooksForTarget(), FAMILY, options=STILL, own_windows=panel.own_windows, make_room=panel.make_room
    )
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.outcome == "failure", finished
    assert panel.asked == [None] and "covered 380x204 px at (1524, 860) of the screen" in finished.reason

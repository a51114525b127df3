"""What an action visibly did, and the look that waits for it (issue 17 items 3 and 4), and reply text that
cannot stop the recording (red team N4). No display: a fake screen, and a driver that plays an app (a click
opens a window a moment later, or does nothing), are the only stand-ins."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from agent.backends.base import BaseBackend, Capabilities, ModelReply, ModelRequest, ProgressFn
from agent.backends.scripted import ScriptedBackend
from agent.effects import NO_EFFECT
from agent.errors import SessionError
from agent.events import (
    ActionExecuted,
    EffectSeen,
    Event,
    LookedAgain,
    ModelReplied,
    RunFinished,
    ScreenCaptured,
    StepStarted,
)
from agent.families import get_family, model_input_size
from agent.loop import RunOptions
from agent.session import SessionRecorder, read_session
from agent.session.report import html_report
from app.event_lines import event_line
from sandbox.actions import Button, Click, Type
from sandbox.drivers import DryRunDriver
from sandbox.stop import StopFlag
from tests.helpers.fake_screen import FakeScreen, run_on_fake_screen

FAMILY = get_family("qwen2.5-vl")
MODEL_W, MODEL_H = model_input_size(FAMILY, 1920, 1080)
OPTIONS = RunOptions(settle_cap_s=0.5, settle_poll_s=0.01, change_wait_s=3.0, max_failures=2)
DIALOG_RGB = (200, 30, 160)
DIALOG = (1200, 600, 1600, 850)  # far from the button at (400, 300): the window opens "elsewhere"
OPENS_AFTER_S = 0.4


def call(action: str, **arguments: object) -> str:
    body = json.dumps({"name": "computer_use", "arguments": {"action": action, **arguments}})
    return f"<tool_call>\n{body}\n</tool_call>"


def click(x: int, y: int) -> str:
    return call("left_click", coordinate=[round(x * MODEL_W / 1920), round(y * MODEL_H / 1080)])


def with_dialog(screen: FakeScreen) -> Image.Image:
    image = screen.image.copy()
    ImageDraw.Draw(image).rectangle(DIALOG, fill=DIALOG_RGB)
    return image


def shows_dialog(image: Image.Image) -> bool:
    return image.getpixel((DIALOG[0] + 50, DIALOG[1] + 50)) == DIALOG_RGB


@dataclass
class AppDriver(DryRunDriver):
    """Performs nothing, as the dry-run driver, but under its own name (so the loop looks for an effect), and
    plays the app: `on_click(x, y)` runs at each click."""

    name: str = "fake app"
    on_click: Callable[[int, int], None] = lambda x, y: None
    timers: list[threading.Timer] = field(default_factory=list)

    def click(self, button: Button) -> None:
        super().click(button)
        self.on_click(*self.pointer)

    def later(self, seconds: float, what: Callable[[], None]) -> None:
        """What a slow app does a moment after the input (a window that opens)."""
        timer = threading.Timer(seconds, what)
        self.timers.append(timer)
        timer.start()


class Asked(ScriptedBackend):
    """The scripted backend, keeping every request it was asked."""

    def __init__(self, replies: list[str]) -> None:
        super().__init__(replies)
        self.requests: list[ModelRequest] = []

    def _generate(self, request: ModelRequest, stop: StopFlag) -> ModelReply:
        self.requests.append(request)
        return super()._generate(request, stop)


def notes(request: ModelRequest) -> str:
    return "".join(getattr(part, "text", "") for message in request.messages for part in message.parts)


def test_a_window_that_opens_late_is_what_the_next_step_sees() -> None:
    screen = FakeScreen()
    driver = AppDriver()
    driver.on_click = lambda x, y: driver.later(OPENS_AFTER_S, lambda: screen.show(with_dialog(screen)))
    events, _ = run_on_fake_screen(
        "open it",
        ScriptedBackend([click(400, 300), call("terminate", status="success")]),
        FAMILY,
        screen=screen,
        options=OPTIONS,
        driver=driver,
    )
    assert isinstance(events[-1], RunFinished) and events[-1].outcome == "success", events[-1]
    captured = [e for e in events if isinstance(e, ScreenCaptured)]
    assert not shows_dialog(captured[0].screenshot) and shows_dialog(captured[1].screenshot)
    effect = next(e for e in events if isinstance(e, EffectSeen))
    assert effect.step == 1 and effect.effect.screen == "elsewhere" and effect.effect.visible


def test_no_visible_effect_is_a_note_to_the_model_not_a_failure(tmp_path: Path) -> None:
    screen = FakeScreen()
    backend = Asked([click(400, 300), call("type", text="Ada"), call("terminate", status="success")])
    recorder = SessionRecorder(tmp_path / "session")
    quick = RunOptions(settle_cap_s=0.2, settle_poll_s=0.01, change_wait_s=0.3)
    try:
        events, driver = run_on_fake_screen(
            "click it", backend, FAMILY, screen=screen, options=quick, driver=AppDriver(), on_event=recorder.handle
        )
    finally:
        recorder.close()
    assert isinstance(events[-1], RunFinished) and events[-1].outcome == "success", events[-1]
    effects = [e for e in events if isinstance(e, EffectSeen)]
    assert [e.step for e in effects] == [1, 2]
    assert [(e.effect.screen, e.effect.focus_moved, e.effect.visible) for e in effects] == [
        ("none", None, False),
        ("none", None, False),
    ]
    assert NO_EFFECT in notes(backend.requests[1]) and backend.requests[1].feedback is None  # told, not a failure
    assert event_line(effects[0]) is not None and "no visible effect" in event_line(effects[0])  # type: ignore[operator]
    session = read_session(tmp_path / "session")
    assert [s.effect.screen if s.effect else None for s in session.steps] == ["none", "none", None]
    assert "no visible effect" in html_report(session)


def test_a_focus_that_moves_is_an_effect() -> None:
    screen = FakeScreen()
    screen.focused = 7

    def focus_the_field(x: int, y: int) -> None:
        screen.focused = 9

    backend = Asked([click(400, 300), call("terminate", status="success")])
    quick = RunOptions(settle_cap_s=0.2, settle_poll_s=0.01, change_wait_s=0.2)
    events, _ = run_on_fake_screen(
        "click it", backend, FAMILY, screen=screen, options=quick, driver=AppDriver(on_click=focus_the_field)
    )
    effect = next(e for e in events if isinstance(e, EffectSeen)).effect
    assert (effect.screen, effect.focus_moved, effect.visible) == ("none", True, True)
    assert NO_EFFECT not in notes(backend.requests[1])


class LooksAgain(BaseBackend):
    """Looks for a window that is not there yet: asks to look again (as the OCR grounder does on a miss), then
    clicks it when the picture shows it. `always`: asks to look again every time."""

    name = "looks-again"
    capabilities = Capabilities(target=None, named_model=False, refines=False)

    def __init__(self, screen: FakeScreen, *, always: bool = False) -> None:
        super().__init__()
        self.screen, self.always = screen, always
        self.asked: list[int] = []  # the step of each request
        self.timer: threading.Timer | None = None

    @property
    def loaded(self) -> bool:
        return True

    def _load(self, progress: ProgressFn | None) -> None:
        pass

    def close(self) -> None:
        pass

    def _generate(self, request: ModelRequest, stop: StopFlag) -> ModelReply:
        self.asked.append(request.step)
        if request.step > 1:
            return ModelReply(raw=call("terminate", status="success"))
        picture = request.image.resize((1920, 1080))
        if self.always or not shows_dialog(picture):
            if self.timer is None:  # the app opens its window a moment after the first look
                self.timer = threading.Timer(OPENS_AFTER_S, lambda: self.screen.show(with_dialog(self.screen)))
                self.timer.start()
            return ModelReply(raw=f"Could not find 'Confirm'.\n{call('terminate', status='failure')}", look_again=True)
        return ModelReply(raw=click(1400, 700))


def test_a_reply_that_asks_to_look_again_waits_for_a_change_and_asks_once_more(tmp_path: Path) -> None:
    screen = FakeScreen()
    backend = LooksAgain(screen)
    recorder = SessionRecorder(tmp_path / "session")
    try:
        events, driver = run_on_fake_screen(
            "click Confirm", backend, FAMILY, screen=screen, options=OPTIONS, on_event=recorder.handle
        )
    finally:
        recorder.close()
    assert isinstance(events[-1], RunFinished) and events[-1].outcome == "success", events[-1]
    assert backend.asked == [1, 1, 2]
    looked = next(e for e in events if isinstance(e, LookedAgain))
    assert looked.step == 1 and looked.changed and "Could not find 'Confirm'" in looked.raw
    assert [e.action for e in events if isinstance(e, ActionExecuted)][0] == Click(1400, 700)
    session = read_session(tmp_path / "session")
    first = session.steps[0]
    assert [e.kind for e in first.events] == ["looked_again"] and "the screen changed" in (first.events[0].reason or "")
    assert shows_dialog(session.image(first.screenshot))  # the record keeps the picture the acted-on reply saw


def test_looking_again_is_once_per_step() -> None:
    screen = FakeScreen()
    backend = LooksAgain(screen, always=True)
    events, driver = run_on_fake_screen(
        "click Confirm", backend, FAMILY, screen=screen, options=OPTIONS.__class__(settle_cap_s=0.2, change_wait_s=1.0)
    )
    assert backend.asked == [1, 1]  # the second answer stands: a terminate failure
    assert isinstance(events[-1], RunFinished) and events[-1].outcome == "failure" and not driver.calls


def test_a_lone_surrogate_in_a_reply_is_repaired_and_the_whole_run_recorded(tmp_path: Path) -> None:
    """Red team N4: step 2's reply held `\\ud800`; the recording stopped there silently, steps 2-4 ran unrecorded
    and the session listed as interrupted with 1 step."""
    replies = [
        click(400, 300),
        "ok \ud800 " + click(500, 300),
        call("type", text="after the gap"),
        call("terminate", status="success"),
    ]
    recorder = SessionRecorder(tmp_path / "session")
    try:
        events, driver = run_on_fake_screen(
            "t", ScriptedBackend(replies), FAMILY, options=OPTIONS, on_event=recorder.handle
        )
    finally:
        recorder.close()
    assert isinstance(events[-1], RunFinished) and events[-1].outcome == "success", events[-1]
    assert Type("after the gap") in [e.action for e in events if isinstance(e, ActionExecuted)]
    replied = [e for e in events if isinstance(e, ModelReplied)]
    assert [e.repaired for e in replied] == [0, 1, 0, 0] and "ok \ufffd " in replied[1].raw
    assert "U+FFFD" in (event_line(replied[1]) or "")
    session = read_session(tmp_path / "session")
    assert session.outcome == "success" and len(session.steps) == 4
    reply = session.steps[1].reply
    assert reply is not None and reply.repaired == 1 and reply.raw.startswith("ok \ufffd ")
    assert [a.executed.action for s in session.steps for a in s.actions if a.executed][2] == Type("after the gap")
    assert "lone surrogate" in html_report(session)


def test_a_recording_that_fails_ends_the_run_at_once_naming_the_file(tmp_path: Path) -> None:
    """Red team N4: a write that failed was said only at the end, and the run went on unrecorded."""
    folder = tmp_path / "session"
    recorder = SessionRecorder(folder)

    def handle(event: Event) -> None:
        recorder.handle(event)
        if isinstance(event, StepStarted) and event.step == 2:  # the disk goes away under the images
            shutil.rmtree(folder / "images")
            (folder / "images").write_text("not a folder")

    replies = [click(400, 300), click(500, 300), call("type", text="never"), call("terminate", status="success")]
    with pytest.raises(SessionError) as failed:
        run_on_fake_screen("t", ScriptedBackend(replies), FAMILY, options=OPTIONS, on_event=handle)
    assert f"{folder / 'images' / '0002-screen.png'}" in str(failed.value)
    recorder.close()  # already said: nothing more is raised
    lines = [json.loads(line) for line in (folder / "steps.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [1]  # nothing after the failure: no end record claims a whole run


def test_the_command_line_ends_a_run_whose_recording_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import contextlib
    from collections.abc import Iterator

    from app import cli
    from app.commands import run as run_command
    from app.desktop import Desktop
    from sandbox.executor import Executor
    from sandbox.policy import Policy, PolicyChecker

    screen = FakeScreen()
    driver = DryRunDriver()

    class Screen(FakeScreen):
        def pointer(self) -> tuple[int, int] | None:  # type: ignore[override]
            return (0, 0)

        def close(self) -> None:
            pass

    @contextlib.contextmanager
    def fake_desktop(options: object, **_: object) -> Iterator[Desktop]:
        stop = StopFlag()
        executor = Executor(
            checker=PolicyChecker(Policy()), driver=driver, screen=screen.geometry, stop=stop, pace=False
        )
        yield Desktop(policy=Policy(), executor=executor, stop=stop, capture=Screen(), isolated=None, own_windows=tuple)

    class Failing(SessionRecorder):
        def handle(self, event: Event) -> None:
            super().handle(event)
            if isinstance(event, StepStarted) and event.step == 2:
                shutil.rmtree(self.folder / "images")
                (self.folder / "images").write_text("not a folder")

    script = tmp_path / "script.jsonl"
    replies = [click(400, 300), click(500, 300), call("type", text="never"), call("terminate", status="success")]
    script.write_text("".join(json.dumps({"raw": r}) + "\n" for r in replies))
    monkeypatch.setattr(run_command, "open_desktop", fake_desktop)
    monkeypatch.setattr(run_command, "SessionRecorder", Failing)
    folder = tmp_path / "session"
    code = cli.main(["run", "t", "--backend", "scripted", "--script", str(script), "--record", str(folder)])
    err = capsys.readouterr().err
    assert code == 2, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: recording the session failed writing ") and "0002-screen.png" in last, err
    assert f"session: {folder}" in err and "did type" not in err
    assert not any(call[0] == "type_text" for call in driver.calls)


def test_sessions_recorded_before_the_effect_still_read(tmp_path: Path) -> None:
    folder = tmp_path / "session"
    recorder = SessionRecorder(folder)
    quick = RunOptions(settle_cap_s=0.2, settle_poll_s=0.01, change_wait_s=0.1)
    try:
        run_on_fake_screen(
            "t",
            ScriptedBackend([click(400, 300), call("terminate", status="success")]),
            FAMILY,
            options=quick,
            driver=AppDriver(),
            on_event=recorder.handle,
        )
    finally:
        recorder.close()
    steps = folder / "steps.jsonl"
    lines = [json.loads(line) for line in steps.read_text().splitlines()]
    assert lines[0]["effect"]["screen"] == "none" and lines[0]["reply"]["repaired"] == 0
    for line in lines[:-1]:  # as an older deskpilot wrote them
        del line["effect"], line["reply"]["repaired"]
    steps.write_text("".join(json.dumps(line) + "\n" for line in lines))
    session = read_session(folder)
    assert [s.effect for s in session.steps] == [None, None]
    assert [s.reply.repaired for s in session.steps if s.reply] == [0, 0]

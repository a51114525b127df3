"""Runs beside the person's apps, on Xvfb with a real target app: the main window steps aside, the run panel
never takes the keyboard focus, the on-screen preview is gone before anything moves, deskpilot never appears
in what the model sees, and a target under the panel is looked at again after the panel moved (also when the
OCR grounder could not find it under the panel: issue 18 item 3)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QRect
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from agent.events import (
    ActionBlocked,
    ActionDeferred,
    ActionExecuted,
    ActionRejected,
    LookedAgain,
    RunFinished,
    ScreenCaptured,
)
from agent.families import get_family, model_input_size
from agent.session import read_session
from app.gui.main_window import MainWindow
from app.gui.preview import VERDICT_COLOURS
from app.gui.run.placement import place
from app.gui.worker import RunRequest
from sandbox.actions import Click, Finish
from sandbox.capture import MASK_RGB
from sandbox.geometry import Rect
from tests.helpers.gui_window import scripted_windows
from tests.helpers.replies import FINISH, qwen_click, tool_call
from tests.helpers.target import TargetWindow

pytestmark = pytest.mark.display
Factory = Callable[..., TargetWindow]
MODEL_W, MODEL_H = model_input_size(get_family("qwen2.5-vl"), 1920, 1080)
RUN_TIMEOUT_MS = 60_000
PANEL_RGB = (0x20, 0x24, 0x2B)
TK_GO = Path(__file__).parent / "helpers" / "tk_go.py"


def x_focus_pid() -> int | None:
    """The pid of the client that has the keyboard focus (xdotool), None when it cannot be told."""
    window = subprocess.run(["xdotool", "getwindowfocus"], capture_output=True, text=True, timeout=10).stdout.strip()
    out = subprocess.run(["xdotool", "getwindowpid", window], capture_output=True, text=True, timeout=10)
    return int(out.stdout) if out.returncode == 0 and out.stdout.strip() else None


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path


@pytest.fixture
def window_for(qtbot: QtBot, config: Path) -> Iterator[Callable[..., MainWindow]]:
    base = {"mode": "auto", "countdown_s": 0.6, "recording_dir": str(config / "sessions")}
    with scripted_windows(qtbot, config, base, place) as make:  # where deskpilot's window opens by itself
        yield make


def app_over_the_window(target_window: Factory, window: MainWindow) -> TargetWindow:
    """A real app placed where deskpilot's window opened, above it (started after it: it is on top)."""
    g = window.frameGeometry()
    target = target_window(x=g.x() - 200, y=g.y() + 40, width=900, height=650)
    assert QRect(target.window.x, target.window.y, 900, 650).intersects(g)
    return target


def run(qtbot: QtBot, window: MainWindow, task: str, *, approve: Callable[[], None] | None = None) -> list[object]:
    events: list[object] = []
    window.runs.run_event.connect(events.append)
    with qtbot.waitSignal(window.run_finished, timeout=RUN_TIMEOUT_MS):
        window.task_edit.setText(task)
        window.start_run()
        assert not window.isVisible() and window.run_mode.panel.isVisible()  # the window stepped aside
        if approve is not None:
            while window.runs.running:
                qtbot.waitUntil(
                    lambda: window.run_mode.panel.approve_button.isEnabled() or not window.runs.running,
                    timeout=RUN_TIMEOUT_MS,
                )
                if window.runs.running:
                    approve()
    assert window.isVisible() and not window.run_mode.panel.isVisible()  # back, with the timeline
    return events


def test_auto_mode_acts_on_an_app_lying_over_deskpilots_window(
    qtbot: QtBot, window_for: Callable[..., MainWindow], target_window: Factory, config: Path
) -> None:
    window = window_for([])
    target = app_over_the_window(target_window, window)
    name, submit = target.centre("Name"), target.centre("Submit")
    window.close()
    window = window_for([qwen_click(*name), tool_call("type", text="Ada"), qwen_click(*submit), FINISH])
    subprocess.run(["xdotool", "search", "--pid", str(target.pid), "windowraise"], timeout=10)
    focus_before = x_focus_pid()
    panel_at: dict[int, QRect] = {}  # where the panel was when each step's screen was captured

    def note_panel(event: object) -> None:
        if isinstance(event, ScreenCaptured):
            panel_at[event.step] = window.run_mode.panel.frameGeometry()

    window.runs.run_event.connect(note_panel)
    events = run(qtbot, window, "type Ada into Name and submit")
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.outcome == "success", finished
    target.wait_for(lambda e: e["event"] == "text" and e["widget"] == "Name" and e["text"] == "Ada")
    target.wait_for(lambda e: e["event"] == "clicked" and e["clicked"] == "Submit")
    assert not [e for e in events if isinstance(e, ActionBlocked)]  # nothing refused as own_window
    if focus_before == target.pid:
        assert x_focus_pid() == target.pid  # deskpilot never took the keyboard
    session = read_session(next((config / "sessions").iterdir()))
    executed = [e.action for e in events if isinstance(e, ActionExecuted)]
    for number, step in enumerate(session.steps, start=1):
        shot = session.image(step.screenshot)
        place_now = panel_at[step.step]
        centre = (place_now.center().x(), place_now.center().y())
        assert shot.getpixel(centre) == MASK_RGB, f"step {number}"  # the panel is greyed out, never shown
        assert PANEL_RGB not in {
            shot.getpixel((x, y))
            for x in range(place_now.x(), place_now.right(), 7)
            for y in range(place_now.y(), place_now.bottom(), 7)
        }
        for action in executed[: number - 1]:  # where the preview was drawn before: only the app's pixels
            x, y = getattr(action, "x", None), getattr(action, "y", None)
            if x is None or y is None:
                continue
            colour = VERDICT_COLOURS["allow"].getRgb()[:3]
            ring = {shot.getpixel((x + dx, y + dy)) for dx in range(-30, 31, 3) for dy in range(-30, 31, 3)}
            assert colour not in ring, f"step {number}: the overlay's colour near {(x, y)}"


def test_approving_on_the_panel_leaves_the_keyboard_with_the_app(
    qtbot: QtBot, window_for: Callable[..., MainWindow], target_window: Factory
) -> None:
    window = window_for([])
    target = app_over_the_window(target_window, window)
    name, submit = target.centre("Name"), target.centre("Submit")
    window.close()
    window = window_for(
        [qwen_click(*name), tool_call("type", text="Lovelace"), qwen_click(*submit), FINISH], mode="approve"
    )
    subprocess.run(["xdotool", "search", "--pid", str(target.pid), "windowraise"], timeout=10)
    target.wait_for(lambda e: e["event"] == "focus" and e["widget"] == "Name", timeout=10)
    assert x_focus_pid() == target.pid
    focus_after_approvals: list[int | None] = []

    def approve() -> None:
        button = window.run_mode.panel.approve_button
        centre = button.mapToGlobal(button.rect().center())
        subprocess.run(["xdotool", "mousemove", str(centre.x()), str(centre.y()), "click", "1"], timeout=10)
        qtbot.waitUntil(lambda: not button.isEnabled(), timeout=10_000)
        focus_after_approvals.append(x_focus_pid())

    events = run(qtbot, window, "type Lovelace into Name and submit", approve=approve)
    assert isinstance(events[-1], RunFinished) and events[-1].outcome == "success", events[-1]
    assert len(focus_after_approvals) == 3 and set(focus_after_approvals) == {target.pid}
    target.wait_for(lambda e: e["event"] == "text" and e["widget"] == "Name" and e["text"] == "Lovelace")


def test_a_target_under_the_panel_moves_it_and_is_looked_at_again(
    qtbot: QtBot, window_for: Callable[..., MainWindow], target_window: Factory
) -> None:
    window = window_for([])
    panel = window.run_mode.panel
    screen = window.screen().geometry()
    under = (screen.right() - 16 - panel.width() // 2, screen.bottom() - 16 - panel.height() // 2)
    # the app fills the screen: every corner covers it alike, so the panel starts bottom-right, over the target
    target = target_window(x=screen.x(), y=screen.y(), width=screen.width(), height=screen.height())
    window.close()
    window = window_for([qwen_click(*under), qwen_click(*under), FINISH])
    panel = window.run_mode.panel
    places: list[tuple[int, int]] = []
    window.runs.run_event.connect(lambda e: places.append((panel.x(), panel.y())))
    events = run(qtbot, window, "click the corner")
    kinds = [type(e).__name__ for e in events]
    deferred = kinds.index("ActionDeferred")
    recaptured = kinds.index("ScreenCaptured", deferred)
    executed = kinds.index("ActionExecuted")
    assert deferred < recaptured < executed  # moved, looked again, then clicked
    assert isinstance(events[deferred], ActionDeferred)
    assert places[0] != places[-1]  # the panel moved away from the corner
    assert not QRect(*places[-1], panel.width(), panel.height()).contains(*under)
    assert isinstance(events[-1], RunFinished) and events[-1].outcome == "success"
    time.sleep(0.2)
    assert target.events("press")  # the click reached the app under where the panel had been


def test_a_note_for_the_model_takes_the_keyboard_only_while_it_is_typed(
    qtbot: QtBot, window_for: Callable[..., MainWindow], target_window: Factory
) -> None:
    window = window_for([])
    target = app_over_the_window(target_window, window)
    cancel, submit = target.centre("Cancel"), target.centre("Submit")
    window.close()
    window = window_for([qwen_click(*cancel), qwen_click(*submit), FINISH], mode="approve")
    target.wait_for(lambda e: e["event"] == "focus" and e["widget"] == "Name", timeout=10)
    panel = window.run_mode.panel
    events: list[object] = []
    window.runs.run_event.connect(events.append)
    answered: list[str] = []

    def press(button: QWidget) -> None:
        centre = button.mapToGlobal(button.rect().center())
        subprocess.run(["xdotool", "mousemove", str(centre.x()), str(centre.y()), "click", "1"], timeout=10)

    with qtbot.waitSignal(window.run_finished, timeout=RUN_TIMEOUT_MS):
        window.task_edit.setText("press Submit")
        window.start_run()
        while window.runs.running:
            qtbot.waitUntil(lambda: panel.approve_button.isEnabled() or not window.runs.running, timeout=RUN_TIMEOUT_MS)
            if not window.runs.running:
                break
            if not answered:  # the first proposal (Cancel) is rejected with a note
                press(panel.note_button)
                qtbot.waitUntil(lambda: panel.note_box.isVisible(), timeout=10_000)
                qtbot.waitUntil(lambda: panel.note_box.edit.hasFocus(), timeout=10_000)
                subprocess.run(["xdotool", "type", "--delay", "20", "not Cancel, Submit"], timeout=20)
                subprocess.run(["xdotool", "key", "Return"], timeout=10)
                qtbot.waitUntil(lambda: not panel.note_box.isVisible(), timeout=10_000)
                answered.append("note")
                qtbot.waitUntil(lambda: x_focus_pid() == target.pid, timeout=10_000)  # the keyboard went back
            else:
                press(panel.approve_button)
                qtbot.waitUntil(lambda: not panel.approve_button.isEnabled(), timeout=10_000)
                answered.append("approve")
    rejected = [e for e in events if isinstance(e, ActionRejected)]
    assert len(rejected) == 1 and rejected[0].note == "not Cancel, Submit"
    assert not [e for e in target.events("clicked") if e["clicked"] == "Cancel"]
    target.wait_for(lambda e: e["event"] == "clicked" and e["clicked"] == "Submit")
    assert not [e for e in target.events("text") if "Submit" in e.get("text", "")]  # the note went to deskpilot


def test_the_panel_starts_where_it_hides_no_app(
    qtbot: QtBot, window_for: Callable[..., MainWindow], target_window: Factory
) -> None:
    """usertrial-2026-12 trial 4: the panel sat bottom-right on the app there, which the model then never saw."""
    window = window_for([FINISH])
    screen = window.screen().geometry()
    target = target_window(x=screen.right() - 700, y=screen.bottom() - 500, width=690, height=490)
    app = QRect(target.window.x, target.window.y, target.window.width, target.window.height)
    seen: list[QRect] = []

    def note_panel(event: object) -> None:
        if isinstance(event, ScreenCaptured):
            seen.append(window.run_mode.panel.frameGeometry())

    window.runs.run_event.connect(note_panel)
    events = run(qtbot, window, "look")
    assert isinstance(events[-1], RunFinished) and seen
    assert not seen[0].intersects(app), (seen[0], app)  # a corner over bare desktop, not the app's


def test_stepping_aside_uncovers_the_apps_and_says_what_was_masked(
    qtbot: QtBot, window_for: Callable[..., MainWindow], target_window: Factory
) -> None:
    """What the run calls when its target was not found while deskpilot's windows masked part of the screen."""
    window = window_for([])
    screen = window.screen().geometry()
    target = target_window(x=screen.right() - 700, y=screen.bottom() - 500, width=690, height=490)
    app = QRect(target.window.x, target.window.y, target.window.width, target.window.height)
    panel = window.run_mode.panel
    panel.start("click Go", 5)
    panel.move(screen.right() - 16 - panel.width(), screen.bottom() - 16 - panel.height())  # over the app
    panel.show_passively()
    window.own_windows.update()
    aside = window.run_mode.step_aside()
    assert aside.moved and not window.isVisible()  # the main window went too
    assert any(QRect(r.x, r.y, r.width, r.height).intersects(app) for r in aside.masked)
    assert not any(QRect(r.x, r.y, r.width, r.height).intersects(app) for r in aside.masked_now), aside
    assert not panel.frameGeometry().intersects(app)
    again = window.run_mode.step_aside()  # nowhere better to go: nothing moves, nothing to read again
    assert not again.moved and again.masked == aside.masked_now
    assert window.run_mode.make_room(None) is False
    panel.hide()


@pytest.fixture
def app_in_the_corner() -> Iterator[tuple[subprocess.Popen[str], Rect]]:
    """A small Tk app at the screen's bottom-right, where the run panel's first corner is; its button "Launch"
    (screen px) is yielded with the app, whose stdout says each press."""
    app = subprocess.Popen([sys.executable, str(TK_GO), "--x", "1640", "--y", "900", "--text", "Launch"],
                           stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert app.stdout is not None
        ready = json.loads(app.stdout.readline())
        yield app, Rect(*ready["go"])
    finally:
        app.terminate()
        app.wait(timeout=30)


def panel_over(monkeypatch: pytest.MonkeyPatch, window: MainWindow, button: Rect) -> list[list[Rect]]:
    """The panel's first place forced over `button` (the usertrial-2026-12 trial 4 case, whatever the placement
    would choose); returns what deskpilot's windows masked at each look, filled in as the run goes."""
    mode, begin = window.run_mode, window.run_mode.begin
    masked: list[list[Rect]] = []

    def begin_over_the_button(request: RunRequest) -> None:
        begin(request)
        screen = window.screen().geometry()
        mode.panel.move(screen.right() - 16 - mode.panel.width(), screen.bottom() - 16 - mode.panel.height())
        window.own_windows.update()
        assert mode.panel.frameGeometry().contains(button.x + button.width // 2, button.y + button.height // 2)

    def note_mask(event: object) -> None:
        if isinstance(event, ScreenCaptured):  # handled before the run's next call to move the panel (both are
            # queued to this thread in order): the panel is where that look saw it
            masked.append(window.own_windows.masked())

    monkeypatch.setattr(mode, "begin", begin_over_the_button)
    window.runs.run_event.connect(note_mask)
    return masked


def test_a_target_under_the_panel_when_the_run_starts_is_found_after_it_steps_aside(
    qtbot: QtBot,
    window_for: Callable[..., MainWindow],
    target_window: Factory,
    app_in_the_corner: tuple[subprocess.Popen[str], Rect],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """usertrial-2026-12 trial 4: the OCR grounder's target lay under the panel, greyed out of every look."""
    other = target_window(x=100, y=100, width=1000, height=700)  # the desktop is not bare (issue 18 item 1)
    app, button = app_in_the_corner
    window = window_for([], backend="ocr")
    masked = panel_over(monkeypatch, window, button)
    events = run(qtbot, window, "click Launch")
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.outcome == "success", finished
    assert any(r.contains(button.x + 5, button.y + 5) for r in masked[0])  # the first look could not see it
    assert not any(r.contains(button.x + 5, button.y + 5) for r in masked[1])  # the second could: it stepped aside
    assert [e.step for e in events if isinstance(e, LookedAgain)] == [1]
    clicks = [e.action for e in events if isinstance(e, ActionExecuted) and isinstance(e.action, Click)]
    assert len(clicks) == 1 and button.contains(clicks[0].x, clicks[0].y), clicks
    app.terminate()
    logged, _ = app.communicate(timeout=30)
    assert [json.loads(line) for line in logged.splitlines()] == [{"event": "clicked"}]
    assert not other.events("press")


def test_a_target_that_is_not_there_ends_the_run_naming_what_the_panel_covered(
    qtbot: QtBot,
    window_for: Callable[..., MainWindow],
    target_window: Factory,
    app_in_the_corner: tuple[subprocess.Popen[str], Rect],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target_window(x=100, y=100, width=1000, height=700)
    app, button = app_in_the_corner
    window = window_for([], backend="ocr")
    masked = panel_over(monkeypatch, window, button)
    events = run(qtbot, window, "click Frobnicate")
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.outcome == "failure", finished
    assert len(masked) == 2 and any(r.contains(button.x + 5, button.y + 5) for r in masked[0])
    assert masked[1] != masked[0]  # the panel stepped aside before the second look
    areas = " and ".join(f"{r.width}x{r.height} px at ({r.x}, {r.y})" for r in masked[-1])
    assert finished.reason.endswith(f"(deskpilot's own windows covered {areas} of the screen)"), finished.reason
    assert [e.action for e in events if isinstance(e, ActionExecuted)] == [Finish(status="failure")]  # no click

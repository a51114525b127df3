"""The window on a desktop it cannot act on: the refusal where Run is, and Help > Desktop check showing what
`deskpilot doctor` says. The refusal is forced as a person would meet it: a session that says Wayland, whose
compositor is gone (a dead socket), with the test's Xvfb left in $DISPLAY as XWayland's stand-in."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from app.gui.main_window import MainWindow
from tests.helpers.cli import DESKPILOT
from tests.helpers.gui_window import scripted_windows

pytestmark = pytest.mark.display
CHECK_TIMEOUT_MS = 60_000  # doctor imports torch where it is installed


@pytest.fixture
def make_window(qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., MainWindow]]:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    with scripted_windows(qtbot, tmp_path, {"record": False}, lambda w: w.setGeometry(100, 60, 1100, 700)) as make:
        yield make


@pytest.fixture
def dead_wayland(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    for name in ("SWAYSOCK", "HYPRLAND_INSTANCE_SIGNATURE", "XDG_CURRENT_DESKTOP", "DBUS_SESSION_BUS_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-deskpilot-gone")
    monkeypatch.setenv("XDG_SESSION_TYPE", "wayland")
    return dict(os.environ)


def test_a_desktop_with_no_route_shows_the_refusal_where_run_is(
    qtbot: QtBot, make_window: Callable[..., MainWindow], dead_wayland: dict[str, str]
) -> None:
    window = make_window([])
    qtbot.waitUntil(lambda: window.route_known, timeout=CHECK_TIMEOUT_MS)
    assert window.refusal_label.isVisible() and not window.run_button.isVisible()
    assert not window.run_button.isEnabled()
    said = window.refusal_label.text()
    assert said.startswith("Wayland: deskpilot cannot act here: no screen capture route")
    assert "`deskpilot doctor`" in said and said.endswith("(Help > Desktop check)")
    window.task_edit.setText("click OK")
    window.start_run()  # Enter in the task field: nothing starts, the refusal is said
    assert window.worker is None
    assert window.refusal is not None and window.refusal in window.action_label.text()


def test_help_desktop_check_shows_what_doctor_says(
    qtbot: QtBot, make_window: Callable[..., MainWindow], dead_wayland: dict[str, str]
) -> None:
    window = make_window([])
    assert [action.text() for action in window.menuBar().actions()] == ["&Help"]
    dialog = window.open_desktop_check()
    assert "Checking this desktop" in dialog.summary.text()  # the window answers while doctor works
    qtbot.waitUntil(lambda: dialog.report is not None, timeout=CHECK_TIMEOUT_MS)
    doctor = subprocess.run([str(DESKPILOT), "doctor"], env=dead_wayland, capture_output=True, text=True, timeout=120)
    assert doctor.returncode == 1
    shown = dialog.text.toPlainText().splitlines()
    assert shown == doctor.stdout.strip().splitlines()
    assert shown[0] == "session: wayland" and "NOT READY: a run would refuse here" in shown
    assert dialog.summary.text() == "Not ready: a run would refuse here."
    dialog.close()


def test_on_x11_run_is_offered_as_before(qtbot: QtBot, make_window: Callable[..., MainWindow]) -> None:
    window = make_window([])
    qtbot.waitUntil(lambda: window.route_known, timeout=CHECK_TIMEOUT_MS)
    assert window.refusal is None
    assert window.run_button.isVisible() and window.run_button.isEnabled()
    assert not window.refusal_label.isVisible()

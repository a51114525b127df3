"""Wayland: deskpilot knows where it is, acts on a wlroots compositor, refuses where it cannot, stops on command.

Real headless compositors (tests/helpers/wayland.py): Sway for the wlroots route with native Wayland GTK3 apps,
Weston for the refusal. The pytest-xvfb display stays in $DISPLAY where a test says so: it plays XWayland, which
must never be taken for the desktop.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.cli import DESKPILOT
from tests.helpers.wayland import Compositor, CompositorUnavailable, headless_sway, headless_weston

HELPERS = Path(__file__).parent / "helpers"
SYSTEM_PYTHON = "/usr/bin/python3"
SIZE = (1152, 720)  # not a default size: the screenshot must have the output's real one
APP_TIMEOUT_S = 30.0


@pytest.fixture
def sway() -> Iterator[Compositor]:
    try:
        with headless_sway(*SIZE) as compositor:
            yield compositor
    except CompositorUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture
def weston() -> Iterator[Compositor]:
    try:
        with headless_weston() as compositor:
            yield compositor
    except CompositorUnavailable as exc:
        pytest.skip(str(exc))


def deskpilot(
    compositor: Compositor, *args: str, xwayland: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """The command in the compositor's session; with `xwayland`, the test's X display stands in as XWayland."""
    env = compositor.env
    if xwayland and os.environ.get("DISPLAY"):
        env["DISPLAY"] = os.environ["DISPLAY"]
    return subprocess.run([str(DESKPILOT), *args], env=env, capture_output=True, text=True, timeout=timeout)


def read_line(app: subprocess.Popen[str], timeout_s: float = APP_TIMEOUT_S) -> str:
    assert app.stdout is not None
    ready, _, _ = select.select([app.stdout], [], [], timeout_s)
    assert ready, "the app said nothing"
    return app.stdout.readline().strip()


def test_doctor_on_sway_says_wayland_sway_ready_and_never_takes_xwayland(sway: Compositor) -> None:
    done = deskpilot(sway, "doctor", "--json")
    report = json.loads(done.stdout)
    assert done.returncode == 0, done.stderr
    assert (report["session"], report["compositor"], report["ready"]) == ("wayland", "sway", True)
    assert report["route"] == "wlroots"
    assert report["capture"] == {"route": "grim", "ok": True, "why": None}
    assert report["input"]["ok"] and report["input"]["route"] == "virtual-pointer+virtual-keyboard"
    assert report["stop_key"]["route"] == "deskpilot stop" and report["stop_key"]["ok"]
    assert [(m["width"], m["height"], m["scale"]) for m in report["monitors"]] == [(*SIZE, 1.0)]
    assert any("deskpilot stop" in step for step in report["next_steps"])


def test_act_clicks_a_button_of_a_native_wayland_app(sway: Compositor) -> None:
    app = sway.launch([SYSTEM_PYTHON, str(HELPERS / "wayland_button.py")])
    assert json.loads(read_line(app)) == {"event": "ready"}
    sway.wait_for_window("wayland_button.py")
    done = deskpilot(sway, "act", json.dumps({"kind": "click", "x": SIZE[0] // 2, "y": SIZE[1] // 2}))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["executed"] is True
    assert json.loads(read_line(app)) == {"event": "clicked"}


def test_run_fills_a_zenity_form_on_sway(sway: Compositor) -> None:
    form = sway.launch(["zenity", "--forms", "--add-entry=First name", "--add-entry=Last name"])
    sway.wait_for_window("zenity")
    task = 'type "Ada" into First name then type "Lovelace" into Last name then click OK'
    done = deskpilot(sway, "run", task, "--backend", "ocr", "--yes", "--no-record")
    assert done.returncode == 0, done.stderr
    assert read_line(form) == "Ada|Lovelace"  # zenity 3.44 (Debian 12) ends the line without a "|"


def test_the_screenshot_has_the_outputs_real_size(sway: Compositor, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.desktop import desktop_route

    for name, value in sway.env.items():
        monkeypatch.setenv(name, value)
    route = desktop_route()
    assert route.name == "wlroots"
    capture = route.capture()
    try:
        shot = capture.grab(0)
    finally:
        capture.close()
    assert shot.image.size == SIZE
    assert (shot.monitor.width, shot.monitor.height, shot.monitor.scale) == (*SIZE, 1.0)


def test_deskpilot_stop_ends_a_run_on_wayland(sway: Compositor) -> None:
    env = sway.env
    waiting = subprocess.Popen(
        [str(DESKPILOT), "act", json.dumps({"kind": "wait", "seconds": 120})],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    runs = sway.runtime / "deskpilot"
    deadline = time.monotonic() + APP_TIMEOUT_S
    while not list(runs.glob("*.sock")) and time.monotonic() < deadline:
        time.sleep(0.05)  # the run is starting: its socket appears once it listens
    stopped = subprocess.run([str(DESKPILOT), "stop"], env=env, capture_output=True, text=True, timeout=30)
    assert (stopped.returncode, stopped.stdout.strip()) == (0, "stopped 1 run(s)")
    _, err = waiting.communicate(timeout=30)
    assert waiting.returncode == 3
    assert "stopped by `deskpilot stop`" in err
    again = subprocess.run([str(DESKPILOT), "stop"], env=env, capture_output=True, text=True, timeout=30)
    assert (again.returncode, again.stdout.strip()) == (1, "no run of yours was running")
    assert not list(runs.glob("*.sock"))


def test_weston_refuses_before_acting_in_one_line_and_doctor_says_why(weston: Compositor) -> None:
    done = deskpilot(weston, "act", json.dumps({"kind": "click", "x": 10, "y": 10}))
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: Wayland (weston): deskpilot cannot act here")
    assert "zwlr_screencopy_manager_v1" in lines[0] and "zwlr_virtual_pointer_manager_v1" in lines[0]
    assert "`deskpilot doctor`" in lines[0]
    doctor = deskpilot(weston, "doctor", "--json")
    report = json.loads(doctor.stdout)
    assert doctor.returncode == 1
    assert (report["session"], report["compositor"], report["ready"]) == ("wayland", "weston", False)
    assert not report["capture"]["ok"] and "zwlr_screencopy_manager_v1" in report["capture"]["why"]
    assert not report["input"]["ok"] and "zwlr_virtual_pointer_manager_v1" in report["input"]["why"]
    assert report["next_steps"]


def test_a_run_on_weston_refuses_before_loading_anything(weston: Compositor) -> None:
    done = deskpilot(weston, "run", "click OK", "--backend", "ocr", "--yes", "--no-record")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: Wayland (weston): deskpilot cannot act here")


@pytest.mark.display
def test_doctor_on_x11_says_x11_and_ready() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY", "XDG_SESSION_TYPE")}
    done = subprocess.run([str(DESKPILOT), "doctor", "--json"], env=env, capture_output=True, text=True, timeout=120)
    report = json.loads(done.stdout)
    assert done.returncode == 0, done.stderr
    assert (report["session"], report["compositor"], report["ready"]) == ("x11", None, True)
    assert report["input"]["route"] == "xtest" and report["stop_key"]["ok"]
    assert report["monitors"] and report["monitors"][0]["width"] == 1920


def test_no_session_at_all_is_not_ready() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY", "XDG_SESSION_TYPE", "DISPLAY")}
    done = subprocess.run([str(DESKPILOT), "doctor", "--json"], env=env, capture_output=True, text=True, timeout=120)
    report = json.loads(done.stdout)
    assert done.returncode == 1
    assert (report["session"], report["ready"]) == ("none", False)
    assert "neither WAYLAND_DISPLAY nor DISPLAY" in report["capture"]["why"]

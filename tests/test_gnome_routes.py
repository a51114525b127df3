"""GNOME and KDE on Wayland: the XDG desktop portal route against a D-Bus mock of the portal (python-dbusmock on
a private session bus: the real portal's consent dialog cannot run headless), and Mutter's own RemoteDesktop
route against a real headless Mutter 43 with PipeWire (tests/helpers/gnome.py).

The mock answers as the portal documents (tests/helpers/portal_mock.py); what is asserted is what deskpilot
says to it: the calls, their order and options, the restore token kept and offered back, and the refusal when
the person declines.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.helpers.cli import DESKPILOT
from tests.helpers.gnome import Mutter, headless_mutter, portal_mock, private_session_bus
from tests.helpers.wayland import CompositorUnavailable

STREAM = [40, 0, 0, 1280, 800]  # node, x, y, width, height: one monitor in logical px
PICTURE = (2560, 1600)  # what the portal's Screenshot hands out: the monitor at scale 2
MUTTER_SIZE = (1152, 720)


def _colour_picture(path: Path) -> Path:
    image = Image.new("RGB", PICTURE, (20, 120, 220))
    image.paste((250, 200, 10), (0, 0, PICTURE[0] // 2, PICTURE[1] // 2))
    image.save(path)
    return path


@pytest.fixture
def bus() -> Iterator[str]:
    try:
        with private_session_bus() as address:
            yield address
    except CompositorUnavailable as exc:
        pytest.skip(str(exc))


def kde_env(address: str, tmp_path: Path) -> dict[str, str]:
    """A KDE Wayland session whose session bus is the mock's; the Wayland socket is never reached."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "SWAYSOCK", "HYPRLAND_INSTANCE_SIGNATURE")}
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env.update(
        DBUS_SESSION_BUS_ADDRESS=address,
        XDG_SESSION_TYPE="wayland",
        XDG_CURRENT_DESKTOP="KDE",
        WAYLAND_DISPLAY="wayland-deskpilot-test",
        XDG_RUNTIME_DIR=str(runtime),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_DATA_HOME=str(tmp_path / "data"),
    )
    return env


def use(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DISPLAY", "SWAYSOCK", "HYPRLAND_INSTANCE_SIGNATURE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def mock_calls(address: str) -> list[tuple[str, list[Any]]]:
    """The portal methods called, in order, with their arguments (a{sv} options as {name: value})."""
    from jeepney import DBusAddress, new_method_call
    from jeepney.io.blocking import open_dbus_connection

    mock = DBusAddress("/org/freedesktop/portal/desktop", "org.freedesktop.portal.Desktop", "org.freedesktop.DBus.Mock")
    with open_dbus_connection(address) as connection:
        reply = connection.send_and_get_reply(new_method_call(mock, "GetCalls"), timeout=5)

    def plain(value: Any) -> Any:
        if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str) and len(value[0]) <= 8:
            return plain(value[1])  # a variant: (signature, value)
        if isinstance(value, dict):
            return {key: plain(item) for key, item in value.items()}
        return value

    return [(str(name), [plain(arg) for arg in args]) for _, name, args in reply.body[0]]


def test_portal_route_speaks_the_documented_calls_in_order_and_keeps_the_restore_token(
    bus: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.desktop import desktop_route
    from sandbox.desktops.portal import token_file

    use(kde_env(bus, tmp_path), monkeypatch)
    with portal_mock(bus, picture=str(_colour_picture(tmp_path / "shot.png")), streams=[STREAM]):
        route = desktop_route()
        assert route.name == "portal"
        capture = route.capture()
        driver = route.driver("pyautogui")
        try:
            assert [(m.x, m.y, m.width, m.height) for m in capture.geometry().monitors] == [(0, 0, 1280, 800)]
            driver.move(100, 200)
            driver.click("left")
            driver.type_text("Aé")
            driver.scroll("down", 2)
        finally:
            driver.close()  # type: ignore[attr-defined]
            capture.close()
        first = mock_calls(bus)
        assert token_file().read_text().strip() == "token-1"
        assert oct(token_file().stat().st_mode & 0o777) == "0o600"

        again = desktop_route()
        again.capture().geometry()  # a second run: the kept token is offered, the next one kept
        second = mock_calls(bus)[len(first) :]

    names = [name for name, _ in first]
    assert names[:4] == ["CreateSession", "SelectDevices", "SelectSources", "Start"]
    handle = first[1][1][0]
    select_devices, select_sources, start = first[1][1][1], first[2][1][1], first[3][1]
    assert select_devices["types"] == 3 and select_devices["persist_mode"] == 2
    assert "restore_token" not in select_devices  # nothing kept yet: the person is asked
    assert select_sources["types"] == 1 and select_sources["multiple"] is True
    assert start[0] == handle and start[1] == ""
    notify = [(name, args[2:]) for name, args in first[4:]]
    assert notify == [
        ("NotifyPointerMotionAbsolute", [40, 100.0, 200.0]),
        ("NotifyPointerButton", [0x110, 1]),
        ("NotifyPointerButton", [0x110, 0]),
        ("NotifyKeyboardKeysym", [ord("A"), 1]),
        ("NotifyKeyboardKeysym", [ord("A"), 0]),
        ("NotifyKeyboardKeysym", [0xE9, 1]),  # é: Latin-1 keysyms are the code point
        ("NotifyKeyboardKeysym", [0xE9, 0]),
        ("NotifyPointerAxisDiscrete", [0, 2]),
    ]
    assert all(args[0] == handle and args[1] == {} for _, args in first[4:])
    assert [name for name, _ in second][:4] == ["CreateSession", "SelectDevices", "SelectSources", "Start"]
    assert second[1][1][1]["restore_token"] == "token-1"
    assert token_file().read_text().strip() == "token-2"


def test_portal_capture_crops_the_monitor_and_measures_its_scale(
    bus: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.desktop import desktop_route

    use(kde_env(bus, tmp_path), monkeypatch)
    left, right = [20, 0, 0, 640, 800], [21, 640, 0, 640, 800]  # two monitors side by side
    shots = tmp_path / "shots"
    shots.mkdir()
    picture = _colour_picture(tmp_path / "shot.png")
    with portal_mock(bus, picture=str(picture), shots=str(shots), streams=[left, right]):
        capture = desktop_route().capture()
        try:
            shot = capture.grab(1)
        finally:
            capture.close()
        served = [args for name, args in mock_calls(bus) if name == "Screenshot"]
    assert shot.image.size == (1280, 1600)
    assert (shot.monitor.x, shot.monitor.width, shot.monitor.scale) == (640, 640, 2.0)
    assert shot.image.getpixel((0, 0)) == (20, 120, 220)  # the right half of the picture, not the left
    assert len(served) == 1 and served[0][1]["interactive"] is False
    assert list(shots.iterdir()) == []  # the portal's file is deleted once read


def test_a_declined_portal_refuses_before_acting_in_one_line(bus: str, tmp_path: Path) -> None:
    env = kde_env(bus, tmp_path)
    with portal_mock(bus, picture=str(_colour_picture(tmp_path / "shot.png")), start_response=1):
        done = subprocess.run(
            [str(DESKPILOT), "act", json.dumps({"kind": "click", "x": 10, "y": 10})],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        calls = [name for name, _ in mock_calls(bus)]
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: Wayland (kde): deskpilot cannot act here: no portal route")
    assert "declined" in lines[0] and "`deskpilot doctor`" in lines[0]
    assert not any(name.startswith("Notify") for name in calls)
    assert not (tmp_path / "config" / "deskpilot" / "portal-restore-token").exists()


def test_doctor_names_the_portal_route_and_asks_nothing(bus: str, tmp_path: Path) -> None:
    env = kde_env(bus, tmp_path)
    with portal_mock(bus, picture=str(_colour_picture(tmp_path / "shot.png"))):
        done = subprocess.run(
            [str(DESKPILOT), "doctor", "--json"], env=env, capture_output=True, text=True, timeout=120
        )
        calls = [name for name, _ in mock_calls(bus)]
    report = json.loads(done.stdout)
    assert done.returncode == 0, done.stderr
    assert (report["session"], report["compositor"], report["route"], report["ready"]) == (
        "wayland",
        "kde",
        "portal",
        True,
    )
    assert report["capture"] == {"route": "portal-screenshot", "ok": True, "why": None}
    assert report["input"] == {"route": "portal-remote-desktop", "ok": True, "why": None}
    assert calls == []  # no session, no screenshot: the person is not asked by `doctor`
    assert any("asks once" in step for step in report["next_steps"])


def test_kde_without_a_portal_refuses_and_doctor_says_what_to_install(bus: str, tmp_path: Path) -> None:
    env = kde_env(bus, tmp_path)
    done = subprocess.run(
        [str(DESKPILOT), "act", json.dumps({"kind": "click", "x": 10, "y": 10})],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error: Wayland (kde): deskpilot cannot act here: no screen capture route")
    doctor = subprocess.run([str(DESKPILOT), "doctor", "--json"], env=env, capture_output=True, text=True, timeout=120)
    report = json.loads(doctor.stdout)
    assert doctor.returncode == 1
    assert (report["route"], report["ready"]) == (None, False)
    assert any("xdg-desktop-portal-kde" in step for step in report["next_steps"])


# -- a real headless Mutter ------------------------------------------------------------------------------


@pytest.fixture
def mutter() -> Iterator[Mutter]:
    try:
        with headless_mutter(*MUTTER_SIZE) as compositor:
            yield compositor
    except CompositorUnavailable as exc:
        pytest.skip(str(exc))


def test_doctor_on_headless_mutter_says_gnome_ready_through_its_own_interfaces(mutter: Mutter) -> None:
    done = subprocess.run(
        [str(DESKPILOT), "doctor", "--json"], env=mutter.env, capture_output=True, text=True, timeout=120
    )
    report = json.loads(done.stdout)
    assert done.returncode == 0, done.stderr
    assert (report["session"], report["compositor"], report["route"], report["ready"]) == (
        "wayland",
        "gnome",
        "mutter",
        True,
    )
    assert report["capture"] == {"route": "mutter-screencast", "ok": True, "why": None}
    assert report["input"] == {"route": "mutter-remote-desktop", "ok": True, "why": None}
    assert [(m["width"], m["height"], m["scale"]) for m in report["monitors"]] == [(*MUTTER_SIZE, 1.0)]


def _wait_until_shown(capture: Any, before: Image.Image) -> None:
    """Until the screen differs from `before` and holds still (the new window drawn): what a person waits for."""
    from PIL import ImageChops

    deadline = time.monotonic() + 20
    previous = before
    while time.monotonic() < deadline:
        frame = capture.grab(0).image
        if ImageChops.difference(frame, before).getbbox() and not ImageChops.difference(frame, previous).getbbox():
            return
        previous = frame
        time.sleep(0.2)
    raise AssertionError("the app's window did not show within 20 s")


def test_run_fills_a_zenity_form_on_headless_mutter(
    mutter: Mutter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Capture through Mutter's screen-cast stream and input through its RemoteDesktop, into a native GTK3 app."""
    from app.desktop import desktop_route

    env = {**mutter.env, "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_DATA_HOME": str(tmp_path / "data")}
    use(env, monkeypatch)
    capture = desktop_route().capture()
    try:
        empty = capture.grab(0)
        assert empty.image.size == MUTTER_SIZE  # the output's real size
        assert (empty.monitor.width, empty.monitor.height, empty.monitor.scale) == (*MUTTER_SIZE, 1.0)
        form = mutter.launch(["zenity", "--forms", "--add-entry=First name", "--add-entry=Last name"])
        _wait_until_shown(capture, empty.image)
    finally:
        capture.close()
    task = 'type "Ada" into First name then type "Lovelace" into Last name then click OK'
    done = subprocess.run(
        [str(DESKPILOT), "run", task, "--backend", "ocr", "--yes", "--no-record"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    assert form.communicate(timeout=20)[0].strip() == "Ada|Lovelace"  # zenity 3.44 ends without a "|"


def test_mutters_pointer_moves_only_inside_its_streams(mutter: Mutter, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.desktop import desktop_route

    use(mutter.env, monkeypatch)
    route = desktop_route()
    assert route.name == "mutter"
    driver = route.driver("pyautogui")
    try:
        driver.move(MUTTER_SIZE[0] - 1, MUTTER_SIZE[1] - 1)  # the last pixel is inside the stream
        with pytest.raises(Exception, match="no monitor of the desktop holds"):
            driver.move(*MUTTER_SIZE)
    finally:
        driver.close()  # type: ignore[attr-defined]


def test_without_gstreamers_pipewire_source_mutter_captures_through_the_portal(
    mutter: Mutter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No pipewiresrc: the portal's Screenshot (mocked on Mutter's bus) takes over; without a portal either, the
    refusal names both and doctor's next step says what to install."""
    from app.commands.doctor import _wayland_steps
    from app.desktop import choose_wayland, desktop_route
    from sandbox.desktops import mutter as mutter_route
    from sandbox.desktops.session import detect_session

    use(mutter.env, monkeypatch)
    monkeypatch.setattr(mutter_route, "missing_reader", lambda: "GStreamer's gst-launch-1.0 is not installed")
    session = detect_session()
    refused = choose_wayland(session)
    assert refused.route.name == "refused" and not refused.capture.ok
    assert "GStreamer" in str(refused.capture.why) and "org.freedesktop.portal.Desktop" in str(refused.capture.why)
    assert any("gstreamer1.0-pipewire" in step for step in _wayland_steps(session, refused.capture, refused.input))
    _colour_picture(tmp_path / "shot.png")
    with portal_mock(mutter.bus_address, picture=str(tmp_path / "shot.png")):
        chosen = choose_wayland(session)
        assert (chosen.route.name, chosen.capture.route) == ("mutter", "portal-screenshot")
        capture = desktop_route().capture()
        try:
            assert capture.grab(0).image.size == PICTURE
        finally:
            capture.close()


def test_a_screen_cast_frame_of_the_wrong_size_is_one_line_never_a_picture() -> None:
    from sandbox.desktops.pipewire_frame import CAPS, _image
    from sandbox.errors import DriverError

    line = "/GstPipeline:pipeline0/GstVideoConvert:videoconvert0.GstPad:src: caps = video/x-raw, format=(string)BGRx, "
    assert CAPS.findall(line + "width=(int)1920, height=(int)1080, framerate=(fraction)0/1") == [("1920", "1080")]
    blue = bytes([200, 100, 0, 0]) * 6  # BGRx
    assert _image(blue, 3, 2, 40).getpixel((2, 1)) == (0, 100, 200)
    with pytest.raises(DriverError) as short:
        _image(blue[:-1], 3, 2, 40)
    assert str(short.value) == "cannot read the screen-cast stream (PipeWire node 40): 23 bytes for a 3x2 BGRx frame"

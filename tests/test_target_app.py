"""The test infrastructure itself: the target app logs real X input where it happened, and the Xorg helper
says why it cannot run instead of failing. Input comes from xdotool, independent of deskpilot's drivers."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable

import pytest

from tests.helpers import xorg
from tests.helpers.target import TargetWindow

display = pytest.mark.display
Factory = Callable[..., TargetWindow]


def xdotool(*args: str) -> None:
    subprocess.run(["xdotool", *args], check=True, timeout=10)


@display
def test_ready_reports_every_widget_inside_the_window(target_window: Factory) -> None:
    target = target_window(x=150, y=120, width=1000, height=700)
    assert set(target.widgets) == {"Submit", "Cancel", "Name", "List", "Notes", "Canvas"}
    window = target.window
    for rect in target.widgets.values():
        assert window.contains(rect.x, rect.y) and window.contains(rect.x + rect.width - 1, rect.y + rect.height - 1)


@display
def test_typed_keys_reach_the_name_field_wherever_the_pointer_is(target_window: Factory) -> None:
    target = target_window(x=100, y=100, width=900, height=600)
    xdotool("mousemove", "1800", "1000")  # off the window: without a WM, focus must not follow the pointer
    xdotool("type", "--delay", "20", "hello")
    target.wait_for(lambda e: e["event"] == "text" and e["widget"] == "Name" and e["text"] == "hello")
    press = target.wait_for(lambda e: e["event"] == "key_press" and e["key"] == "Key_H")
    assert press["text"] == "h" and press["widget"] == "Name"


@display
def test_a_later_window_takes_the_keyboard(target_window: Factory) -> None:
    target_window(x=0, y=0, width=600, height=500)
    second = target_window(x=700, y=300, width=900, height=600)
    xdotool("key", "ctrl+a")
    key = second.wait_for(lambda e: e["event"] == "key_press" and e["key"] == "Key_A")
    assert key["modifiers"] == ["ctrl"]


@display
def test_a_click_is_logged_where_it_landed(target_window: Factory) -> None:
    target = target_window(x=200, y=150)
    x, y = target.centre("Submit")
    xdotool("mousemove", str(x), str(y), "click", "1")
    target.wait_for(lambda e: e["event"] == "clicked" and e["clicked"] == "Submit")
    press = target.wait_for(lambda e: e["event"] == "press")
    assert (press["button"], press["x"], press["y"], press["widget"]) == ("left", x, y, "Submit")


@display
def test_right_click_double_click_and_wheel(target_window: Factory) -> None:
    target = target_window(x=200, y=150)
    x, y = target.centre("Canvas")
    xdotool("mousemove", str(x), str(y), "click", "3")
    target.wait_for(lambda e: e["event"] == "release" and e["button"] == "right" and e["widget"] == "Canvas")
    xdotool("click", "--repeat", "2", "--delay", "50", "1")
    target.wait_for(lambda e: e["event"] == "double_click" and (e["x"], e["y"]) == (x, y))
    xdotool("click", "5")  # X button 5: one notch down
    wheel = target.wait_for(lambda e: e["event"] == "wheel")
    assert (wheel["dy"], wheel["x"], wheel["y"], wheel["widget"]) == (-120, x, y, "Canvas")


@display
def test_a_drag_is_logged_from_start_to_end(target_window: Factory) -> None:
    target = target_window(x=200, y=150)
    canvas = target.widgets["Canvas"]
    start = (canvas.x + 20, canvas.y + 20)
    end = (canvas.x + canvas.width - 20, canvas.y + canvas.height - 20)
    xdotool("mousemove", *map(str, start), "mousedown", "1")
    xdotool("mousemove", *map(str, end), "mouseup", "1")
    drag = target.wait_for(lambda e: e["event"] == "drag")
    assert (drag["from"], drag["to"], drag["widget"]) == (list(start), list(end), "Canvas")


@display
def test_a_failed_wait_lists_what_was_seen(target_window: Factory) -> None:
    target = target_window()
    since = time.time()
    with pytest.raises(AssertionError, match='"event": "ready"'):
        target.wait_for(lambda e: e["event"] == "clicked", timeout=0.2, after=since)


def test_xorg_helper_says_why_without_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    with pytest.raises(xorg.XorgUnavailable, match="needs root"):
        xorg.start_two_monitor_xorg()


def test_xorg_helper_says_why_without_xorg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(xorg.XorgUnavailable, match="Xorg is not installed"):
        xorg.start_two_monitor_xorg()

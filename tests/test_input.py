"""Real input on a real X display (pytest-xvfb), through both drivers, into a real Qt window that logs
what it receives: every click lands on the intended widget at the intended pixel, text arrives exactly."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from sandbox.actions import Action, Click, Drag, Hotkey, Move, Scroll, Type
from sandbox.capture import ScreenCapture
from sandbox.drivers import FAILSAFE_REASON, make_driver
from sandbox.errors import FailSafeError
from sandbox.executor import Executor, Performed
from sandbox.policy import Deny, Policy, PolicyChecker
from sandbox.policy_file import parse_policy
from sandbox.stop import StopFlag
from tests.helpers.target import TargetWindow

pytestmark = pytest.mark.display
Factory = Callable[..., TargetWindow]
UNICODE = "héllo wörld 你好 🙂"
PRINTABLE_ASCII = "".join(chr(c) for c in range(0x20, 0x7F))  # all 95, space to tilde ('<' once came out as '>')
RTL_SAMPLE = "中文 \u202e evil ñ Ω"  # a right-to-left override among others (once typed as a repeat)


@pytest.fixture(scope="module")
def capture() -> Iterator[ScreenCapture]:
    with ScreenCapture() as capture:
        yield capture


def executor_for(driver: str, capture: ScreenCapture, policy: Policy | None = None) -> Executor:
    return Executor(
        checker=PolicyChecker(policy or Policy()), driver=make_driver(driver), screen=capture.geometry, stop=StopFlag()
    )


def run(executor: Executor, action: Action) -> None:
    result = executor.execute(executor.check(action))
    assert isinstance(result, Performed), result


@pytest.mark.parametrize("driver", ["pyautogui", "pynput"])
@pytest.mark.parametrize(
    ("button", "count", "widget"),
    [
        ("left", 1, "Submit"),
        ("right", 1, "Canvas"),
        ("middle", 1, "Canvas"),
        ("left", 2, "Canvas"),
        ("left", 3, "Canvas"),
    ],
)
def test_clicks_land_on_the_widget_at_the_pixel(
    driver: str, button: str, count: int, widget: str, target_window: Factory, capture: ScreenCapture
) -> None:
    target = target_window(x=130, y=90)
    x, y = target.centre(widget)
    x, y = x + 7, y - 5  # not the centre by accident: an exact, arbitrary pixel
    started = time.time()
    run(executor_for(driver, capture), Click(x, y, button, count))  # type: ignore[arg-type]
    target.wait_for(lambda e: e["event"] == "release" and e["button"] == button, after=started)
    time.sleep(0.3)  # let every click of a double/triple arrive
    events = [e for e in target.events() if e["t"] >= started]
    presses = [e for e in events if e["event"] == "press"]
    assert len(presses) == count, presses
    assert all((e["button"], e["x"], e["y"], e["widget"]) == (button, x, y, widget) for e in presses)
    assert any(e["event"] == "double_click" for e in events) == (count >= 2)  # Qt saw a real double-click
    if widget == "Submit":
        target.wait_for(lambda e: e["event"] == "clicked" and e["clicked"] == "Submit", after=started)


@pytest.mark.parametrize("driver", ["pyautogui", "pynput"])
def test_unicode_text_arrives_exactly(driver: str, target_window: Factory, capture: ScreenCapture) -> None:
    target = target_window(x=100, y=100)
    executor = executor_for(driver, capture)
    run(executor, Click(*target.centre("Name")))
    run(executor, Type(UNICODE))
    target.wait_for(lambda e: e["event"] == "text" and e["widget"] == "Name" and e["text"] == UNICODE)


@pytest.mark.parametrize("driver", ["pyautogui", "pynput"])
@pytest.mark.parametrize("text", [PRINTABLE_ASCII, RTL_SAMPLE], ids=["ascii95", "unicode"])
def test_every_character_arrives_exactly(
    driver: str, text: str, target_window: Factory, capture: ScreenCapture
) -> None:
    target = target_window(x=100, y=100)
    executor = executor_for(driver, capture)
    run(executor, Click(*target.centre("Name")))
    run(executor, Type(text))
    event = target.wait_for(lambda e: e["event"] == "text" and e["widget"] == "Name" and len(e["text"]) >= len(text))
    assert event["text"] == text


@pytest.mark.parametrize("driver", ["pyautogui", "pynput"])
def test_hotkeys_hold_modifiers(driver: str, target_window: Factory, capture: ScreenCapture) -> None:
    target = target_window(x=100, y=100)
    executor = executor_for(driver, capture)
    run(executor, Click(*target.centre("Name")))
    run(executor, Type("abc"))
    target.wait_for(lambda e: e["event"] == "text" and e["text"] == "abc")
    started = time.time()
    run(executor, Hotkey(("ctrl", "a")))
    press = target.wait_for(lambda e: e["event"] == "key_press" and e["key"] == "Key_A", after=started)
    assert press["modifiers"] == ["ctrl"]
    run(executor, Type("z"))  # replaces the selection: ctrl+a really selected all
    target.wait_for(lambda e: e["event"] == "text" and e["widget"] == "Name" and e["text"] == "z")
    run(executor, Hotkey(("shift", "tab")))
    target.wait_for(lambda e: e["event"] == "key_press" and e["key"] == "Key_Backtab")


@pytest.mark.parametrize("driver", ["pyautogui", "pynput"])
@pytest.mark.parametrize(
    ("direction", "axis", "sign"), [("down", "dy", -1), ("up", "dy", 1), ("right", "dx", -1), ("left", "dx", 1)]
)
def test_scroll_at_a_point(
    driver: str, direction: str, axis: str, sign: int, target_window: Factory, capture: ScreenCapture
) -> None:
    """Qt's angleDelta is positive for up and for left."""
    target = target_window(x=100, y=100)
    x, y = target.centre("Canvas")
    started = time.time()
    run(executor_for(driver, capture), Scroll(x, y, direction, 3))  # type: ignore[arg-type]
    target.wait_for(lambda e: e["event"] == "wheel", after=started)
    time.sleep(0.2)
    wheels = [e for e in target.events("wheel") if e["t"] >= started]
    assert len(wheels) == 3 and all(e[axis] * sign > 0 and (e["x"], e["y"]) == (x, y) for e in wheels), wheels


@pytest.mark.parametrize("driver", ["pyautogui", "pynput"])
def test_drag_presses_moves_releases(driver: str, target_window: Factory, capture: ScreenCapture) -> None:
    target = target_window(x=100, y=100)
    canvas = target.widgets["Canvas"]
    start = (canvas.x + 20, canvas.y + 20)
    end = (canvas.x + canvas.width - 30, canvas.y + canvas.height - 25)
    run(executor_for(driver, capture), Drag(*start, *end))
    drag = target.wait_for(lambda e: e["event"] == "drag")
    assert (drag["from"], drag["to"], drag["button"]) == (list(start), list(end), "left")
    moves = [e for e in target.events("move") if e["buttons"] == ["left"]]
    assert len(moves) >= 2  # the app saw motion with the button held, not a jump


def test_refusals_do_nothing_and_name_the_rule(target_window: Factory, capture: ScreenCapture) -> None:
    target = target_window(x=100, y=100)
    submit = target.widgets["Submit"]
    policy = parse_policy(
        f"[screen]\nforbidden_regions = [{{x = {submit.x}, y = {submit.y}, width = {submit.width}, "
        f'height = {submit.height}, name = "submit"}}]\n'
        "[actions]\nmax_per_minute = 2\n",
        source="test.toml",
    )
    executor = executor_for("pynput", capture, policy)
    started = time.time()
    refusals = {
        Click(1950, 10): "off_screen",
        Click(*target.centre("Submit")): "forbidden_region",
        Hotkey(("Control_L", "Alt", "Del")): "forbidden_hotkey",
        Type("x" * 2001): "text_length",
    }
    for action, rule in refusals.items():
        checked = executor.check(action)
        assert isinstance(checked.verdict, Deny) and checked.verdict.rule == rule
    run(executor, Click(*target.centre("Canvas")))
    run(executor, Click(*target.centre("Canvas")))
    burst = executor.check(Click(*target.centre("Canvas")))
    assert isinstance(burst.verdict, Deny) and burst.verdict.rule == "rate_limit"
    time.sleep(0.5)
    presses = [e for e in target.events("press") if e["t"] >= started]
    assert len(presses) == 2 and all(e["widget"] == "Canvas" for e in presses)
    assert not [e for e in target.events() if e["t"] >= started and e["event"] in ("clicked", "key_press", "text")]


def test_the_corner_failsafe_ends_the_run(capture: ScreenCapture) -> None:
    """pyautogui's fail-safe (the pointer pushed into a screen corner) reaches the executor as FailSafeError."""
    executor = executor_for("pyautogui", capture)
    run(executor, Move(0, 0))
    try:
        with pytest.raises(FailSafeError, match="screen corner"):
            executor.execute(executor.check(Click(300, 300)))
        assert executor.stop.stopped and executor.stop.reason == FAILSAFE_REASON
    finally:
        make_driver("pynput").move(300, 300)  # out of the corner: pyautogui refuses every call there

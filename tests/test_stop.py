"""The stop key and the pause on user input, on a real X display: a long run of actions stops, and no
driver call starts after the stop. (How fast: bench/stop_latency.py measures it; no timing asserts here.)"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from sandbox.actions import Click, Drag, Hotkey, Move, Scroll, Type
from sandbox.capture import ScreenCapture
from sandbox.drivers import make_driver
from sandbox.errors import PausedByUserError, StoppedError
from sandbox.executor import Executor, Performed
from sandbox.policy import Policy, PolicyChecker
from sandbox.stop import SelfInputLedger, StopFlag, StopKeyListener, UserInputWatcher
from tests.helpers.target import TargetWindow

pytestmark = pytest.mark.display
Factory = Callable[..., TargetWindow]


class TimedDriver:
    """Wraps a real driver and notes when each primitive call started."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.name, self.started = inner, inner.name, []

    def __getattr__(self, attribute: str) -> Any:
        method = getattr(self.inner, attribute)
        if not callable(method):
            return method

        def timed(*args: Any) -> Any:
            self.started.append(time.perf_counter())
            return method(*args)

        return timed


def make_executor(stop: StopFlag, ledger: SelfInputLedger | None = None) -> tuple[Executor, TimedDriver]:
    driver = TimedDriver(make_driver("pynput"))
    capture = ScreenCapture()
    executor = Executor(
        checker=PolicyChecker(Policy(max_actions_per_minute=10_000)),
        driver=driver,
        screen=capture.geometry,
        stop=stop,
        ledger=ledger,
    )
    return executor, driver


def xdotool(*args: str) -> None:
    subprocess.run(["xdotool", *args], check=True, timeout=10)


def test_stop_key_stops_a_long_sequence_and_nothing_starts_after(target_window: Factory) -> None:
    target = target_window(x=100, y=100)
    stop = StopFlag()
    executor, driver = make_executor(stop)
    executor.execute(executor.check(Click(*target.centre("Notes"))))
    text = "the quick brown fox jumps over the lazy dog " * 20
    with StopKeyListener(stop, "ctrl+alt+x"):
        threading.Timer(0.4, xdotool, args=("key", "ctrl+alt+x")).start()
        with pytest.raises(StoppedError, match="stop key ctrl\\+alt\\+x"):
            for _ in range(50):
                executor.execute(executor.check(Type(text)))
    assert stop.stopped and stop.stopped_at is not None
    assert driver.started and max(driver.started) < stop.stopped_at  # no primitive began after the stop
    time.sleep(0.3)
    typed = target.events("text")[-1]["text"]
    assert 0 < len(typed) < 50 * len(text)  # begun, cut short
    # nothing garbled, but for the instant the person held ctrl+alt: a character typed then reaches the app as a
    # shortcut, not text (1 run in 8 lost the "x" of "fox" so, then " jump" followed before the stop took hold)
    assert len(typed) - len(os.path.commonprefix([typed, text * 50])) <= 8, typed[-60:]


def test_user_mouse_pauses_the_run(target_window: Factory) -> None:
    target = target_window(x=100, y=100)
    stop, ledger = StopFlag(), SelfInputLedger()
    executor, driver = make_executor(stop, ledger)
    canvas = target.widgets["Canvas"]
    with UserInputWatcher(stop, ledger):
        threading.Timer(0.4, xdotool, args=("mousemove", "1700", "950")).start()
        with pytest.raises(PausedByUserError, match="mouse"):
            deadline, i = time.monotonic() + 5, 0
            while time.monotonic() < deadline:
                i += 1
                executor.execute(executor.check(Move(canvas.x + 10 + i % 300, canvas.y + 10 + i % 200)))
                time.sleep(0.01)
    assert stop.paused and not stop.stopped
    assert driver.started


def test_our_own_input_is_not_taken_for_the_users(target_window: Factory) -> None:
    target = target_window(x=100, y=100)
    stop, ledger = StopFlag(), SelfInputLedger()
    executor, _ = make_executor(stop, ledger)
    canvas = target.widgets["Canvas"]
    cx, cy = target.centre("Canvas")
    actions = [
        Click(*target.centre("Name")),
        Type("héllo 你好"),
        Hotkey(("ctrl", "a")),
        Click(cx, cy, "right"),
        Click(cx, cy, "left", 2),
        Scroll(cx, cy, "down", 3),
        Drag(canvas.x + 5, canvas.y + 5, cx, cy),
        Move(cx + 40, cy + 40),
    ]
    with UserInputWatcher(stop, ledger):
        for action in actions:
            assert isinstance(executor.execute(executor.check(action)), Performed)
        time.sleep(0.5)  # late echoes of our own events must not count either
    assert not stop.paused, stop.pause_reason

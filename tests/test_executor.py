"""The executor runs only checked actions, re-checks them, composes them from driver primitives, and
honours the stop flag before every primitive (dry-run driver: no display needed)."""

from __future__ import annotations

import threading

import pytest

from sandbox.actions import Click, Drag, Finish, Hotkey, Move, Scroll, Type, Wait
from sandbox.drivers import DryRunDriver
from sandbox.errors import FailSafeError, PausedByUserError, StoppedError, UncheckedActionError
from sandbox.executor import CheckedAction, Executor, Performed, Refused
from sandbox.geometry import Monitor, ScreenGeometry
from sandbox.policy import Allow, Confirm, Deny, Policy, PolicyChecker
from sandbox.policy_file import parse_policy
from sandbox.stop import StopFlag

SCREEN = ScreenGeometry((Monitor(0, 0, 1920, 1080), Monitor(1920, 0, 1280, 1024)))


def make(policy: Policy | None = None, stop: StopFlag | None = None) -> tuple[Executor, DryRunDriver]:
    driver = DryRunDriver()
    executor = Executor(checker=PolicyChecker(policy or Policy()), driver=driver, screen=lambda: SCREEN, stop=stop)
    return executor, driver


def test_click_is_move_then_clicks() -> None:
    executor, driver = make()
    assert isinstance(executor.execute(executor.check(Click(100, 200, "right", 2))), Performed)
    assert driver.calls == [("move", 100, 200), ("click", "right"), ("click", "right")]


def test_each_action_kind_composes_from_primitives() -> None:
    executor, driver = make()
    for action in (
        Move(5, 6),
        Scroll(10, 10, "down", 3),
        Type("héllo wörld 你好 🙂"),
        Hotkey(("ctrl", "shift", "t")),
        Drag(10, 10, 100, 10),
        Wait(0.01),
        Finish(),
    ):
        assert isinstance(executor.execute(executor.check(action)), Performed)
    kinds = [c[0] for c in driver.calls]
    assert ("scroll", "down", 1) in driver.calls and kinds.count("scroll") == 3
    assert "".join(c[1] for c in driver.calls if c[0] == "type_text") == "héllo wörld 你好 🙂"
    downs = [c[1] for c in driver.calls if c[0] == "key_down"]
    ups = [c[1] for c in driver.calls if c[0] == "key_up"]
    assert downs == ["ctrl", "shift", "t"] and ups == ["t", "shift", "ctrl"]
    press = driver.calls.index(("button_down", "left"))
    assert driver.calls[press - 1] == ("move", 10, 10) and driver.calls[press + 1][0] == "move"
    assert ("move", 100, 10) in driver.calls and driver.calls.index(("button_up", "left")) > press


def test_unchecked_or_replayed_or_denied_actions_cannot_run() -> None:
    executor, driver = make()
    forged = CheckedAction(Click(1, 1), Allow(), False, object())
    with pytest.raises(UncheckedActionError):
        executor.execute(forged)
    checked = executor.check(Click(1, 1))
    executor.execute(checked)
    with pytest.raises(UncheckedActionError):
        executor.execute(checked)  # one-shot
    other, _ = make()
    with pytest.raises(UncheckedActionError):
        other.execute(executor.check(Click(2, 2)))  # a ticket issued by another executor
    denied = executor.check(Click(2500, 1050))  # on no monitor
    assert isinstance(denied.verdict, Deny) and denied.verdict.rule == "off_screen"
    with pytest.raises(UncheckedActionError):
        executor.execute(denied)
    assert driver.calls == [("move", 1, 1), ("click", "left")]


def test_confirm_needs_the_users_yes() -> None:
    executor, driver = make(parse_policy('[keys]\nconfirm = ["alt+f4"]\n', source="t.toml"))
    pending = executor.check(Hotkey(("alt", "f4")))
    assert isinstance(pending.verdict, Confirm) and not pending.runnable
    with pytest.raises(UncheckedActionError):
        executor.execute(pending)
    assert driver.calls == []
    done = executor.execute(executor.check(Hotkey(("alt", "f4")), confirmed=True))
    assert isinstance(done, Performed) and isinstance(done.verdict, Confirm)
    assert [c[0] for c in driver.calls] == ["key_down", "key_down", "key_up", "key_up"]


def test_recheck_at_execution_uses_the_current_screen() -> None:
    screens = [SCREEN]
    driver = DryRunDriver()
    executor = Executor(checker=PolicyChecker(Policy()), driver=driver, screen=lambda: screens[0])
    checked = executor.check(Click(2500, 500))  # on the right monitor
    screens[0] = ScreenGeometry.single(1920, 1080)  # the right monitor was unplugged
    result = executor.execute(checked)
    assert isinstance(result, Refused) and result.verdict.rule == "off_screen" and driver.calls == []


def test_stop_before_any_primitive_does_nothing() -> None:
    stop = StopFlag()
    executor, driver = make(stop=stop)
    checked = executor.check(Click(1, 1))
    stop.stop("stop key")
    with pytest.raises(StoppedError, match="stop key"):
        executor.execute(checked)
    assert driver.calls == []


class SlowDriver(DryRunDriver):
    def __init__(self, stop_after: int, stop: StopFlag) -> None:
        super().__init__()
        self.stop_after, self.flag = stop_after, stop

    def _count(self) -> None:
        if len(self.calls) == self.stop_after:
            self.flag.stop("stop key")

    def type_text(self, text: str) -> None:
        super().type_text(text)
        self._count()

    def key_down(self, key: str) -> None:
        super().key_down(key)
        self._count()

    def move(self, x: int, y: int) -> None:
        super().move(x, y)
        self._count()


def test_stop_mid_action_stops_the_next_primitive_and_releases_what_is_held() -> None:
    stop = StopFlag()
    driver = SlowDriver(3, stop)
    executor = Executor(checker=PolicyChecker(Policy()), driver=driver, screen=lambda: SCREEN, stop=stop)
    with pytest.raises(StoppedError):
        executor.execute(executor.check(Type("x" * 200)))
    assert len(driver.calls) == 3  # nothing after the stop
    stop2 = StopFlag()
    driver2 = SlowDriver(2, stop2)
    executor2 = Executor(checker=PolicyChecker(Policy()), driver=driver2, screen=lambda: SCREEN, stop=stop2)
    with pytest.raises(StoppedError):
        executor2.execute(executor2.check(Hotkey(("ctrl", "alt", "t"))))
    assert driver2.calls == [("key_down", "ctrl"), ("key_down", "alt"), ("key_up", "alt"), ("key_up", "ctrl")]
    stop3 = StopFlag()
    driver3 = SlowDriver(4, stop3)
    executor3 = Executor(checker=PolicyChecker(Policy()), driver=driver3, screen=lambda: SCREEN, stop=stop3)
    with pytest.raises(StoppedError):
        executor3.execute(executor3.check(Drag(10, 10, 1000, 10)))
    assert driver3.calls[-1] == ("button_up", "left")


def test_user_input_pauses_and_wait_is_interruptible() -> None:
    stop = StopFlag()
    executor, driver = make(stop=stop)
    checked = executor.check(Wait(30))
    threading.Timer(0.05, stop.pause, args=("paused: you used the mouse",)).start()
    with pytest.raises(PausedByUserError):
        executor.execute(checked)
    assert stop.paused
    stop.resume()
    assert stop.wait_while_paused(timeout=0.1)


def test_unexecuted_checks_leave_nothing_behind_and_stale_ids_never_pass() -> None:
    import gc

    executor, driver = make()
    for _ in range(200):
        executor.check(Click(2500, 1050))  # refused and dropped, as a run drops refused proposals
    gc.collect()
    assert len(executor._tickets) == 0
    for _ in range(200):  # forged tickets, some at the addresses of dead ones, never get through
        with pytest.raises(UncheckedActionError):
            executor.execute(CheckedAction(Click(1, 1), Allow(), False, object()))  # type: ignore[arg-type]
    assert driver.calls == []


def test_a_check_is_bound_to_its_action_and_confirmation() -> None:
    """A copy of a check with another action (or a confirmation it never had) runs nothing: the ticket
    remembers what it was issued for (dataclasses.replace once ran ctrl+alt+delete under alt+f4's "yes")."""
    import dataclasses

    executor, driver = make(parse_policy('[keys]\nconfirm = ["alt+f4"]\n', source="t.toml"))
    confirmed = executor.check(Hotkey(("alt", "f4")), confirmed=True)
    swapped = dataclasses.replace(confirmed, action=Hotkey(("ctrl", "alt", "delete")))
    with pytest.raises(UncheckedActionError, match="another action"):
        executor.execute(swapped)
    unconfirmed = executor.check(Hotkey(("alt", "f4")))
    with pytest.raises(UncheckedActionError, match="another action or confirmation"):
        executor.execute(dataclasses.replace(unconfirmed, confirmed=True))
    allowed = executor.check(Click(1, 1))
    with pytest.raises(UncheckedActionError):
        executor.execute(dataclasses.replace(allowed, action=Click(5, 5)))
    assert driver.calls == []


FORBIDDEN = parse_policy(
    '[screen]\nforbidden_regions = [{x = 100, y = 100, width = 800, height = 600, name = "secret"}]\n',
    source="region.toml",
)


@pytest.mark.parametrize("action", [Scroll(None, None, "down", 3), Drag(None, None, 1500, 900)])
def test_pointer_relative_actions_are_checked_where_the_pointer_is(action: Scroll | Drag) -> None:
    """redteam #9: a scroll or drag "where the pointer is" escaped forbidden regions and own-window checks."""
    executor, driver = make(FORBIDDEN)
    driver.pointer = (400, 400)  # inside the forbidden region
    checked = executor.check(action)
    assert isinstance(checked.verdict, Deny) and checked.verdict.rule == "forbidden_region"
    assert "(400, 400)" in checked.verdict.reason
    driver.pointer = (1000, 800)  # outside: allowed, and performed exactly there
    done = executor.execute(executor.check(action))
    assert isinstance(done, Performed) and (done.action.x, done.action.y) == (1000, 800)
    assert ("move", 1000, 800) in driver.calls


def test_the_pointer_is_checked_again_just_before_it_runs() -> None:
    executor, driver = make(FORBIDDEN)
    driver.pointer = (1000, 800)
    checked = executor.check(Scroll(None, None, "up", 2))
    assert checked.runnable
    driver.pointer = (400, 400)  # moved into the forbidden region between the check and the run
    result = executor.execute(checked)
    assert isinstance(result, Refused) and result.verdict.rule == "forbidden_region"
    assert not [c for c in driver.calls if c[0] == "scroll"]
    unknown = Executor(checker=PolicyChecker(Policy()), driver=driver, screen=lambda: SCREEN, pointer=lambda: None)
    verdict = unknown.check(Scroll(None, None, "up", 2)).verdict
    assert isinstance(verdict, Deny) and "pointer" in verdict.reason


class _CornerDriver(DryRunDriver):
    """A driver whose pointer sits in a screen corner: pyautogui's fail-safe refuses to move it."""

    def move(self, x: int, y: int) -> None:
        raise FailSafeError("failsafe: the pointer was moved into a screen corner")


def test_a_stop_from_the_driver_ends_the_whole_run() -> None:
    stop = StopFlag()
    driver = _CornerDriver()
    executor = Executor(checker=PolicyChecker(Policy()), driver=driver, screen=lambda: SCREEN, stop=stop)
    with pytest.raises(FailSafeError):
        executor.execute(executor.check(Click(100, 200)))
    assert stop.stopped and stop.reason == "failsafe: the pointer was moved into a screen corner"
    assert driver.calls == []  # nothing pressed after the refused move
    with pytest.raises(StoppedError):
        executor.execute(executor.check(Move(5, 6)))

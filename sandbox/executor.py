"""The executor: performs checked actions only, through an input driver, one stoppable primitive at a time.

An action can only be executed through a `CheckedAction` that this executor issued from a policy check
(a one-shot ticket checked at the door); it is checked again right before it runs, on the current screen.
Before every driver call the stop flag is consulted; a stop or the user's own input mid-action releases
whatever is held (keys, buttons) and raises.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sandbox.actions import Action, Click, Drag, Finish, Hotkey, Move, Scroll, Type, Wait
from sandbox.drivers import InputDriver
from sandbox.errors import StoppedError, UncheckedActionError
from sandbox.geometry import Rect, ScreenGeometry
from sandbox.policy import Allow, Confirm, PolicyChecker, Verdict
from sandbox.stop import SelfInputLedger, StopFlag

MOVE_SETTLE_S = 0.02  # after moving onto a target, before pressing: apps see the hover first
CLICK_INTERVAL_S = 0.04  # between the clicks of a double/triple click (well under any double-click time)
DRAG_STEP_PX = 40  # a drag moves in steps this long, so apps see the motion (and stop can cut in)
DRAG_STEP_S = 0.01
KEY_GAP_S = 0.01
TYPE_CHUNK_CHARS = 8  # text is typed in chunks; the stop flag is checked between them


class _Ticket:
    """Proof that this executor issued a check; compared by identity."""

    __slots__ = ("__weakref__",)


@dataclass(frozen=True, slots=True)
class CheckedAction:
    """An action with the verdict the policy gave it; only the issuing executor can run it, once."""

    action: Action
    verdict: Verdict
    confirmed: bool
    _ticket: _Ticket = field(repr=False, compare=False)

    @property
    def runnable(self) -> bool:
        return isinstance(self.verdict, Allow) or (isinstance(self.verdict, Confirm) and self.confirmed)


class Executor:
    def __init__(
        self,
        *,
        checker: PolicyChecker,
        driver: InputDriver,
        screen: Callable[[], ScreenGeometry],
        stop: StopFlag | None = None,
        ledger: SelfInputLedger | None = None,
        own_windows: Callable[[], Sequence[Rect]] = tuple,
        pace: bool = True,
    ) -> None:
        """`pace=False` skips the waits that give real apps time to react (for dry runs: nothing reacts)."""
        self.checker = checker
        self.driver = driver
        self.stop = stop or StopFlag()
        self.ledger = ledger or SelfInputLedger()
        self._screen = screen
        self._own_windows = own_windows
        # Held weakly: a check that is never executed (refused, rejected) leaves nothing behind, and a ticket is
        # recognised by identity, so a forged one never matches (ids of dead objects are reused; objects are not).
        self._tickets: weakref.WeakSet[_Ticket] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._pace = pace

    def _wait(self, seconds: float) -> None:
        if self._pace:
            self.stop.sleep(seconds)
        else:
            self.stop.check()

    def check(self, action: Action, *, confirmed: bool = False) -> CheckedAction:
        """The policy's verdict for `action` now. `confirmed`: the user approved a Confirm verdict."""
        verdict = self.checker.check(action, self._screen(), own_windows=self._own_windows())
        ticket = _Ticket()
        with self._lock:
            self._tickets.add(ticket)
        return CheckedAction(action, verdict, confirmed, ticket)

    def execute(self, checked: CheckedAction) -> Verdict:
        """Perform a checked action. Returns the re-check's verdict; nothing is done unless it allows."""
        with self._lock:
            if not isinstance(checked, CheckedAction) or checked._ticket not in self._tickets:
                raise UncheckedActionError("this action was not checked by this executor (or was already run)")
            self._tickets.discard(checked._ticket)
        if not checked.runnable:
            raise UncheckedActionError(f"refused actions cannot be executed ({checked.verdict.rule})")
        again = self.checker.check(checked.action, self._screen(), own_windows=self._own_windows())
        if not (isinstance(again, Allow) or (isinstance(again, Confirm) and checked.confirmed)):
            return again
        self.stop.check()
        with self.ledger.armed():  # the user's own input now pauses the run
            self._perform(checked.action)
        self.checker.record(checked.action)
        return again

    # -- composition of primitives -------------------------------------------------------------------

    def _call(self, function: Callable[..., Any], *args: Any) -> None:
        self.stop.check()
        with self.ledger.acting():
            try:
                function(*args)
            except Exception as exc:
                if type(exc).__name__ == "FailSafeException":  # pyautogui: pointer pushed into a corner
                    self.stop.stop("failsafe: the pointer was moved into a screen corner")
                    raise StoppedError("failsafe: the pointer was moved into a screen corner") from None
                raise

    def _move(self, x: int, y: int) -> None:
        self.ledger.note_point(x, y)
        self._call(self.driver.move, x, y)

    def _perform(self, action: Action) -> None:
        if isinstance(action, Click):
            self._move(action.x, action.y)
            self._wait(MOVE_SETTLE_S)
            for n in range(action.count):
                if n:
                    self._wait(CLICK_INTERVAL_S)
                self._call(self.driver.click, action.button)
        elif isinstance(action, Move):
            self._move(action.x, action.y)
        elif isinstance(action, Drag):
            self._drag(action)
        elif isinstance(action, Scroll):
            if action.x is not None and action.y is not None:
                self._move(action.x, action.y)
                self._wait(MOVE_SETTLE_S)
            for _ in range(action.amount):
                self._call(self.driver.scroll, action.direction, 1)
                self._wait(KEY_GAP_S)
        elif isinstance(action, Type):
            for start in range(0, len(action.text), TYPE_CHUNK_CHARS):
                self._call(self.driver.type_text, action.text[start : start + TYPE_CHUNK_CHARS])
        elif isinstance(action, Hotkey):
            self._hotkey(action.keys)
        elif isinstance(action, Wait):
            self._wait(action.seconds)
        elif isinstance(action, Finish):
            pass

    def _drag(self, action: Drag) -> None:
        if action.x is not None and action.y is not None:
            self._move(action.x, action.y)
            self._wait(MOVE_SETTLE_S)
        start_x, start_y = self.driver.position()
        self.ledger.note_point(start_x, start_y)
        self._call(self.driver.button_down, "left")
        try:
            steps = max(2, math.ceil(math.dist((start_x, start_y), (action.to_x, action.to_y)) / DRAG_STEP_PX))
            for i in range(1, steps + 1):
                x = round(start_x + (action.to_x - start_x) * i / steps)
                y = round(start_y + (action.to_y - start_y) * i / steps)
                self._move(x, y)
                self._wait(DRAG_STEP_S)
        finally:
            with self.ledger.acting():
                self.driver.button_up("left")  # always let go, even when stopped mid-drag

    def _hotkey(self, keys: tuple[str, ...]) -> None:
        held: list[str] = []
        try:
            for key in keys:
                self._call(self.driver.key_down, key)
                held.append(key)
                self._wait(KEY_GAP_S)
        finally:
            with self.ledger.acting():
                for key in reversed(held):  # released in reverse order, even when stopped half-way
                    self.driver.key_up(key)

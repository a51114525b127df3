"""The executor: performs checked actions only, through an input driver, one stoppable primitive at a time.

An action can only be executed through a `CheckedAction` that this executor issued from a policy check: a
one-shot ticket, checked at the door, that remembers the action, the verdict and the user's confirmation it
was issued for (a copy with another action or another confirmation is refused). The action is checked again
right before it runs, on the current screen. A scroll or drag "where the pointer is" is checked at the
pointer's real position, at both checks, and performed exactly there. Before every driver call the stop flag
is consulted; a stop or the user's own input mid-action releases whatever is held (keys, buttons) and raises.

Where the desktop offers an accessibility tree (`elements`, sandbox/accessibility/finder.py), both checks look
up the element at the action's point (a drag's start) and the policy judges a click with it; the check hands it
on (`CheckedAction.element`) so that the run can say what a point hits. No tree there: pixels alone decide.

`execute` returns an `Execution`: `Performed` (what ran, with its point resolved) or `Refused` (the re-check's
verdict); the loop, replay and `deskpilot act` all read it the same way.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sandbox.accessibility.finder import ElementAt
from sandbox.accessibility.tree import Element
from sandbox.actions import Action, Click, Drag, Finish, Hotkey, Move, Scroll, Type, Wait, action_points, assert_never
from sandbox.drivers import InputDriver
from sandbox.errors import StoppedError, UncheckedActionError
from sandbox.geometry import Rect, ScreenGeometry
from sandbox.policy import Allow, Confirm, Deny, PolicyChecker, Verdict
from sandbox.stop import SelfInputLedger, StopFlag

MOVE_SETTLE_S = 0.02  # after moving onto a target, before pressing: apps see the hover first
CLICK_INTERVAL_S = 0.04  # between the clicks of a double/triple click (well under any double-click time)
DRAG_STEP_PX = 40  # a drag moves in steps this long, so apps see the motion (and stop can cut in)
DRAG_STEP_S = 0.01
KEY_GAP_S = 0.01
TYPE_CHUNK_CHARS = 8  # text is typed in chunks; the stop flag is checked between them
Pointer = Callable[[], "tuple[int, int] | None"]
UNKNOWN_POINTER = Deny("off_screen", "the pointer's position cannot be read, so where this would act is unknown")


class _Ticket:
    """Proof that this executor issued a check, for this action, verdict and confirmation; compared by identity."""

    __slots__ = ("__weakref__", "action", "confirmed", "verdict")

    def __init__(self, action: Action, verdict: Verdict, confirmed: bool) -> None:
        self.action, self.verdict, self.confirmed = action, verdict, confirmed


@dataclass(frozen=True, slots=True)
class CheckedAction:
    """An action with the verdict the policy gave it; only the issuing executor can run it, once, unaltered.
    `element`: what its point hit in the accessibility tree at the check (None: no tree answered there)."""

    action: Action
    verdict: Verdict
    confirmed: bool
    _ticket: _Ticket = field(repr=False, compare=False)
    element: Element | None = None

    @property
    def runnable(self) -> bool:
        return isinstance(self.verdict, Allow) or (isinstance(self.verdict, Confirm) and self.confirmed)


@dataclass(frozen=True, slots=True)
class Performed:
    """The action ran. `action` is what ran: a point "where the pointer is" resolved to where it was."""

    action: Action
    verdict: Allow | Confirm  # the re-check's (a Confirm only when the user confirmed)
    elapsed_s: float


@dataclass(frozen=True, slots=True)
class Refused:
    """The re-check right before running refused it (the screen changed, a limit was reached): nothing ran."""

    action: Action
    verdict: Deny | Confirm


Execution = Performed | Refused


def at_pointer(action: Action, pointer: tuple[int, int]) -> Action:
    """A scroll or drag "where the pointer is" as the same action at `pointer`; any other action unchanged."""
    if isinstance(action, (Scroll, Drag)) and action.x is None:
        return dataclasses.replace(action, x=pointer[0], y=pointer[1])
    return action


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
        pointer: Pointer | None = None,
        pace: bool = True,
        elements: ElementAt | None = None,
    ) -> None:
        """`pointer`: where the pointer is now (default: the driver's); `pace=False` skips the waits that give
        real apps time to react (for dry runs: nothing reacts); `elements`: the accessible element at a screen
        point (None: this desktop offers no tree, pixels alone decide)."""
        self.checker = checker
        self.driver = driver
        self.stop = stop or StopFlag()
        self.ledger = ledger or SelfInputLedger()
        self._screen = screen
        self._own_windows = own_windows
        self._pointer: Pointer = pointer or driver.position
        # Held weakly: a check that is never executed (refused, rejected) leaves nothing behind, and a ticket is
        # recognised by identity, so a forged one never matches (ids of dead objects are reused; objects are not).
        self._tickets: weakref.WeakSet[_Ticket] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._pace = pace
        self._elements = elements

    def _wait(self, seconds: float) -> None:
        if self._pace:
            self.stop.sleep(seconds)
        else:
            self.stop.check()

    def check(self, action: Action, *, confirmed: bool = False) -> CheckedAction:
        """The policy's verdict for `action` now. `confirmed`: the user approved a Confirm verdict."""
        _, verdict, element = self._verdict(action)
        ticket = _Ticket(action, verdict, confirmed)
        with self._lock:
            self._tickets.add(ticket)
        return CheckedAction(action, verdict, confirmed, ticket, element)

    def _verdict(self, action: Action) -> tuple[Action, Verdict, Element | None]:
        """The action located where it would act now, the element at its point, and the policy's verdict."""
        if isinstance(action, (Scroll, Drag)) and action.x is None:
            pointer = self._pointer()
            if pointer is None:
                return action, UNKNOWN_POINTER, None
            action = at_pointer(action, pointer)
        points = action_points(action)
        element = self._elements(*points[0]) if points and self._elements is not None else None
        verdict = self.checker.check(action, self._screen(), own_windows=self._own_windows(), element=element)
        return action, verdict, element

    def execute(self, checked: CheckedAction) -> Execution:
        """Perform a checked action, unless the re-check right before it refuses. Raises UncheckedActionError
        for anything this executor did not issue (or issued for another action or confirmation)."""
        ticket = checked._ticket if isinstance(checked, CheckedAction) else None
        with self._lock:
            if ticket is None or ticket not in self._tickets:
                raise UncheckedActionError("this action was not checked by this executor (or was already run)")
            self._tickets.discard(ticket)
        if (checked.action, checked.verdict, checked.confirmed) != (ticket.action, ticket.verdict, ticket.confirmed):
            raise UncheckedActionError("this check was issued for another action or confirmation; check it again")
        if not checked.runnable:
            raise UncheckedActionError(f"refused actions cannot be executed ({checked.verdict.rule})")
        located, again, _ = self._verdict(ticket.action)
        if isinstance(again, Deny) or (isinstance(again, Confirm) and not ticket.confirmed):
            return Refused(located, again)
        self.stop.check()
        started = time.perf_counter()
        with self.ledger.armed():  # the user's own input now pauses the run
            self._perform(located)
        self.checker.record(located)
        return Performed(located, again, time.perf_counter() - started)

    # -- composition of primitives -------------------------------------------------------------------

    def _call(self, function: Callable[..., Any], *args: Any) -> None:
        self.stop.check()
        with self.ledger.acting():
            try:
                function(*args)
            except StoppedError as exc:  # the driver's own stop (FailSafeError): the whole run ends, not one action
                self.stop.stop(str(exc))
                raise

    def _move(self, x: int, y: int) -> None:
        self.ledger.note_point(x, y)
        self._call(self.driver.move, x, y)

    def _perform(self, action: Action) -> None:
        match action:
            case Click():
                self._move(action.x, action.y)
                self._wait(MOVE_SETTLE_S)
                for n in range(action.count):
                    if n:
                        self._wait(CLICK_INTERVAL_S)
                    self._call(self.driver.click, action.button)
            case Move():
                self._move(action.x, action.y)
            case Drag():
                self._drag(action)
            case Scroll():
                if action.x is not None and action.y is not None:
                    self._move(action.x, action.y)
                    self._wait(MOVE_SETTLE_S)
                for _ in range(action.amount):
                    self._call(self.driver.scroll, action.direction, 1)
                    self._wait(KEY_GAP_S)
            case Type():
                for start in range(0, len(action.text), TYPE_CHUNK_CHARS):
                    self._call(self.driver.type_text, action.text[start : start + TYPE_CHUNK_CHARS])
            case Hotkey():
                self._hotkey(action.keys)
            case Wait():
                self._wait(action.seconds)
            case Finish():
                pass
            case _:
                assert_never(action)

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

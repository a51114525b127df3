"""A desktop deskpilot cannot act on (a Wayland compositor with no capture or input route it can use).

Choosing it is not an error: the window still opens and `doctor` still reports. Anything that would look at or
act on it raises the one-line refusal (DriverError: exit 2 on the command line) before anything is done, so
no command ever pretends that input was delivered where the compositor drops it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NoReturn

from sandbox.errors import DriverError
from sandbox.geometry import Rect
from sandbox.stop import SelfInputLedger, StopFlag


@dataclass(frozen=True, slots=True, kw_only=True)
class RefusedDesktop:
    """No route: `reason` is the line every command says instead of acting."""

    reason: str

    @property
    def name(self) -> str:
        return "refused"

    def capture(self) -> NoReturn:
        raise DriverError(self.reason)

    def driver(self, name: str) -> NoReturn:
        raise DriverError(self.reason)

    def stacking(self) -> None:
        return None

    def stop_route(self, flag: StopFlag, combo: str) -> None:
        return None

    def user_input_watcher(
        self,
        flag: StopFlag,
        ledger: SelfInputLedger,
        *,
        auto_resume_after_s: float | None,
        own_windows: Callable[[], Sequence[Rect]],
    ) -> None:
        return None

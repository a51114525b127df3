"""A desktop with no display at all: one fixed monitor, input only recorded (`deskpilot act --dry-run --screen`).

The policy still needs a screen to check an action against (off-screen points, monitors, deskpilot's own
windows), and the executor a pointer for a scroll or drag "where the pointer is"; both come from here, so a
dry run can be checked on a machine without X. Nothing is there to look at: a grab fails (DriverError), and
there is no keyboard to hear a stop key on nor person's input to watch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sandbox.capture import Screenshot
from sandbox.drivers import DryRunDriver
from sandbox.errors import DriverError
from sandbox.geometry import Rect, ScreenGeometry
from sandbox.stop import SelfInputLedger, StopFlag


@dataclass(frozen=True, slots=True, kw_only=True)
class FixedScreen:
    """One monitor of a fixed size; the pointer is wherever `where()` says (the dry-run driver put it)."""

    screen: ScreenGeometry
    where: Callable[[], tuple[int, int]]

    def geometry(self) -> ScreenGeometry:
        return self.screen

    def grab(self, monitor: int = 0, *, mask: Sequence[Rect] = ()) -> Screenshot:
        width, height = self.screen.monitors[0].width, self.screen.monitors[0].height
        raise DriverError(f"cannot capture the screen: a dry run against a fixed {width}x{height} screen has none")

    def pointer(self) -> tuple[int, int] | None:
        return self.where()

    def close(self) -> None:
        pass


@dataclass(frozen=True, slots=True, kw_only=True)
class DryRunDesktop:
    """A `width`x`height` screen and a DryRunDriver, whatever driver is asked for: nothing is performed."""

    width: int
    height: int
    recorder: DryRunDriver = field(default_factory=DryRunDriver)

    @property
    def name(self) -> str:
        return "dry-run"

    def capture(self) -> FixedScreen:
        return FixedScreen(screen=ScreenGeometry.single(self.width, self.height), where=self.recorder.position)

    def driver(self, name: str) -> DryRunDriver:
        return self.recorder

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

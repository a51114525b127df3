"""The X11 desktop: deskpilot's first route, composed of the parts that already speak X.

- capture: mss on the acting display, the pointer read with Xlib (sandbox/capture.py);
- input: XTest on the acting display for every key, character and pointer event, whichever driver is named
  (pyautogui keeps its corner fail-safe for the pointer), characters the layout lacks through spare keycodes
  (sandbox/drivers.py, sandbox/desktops/x11_input.py);
- stacking: the X stacking order of the acting display (sandbox/desktops/x11_stacking.py);
- the stop key: pynput on the person's OWN display ($DISPLAY), even when the agent acts on a nested one
  (`--isolated`, sandbox/display.py): a key pressed on their desktop must always stop the run;
- the person's input: pynput listeners on the acting display (sandbox/stop.py).
These parts are cross-platform where their libraries are (mss, pynput, pyautogui), so Windows and macOS go
through this route too until each has its own; the X-only steps (display names, the Xlib pointer, the stacking
order, XTest) are skipped there.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sandbox.capture import ScreenCapture
from sandbox.desktops.x11_stacking import X11Stacking
from sandbox.drivers import InputDriver, make_driver
from sandbox.geometry import Rect
from sandbox.stop import SelfInputLedger, StopFlag, StopKeyListener, UserInputWatcher


@dataclass(frozen=True, slots=True, kw_only=True)
class X11Desktop:
    """The X display `display` (None: $DISPLAY, the person's own)."""

    display: str | None = None

    @property
    def name(self) -> str:
        return "x11"

    def capture(self) -> ScreenCapture:
        return ScreenCapture(display=self.display)

    def driver(self, name: str) -> InputDriver:
        return make_driver(name, display=self.display)

    def stacking(self) -> X11Stacking | None:
        """The stacking order of the acting display; None off X11 (no stacking order to read there)."""
        if not sys.platform.startswith("linux"):
            return None
        return X11Stacking(self.display)

    def stop_route(self, flag: StopFlag, combo: str) -> StopKeyListener:
        return StopKeyListener(flag, combo)  # no display: the person's own, whichever one the agent acts on

    def user_input_watcher(
        self,
        flag: StopFlag,
        ledger: SelfInputLedger,
        *,
        auto_resume_after_s: float | None,
        own_windows: Callable[[], Sequence[Rect]],
    ) -> UserInputWatcher:
        return UserInputWatcher(
            flag, ledger, auto_resume_after_s=auto_resume_after_s, display=self.display, own_windows=own_windows
        )

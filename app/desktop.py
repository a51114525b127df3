"""The composition root: the desktop deskpilot acts on, with every guard in place, built in one place.

`open_desktop(options)` is used by `run`, `act`, `replay`, `calibrate`, the window's run worker and the
session browser. Inside it:

- the policy (--policy FILE, else the user's file, else the bundled default), with the stop key forbidden;
- the isolated display (`--isolated`), its programs launched;
- screen capture on the display the agent acts on;
- the stop flag and the stop key, listening on the person's OWN display (under --isolated too);
- the input driver (a dry-run driver when nothing is to be performed), bound to the acting display;
- the user-input watcher on the acting display (only when acting for real): the person's input pauses;
- the executor, which checks every action against the policy, at the pointer's real position where an
  action has none of its own.
Everything is closed in reverse order when the block ends.
"""

from __future__ import annotations

import contextlib
import shlex
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from sandbox.capture import ScreenCapture
from sandbox.display import IsolatedDisplay
from sandbox.drivers import DryRunDriver, make_driver
from sandbox.executor import Executor
from sandbox.geometry import Rect, ScreenGeometry
from sandbox.policy import Policy, PolicyChecker
from sandbox.policy_file import load_policy
from sandbox.stop import DEFAULT_STOP_KEY, SelfInputLedger, StopFlag, StopKeyListener, UserInputWatcher

RESUME_AFTER_IDLE_S = 3.0  # the command line goes on once the person's own input has been idle this long


@dataclass(frozen=True, slots=True)
class DesktopOptions:
    policy_file: Path | None = None
    stop_key: str = DEFAULT_STOP_KEY
    driver: str = "pyautogui"
    dry_run: bool = False  # decide everything, perform nothing: a dry-run driver, no pacing, no input watcher
    isolated: bool = False  # act on a private nested X display instead of the person's
    launch: tuple[str, ...] = ()  # with isolated: programs started in it first
    resume_after_idle_s: float | None = None  # the person's input pauses; None: only Resume goes on (the window)
    screen: tuple[int, int] | None = None  # check against one WxH monitor with no display at all (act --dry-run)
    listen_for_stop_key: bool = True


@dataclass(frozen=True, slots=True)
class Desktop:
    policy: Policy
    executor: Executor
    stop: StopFlag
    capture: ScreenCapture | None  # None only with DesktopOptions.screen
    isolated: IsolatedDisplay | None


@contextlib.contextmanager
def open_desktop(
    options: DesktopOptions,
    *,
    own_windows: Callable[[], Sequence[Rect]] = tuple,
    stop: StopFlag | None = None,
    announce: Callable[[str], None] | None = None,
) -> Iterator[Desktop]:
    """The desktop, ready to act on; SandboxError (PolicyError, DriverError) when it cannot be.

    `own_windows`: deskpilot's own visible windows (never clicked, greyed out of screenshots); `stop`: a flag
    the caller also holds (the window's Stop button); `announce`: where a line such as "isolated display :40
    (Xephyr)" goes (default stderr).
    """
    policy = load_policy(options.policy_file).with_forbidden_hotkey(options.stop_key)
    stop = stop or StopFlag()
    say = announce or (lambda line: print(line, file=sys.stderr, flush=True))
    with contextlib.ExitStack() as stack:
        isolated = None
        acting: str | None = None  # the X display the agent acts on; None: the person's own ($DISPLAY)
        if options.isolated:
            isolated = stack.enter_context(IsolatedDisplay())
            acting = isolated.name
            for command in options.launch:
                isolated.launch(shlex.split(command))
            say(f"isolated display {acting} ({isolated.server})")
        capture: ScreenCapture | None = None
        if options.screen is not None:
            fixed = ScreenGeometry.single(*options.screen)
            screen: Callable[[], ScreenGeometry] = lambda: fixed  # noqa: E731
        else:
            capture = stack.enter_context(ScreenCapture(display=acting))
            capture.geometry()  # no usable display: one clear error now, before any listener starts
            screen = capture.geometry
        ledger = SelfInputLedger()
        driver = DryRunDriver() if options.dry_run else make_driver(options.driver, display=acting)
        executor = Executor(
            checker=PolicyChecker(policy),
            driver=driver,
            screen=screen,
            stop=stop,
            ledger=ledger,
            own_windows=own_windows,
            pointer=capture.pointer if capture is not None else None,
            pace=not options.dry_run,
        )
        if options.listen_for_stop_key:
            stack.enter_context(StopKeyListener(stop, options.stop_key))  # the person's display, always
        if not options.dry_run:
            watcher = UserInputWatcher(
                stop, ledger, auto_resume_after_s=options.resume_after_idle_s, display=acting, own_windows=own_windows
            )
            stack.enter_context(watcher)
        yield Desktop(policy, executor, stop, capture, isolated)

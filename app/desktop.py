"""The composition root: the desktop deskpilot acts on, with every guard in place, built in one place.

`open_desktop(options)` is used by `run`, `act`, `replay`, `calibrate`, the window's run worker and the
session browser. Inside it:

- the policy (--policy FILE, else the user's file, else the bundled default), with the stop key forbidden;
- the isolated display (`--isolated`), its programs launched;
- the desktop route (sandbox/desktops/), chosen here and only here: on a Wayland session ($WAYLAND_DISPLAY or
  $XDG_SESSION_TYPE; $DISPLAY is then XWayland and never the desktop) the wlroots route where the compositor
  offers its protocols, Mutter's own interfaces on GNOME, the XDG desktop portal on KDE (and where the others
  fail), else a refusal said before anything is done; X11 on the acting display otherwise; with
  `DesktopOptions.screen`, a dry-run desktop with one fixed monitor and no display at all;
- its screen capture (on the display the agent acts on);
- the stop flag and the route's stop key, listening on the person's OWN display (under --isolated too), and
  `deskpilot stop` from any other process of this user (the stop route on Wayland);
- the route's input driver (its dry-run driver when nothing is to be performed);
- the route's user-input watcher on the acting display (only when acting for real): the person's input pauses;
- the route's top-level windows (`windows`: place, title, focus; the OCR grounder tells windows apart with them);
- the executor, which checks every action against the policy, at the pointer's real position where an
  action has none of its own.
Everything is closed in reverse order when the block ends.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from loguru import logger

from sandbox.accessibility.finder import ElementFinder
from sandbox.accessibility.tree import Element
from sandbox.desktops.base import DesktopRoute, ScreenSource, TopWindow, WindowStacking
from sandbox.desktops.dry_run import DryRunDesktop
from sandbox.desktops.mutter import MutterDesktop, probe_mutter
from sandbox.desktops.portal import DbusProbe, PortalDesktop, probe_portal
from sandbox.desktops.refused import RefusedDesktop
from sandbox.desktops.remote_input import RemoteDesktopDriver
from sandbox.desktops.session import Session, detect_session
from sandbox.desktops.wlroots import RouteCheck, WlrootsDesktop, WlrootsDriver, WlrootsProbe, probe_wlroots
from sandbox.desktops.x11 import X11Desktop
from sandbox.display import IsolatedDisplay
from sandbox.drivers import DRY_RUN_DRIVER
from sandbox.errors import DriverError
from sandbox.executor import Executor
from sandbox.geometry import Rect
from sandbox.policy import Policy, PolicyChecker
from sandbox.policy_file import load_policy
from sandbox.stop import DEFAULT_STOP_KEY, SelfInputLedger, StopCommandListener, StopFlag

RESUME_AFTER_IDLE_S = 3.0  # the command line goes on once the person's own input has been idle this long


@dataclass(frozen=True, slots=True, kw_only=True)
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


@dataclass(frozen=True, slots=True, kw_only=True)
class Desktop:
    policy: Policy
    executor: Executor
    stop: StopFlag
    capture: ScreenSource
    isolated: IsolatedDisplay | None
    own_windows: Callable[[], Sequence[Rect]]  # deskpilot's windows, this process's and every other one's
    # every top-level window, bottom to top, with its place, title and focus (none where the route cannot say)
    windows: Callable[[], Sequence[TopWindow]] = tuple
    # every showing accessible element with its text and labels (none without an accessibility tree)
    elements: Callable[[], Sequence[Element]] = tuple


def desktop_route(
    *, display: str | None = None, screen: tuple[int, int] | None = None, session: Session | None = None
) -> DesktopRoute:
    """The route to the desktop deskpilot acts on: with `screen` (WxH) a dry-run desktop with no display; X11 on
    `display` (a nested display deskpilot started); else the person's own session (`session`, default the one
    detected): on Wayland the route `choose_wayland` finds (a refusal where none works), X11 on $DISPLAY otherwise (and on Windows and macOS, whose parts go through the same libraries)."""
    if screen is not None:
        return DryRunDesktop(width=screen[0], height=screen[1])
    if display is not None:
        return X11Desktop(display=display)
    session = session or detect_session()
    if session.kind == "wayland":
        return choose_wayland(session).route
    return X11Desktop(display=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class WaylandChoice:
    """The route for a Wayland session (a refusal when none works) and what was found for capture and input."""

    route: DesktopRoute
    capture: RouteCheck
    input: RouteCheck


def choose_wayland(session: Session) -> WaylandChoice:
    """GNOME: Mutter's own RemoteDesktop and ScreenCast (else the portal's Screenshot), else the portal; KDE and
    other non-wlroots desktops: the XDG desktop portal; wlroots compositors (and unknown ones): their protocols,
    else the portal. Nothing is asked of the person here: the portal's dialog comes when a run starts."""
    routes: list[tuple[Callable[[], DesktopRoute], Callable[[], WlrootsProbe | DbusProbe]]] = []
    if session.compositor == "gnome":
        routes.append((MutterDesktop, probe_mutter))
    if session.compositor not in ("gnome", "kde", "cosmic"):
        routes.append((lambda: WlrootsDesktop(compositor=session.compositor), probe_wlroots))
    routes.append((lambda: PortalDesktop(compositor=session.compositor), probe_portal))
    first: WlrootsProbe | DbusProbe | None = None
    for make, probe_route in routes:
        probe = probe_route()
        if probe.capture.ok and probe.input.ok:
            return WaylandChoice(route=make(), capture=probe.capture, input=probe.input)
        first = first or probe  # the compositor's own route says best what is missing
    assert first is not None
    refused = RefusedDesktop(reason=wayland_refusal(session, first))
    return WaylandChoice(route=refused, capture=first.capture, input=first.input)


def wayland_refusal(session: Session, probe: WlrootsProbe | DbusProbe) -> str:
    """The one line every acting command says on a Wayland compositor it has no route for."""
    where = f"Wayland ({session.compositor})" if session.compositor else "Wayland"
    missing = [
        f"no {part} route ({check.why})"
        for part, check in (("screen capture", probe.capture), ("input", probe.input))
        if not check.ok
    ]
    return f"{where}: deskpilot cannot act here: {'; '.join(missing)}; run `deskpilot doctor` for what to do"


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
        route = desktop_route(display=acting, screen=options.screen)
        capture = stack.enter_context(contextlib.closing(route.capture()))
        capture.geometry()  # no usable display: one clear error now, before any listener starts
        stacking = route.stacking()
        if stacking is not None:
            stack.callback(stacking.close)
        own_windows = _every_deskpilot(own_windows, stacking)
        ledger = SelfInputLedger()
        driver = route.driver(DRY_RUN_DRIVER if options.dry_run else options.driver)
        if isinstance(driver, (WlrootsDriver, RemoteDesktopDriver)):  # held keys released, virtual devices gone
            stack.callback(driver.close)
        # the accessible element at a point (X11: the stacking order says which window is on top there)
        elements = None
        if route.name == "x11" and stacking is not None:
            elements = ElementFinder(display=acting, a11y_address=os.environ.get("AT_SPI_BUS_ADDRESS") or None)
            stack.callback(elements.close)
        executor = Executor(
            checker=PolicyChecker(policy),
            elements=elements,
            driver=driver,
            screen=capture.geometry,
            stop=stop,
            ledger=ledger,
            own_windows=own_windows,
            pointer=capture.pointer,
            pace=not options.dry_run,
        )
        stop_key = route.stop_route(stop, options.stop_key) if options.listen_for_stop_key else None
        if stop_key is not None:
            stack.enter_context(stop_key)  # the person's display, always
        if options.screen is None:  # `deskpilot stop`, from a key the compositor binds; the panel's Stop otherwise
            try:
                stack.enter_context(StopCommandListener(stop))
            except DriverError as exc:
                say(f"{exc}: stop this run with the stop key or the panel's Stop")
        if not options.dry_run:
            watcher = route.user_input_watcher(
                stop, ledger, auto_resume_after_s=options.resume_after_idle_s, own_windows=own_windows
            )
            if watcher is not None:
                stack.enter_context(watcher)
        yield Desktop(
            policy=policy,
            executor=executor,
            stop=stop,
            capture=capture,
            isolated=isolated,
            own_windows=own_windows,
            windows=_top_windows(stacking),
            elements=elements.showing if elements is not None else tuple,
        )


def _top_windows(stacking: WindowStacking | None) -> Callable[[], Sequence[TopWindow]]:
    """The route's top-level windows, read afresh at each call (none without a stacking order, or when it changed
    while it was read: the OCR grounder then matches texts as if on one window)."""
    if stacking is None:
        return tuple

    def windows() -> list[TopWindow]:
        try:
            return stacking.top_windows()
        except DriverError as exc:
            logger.warning(f"{exc}; which window each text is in is not known this time")
            return []

    return windows


def _every_deskpilot(
    own: Callable[[], Sequence[Rect]], stacking: WindowStacking | None
) -> Callable[[], Sequence[Rect]]:
    """This process's own windows and those of every other deskpilot process (X11: they carry deskpilot's mark,
    app/gui/run/x_mark.py): `deskpilot run` beside the open window neither reads nor presses the window's buttons."""
    if stacking is None:
        return own

    def every() -> list[Rect]:
        try:
            others = stacking.deskpilot_parts(except_pid=os.getpid())
        except DriverError as exc:
            logger.warning(f"{exc}; the windows of other deskpilot processes are not known this time")
            others = []
        return [*own(), *others]

    return every

"""The waits at a step boundary, shared by the loop, replay, calibration and `deskpilot act`.

- `settle`: grab frames until two in a row barely differ (or a cap), so the model (or a comparison) sees a
  finished screen. The frame it ends on is the one to use: no second grab, so nothing can change between
  the frame judged still and the frame that is read.
- `wait_for_change`: after an action, grab until the screen differs from the frame before it (agent/effects.py),
  then settle; a menu or dialog that opens within the cap is what the next look sees. When nothing changes by
  the cap, the newest frame is used as it is.
- `wait_if_paused`: while the run is paused (the user's own input, the window's Pause), wait, saying so with
  RunPaused / RunResumed events; only a stop ends the wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from agent.effects import Effect, focus_moved, screen_change
from agent.events import RunPaused, RunResumed
from agent.imaging import difference, fingerprint
from sandbox.capture import Screenshot
from sandbox.geometry import Rect, ScreenGeometry
from sandbox.stop import StopFlag

STILL_DIFFERENCE = 0.5  # mean grey difference (0..255) of two frames' fingerprints below which the screen is still
SETTLE_CAP_S = 2.0
SETTLE_POLL_S = 0.05
CHANGE_CAP_S = 3.0  # after an action, how long the next look waits for the screen to change (a setting)
MAX_CHANGE_WAIT_S = 30.0  # the most that setting may be


class Capturer(Protocol):
    """What the loop, replay and calibration need of sandbox.capture.ScreenCapture."""

    def geometry(self) -> ScreenGeometry: ...
    def grab(self, monitor: int = 0, *, mask: Sequence[Rect] = ()) -> Screenshot: ...


@runtime_checkable
class FocusReader(Protocol):
    """A capture that can also say which window has the keyboard focus (sandbox.capture.ScreenCapture on X11)."""

    def focus(self) -> int | None: ...


def read_focus(capture: object) -> int | None:
    """The focused window's id where the capture can tell, else None."""
    return capture.focus() if isinstance(capture, FocusReader) else None


@dataclass(frozen=True, slots=True)
class Settled:
    shot: Screenshot  # the last frame grabbed: the one judged still (or the newest when the cap was reached)
    waited_s: float


def settle(
    capture: Capturer,
    monitor: int,
    stop: StopFlag,
    *,
    mask: Callable[[], Sequence[Rect]] = tuple,
    threshold: float = STILL_DIFFERENCE,
    cap_s: float = SETTLE_CAP_S,
    poll_s: float = SETTLE_POLL_S,
) -> Settled:
    """Grab `monitor` (with `mask()` greyed out) until two frames in a row differ by less than `threshold`,
    or `cap_s` has passed. A pause does not interrupt it (nothing acts); a stop does (StoppedError)."""
    started = time.perf_counter()
    previous = b""
    while True:
        shot = capture.grab(monitor, mask=mask())
        current = fingerprint(shot.image)
        if (previous and difference(previous, current) < threshold) or time.perf_counter() - started >= cap_s:
            return Settled(shot, time.perf_counter() - started)
        previous = current
        stop.sleep(poll_s, pause_interrupts=False)


@dataclass(frozen=True, slots=True)
class Changed:
    shot: Screenshot  # the settled frame after the change, or the newest one when nothing changed by the cap
    waited_s: float
    changed: bool


def wait_for_change(
    capture: Capturer,
    monitor: int,
    stop: StopFlag,
    *,
    before: Screenshot,
    points: Sequence[tuple[int, int]] = (),
    mask: Callable[[], Sequence[Rect]] = tuple,
    cap_s: float = CHANGE_CAP_S,
    settle_cap_s: float = SETTLE_CAP_S,
    poll_s: float = SETTLE_POLL_S,
) -> Changed:
    """Grab until the screen differs from `before` (near `points` or anywhere: agent.effects.screen_change),
    then settle; after `cap_s` with no change, the newest frame. A stop ends it (StoppedError); a pause does not."""
    started = time.perf_counter()
    while True:
        shot = capture.grab(monitor, mask=mask())
        if screen_change(before, shot, points) != "none":
            settled = settle(capture, monitor, stop, mask=mask, cap_s=settle_cap_s, poll_s=poll_s)
            return Changed(settled.shot, time.perf_counter() - started, True)
        if time.perf_counter() - started >= cap_s:
            return Changed(shot, time.perf_counter() - started, False)
        stop.sleep(poll_s, pause_interrupts=False)


def look_after(
    capture: Capturer,
    monitor: int,
    stop: StopFlag,
    *,
    before: Screenshot,
    focus_before: int | None,
    points: Sequence[tuple[int, int]] = (),
    mask: Callable[[], Sequence[Rect]] = tuple,
    cap_s: float = CHANGE_CAP_S,
    settle_cap_s: float = SETTLE_CAP_S,
    poll_s: float = SETTLE_POLL_S,
) -> tuple[Changed, Effect]:
    """The look after actions that touched `points`: wait for a change (`wait_for_change`), and what changed
    since `before` (near the points or elsewhere) and whether the focus moved since `focus_before`."""
    changed = wait_for_change(
        capture,
        monitor,
        stop,
        before=before,
        points=points,
        mask=mask,
        cap_s=cap_s,
        settle_cap_s=settle_cap_s,
        poll_s=poll_s,
    )
    effect = Effect(
        screen=screen_change(before, changed.shot, points),
        focus_moved=focus_moved(focus_before, read_focus(capture)),
        waited_s=changed.waited_s,
    )
    return changed, effect


def wait_if_paused(
    stop: StopFlag, step: int, *, paused: str | None = None
) -> Generator[RunPaused | RunResumed, None, bool]:
    """While paused, wait (yielding RunPaused, then RunResumed); False when the run was stopped meanwhile.

    `paused`: the reason of a pause that already interrupted an action (sandbox.errors.PausedByUserError's
    message); it is said, and waited out, even when the pause ended before this call."""
    if paused is None:
        if not stop.paused:
            return not stop.stopped
        paused = stop.pause_reason or "paused"
    yield RunPaused(step=step, reason=paused)
    if not stop.wait_while_paused():
        return False
    yield RunResumed(step=step)
    return True

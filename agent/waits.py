"""The two waits at a step boundary, shared by the loop, replay and calibration.

- `settle`: grab frames until two in a row barely differ (or a cap), so the model (or a comparison) sees a
  finished screen. The frame it ends on is the one to use: no second grab, so nothing can change between
  the frame judged still and the frame that is read.
- `wait_if_paused`: while the run is paused (the user's own input, the window's Pause), wait, saying so with
  RunPaused / RunResumed events; only a stop ends the wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Protocol

from agent.events import RunPaused, RunResumed
from agent.imaging import difference, fingerprint
from sandbox.capture import Screenshot
from sandbox.geometry import Rect, ScreenGeometry
from sandbox.stop import StopFlag

STILL_DIFFERENCE = 0.5  # mean grey difference (0..255) of two frames' fingerprints below which the screen is still
SETTLE_CAP_S = 2.0
SETTLE_POLL_S = 0.05


class Capturer(Protocol):
    """What the loop, replay and calibration need of sandbox.capture.ScreenCapture."""

    def geometry(self) -> ScreenGeometry: ...
    def grab(self, monitor: int = 0, *, mask: Sequence[Rect] = ()) -> Screenshot: ...


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

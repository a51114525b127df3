"""Replaying a recorded session through the sandbox: a recording is data, not permission.

Only what executed in the recording is performed, in order, each action checked by the CURRENT policy
through the executor it is given (the CLI's or the window's). Before anything runs: the screen geometry
must equal the recorded one, and every action must pass the policy (a deny, or a confirm without `yes`,
refuses the whole replay). Before each step: wait for the screen to settle, then compare the screen around
every point the step touches with the recorded screenshot; too much change stops the replay there.

`replay_session` yields ReplayEvents and ends with exactly one ReplayFinished; no UI, no drivers.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from PIL import Image, ImageChops, ImageStat

from agent.errors import SessionError
from agent.events import RunPaused, RunResumed
from agent.session.records import Session, StepRecord
from agent.waits import Capturer, settle, wait_if_paused
from sandbox.actions import Action, Finish, action_points, describe
from sandbox.errors import DriverError, PausedByUserError, SandboxError, StoppedError
from sandbox.executor import Executor, Refused
from sandbox.geometry import Monitor, Rect, ScreenGeometry
from sandbox.policy import Confirm, Deny, Verdict
from sandbox.text import shorten

ReplayOutcome = Literal["done", "mismatch", "refused", "stopped", "error"]
PATCH_PX = 96  # side of the square compared around each point, physical pixels
MAX_DIFFERENCE = 12.0  # mean grey difference (0..255) of a patch above which the screen has changed
MAX_PAUSE_S = 30.0  # a recorded pause longer than this (the user went for coffee) is cut to it
SCALE_TOLERANCE = 1e-6
HINT_CHARS = 100  # of the thought's first line, in the message that stops a replay


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    dry_run: bool = False  # check everything, perform nothing (the executor should have a dry-run driver)
    yes: bool = False  # perform actions whose current verdict is `confirm`
    speed: float = 1.0  # recorded pauses between actions are divided by this; 0 = no pauses
    patch_px: int = PATCH_PX
    max_difference: float = MAX_DIFFERENCE


@dataclass(frozen=True, slots=True)
class PlannedAction:
    step: int
    index: int
    action: Action
    started: float  # time.time() in the recording
    ended: float


@dataclass(frozen=True, slots=True)
class PlannedStep:
    record: StepRecord
    actions: tuple[PlannedAction, ...]

    @property
    def step(self) -> int:
        return self.record.step


@dataclass(frozen=True, slots=True)
class ReplayStarted:
    steps: int
    actions: int
    dry_run: bool


@dataclass(frozen=True, slots=True)
class ReplayStepStarted:
    step: int
    actions: tuple[Action, ...]


@dataclass(frozen=True, slots=True)
class ScreenCompared:
    step: int
    point: tuple[int, int]
    difference: float


@dataclass(frozen=True, slots=True)
class ReplayActionDone:
    step: int
    index: int
    action: Action
    verdict: Verdict
    performed: bool  # False in a dry run


@dataclass(frozen=True, slots=True)
class ReplayFinished:
    outcome: ReplayOutcome
    reason: str
    steps: int  # steps fully replayed
    actions: int  # actions performed (or, in a dry run, checked)
    step: int | None = None  # the step where it stopped, if it did


ReplayEvent = (
    ReplayStarted | ReplayStepStarted | ScreenCompared | ReplayActionDone | RunPaused | RunResumed | ReplayFinished
)
BeforeStep = Callable[[PlannedStep], bool]  # False: stop before this step


def plan(session: Session) -> tuple[PlannedStep, ...]:
    """What executed in the recording, step by step (finish is not an action on the screen)."""
    planned = []
    for record in session.steps:
        actions = tuple(
            PlannedAction(record.step, a.index, a.executed.action, a.executed.started, a.executed.at)
            for a in record.actions
            if a.executed is not None and not isinstance(a.executed.action, Finish)
        )
        if actions:
            planned.append(PlannedStep(record, actions))
    return tuple(planned)


def _monitor_text(m: Monitor) -> str:
    return f"{m.width}x{m.height} at ({m.x}, {m.y}) scale {m.scale:g}"


def geometry_mismatch(recorded: ScreenGeometry, now: ScreenGeometry) -> str | None:
    """Why the screen now differs from the recorded one (names ignored), or None when it is the same."""

    def same(a: Monitor, b: Monitor) -> bool:
        return (a.x, a.y, a.width, a.height) == (b.x, b.y, b.width, b.height) and abs(
            a.scale - b.scale
        ) < SCALE_TOLERANCE

    if len(recorded.monitors) == len(now.monitors) and all(map(same, recorded.monitors, now.monitors)):
        return None
    return (
        "the screen is not the one recorded: recorded "
        + "; ".join(map(_monitor_text, recorded.monitors))
        + ", now "
        + "; ".join(map(_monitor_text, now.monitors))
    )


def patch_difference(recorded: Image.Image, current: Image.Image, centre: tuple[float, float], side: int) -> float:
    """Mean absolute grey difference (0..255) of the `side`-px squares around `centre` (physical px) of both."""
    half = side // 2
    x, y = round(centre[0]), round(centre[1])
    box = (
        max(0, x - half),
        max(0, y - half),
        min(recorded.width, current.width, x + half),
        min(recorded.height, current.height, y + half),
    )
    if box[0] >= box[2] or box[1] >= box[3]:
        return 255.0
    a = recorded.crop(box).convert("L")
    b = current.crop(box).convert("L")
    return float(ImageStat.Stat(ImageChops.difference(a, b)).mean[0])


def _hint(record: StepRecord) -> str:
    thought = (record.thought or "").strip().splitlines()
    if thought:
        return f"what the step aimed at may have moved (the model's thought: {shorten(thought[0], HINT_CHARS)!r})"
    return "what the step aimed at may have moved"


def _refusal(step: int, action: Action, verdict: Verdict, yes: bool) -> str | None:
    if isinstance(verdict, Deny):
        return f"step {step}: {describe(action)} is refused by the current policy ({verdict.rule}): {verdict.reason}"
    if isinstance(verdict, Confirm) and not yes:
        return (
            f"step {step}: {describe(action)} needs confirmation under the current policy ({verdict.rule}): "
            f"{verdict.reason}; replay with --yes to perform it"
        )
    return None


def replay_session(
    session: Session,
    *,
    executor: Executor,
    capture: Capturer,
    options: ReplayOptions = ReplayOptions(),
    before_step: BeforeStep | None = None,
    own_windows: Callable[[], Sequence[Rect]] = tuple,
) -> Iterator[ReplayEvent]:
    """Replay `session`; yields events and ends with exactly one ReplayFinished."""
    steps = plan(session)
    done_steps = done_actions = 0
    yield ReplayStarted(len(steps), sum(len(s.actions) for s in steps), options.dry_run)
    current: int | None = None
    try:
        mismatch = geometry_mismatch(session.header.screen, capture.geometry())
        if mismatch:
            yield ReplayFinished("mismatch", mismatch, 0, 0)
            return
        for planned in steps:  # the whole replay is refused before anything runs
            for item in planned.actions:
                refusal = _refusal(
                    item.step, item.action, executor.check(item.action, confirmed=options.yes).verdict, options.yes
                )
                if refusal:
                    yield ReplayFinished("refused", refusal + " (nothing was performed)", 0, 0, item.step)
                    return
        previous_end: float | None = None
        for planned in steps:
            current = planned.step
            if before_step is not None and not before_step(planned):
                yield ReplayFinished(
                    "stopped", f"stopped before step {planned.step}", done_steps, done_actions, planned.step
                )
                return
            if previous_end is not None and not options.dry_run and options.speed > 0:
                gap = planned.actions[0].started - previous_end
                executor.stop.sleep(min(max(0.0, gap), MAX_PAUSE_S) / options.speed, pause_interrupts=False)
            if not (yield from wait_if_paused(executor.stop, planned.step)):
                raise StoppedError(executor.stop.reason or "stopped")
            yield ReplayStepStarted(planned.step, tuple(a.action for a in planned.actions))
            changed = yield from _compare(session, planned, capture, options, executor, own_windows)
            if changed:
                yield ReplayFinished("mismatch", changed, done_steps, done_actions, planned.step)
                return
            for n, item in enumerate(planned.actions):
                if n and not options.dry_run and options.speed > 0:
                    pause = item.started - planned.actions[n - 1].ended
                    executor.stop.sleep(min(max(0.0, pause), MAX_PAUSE_S) / options.speed, pause_interrupts=False)
                if not (yield from wait_if_paused(executor.stop, item.step)):
                    raise StoppedError(executor.stop.reason or "stopped")
                checked = executor.check(item.action, confirmed=options.yes)
                refusal = _refusal(item.step, item.action, checked.verdict, options.yes)
                if refusal:
                    yield ReplayFinished("refused", refusal, done_steps, done_actions, item.step)
                    return
                result = executor.execute(checked)
                if isinstance(result, Refused):
                    refusal = _refusal(item.step, item.action, result.verdict, options.yes)
                    reason = refusal or f"step {item.step}: {describe(item.action)} was refused"
                    yield ReplayFinished("refused", reason, done_steps, done_actions, item.step)
                    return
                done_actions += 1
                yield ReplayActionDone(item.step, item.index, result.action, result.verdict, not options.dry_run)
            previous_end = planned.actions[-1].ended
            done_steps += 1
    except PausedByUserError as exc:  # mid-action: half an action cannot be redone safely
        reason = (
            f"step {current}: {exc}; the replay stopped there, since the interrupted action cannot safely "
            "be done again (the rest was not performed)"
        )
        yield ReplayFinished("stopped", reason, done_steps, done_actions, current)
        return
    except StoppedError as exc:
        yield ReplayFinished("stopped", f"stopped at step {current}: {exc}", done_steps, done_actions, current)
        return
    except (DriverError, SessionError, SandboxError) as exc:
        yield ReplayFinished("error", str(exc), done_steps, done_actions, current)
        return
    what = "checked" if options.dry_run else "replayed"
    yield ReplayFinished("done", f"{what} {done_steps} step(s), {done_actions} action(s)", done_steps, done_actions)


def _compare(
    session: Session,
    planned: PlannedStep,
    capture: Capturer,
    options: ReplayOptions,
    executor: Executor,
    own_windows: Callable[[], Sequence[Rect]],
) -> Generator[ReplayEvent, None, str | None]:
    """Settle, then compare the screen around each point of the step; returns the message when it changed."""
    points = [p for item in planned.actions for p in action_points(item.action)]
    if not points:
        return None
    shot = settle(capture, session.header.monitor, executor.stop, mask=own_windows).shot
    recorded = session.image(planned.record.screenshot)
    frame = planned.record.frame
    for x, y in points:
        centre = frame.screen_to_physical(x, y)
        now_centre = ((x - shot.monitor.x) * shot.monitor.scale, (y - shot.monitor.y) * shot.monitor.scale)
        if abs(centre[0] - now_centre[0]) > 0.5 or abs(centre[1] - now_centre[1]) > 0.5:
            return f"step {planned.step}: the captured monitor now lies elsewhere than in the recording"
        diff = patch_difference(recorded, shot.image, centre, options.patch_px)
        yield ScreenCompared(planned.step, (x, y), diff)
        if diff > options.max_difference:
            return (
                f"step {planned.step}: the screen around ({x}, {y}) has changed since the recording "
                f"(mean difference {diff:.0f} > {options.max_difference:g}): {_hint(planned.record)}"
            )
    return None

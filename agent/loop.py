"""The step loop: a task in plain language, done on the screen one step at a time. No Qt, no drivers.

    look: settle -> capture -> prepare image        ask: prompt -> backend -> (look again) -> parse -> (second look)
    act: (make room) -> policy -> (approve) -> execute -> effect        record: feedback, counts -> next step

It yields agent.events as it goes. After a step's actions ran, the look that follows waits for the screen to
change and settle (`change_wait_s`, agent/waits.py), so a menu or dialog that opens in that time is what the
next step sees; that settled frame is the next step's screenshot, and what changed (agent/effects.py) is the
step's effect: "no visible effect" goes to the model as a note, not as a failure. A reply that asks to look
again (ModelReply.look_again) gets the same wait and one more ask in the same step; where deskpilot's own windows
masked part of that look, they first move out of the way (`make_room(None)`), and a run that then gives up says
what they still covered (its target may lie there). Reply text is made valid
UTF-8 where it enters (a lone surrogate becomes U+FFFD, and ModelReplied says how many). A parse error, a refusal or a rejection goes back to the model as
feedback; `max_failures` of them in a row end the run. The same action on an unchanged screen is not
repeated: the model is told, and `max_repeats` such steps end the run. The stop flag is honoured in every
phase (generation included: backends check it); the user's own input pauses the run until it resumes.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from PIL import Image

from agent.backends.base import (
    Backend,
    ModelReply,
    ModelRequest,
    PictureElement,
    PictureElements,
    PictureWindow,
    picture_elements,
    picture_windows,
)
from agent.effects import NO_EFFECT, Effect
from agent.errors import AgentError, BackendError, ParseError, ScriptExhausted
from agent.events import (
    ActionBlocked,
    ActionDeferred,
    ActionExecuted,
    ActionProposed,
    ActionRejected,
    EffectSeen,
    Event,
    LookedAgain,
    ModelLoading,
    ModelReplied,
    ParseFailed,
    ReplyParsed,
    RunFinished,
    RunStarted,
    ScreenCaptured,
    StepStarted,
)
from agent.families import Family
from agent.imaging import difference, fingerprint
from agent.parsing import ParsedAction, ParsedReply, parse_reply, shorten_reply
from agent.picture import prepare_for_model
from agent.prompts import Message, Turn, build_messages
from agent.refine import second_look
from agent.waits import (
    CHANGE_CAP_S,
    SETTLE_CAP_S,
    SETTLE_POLL_S,
    STILL_DIFFERENCE,
    Capturer,
    Changed,
    look_after,
    read_focus,
    settle,
    wait_for_change,
    wait_if_paused,
)
from sandbox.actions import Action, Finish, Wait, action_points
from sandbox.capture import Screenshot
from sandbox.desktops.base import TopWindow
from sandbox.drivers import DRY_RUN_DRIVER
from sandbox.errors import PausedByUserError, SandboxError, StoppedError
from sandbox.executor import Executor, Refused
from sandbox.geometry import ModelFrame, Rect
from sandbox.policy import Confirm, Deny
from sandbox.stop import StopFlag
from sandbox.text import valid_text

if TYPE_CHECKING:
    from sandbox.accessibility.tree import Element


@dataclass(frozen=True, slots=True, kw_only=True)
class Approve:
    """Go ahead; `action` replaces the proposed one when the user moved the target."""

    action: Action | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Reject:
    note: str | None = None


Decision = Approve | Reject
Approver = Callable[[ActionProposed], Decision]
MakeRoom = Callable[[Action | None], bool]  # None: out of the way of everything; True: a window of deskpilot's moved
DEFERRED = (
    "deskpilot's own window was over that point and has moved out of the way; look at the screen again and "
    "act on what is there"
)
REPEATED = "You repeated the same action and the screen did not change. Try something different."


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    max_steps: int = 15
    max_failures: int = 3  # parse errors, refusals, rejections in a row
    max_repeats: int = 3  # the same action on an unchanged screen
    history_images: int = 2  # screenshots kept in the prompt, the newest included
    monitor: int = 0
    min_pixels: int | None = None
    max_pixels: int | None = None
    max_new_tokens: int = 512
    yes: bool = False  # perform `confirm` verdicts without asking
    settle_cap_s: float = SETTLE_CAP_S  # agent/waits.py's, shortened by tests whose screen is still at once
    settle_poll_s: float = SETTLE_POLL_S
    change_wait_s: float = CHANGE_CAP_S  # after actions ran, how long the next look waits for the screen to change
    model_name: str | None = None
    policy_digest: str = ""
    refine: str = "off"  # "zoom": a second look at a magnified crop around each click (agent/refine.py)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Run:
    """What every step of one run works with."""

    task: str
    backend: Backend
    family: Family
    executor: Executor
    capture: Capturer
    options: RunOptions
    approve: Approver | None
    own_windows: Callable[[], Sequence[Rect]]
    make_room: MakeRoom | None
    windows: Callable[[], Sequence[TopWindow]]
    elements: Callable[[], Sequence[Element]]

    @property
    def stop(self) -> StopFlag:
        return self.executor.stop


@dataclass(frozen=True, slots=True, kw_only=True)
class _Seen:
    """What a step looked at: the grab, the picture the model gets, its frame and fingerprint, the focused window."""

    shot: Screenshot
    image: Image.Image
    frame: ModelFrame
    fingerprint: bytes
    focus: int | None  # the focused window when the step looked (None: the desktop cannot say)
    windows: tuple[PictureWindow, ...]  # the desktop's windows on `image` when the step looked (bottom to top)
    elements: PictureElements | None = None  # its accessible elements on `image`, read when first asked

    @property
    def screenshot(self) -> Image.Image:
        return self.shot.image


@dataclass(frozen=True, slots=True, kw_only=True)
class _Asked:
    """The model's reply to a step: as kept for the record, and parsed (None: it could not be, `error` says why);
    `seen`: the look it answered (a fresh one when the backend asked to look again); `masked`: what deskpilot's own
    windows kept from that fresh look (screen px; empty when it did not look again)."""

    seen: _Seen
    kept: str
    parsed: ParsedReply | None
    error: str | None
    follows_plan: bool
    masked: tuple[Rect, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class StepOutcome:
    """How a step's acting ended: what goes back to the model, and whether the run ends here."""

    feedback: str | None = None  # None: every action ran
    finished: RunFinished | None = None  # the run ends with this
    failure: RunFinished | None = None  # a failure in a row (unusable reply, refusal, rejection): the end it brings
    # when it is the `max_failures`th
    repeated: bool = False  # the same actions again on an unchanged screen: not run
    ran: tuple[Action, ...] = ()  # the actions that ran, as they ran

    @property
    def executed(self) -> bool:
        """At least one action ran: the failures in a row start again."""
        return bool(self.ran)


@dataclass(frozen=True, slots=True, kw_only=True)
class _State:
    """What the steps so far leave for the next: the failures and repeats in a row, the last actions that ran, and
    why the last reply did not fully run (the next request's `feedback`; None: it ran)."""

    failures: int = 0
    repeats: int = 0
    last_actions: tuple[Action, ...] = ()
    last_print: bytes = b""
    feedback: str | None = None


def run_task(
    task: str,
    *,
    backend: Backend,
    family: Family,
    executor: Executor,
    capture: Capturer,
    options: RunOptions = RunOptions(),
    approve: Approver | None = None,
    own_windows: Callable[[], Sequence[Rect]] = tuple,
    make_room: MakeRoom | None = None,
    windows: Callable[[], Sequence[TopWindow]] = tuple,
    elements: Callable[[], Sequence[Element]] | None = None,
) -> Generator[Event, None, None]:
    """Run one task; yields events and ends with exactly one RunFinished. Each step: look, ask, act, record.

    `own_windows`: deskpilot's windows as the model must not see them (greyed out of each capture).
    `make_room`: asked before a proposed action with a point is checked; True means one of deskpilot's own
    windows lay over the point and has moved away, so the action is not run and the step is looked at again
    (the model may have been looking at deskpilot's window rather than at what is under it). With None, before a
    reply's look again when deskpilot's windows masked part of the look: they move where they hide least.
    `windows`: the desktop's top-level windows, read at each look and given to the backend on the picture.
    `elements`: the desktop's showing accessible elements (None: no tree), read when a backend asks for them.
    """
    run = _Run(
        task=valid_text(task)[0],  # a lone surrogate (a broken argument) would break every prompt and record
        backend=backend,
        family=family,
        executor=executor,
        capture=capture,
        options=options,
        approve=approve,
        own_windows=own_windows,
        make_room=make_room,
        windows=windows,
        elements=elements or tuple,
    )
    yield _started(run)
    try:
        yield from _load(backend, run.stop)
    except (BackendError, StoppedError) as exc:
        yield _finished_by(exc, 0)
        return
    state, history, step = _State(), list[Turn](), 0
    ready: Changed | None = None  # the frame the look after the last step's actions settled on
    try:
        for step in range(1, options.max_steps + 1):
            yield StepStarted(step=step)
            seen = yield from _look(run, step, ready)
            if seen is None:
                yield _stopped(run.stop, step)
                return
            asked = yield from _ask(run, seen, _trim(history, options.history_images), step, state.feedback)
            seen = asked.seen
            outcome = yield from _act(run, asked, seen, state, step)
            ready, effect = None, None
            if outcome.finished is None and _acted(run, outcome.ran):
                ready, effect = _after(run, seen, outcome.ran)
                yield EffectSeen(step=step, effect=effect)
            note = outcome.feedback or (NO_EFFECT if effect is not None and not effect.visible else None)
            history.append(Turn(image=seen.image, reply=asked.kept, feedback=note))
            state, finished = _record(run, state, outcome, asked, seen, step)
            if finished is not None:
                yield finished
                return
        limit = f"reached the step limit ({options.max_steps}) before the task finished"
        yield RunFinished(outcome="failure", reason=limit, steps=step)
    except ScriptExhausted as exc:
        yield RunFinished(outcome="failure", reason=str(exc), steps=step)
    except (StoppedError, BackendError) as exc:
        yield _finished_by(exc, step)
    except (AgentError, SandboxError) as exc:
        yield RunFinished(outcome="error", reason=str(exc), steps=step)


def _started(run: _Run) -> RunStarted:
    options, family = run.options, run.family
    return RunStarted(
        task=run.task,
        backend=run.backend.name,
        model=options.model_name,
        family=family.name,
        min_pixels=options.min_pixels if options.min_pixels is not None else family.min_pixels,
        max_pixels=options.max_pixels if options.max_pixels is not None else family.max_pixels,
        screen=run.capture.geometry(),
        monitor=options.monitor,
        policy_digest=options.policy_digest,
    )


def _look(run: _Run, step: int, ready: Changed | None) -> Generator[Event, None, _Seen | None]:
    """Wait out a pause, let the screen settle, prepare the frame it ended on (no second grab); None: stopped.
    `ready`: the frame the look after the last actions settled on, used as it is unless a pause came since."""
    paused = run.stop.paused
    if not (yield from wait_if_paused(run.stop, step)):
        return None
    options = run.options
    if ready is not None and not paused:
        return (yield from _prepare(run, step, ready.shot, ready.waited_s))
    settled = settle(
        run.capture,
        options.monitor,
        run.stop,
        mask=run.own_windows,
        cap_s=options.settle_cap_s,
        poll_s=options.settle_poll_s,
    )
    return (yield from _prepare(run, step, settled.shot, settled.waited_s))


def _prepare(run: _Run, step: int, shot: Screenshot, settle_s: float) -> Generator[Event, None, _Seen]:
    """The picture the model gets of `shot`, said with ScreenCaptured."""
    options = run.options
    focus = read_focus(run.capture)
    tops = run.windows()
    captured = time.perf_counter()
    image, frame = prepare_for_model(
        run.backend, run.family, shot, options.min_pixels, options.max_pixels, stop=run.stop
    )
    yield ScreenCaptured(
        step=step,
        screenshot=shot.image,
        model_image=image,
        frame=frame,
        cursor=shot.cursor,
        settle_s=settle_s,
        capture_s=shot.elapsed_s,
        prepare_s=time.perf_counter() - captured,
    )
    windows = picture_windows(tops, frame, image.size)
    elements = _elements_on(run, frame, image.size)
    return _Seen(
        shot=shot,
        image=image,
        frame=frame,
        fingerprint=fingerprint(image),
        focus=focus,
        windows=windows,
        elements=elements,
    )


def _elements_on(run: _Run, frame: ModelFrame, size: tuple[int, int]) -> PictureElements:
    """The accessible elements on the picture, walked once when the backend first asks (never, for a backend
    that only sends the picture on)."""
    walked: list[tuple[PictureElement, ...]] = []

    def elements() -> tuple[PictureElement, ...]:
        if not walked:
            walked.append(picture_elements(run.elements(), frame, size))
        return walked[0]

    return elements


def _ask(
    run: _Run, seen: _Seen, history: tuple[Turn, ...], step: int, feedback: str | None
) -> Generator[Event, None, _Asked]:
    """Ask the model about what was seen and parse its reply; a reply that asks to look again gets the wait for
    a change and one more ask with the fresh picture; with `--refine zoom`, a second look at its click
    (agent/refine.py) where the backend can refine and the reply is its own (not a step of a plan it follows).
    `feedback`: why the last reply did not fully run (None: it did)."""
    backend, family, options = run.backend, run.family, run.options

    def asked(seen: _Seen) -> tuple[tuple[Message, ...], ModelReply]:
        messages = build_messages(family, run.task, seen.image, history=history)
        request = ModelRequest.for_family(
            family,
            messages,
            run.task,
            seen.image,
            step,
            options.max_new_tokens,
            feedback=feedback,
            windows=seen.windows,
            elements=seen.elements,
        )
        return messages, backend.generate(request, stop=run.stop)

    messages, reply = asked(seen)
    masked: tuple[Rect, ...] = ()
    if reply.look_again:
        if run.make_room is not None and _masked(run, seen.shot):
            run.make_room(None)  # deskpilot's windows go where they hide least: the next look sees what they hid
        changed = wait_for_change(
            run.capture,
            options.monitor,
            run.stop,
            before=seen.shot,
            mask=run.own_windows,
            cap_s=options.change_wait_s,
            settle_cap_s=options.settle_cap_s,
            poll_s=options.settle_poll_s,
        )
        first = shorten_reply(valid_text(reply.raw)[0])
        yield LookedAgain(
            step=step, raw=first, elapsed_s=reply.elapsed_s, waited_s=changed.waited_s, changed=changed.changed
        )
        seen = yield from _prepare(run, step, changed.shot, changed.waited_s)
        messages, reply = asked(seen)
        masked = _masked(run, seen.shot)
    raw, repaired = valid_text(reply.raw)
    reasoning, repaired_reasoning = valid_text(reply.reasoning) if reply.reasoning is not None else (None, 0)
    kept = shorten_reply(raw)  # what is recorded and sent back in the history
    yield ModelReplied(
        step=step,
        raw=kept,
        messages=messages,
        elapsed_s=reply.elapsed_s,
        input_tokens=reply.input_tokens,
        output_tokens=reply.output_tokens,
        image_tokens=reply.image_tokens,
        reasoning=reasoning,
        repaired=repaired + repaired_reasoning,
    )
    t0 = time.perf_counter()
    try:
        parsed = parse_reply(raw, family=family, frame=seen.frame)
    except ParseError as exc:
        yield ParseFailed(step=step, error=str(exc))
        return _Asked(seen=seen, kept=kept, parsed=None, error=str(exc), follows_plan=reply.follows_plan, masked=masked)
    if options.refine == "zoom" and not reply.follows_plan and backend.capabilities.refines:
        parsed = yield from second_look(
            backend,
            family,
            run.task,
            seen.screenshot,
            seen.frame,
            parsed,
            history=history,
            min_pixels=options.min_pixels,
            max_pixels=options.max_pixels,
            max_new_tokens=options.max_new_tokens,
            step=step,
            stop=run.stop,
        )
    thought = "\n".join(t for t in (reasoning, parsed.thought) if t) or None
    yield ReplyParsed(step=step, thought=thought, actions=parsed.actions, parse_s=time.perf_counter() - t0)
    return _Asked(seen=seen, kept=kept, parsed=parsed, error=None, follows_plan=reply.follows_plan, masked=masked)


def _act(run: _Run, asked: _Asked, seen: _Seen, state: _State, step: int) -> Generator[Event, None, StepOutcome]:
    """What the step does with the reply: an unusable one, or the same actions again on an unchanged screen, go
    back to the model; else its actions are checked, approved and executed in order (`_perform`)."""
    if asked.parsed is None:
        return StepOutcome(
            feedback=f"Your reply could not be used: {asked.error}. Reply with one valid action.",
            failure=RunFinished(
                outcome="error",
                reason=f"{run.options.max_failures} unusable replies in a row; last: {asked.error}",
                steps=step,
            ),
        )
    actions = tuple(p.action for p in asked.parsed.actions)
    if not asked.follows_plan and _repeats(state, actions, seen.fingerprint):
        return StepOutcome(feedback=REPEATED, repeated=True)
    outcome = yield from _perform(run, asked.parsed.actions, step)
    if asked.masked and outcome.finished is not None and outcome.finished.outcome == "failure":
        # it gave up after looking again: what it could not find may lie under deskpilot's own windows
        reason = f"{outcome.finished.reason} ({_covered(asked.masked)})"
        return replace(outcome, finished=replace(outcome.finished, reason=reason))
    return outcome


def _record(
    run: _Run, state: _State, outcome: StepOutcome, asked: _Asked, seen: _Seen, step: int
) -> tuple[_State, RunFinished | None]:
    """The counts the step leaves (failures and repeats in a row, the actions that all ran) and the end it
    brings: its own, one failure or repeat too many, or a grounding model's click made."""
    options = run.options
    acted = asked.parsed is not None and not outcome.repeated
    failures = (0 if outcome.executed else state.failures) + (1 if outcome.failure is not None else 0)
    repeats = state.repeats + 1 if outcome.repeated else 0 if acted else state.repeats
    after = replace(state, failures=failures, repeats=repeats, feedback=outcome.feedback)
    if acted and outcome.feedback is None and asked.parsed is not None:  # every action ran: a repeat is noticed
        after = replace(after, last_actions=tuple(p.action for p in asked.parsed.actions), last_print=seen.fingerprint)
    if outcome.finished is not None:
        return after, outcome.finished
    if outcome.failure is not None and failures >= options.max_failures:
        return after, outcome.failure
    if outcome.repeated and repeats >= options.max_repeats:
        return after, RunFinished(
            outcome="failure", reason="stuck: the same action kept leaving the screen unchanged", steps=step
        )
    if acted and run.family.points_only and failures == 0:
        return after, RunFinished(
            outcome="success", reason="the grounding model pointed and the click was made", steps=step
        )
    return after, None


def _perform(run: _Run, proposals: tuple[ParsedAction, ...], step: int) -> Generator[Event, None, StepOutcome]:
    """Check, approve and execute a step's actions in order, until one does not run or the run ends."""
    executor, options, stop = run.executor, run.options, run.stop
    ran: list[Action] = []
    for index, proposal in enumerate(proposals):
        if run.make_room is not None and action_points(proposal.action) and run.make_room(proposal.action):
            yield ActionDeferred(step=step, index=index, action=proposal.action, reason=DEFERRED)
            return StepOutcome(feedback=f"Not done: {DEFERRED}.", ran=tuple(ran))
        t0 = time.perf_counter()
        checked = executor.check(proposal.action, confirmed=options.yes)
        proposed = ActionProposed(
            step=step, index=index, parsed=proposal, verdict=checked.verdict, element=checked.element
        )
        yield proposed
        verdict = checked.verdict
        if isinstance(verdict, Deny):
            yield ActionBlocked(step=step, index=index, action=proposal.action, verdict=verdict)
            return StepOutcome(
                feedback=f"That action was refused ({verdict.rule}: {verdict.reason}). Do something else.",
                failure=RunFinished(
                    outcome="refused", reason=f"refused by the policy ({verdict.rule}): {verdict.reason}", steps=step
                ),
                ran=tuple(ran),
            )
        action, edited, confirmed = proposal.action, False, options.yes
        if run.approve is not None:
            decision = run.approve(proposed)
            if isinstance(decision, Reject):
                yield ActionRejected(step=step, index=index, action=proposal.action, note=decision.note)
                return StepOutcome(
                    feedback="The user rejected that action" + (f": {decision.note}" if decision.note else "."),
                    failure=RunFinished(outcome="refused", reason="the user rejected the actions", steps=step),
                    ran=tuple(ran),
                )
            confirmed = True
            if decision.action is not None and decision.action != action:
                action, edited = decision.action, True
            checked = executor.check(action, confirmed=True)
            if isinstance(checked.verdict, Deny):
                yield ActionBlocked(step=step, index=index, action=action, verdict=checked.verdict)
                refused = f"That action was refused ({checked.verdict.rule}: {checked.verdict.reason})."
                return StepOutcome(feedback=refused, ran=tuple(ran))
        elif isinstance(verdict, Confirm) and not options.yes:
            yield ActionBlocked(step=step, index=index, action=action, verdict=verdict)
            reason = f"needs confirmation ({verdict.rule}): {verdict.reason}"
            return StepOutcome(finished=RunFinished(outcome="refused", reason=reason, steps=step), ran=tuple(ran))
        check_s = time.perf_counter() - t0
        if not (yield from wait_if_paused(stop, step)):
            return StepOutcome(finished=_stopped(stop, step), ran=tuple(ran))
        try:
            result = executor.execute(checked)
        except PausedByUserError as exc:
            if not (yield from wait_if_paused(stop, step, paused=str(exc))):
                return StepOutcome(finished=_stopped(stop, step), ran=tuple(ran))
            took_over = "The user took over the mouse or keyboard for a moment; look at the screen again."
            return StepOutcome(feedback=took_over, ran=tuple(ran))
        if isinstance(result, Refused):
            yield ActionBlocked(step=step, index=index, action=result.action, verdict=result.verdict)
            refused = f"That action was refused ({result.verdict.rule}: {result.verdict.reason})."
            return StepOutcome(feedback=refused, ran=tuple(ran))
        yield ActionExecuted(
            step=step,
            index=index,
            action=result.action,
            edited=edited,
            confirmed=confirmed,
            check_s=check_s,
            execute_s=result.elapsed_s,
        )
        ran.append(result.action)
        if isinstance(result.action, Finish):
            done = result.action.status == "success"
            return StepOutcome(
                finished=RunFinished(
                    outcome="success" if done else "failure",
                    reason="the model finished the task" if done else "the model gave up",
                    steps=step,
                    answer=result.action.answer,
                ),
                ran=tuple(ran),
            )
    return StepOutcome(ran=tuple(ran))


def _acted(run: _Run, ran: tuple[Action, ...]) -> bool:
    """Whether something was done on the desktop that could show: an action besides wait, by a real driver."""
    touched = any(not isinstance(action, (Wait, Finish)) for action in ran)
    return touched and run.executor.driver.name != DRY_RUN_DRIVER


def _after(run: _Run, seen: _Seen, ran: tuple[Action, ...]) -> tuple[Changed, Effect]:
    """The look after a step's actions (agent.waits.look_after): the frame the next step starts from, and the
    actions' effect since `seen`."""
    options = run.options
    return look_after(
        run.capture,
        options.monitor,
        run.stop,
        before=seen.shot,
        focus_before=seen.focus,
        points=[point for action in ran for point in action_points(action)],
        mask=run.own_windows,
        cap_s=options.change_wait_s,
        settle_cap_s=options.settle_cap_s,
        poll_s=options.settle_poll_s,
    )


def _stopped(stop: StopFlag, step: int) -> RunFinished:
    return RunFinished(outcome="stopped", reason=stop.reason or "stopped", steps=step)


def _load(backend: Backend, stop: StopFlag) -> Iterator[Event]:
    """Load the backend on a helper thread so that its progress streams out as events."""
    events: queue.Queue[ModelLoading] = queue.Queue()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            backend.load(
                progress=lambda stage, done, total: events.put(ModelLoading(stage=stage, done=done, total=total))
            )
        except BaseException as exc:  # handed to the loop's thread
            errors.append(exc)

    thread = threading.Thread(target=work, name="deskpilot-load", daemon=True)
    thread.start()
    while thread.is_alive() or not events.empty():
        try:
            yield events.get(timeout=0.05)
        except queue.Empty:
            stop.check_stopped()
    if errors:
        raise errors[0]


def _trim(history: list[Turn], keep: int) -> tuple[Turn, ...]:
    """Keep the last `keep - 1` earlier screenshots (the newest is the current one); older ones become text."""
    cut = max(0, len(history) - max(0, keep - 1))
    return tuple(replace(turn, image=None) if n < cut else turn for n, turn in enumerate(history))


def _repeats(state: _State, actions: tuple[Action, ...], print_now: bytes) -> bool:
    """The same actions as the last step whose actions all ran, on a screen that did not change since."""
    if not state.last_actions or actions != state.last_actions:
        return False
    if all(isinstance(a, (Wait, Finish)) for a in actions):
        return False
    return difference(state.last_print, print_now) < STILL_DIFFERENCE


def _masked(run: _Run, shot: Screenshot) -> tuple[Rect, ...]:
    """What deskpilot's own windows keep from `shot` now (greyed out of it when it was taken), in screen px."""
    area = shot.monitor
    kept: list[Rect] = []
    for rect in run.own_windows():
        left, top = max(rect.x, area.x), max(rect.y, area.y)
        right = min(rect.x + rect.width, area.x + area.width)
        bottom = min(rect.y + rect.height, area.y + area.height)
        if right > left and bottom > top:
            kept.append(Rect(left, top, right - left, bottom - top, rect.name))
    return tuple(kept)


def _covered(masked: Sequence[Rect]) -> str:
    """The clause a failure ends with: where deskpilot's own windows kept the screen from the look."""
    areas = " and ".join(f"{r.width}x{r.height} px at ({r.x}, {r.y})" for r in masked)
    return f"deskpilot's own windows covered {areas} of the screen"


def _finished_by(exc: BaseException, steps: int) -> RunFinished:
    if isinstance(exc, StoppedError):
        return RunFinished(outcome="stopped", reason=str(exc), steps=steps)
    return RunFinished(outcome="error", reason=str(exc), steps=steps)

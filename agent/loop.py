"""The step loop: a task in plain language, done on the screen one step at a time. No Qt, no drivers.

    capture -> prepare image -> prompt -> backend -> parse -> policy -> (approve) -> execute -> next

It yields agent.events as it goes. A parse error, a refusal or a rejection goes back to the model as
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

from PIL import Image

from agent.backends.base import Backend, ModelRequest
from agent.errors import AgentError, BackendError, ParseError, ScriptExhausted
from agent.events import (
    ActionBlocked,
    ActionDeferred,
    ActionExecuted,
    ActionProposed,
    ActionRejected,
    Event,
    ModelLoading,
    ModelReplied,
    ParseFailed,
    PointRefined,
    ReplyParsed,
    RunFinished,
    RunPaused,
    RunResumed,
    RunStarted,
    ScreenCaptured,
    StepStarted,
)
from agent.families import Family, model_frame, model_input_size, pixel_budget
from agent.imaging import difference, fingerprint, prepare_image
from agent.parsing import ParsedAction, ParsedReply, parse_reply, shorten_reply
from agent.prompts import Turn, build_messages
from agent.refine import crop_around, magnified
from agent.waits import Capturer, settle, wait_if_paused
from sandbox.actions import Action, Click, Finish, Wait, action_points, describe
from sandbox.capture import Screenshot
from sandbox.errors import PausedByUserError, SandboxError, StoppedError
from sandbox.executor import Executor, Refused
from sandbox.geometry import ModelFrame, Rect
from sandbox.policy import Confirm, Deny
from sandbox.stop import StopFlag


@dataclass(frozen=True, slots=True, kw_only=True)
class Approve:
    """Go ahead; `action` replaces the proposed one when the user moved the target."""

    action: Action | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Reject:
    note: str | None = None


Decision = Approve | Reject
Approver = Callable[[ActionProposed], Decision]
MakeRoom = Callable[[Action], bool]
DEFERRED = (
    "deskpilot's own window was over that point and has moved out of the way; look at the screen again and "
    "act on what is there"
)


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
    settle_threshold: float = 0.5  # mean grey difference of two frames (0..255) below which the screen is still
    settle_cap_s: float = 2.0
    settle_poll_s: float = 0.05
    model_name: str | None = None
    policy_digest: str = ""
    refine: str = "off"  # "zoom": a second look at a magnified crop around each click (agent/refine.py)


@dataclass
class _State:
    step: int = 0
    failures: int = 0
    repeats: int = 0
    feedback: str | None = None
    last_actions: tuple[Action, ...] = ()
    last_print: bytes = b""


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
) -> Iterator[Event]:
    """Run one task; yields events and ends with exactly one RunFinished.

    `own_windows`: deskpilot's windows as the model must not see them (greyed out of each capture).
    `make_room`: asked before a proposed action with a point is checked; True means one of deskpilot's own
    windows lay over the point and has moved away, so the action is not run and the step is looked at again
    (the model may have been looking at deskpilot's window rather than at what is under it).
    """
    stop = executor.stop
    lo = options.min_pixels if options.min_pixels is not None else family.min_pixels
    hi = options.max_pixels if options.max_pixels is not None else family.max_pixels
    yield RunStarted(
        task=task,
        backend=backend.name,
        model=options.model_name,
        family=family.name,
        min_pixels=lo,
        max_pixels=hi,
        screen=capture.geometry(),
        monitor=options.monitor,
        policy_digest=options.policy_digest,
    )
    try:
        yield from _load(backend, stop)
    except (BackendError, StoppedError) as exc:
        yield _finished_by(exc, 0)
        return
    state = _State()
    history: list[Turn] = []
    try:
        while state.step < options.max_steps:
            state.step += 1
            yield StepStarted(step=state.step)
            if not (yield from wait_if_paused(stop, state.step)):
                yield RunFinished(outcome="stopped", reason=stop.reason or "stopped", steps=state.step)
                return
            settled = settle(
                capture,
                options.monitor,
                stop,
                mask=own_windows,
                threshold=options.settle_threshold,
                cap_s=options.settle_cap_s,
                poll_s=options.settle_poll_s,
            )
            shot = settled.shot  # the frame the settle ended on is the one the model reads: no second grab
            captured = time.perf_counter()
            image = shot.image
            model_image, frame = prepare_for_model(
                backend, family, shot, options.min_pixels, options.max_pixels, stop=stop
            )
            prepared = time.perf_counter()
            yield ScreenCaptured(
                step=state.step,
                screenshot=image,
                model_image=model_image,
                frame=frame,
                cursor=shot.cursor,
                settle_s=settled.waited_s,
                capture_s=shot.elapsed_s,
                prepare_s=prepared - captured,
            )
            print_now = fingerprint(model_image)

            messages = build_messages(family, task, model_image, history=_trim(history, options.history_images))
            feedback = history[-1].feedback if history else None
            request = ModelRequest.for_family(
                family, messages, task, model_image, state.step, options.max_new_tokens, feedback=feedback
            )
            reply = backend.generate(request, stop=stop)
            kept = shorten_reply(reply.raw)  # what is recorded and sent back in the history
            yield ModelReplied(
                step=state.step,
                raw=kept,
                messages=messages,
                elapsed_s=reply.elapsed_s,
                input_tokens=reply.input_tokens,
                output_tokens=reply.output_tokens,
                image_tokens=reply.image_tokens,
                reasoning=reply.reasoning,
            )
            turn_image = model_image
            t0 = time.perf_counter()
            try:
                parsed = parse_reply(reply.raw, family=family, frame=frame)
            except ParseError as exc:
                yield ParseFailed(step=state.step, error=str(exc))
                history.append(
                    Turn(turn_image, kept, f"Your reply could not be used: {exc}. Reply with one valid action.")
                )
                if _fail(state, options):
                    yield RunFinished(
                        outcome="error",
                        reason=f"{options.max_failures} unusable replies in a row; last: {exc}",
                        steps=state.step,
                    )
                    return
                continue
            if options.refine == "zoom" and not reply.follows_plan:
                history_now = _trim(history, options.history_images)
                parsed = yield from _second_look(
                    backend, family, task, image, frame, parsed, history_now, options, state.step, stop
                )
            thought = "\n".join(t for t in (reply.reasoning, parsed.thought) if t) or None
            yield ReplyParsed(
                step=state.step, thought=thought, actions=parsed.actions, parse_s=time.perf_counter() - t0
            )

            actions = tuple(p.action for p in parsed.actions)
            if not reply.follows_plan and _repeats(state, actions, print_now, options):
                feedback = "You repeated the same action and the screen did not change. Try something different."
                history.append(Turn(turn_image, kept, feedback))
                state.repeats += 1
                if state.repeats >= options.max_repeats:
                    yield RunFinished(
                        outcome="failure",
                        reason="stuck: the same action kept leaving the screen unchanged",
                        steps=state.step,
                    )
                    return
                continue
            outcome = yield from _act(state, parsed.actions, executor, approve, options, make_room)
            history.append(Turn(turn_image, kept, state.feedback))
            if state.feedback is None:  # every action ran: remember them to notice a repeat on an unchanged screen
                state.last_actions, state.last_print = actions, print_now
            if outcome is not None:
                yield outcome
                return
            state.repeats = 0
            if family.points_only and state.failures == 0:
                yield RunFinished(
                    outcome="success", reason="the grounding model pointed and the click was made", steps=state.step
                )
                return
        yield RunFinished(
            outcome="failure",
            reason=f"reached the step limit ({options.max_steps}) before the task finished",
            steps=state.step,
        )
    except ScriptExhausted as exc:
        yield RunFinished(outcome="failure", reason=str(exc), steps=state.step)
    except (StoppedError, BackendError) as exc:
        yield _finished_by(exc, state.step)
    except (AgentError, SandboxError) as exc:
        yield RunFinished(outcome="error", reason=str(exc), steps=state.step)


def _act(
    state: _State,
    parsed: tuple[ParsedAction, ...],
    executor: Executor,
    approve: Approver | None,
    options: RunOptions,
    make_room: MakeRoom | None,
) -> Generator[Event, None, RunFinished | None]:
    """Check, approve and execute a step's actions in order. Returns a RunFinished when the run ends here."""
    state.feedback = None
    for index, proposal in enumerate(parsed):
        if make_room is not None and action_points(proposal.action) and make_room(proposal.action):
            yield ActionDeferred(step=state.step, index=index, action=proposal.action, reason=DEFERRED)
            state.feedback = f"Not done: {DEFERRED}."
            return None
        t0 = time.perf_counter()
        checked = executor.check(proposal.action, confirmed=options.yes)
        proposed = ActionProposed(step=state.step, index=index, parsed=proposal, verdict=checked.verdict)
        yield proposed
        if isinstance(checked.verdict, Deny):
            yield ActionBlocked(step=state.step, index=index, action=proposal.action, verdict=checked.verdict)
            state.feedback = (
                f"That action was refused ({checked.verdict.rule}: {checked.verdict.reason}). Do something else."
            )
            if _fail(state, options):
                return RunFinished(
                    outcome="refused",
                    reason=f"refused by the policy ({checked.verdict.rule}): {checked.verdict.reason}",
                    steps=state.step,
                )
            return None
        action, edited, confirmed = proposal.action, False, options.yes
        if approve is not None:
            decision = approve(proposed)
            if isinstance(decision, Reject):
                yield ActionRejected(step=state.step, index=index, action=proposal.action, note=decision.note)
                state.feedback = "The user rejected that action" + (f": {decision.note}" if decision.note else ".")
                if _fail(state, options):
                    return RunFinished(outcome="refused", reason="the user rejected the actions", steps=state.step)
                return None
            confirmed = True
            if decision.action is not None and decision.action != action:
                action, edited = decision.action, True
            checked = executor.check(action, confirmed=True)
            if isinstance(checked.verdict, Deny):
                yield ActionBlocked(step=state.step, index=index, action=action, verdict=checked.verdict)
                state.feedback = f"That action was refused ({checked.verdict.rule}: {checked.verdict.reason})."
                return None
        elif isinstance(checked.verdict, Confirm) and not options.yes:
            yield ActionBlocked(step=state.step, index=index, action=action, verdict=checked.verdict)
            return RunFinished(
                outcome="refused",
                reason=f"needs confirmation ({checked.verdict.rule}): {checked.verdict.reason}",
                steps=state.step,
            )
        check_s = time.perf_counter() - t0
        if not (yield from wait_if_paused(executor.stop, state.step)):
            return RunFinished(outcome="stopped", reason=executor.stop.reason or "stopped", steps=state.step)
        try:
            result = executor.execute(checked)
        except PausedByUserError as exc:
            yield RunPaused(step=state.step, reason=str(exc))
            if not executor.stop.wait_while_paused():
                return RunFinished(outcome="stopped", reason=executor.stop.reason or "stopped", steps=state.step)
            yield RunResumed(step=state.step)
            state.feedback = "The user took over the mouse or keyboard for a moment; look at the screen again."
            return None
        if isinstance(result, Refused):
            yield ActionBlocked(step=state.step, index=index, action=result.action, verdict=result.verdict)
            state.feedback = f"That action was refused ({result.verdict.rule}: {result.verdict.reason})."
            return None
        yield ActionExecuted(
            step=state.step,
            index=index,
            action=result.action,
            edited=edited,
            confirmed=confirmed,
            check_s=check_s,
            execute_s=result.elapsed_s,
        )
        state.failures = 0
        if isinstance(result.action, Finish):
            if result.action.status == "success":
                return RunFinished(
                    outcome="success",
                    reason="the model finished the task",
                    steps=state.step,
                    answer=result.action.answer,
                )
            return RunFinished(
                outcome="failure", reason="the model gave up", steps=state.step, answer=result.action.answer
            )
    return None


def prepare_for_model(
    backend: Backend,
    family: Family,
    shot: Screenshot,
    min_pixels: int | None,
    max_pixels: int | None,
    *,
    stop: StopFlag,
) -> tuple[Image.Image, ModelFrame]:
    """The screenshot as the model gets it, and the frame that maps the model's numbers back to the screen.

    The budget is the family's (or the person's override), lowered where the backend says its server would
    shrink the image itself: the image is prepared at exactly the size the model will read, and the frame
    converts from exactly that size (the loop, calibration and evaluation all go through here).
    """
    monitor = shot.monitor
    return prepare_picture(
        backend,
        family,
        shot.image,
        origin=(monitor.x, monitor.y),
        scale=monitor.scale,
        min_pixels=min_pixels,
        max_pixels=max_pixels,
        stop=stop,
    )


def _second_look(
    backend: Backend,
    family: Family,
    task: str,
    picture: Image.Image,
    frame: ModelFrame,
    parsed: ParsedReply,
    history: tuple[Turn, ...],
    options: RunOptions,
    step: int,
    stop: StopFlag,
) -> Generator[Event, None, ParsedReply]:
    """`--refine zoom`: the step asked again on a magnified crop around the first click; its point replaces the
    first one when the second answer is a click of the same button and count, else the first one stands."""
    first = parsed.actions[0] if parsed.actions else None
    if first is None or not isinstance(first.action, Click):
        return parsed
    crop = crop_around(
        picture.size,
        frame.screen_to_physical(first.action.x, first.action.y),
        picture_origin=(frame.origin_x, frame.origin_y),
        picture_scale=frame.scale,
    )
    image, crop_frame = prepare_picture(
        backend,
        family,
        magnified(picture, crop),
        origin=crop.origin,
        scale=crop.scale,
        min_pixels=options.min_pixels,
        max_pixels=options.max_pixels,
        stop=stop,
    )
    messages = build_messages(family, task, image, history=history)
    request = ModelRequest.for_family(family, messages, task, image, step, options.max_new_tokens)
    reply = backend.generate(request, stop=stop)

    def kept(reason: str) -> PointRefined:
        return PointRefined(
            step=step,
            first=first.action,
            refined=None,
            crop=crop.rect,
            zoom=crop.zoom,
            raw=reply.raw,
            elapsed_s=reply.elapsed_s,
            reason=reason,
        )

    try:
        second = parse_reply(reply.raw, family=family, frame=crop_frame)
    except ParseError as exc:
        yield kept(f"the second answer could not be used: {exc}")
        return parsed
    answer = second.actions[0].action
    if not isinstance(answer, Click) or (answer.button, answer.count) != (first.action.button, first.action.count):
        yield kept(f"the second answer was another action ({describe(answer)})")
        return parsed
    refined = replace(first, action=replace(first.action, x=answer.x, y=answer.y), box=second.actions[0].box)
    yield PointRefined(
        step=step,
        first=first.action,
        refined=refined.action,
        crop=crop.rect,
        zoom=crop.zoom,
        raw=reply.raw,
        elapsed_s=reply.elapsed_s,
        reason="",
    )
    return ParsedReply(thought=parsed.thought, actions=(refined, *parsed.actions[1:]))


def prepare_picture(
    backend: Backend,
    family: Family,
    image: Image.Image,
    *,
    origin: tuple[float, float] = (0, 0),
    scale: float = 1.0,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    stop: StopFlag,
) -> tuple[Image.Image, ModelFrame]:
    """prepare_for_model for any picture: a screenshot, an evaluation image (origin 0,0, scale 1: the frame
    answers in the image's own pixels) or a zoomed crop (its origin on the screen, scale times the zoom)."""
    budget = backend.fit(
        family, image.size, pixel_budget(family, min_pixels=min_pixels, max_pixels=max_pixels), stop=stop
    )
    size = model_input_size(family, *image.size, min_pixels=budget.min_pixels, max_pixels=budget.max_pixels)
    frame = model_frame(
        family,
        *image.size,
        origin=origin,
        scale=scale,
        min_pixels=budget.min_pixels,
        max_pixels=budget.max_pixels,
    )
    return prepare_image(image, size), frame


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


def _fail(state: _State, options: RunOptions) -> bool:
    state.failures += 1
    return state.failures >= options.max_failures


def _repeats(state: _State, actions: tuple[Action, ...], print_now: bytes, options: RunOptions) -> bool:
    if not state.last_actions or actions != state.last_actions:
        return False
    if all(isinstance(a, (Wait, Finish)) for a in actions):
        return False
    return difference(state.last_print, print_now) < options.settle_threshold


def _finished_by(exc: BaseException, steps: int) -> RunFinished:
    if isinstance(exc, StoppedError):
        return RunFinished(outcome="stopped", reason=str(exc), steps=steps)
    return RunFinished(outcome="error", reason=str(exc), steps=steps)

"""Run events as text, shared by the command line and the window's log.

A thought is its first line, shortened to THOUGHT_CHARS, except the thought of a reply that ends the run: that one
says why ("Could not find 'sqtr' ...; nearest by spelling: ...", "This task needs ... e.g. click Save; ...") and
is shown whole, its help included (usertrial-2026-12, trial 5a).
"""

from __future__ import annotations

from agent.events import (
    ActionBlocked,
    ActionDeferred,
    ActionExecuted,
    ActionRejected,
    EffectSeen,
    Event,
    LookedAgain,
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
    looked_again_text,
    refinement_text,
)
from sandbox.actions import Finish, describe
from sandbox.text import shorten

THOUGHT_CHARS = 160  # of a thought's first line, unless it ends the run


def event_line(event: Event, *, dry_run: bool = False, resume_after_s: float | None = None) -> str | None:
    """One human line for a run event (the command line's stderr, the window's log), or None."""
    if isinstance(event, RunStarted):
        return f"run: {event.task!r} with {event.backend} ({event.family}), monitor {event.monitor}"
    if isinstance(event, ModelLoading) and event.total:
        return f"loading model: {event.stage} {event.done}/{event.total}"
    if isinstance(event, ScreenCaptured):
        w, h = event.screenshot.size
        mw, mh = event.model_image.size
        return f"step {event.step}: screen {w}x{h} -> model {mw}x{mh}"
    if isinstance(event, ModelReplied):
        repaired = f" ({event.repaired} lone surrogate(s) made U+FFFD)" if event.repaired else ""
        return f"step {event.step}: model replied in {event.elapsed_s:.2f} s{repaired}"
    if isinstance(event, LookedAgain):
        return f"step {event.step}: {looked_again_text(event)}"
    if isinstance(event, EffectSeen):
        return f"step {event.step}: {event.effect.describe()} (looked after {event.effect.waited_s:.2f} s)"
    if isinstance(event, ReplyParsed) and event.thought:
        return f"step {event.step}: thought: {_thought(event)}"
    if isinstance(event, ParseFailed):
        return f"step {event.step}: unusable reply: {event.error}"
    if isinstance(event, ActionBlocked):
        return f"step {event.step}: refused {describe(event.action)} ({event.verdict.rule}: {event.verdict.reason})"
    if isinstance(event, ActionDeferred):
        return f"step {event.step}: not yet {describe(event.action)}: {event.reason}"
    if isinstance(event, PointRefined):
        return f"step {event.step}: {refinement_text(event)}"
    if isinstance(event, ActionRejected):
        return f"step {event.step}: rejected {describe(event.action)}"
    if isinstance(event, ActionExecuted):
        return f"step {event.step}: {'would' if dry_run else 'did'} {describe(event.action)}"
    if isinstance(event, RunPaused):
        tail = f"; resuming {resume_after_s:g} s after you stop" if resume_after_s else "; press Resume to go on"
        return f"step {event.step}: {event.reason}{tail}"
    if isinstance(event, RunResumed):
        return f"step {event.step}: resumed"
    if isinstance(event, RunFinished):
        answer = f" answer: {event.answer}" if event.answer else ""
        return f"finished: {event.outcome} after {event.steps} step(s): {event.reason}{answer}"
    return None


def _thought(event: ReplyParsed) -> str:
    first = (event.thought or "").splitlines()[0]
    if any(isinstance(parsed.action, Finish) for parsed in event.actions):
        return first
    return shorten(first, THOUGHT_CHARS)

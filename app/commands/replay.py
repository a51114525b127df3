"""Perform a recorded session again, each action checked by the current policy."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agent.events import RunPaused, RunResumed
from agent.session import read_session
from agent.session.replay import (
    PlannedStep,
    ReplayActionDone,
    ReplayEvent,
    ReplayFinished,
    ReplayOptions,
    ReplayStarted,
    replay_session,
)
from app.cli import EXIT_FOR_OUTCOME, EXIT_OK, fail, say
from app.commands.common import positive_float
from app.desktop import RESUME_AFTER_IDLE_S, DesktopOptions, open_desktop
from app.terminal import printable
from sandbox.actions import describe
from sandbox.drivers import DRIVER_NAMES
from sandbox.stop import DEFAULT_STOP_KEY


def speed(text: str) -> float:
    """`positive_float` (app/commands/common.py) with 0 allowed: no pauses between actions."""
    try:
        return positive_float(text)
    except argparse.ArgumentTypeError as error:
        try:
            zero = float(text) == 0
        except ValueError:
            raise error from None  # not a number at all: positive_float says so
        if zero:
            return 0.0
        raise argparse.ArgumentTypeError(f"expected a number of at least 0, got {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", metavar="DIR", type=Path, help="the session folder")
    parser.add_argument("--dry-run", action="store_true", help="check everything (screen, policy), perform nothing")
    parser.add_argument("--yes", action="store_true", help="perform actions whose verdict is now 'confirm'")
    parser.add_argument(
        "--speed",
        type=speed,
        default=1.0,
        metavar="X",
        help="divide the recorded pauses between actions by X (default 1; 0 = no pauses)",
    )
    parser.add_argument(
        "--partial",
        action="store_true",
        help="replay the whole steps before a broken line instead of refusing the session",
    )
    parser.add_argument("--step", action="store_true", help="ask before each step (press Enter to run it)")
    parser.add_argument("--policy", type=Path, default=None, metavar="FILE")
    parser.add_argument("--driver", choices=[d for d in DRIVER_NAMES if d != "dry-run"], default="pyautogui")
    parser.add_argument("--stop-key", default=DEFAULT_STOP_KEY, help=f"global stop key (default {DEFAULT_STOP_KEY})")


def _ask(planned: PlannedStep) -> bool:
    """--step: 'press Enter to run step N'; anything starting with q, or the end of input, stops."""
    what = "; ".join(describe(a.action) for a in planned.actions)
    print(
        printable(f"press Enter to run step {planned.step} ({what}), q to stop: "), end="", file=sys.stderr, flush=True
    )
    answer = sys.stdin.readline()
    return bool(answer) and not answer.strip().lower().startswith("q")


def _line(event: ReplayEvent, *, dry_run: bool) -> str | None:
    if isinstance(event, ReplayStarted):
        return f"replay: {event.steps} step(s), {event.actions} action(s){' (dry run)' if event.dry_run else ''}"
    if isinstance(event, ReplayActionDone):
        return f"step {event.step}: {'would' if dry_run else 'did'} {describe(event.action)}"
    if isinstance(event, RunPaused):
        return f"step {event.step}: {event.reason}; waiting"
    if isinstance(event, RunResumed):
        return f"step {event.step}: resumed"
    if isinstance(event, ReplayFinished) and event.outcome == "done":
        return f"finished: {event.reason}"
    return None


def run(args: argparse.Namespace) -> int:
    session = read_session(args.folder, partial=args.partial)
    if session.error:
        say(f"warning: {session.error}; replaying the {len(session.steps)} whole step(s) before it")
    desktop_options = DesktopOptions(
        policy_file=args.policy,
        stop_key=args.stop_key,
        driver=args.driver,
        dry_run=args.dry_run,
        resume_after_idle_s=RESUME_AFTER_IDLE_S,
    )
    with open_desktop(desktop_options) as desktop:
        options = ReplayOptions(dry_run=args.dry_run, yes=args.yes, speed=args.speed)
        finished: ReplayFinished | None = None
        for event in replay_session(
            session,
            executor=desktop.executor,
            capture=desktop.capture,
            options=options,
            before_step=_ask if args.step else None,
        ):
            line = _line(event, dry_run=args.dry_run)
            if line:
                say(line)
            if isinstance(event, ReplayFinished):
                finished = event
    assert finished is not None
    code = EXIT_FOR_OUTCOME[finished.outcome]
    if code != EXIT_OK:
        return fail(finished.reason, code)
    return code

"""Run one task without the window; a line per step on stderr. A recording that fails ends the run (exit 2)."""

from __future__ import annotations

import argparse
from contextlib import ExitStack
from pathlib import Path

from agent.errors import SessionError
from agent.events import RunFinished, StepStarted
from agent.loop import RunOptions, run_task
from agent.refine import REFINE_MODES
from agent.session import SessionRecorder, default_sessions_dir, new_session_folder, prepare_record_dir
from agent.waits import CHANGE_CAP_S
from app.cli import EXIT_FOR_OUTCOME, fail, say
from app.commands.common import add_backend_arguments, backend_from_arguments, positive_int, seconds
from app.desktop import RESUME_AFTER_IDLE_S, DesktopOptions, open_desktop
from app.event_lines import event_line
from sandbox.drivers import DRIVER_NAMES
from sandbox.stop import DEFAULT_STOP_KEY


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("task", metavar="TASK", help='what to do, e.g. "click Submit"')
    add_backend_arguments(parser, script_help='scripted: JSONL file, one {"raw": "..."} per step')
    parser.add_argument("--max-steps", type=positive_int, default=15)
    parser.add_argument("--monitor", type=int, default=0, help="which monitor to capture (0 = the first)")
    parser.add_argument("--policy", type=Path, default=None, metavar="FILE")
    parser.add_argument("--yes", action="store_true", help="perform actions whose verdict is 'confirm'")
    parser.add_argument("--dry-run", action="store_true", help="decide every step but perform nothing")
    parser.add_argument("--driver", choices=[d for d in DRIVER_NAMES if d != "dry-run"], default="pyautogui")
    parser.add_argument("--stop-key", default=DEFAULT_STOP_KEY, help=f"global stop key (default {DEFAULT_STOP_KEY})")
    parser.add_argument(
        "--isolated",
        action="store_true",
        help="act on a private nested X display (Xephyr window, or Xvfb) instead of yours",
    )
    parser.add_argument(
        "--launch",
        action="append",
        default=[],
        metavar="CMD",
        help="with --isolated: start this program in it first (repeatable)",
    )
    parser.add_argument(
        "--record",
        type=Path,
        default=None,
        metavar="DIR",
        help="write the session into DIR (created; it must not exist or be empty); "
        "default: a new folder in the sessions folder",
    )
    parser.add_argument("--no-record", action="store_true", help="do not record the session")
    parser.add_argument(
        "--change-wait",
        type=seconds,
        default=CHANGE_CAP_S,
        metavar="S",
        help="after an action, how long the next look waits for the screen to change before it goes on "
        f"(default {CHANGE_CAP_S:g}; 0: only let it settle)",
    )
    parser.add_argument(
        "--refine",
        choices=REFINE_MODES,
        default="off",
        help="zoom: ask the model a second time on a magnified crop around each click (twice the model time)",
    )


def _close_recorder(recorder: SessionRecorder) -> SessionError | None:
    """Finish the session's files and say where it is; the failure of a write not reported yet, if any."""
    try:
        recorder.close()
    except SessionError as exc:
        return exc
    finally:
        say(f"session: {recorder.folder}")
    return None


def run(args: argparse.Namespace) -> int:
    if args.launch and not args.isolated:
        return fail("--launch starts programs inside the isolated display: use it with --isolated")
    if args.record is not None and args.no_record:
        return fail("--record DIR and --no-record contradict each other: give one")
    record_dir = prepare_record_dir(args.record) if args.record is not None else None
    backend, family = backend_from_arguments(args)
    desktop_options = DesktopOptions(
        policy_file=args.policy,
        stop_key=args.stop_key,
        driver=args.driver,
        dry_run=args.dry_run,
        isolated=args.isolated,
        launch=tuple(args.launch),
        resume_after_idle_s=RESUME_AFTER_IDLE_S,
    )
    with ExitStack() as stack:
        desktop = stack.enter_context(open_desktop(desktop_options))
        stack.callback(backend.close)
        options = RunOptions(
            max_steps=args.max_steps,
            monitor=args.monitor,
            min_pixels=args.min_pixels,
            max_pixels=args.max_pixels,
            yes=args.yes,
            model_name=args.model,
            policy_digest=desktop.policy.digest(),
            refine=args.refine,
            change_wait_s=args.change_wait,
        )
        finished: RunFinished | None = None
        failed: SessionError | None = None
        recorder = None
        if not args.no_record:
            folder = record_dir or new_session_folder(default_sessions_dir(), args.task)
            recorder = SessionRecorder(
                folder,
                run={
                    "mode": "dry-run" if args.dry_run else "auto",
                    "yes": args.yes,
                    "driver": "dry-run" if args.dry_run else args.driver,
                    "isolated": args.isolated,
                    "max_steps": args.max_steps,
                    "refine": args.refine,
                },
            )
        events = run_task(
            args.task,
            backend=backend,
            family=family,
            executor=desktop.executor,
            capture=desktop.capture,
            options=options,
            own_windows=desktop.own_windows,
            windows=desktop.windows,
            elements=desktop.elements,
        )
        steps = 0
        try:
            for event in events:
                line = event_line(event, dry_run=args.dry_run, resume_after_s=RESUME_AFTER_IDLE_S)
                if line:
                    say(line)
                steps = event.step if isinstance(event, StepStarted) else steps
                if isinstance(event, RunFinished):
                    finished = event
                if recorder is not None:
                    recorder.handle(event)  # SessionError: the run ends here, before anything more is done
        except SessionError as exc:
            events.close()
            failed = exc
        finally:
            if recorder is not None:
                failed = _close_recorder(recorder) or failed
    if failed is not None:
        reason = f"{failed}; the run was ended at step {steps}" if finished is None else str(failed)
        return fail(reason)
    assert finished is not None
    if finished.outcome == "error":
        return fail(finished.reason)
    return EXIT_FOR_OUTCOME[finished.outcome]

"""Check one action against the policy and, when allowed, perform it on the current display."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from app.cli import EXIT_OK, EXIT_REFUSED, fail
from app.commands.common import screen_size
from sandbox.actions import action_from_json
from sandbox.drivers import DRIVER_NAMES, DryRunDriver, make_driver
from sandbox.errors import ActionError, DriverError, PolicyError, StoppedError
from sandbox.executor import Executor, Performed
from sandbox.geometry import ScreenGeometry
from sandbox.policy import Allow, Confirm, PolicyChecker, Verdict, load_policy
from sandbox.stop import DEFAULT_STOP_KEY, StopFlag, StopKeyListener


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action", metavar="ACTION_JSON", help='one action, e.g. \'{"kind": "click", "x": 10, "y": 20}\''
    )
    parser.add_argument(
        "--policy", metavar="FILE", default=None, help="policy file (default: yours, else the bundled one)"
    )
    parser.add_argument("--dry-run", action="store_true", help="check only; perform nothing")
    parser.add_argument("--yes", action="store_true", help="perform an action whose verdict is 'confirm'")
    parser.add_argument(
        "--driver",
        choices=[d for d in DRIVER_NAMES if d != "dry-run"],
        default="pyautogui",
        help="input driver (default pyautogui; non-ASCII text always goes through pynput)",
    )
    parser.add_argument(
        "--screen",
        type=screen_size,
        default=None,
        metavar="WxH",
        help="with --dry-run: check against one WxH monitor instead of the real display",
    )
    parser.add_argument("--stop-key", default=DEFAULT_STOP_KEY, help=f"global stop key (default {DEFAULT_STOP_KEY})")


def _report(verdict: Verdict, executed: bool) -> None:
    print(
        json.dumps(
            {"verdict": verdict.verdict, "rule": verdict.rule, "reason": verdict.reason, "executed": executed},
            ensure_ascii=False,
        )
    )


def run(args: argparse.Namespace) -> int:
    try:
        data = json.loads(args.action)
    except json.JSONDecodeError as exc:
        return fail(f"ACTION_JSON is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
    try:
        action = action_from_json(data)
        policy = load_policy(None if args.policy is None else Path(args.policy))
        policy = policy.with_forbidden_hotkey(args.stop_key)
    except (ActionError, PolicyError) as exc:
        return fail(str(exc))
    if args.screen is not None and not args.dry_run:
        return fail("--screen is only for --dry-run; a real action is checked against the real display")

    try:
        if args.screen is not None:
            geometry = ScreenGeometry.single(*args.screen)
            screen = lambda: geometry  # noqa: E731
        else:
            from sandbox.capture import ScreenCapture

            capture = ScreenCapture()
            screen = capture.geometry
        driver = DryRunDriver() if args.dry_run else make_driver(args.driver)
        stop = StopFlag()
        executor = Executor(checker=PolicyChecker(policy), driver=driver, screen=screen, stop=stop)
        checked = executor.check(action, confirmed=args.yes)
        if args.dry_run or not checked.runnable:
            _report(checked.verdict, False)
            if isinstance(checked.verdict, Allow) or (
                args.dry_run and isinstance(checked.verdict, Confirm) and args.yes
            ):
                return EXIT_OK
            return EXIT_REFUSED
        with StopKeyListener(stop, args.stop_key):
            result = executor.execute(checked)
    except StoppedError as exc:
        _report(checked.verdict, False)
        return fail(str(exc), EXIT_REFUSED)
    except DriverError as exc:
        return fail(str(exc))
    executed = isinstance(result, Performed)
    _report(result.verdict, executed)
    sys.stdout.flush()
    return EXIT_OK if executed else EXIT_REFUSED

"""Check one action against the policy and, when allowed, perform it on the current display, and say what it
visibly did (delivery is not success: agent/effects.py)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from agent.effects import Effect
from agent.session.step_records import effect_to_json
from agent.waits import CHANGE_CAP_S, look_after, read_focus
from app.cli import EXIT_OK, EXIT_REFUSED, fail
from app.commands.common import screen_size, seconds
from app.desktop import Desktop, DesktopOptions, open_desktop
from sandbox.actions import Action, Finish, Wait, action_from_json, action_points
from sandbox.drivers import DRIVER_NAMES
from sandbox.errors import ActionError, StoppedError
from sandbox.executor import Performed
from sandbox.policy import Allow, Confirm, Verdict
from sandbox.stop import DEFAULT_STOP_KEY


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action", metavar="ACTION_JSON", help='one action, e.g. \'{"kind": "click", "x": 10, "y": 20}\''
    )
    parser.add_argument(
        "--policy", metavar="FILE", type=Path, default=None, help="policy file (default: yours, else the bundled one)"
    )
    parser.add_argument("--dry-run", action="store_true", help="check only; perform nothing")
    parser.add_argument("--yes", action="store_true", help="perform an action whose verdict is 'confirm'")
    parser.add_argument(
        "--driver",
        choices=[d for d in DRIVER_NAMES if d != "dry-run"],
        default="pyautogui",
        help="input driver (default pyautogui; on X11 keys, text and the mouse go through XTest with either)",
    )
    parser.add_argument(
        "--screen",
        type=screen_size,
        default=None,
        metavar="WxH",
        help="with --dry-run: check against one WxH monitor instead of the real display",
    )
    parser.add_argument("--stop-key", default=DEFAULT_STOP_KEY, help=f"global stop key (default {DEFAULT_STOP_KEY})")
    parser.add_argument(
        "--change-wait",
        type=seconds,
        default=CHANGE_CAP_S,
        metavar="S",
        help=f"after the action, how long to wait for the screen to change before saying its effect "
        f"(default {CHANGE_CAP_S:g})",
    )


def _report(verdict: Verdict, executed: bool, effect: Effect | None = None) -> None:
    report: dict[str, Any] = {
        "verdict": verdict.verdict,
        "rule": verdict.rule,
        "reason": verdict.reason,
        "executed": executed,
        "effect": effect_to_json(effect),
    }
    print(json.dumps(report, ensure_ascii=False), flush=True)


def _monitor(desktop: Desktop, action: Action) -> int:
    """The monitor to watch for the action's effect: the one under its (first) point, else the pointer's."""
    points = action_points(action) or [p for p in [desktop.capture.pointer()] if p is not None]
    screen = desktop.capture.geometry()
    index = screen.index_at(*points[0]) if points else None
    return index if index is not None else 0


def run(args: argparse.Namespace) -> int:
    try:
        data = json.loads(args.action)
    except json.JSONDecodeError as exc:
        return fail(f"ACTION_JSON is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
    try:
        action = action_from_json(data)
    except ActionError as exc:
        return fail(str(exc))
    if args.screen is not None and not args.dry_run:
        return fail("--screen is only for --dry-run; a real action is checked against the real display")
    options = DesktopOptions(
        policy_file=args.policy,
        stop_key=args.stop_key,
        driver=args.driver,
        dry_run=args.dry_run,
        screen=args.screen,
        listen_for_stop_key=not args.dry_run,  # nothing to stop when nothing is performed
    )
    with open_desktop(options) as desktop:
        checked = desktop.executor.check(action, confirmed=args.yes)
        if args.dry_run or not checked.runnable:
            _report(checked.verdict, False)
            confirmed = isinstance(checked.verdict, Confirm) and args.yes
            return EXIT_OK if isinstance(checked.verdict, Allow) or (args.dry_run and confirmed) else EXIT_REFUSED
        watched = not isinstance(action, (Wait, Finish))  # the others touch the desktop: their effect is looked at
        monitor = _monitor(desktop, action) if watched else 0
        before = desktop.capture.grab(monitor) if watched else None
        focus = read_focus(desktop.capture)
        try:
            result = desktop.executor.execute(checked)
        except StoppedError as exc:  # the stop key mid-action: what was held is released; say so and exit 3
            _report(checked.verdict, False)
            return fail(str(exc), EXIT_REFUSED)
        effect = None
        if isinstance(result, Performed) and before is not None:
            try:
                _, effect = look_after(
                    desktop.capture,
                    monitor,
                    desktop.stop,
                    before=before,
                    focus_before=focus,
                    points=action_points(result.action),
                    cap_s=args.change_wait,
                )
            except StoppedError:  # stopped while looking: the action ran, its effect is not known
                effect = None
    executed = isinstance(result, Performed)
    _report(result.verdict, executed, effect)
    return EXIT_OK if executed else EXIT_REFUSED

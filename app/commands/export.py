"""Turn a recorded session into a standalone script, a self-contained report, or training data.

The session is read one step at a time as it is written out (agent.session.export.export_folder), so a long
recording costs no more memory than its longest step; a report draws at most its first HTML_STEPS_DRAWN steps.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agent.errors import AgentError
from agent.session.export import FORMATS, HTML_STEPS_DRAWN, export_folder
from app.cli import EXIT_OK, fail
from app.terminal import printable
from sandbox.policy_file import load_policy
from sandbox.stop import DEFAULT_STOP_KEY

WHAT = {"python": "step(s) of actions", "html": "step(s)", "jsonl": "training example(s)"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", metavar="DIR", type=Path, help="the session folder")
    parser.add_argument(
        "--format",
        required=True,
        choices=FORMATS,
        help="python: a pyautogui script that needs no deskpilot (what the current policy allows); "
        f"html: one self-contained page (of at most the first {HTML_STEPS_DRAWN} steps); jsonl: ms-swift / LLaMA-Factory training data (images copied next to it)",
    )
    parser.add_argument("-o", "--output", required=True, type=Path, metavar="PATH", help="the file to write")
    parser.add_argument("--partial", action="store_true", help="export the whole steps before a broken line")
    parser.add_argument(
        "--policy",
        type=Path,
        default=None,
        metavar="FILE",
        help="python: the policy that decides what goes into the script (default: yours, else the bundled one)",
    )
    parser.add_argument(
        "--stop-key",
        default=DEFAULT_STOP_KEY,
        help=f"python: a hotkey the script must never press, as for replay (default {DEFAULT_STOP_KEY})",
    )


def run(args: argparse.Namespace) -> int:
    try:
        # the script runs outside the sandbox: the current policy decides, once, what goes into it
        policy = load_policy(args.policy).with_forbidden_hotkey(args.stop_key) if args.format == "python" else None
        exported = export_folder(args.folder, args.format, args.output, policy=policy, partial=args.partial)
    except AgentError as exc:
        return fail(printable(str(exc)))
    if exported.error:
        warning = f"warning: {exported.error}; exported the {exported.steps} whole step(s) before it"
        print(printable(warning), file=sys.stderr)
    if exported.steps > exported.items and args.format == "html":
        print(
            f"note: the report draws the first {exported.items} of {exported.steps} steps "
            f"(at most {HTML_STEPS_DRAWN}); the jsonl and python exports cover them all",
            file=sys.stderr,
        )
    if exported.left_out:
        print(
            f"warning: {exported.left_out} of {exported.actions} action(s) left out of the script: the current "
            "policy denies them or wants them confirmed (a comment in the script names each one's rule)",
            file=sys.stderr,
        )
    print(printable(f"wrote {args.output} ({args.format}, {exported.items} {WHAT[args.format]})"), file=sys.stderr)
    return EXIT_OK

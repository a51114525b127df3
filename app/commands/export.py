"""Turn a recorded session into a standalone script, a self-contained report, or training data."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agent.errors import AgentError
from agent.session import read_session
from agent.session.export import FORMATS, export_session
from app.cli import EXIT_OK, fail

WHAT = {"python": "step(s) of actions", "html": "step(s)", "jsonl": "training example(s)"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", metavar="DIR", type=Path, help="the session folder")
    parser.add_argument(
        "--format",
        required=True,
        choices=FORMATS,
        help="python: a pyautogui script that needs no deskpilot; html: one self-contained page; "
        "jsonl: ms-swift / LLaMA-Factory training data (images copied next to it)",
    )
    parser.add_argument("-o", "--output", required=True, type=Path, metavar="PATH", help="the file to write")
    parser.add_argument("--partial", action="store_true", help="export the whole steps before a broken line")


def run(args: argparse.Namespace) -> int:
    try:
        session = read_session(args.folder, partial=args.partial)
        if session.error:
            print(
                f"warning: {session.error}; exporting the {len(session.steps)} whole step(s) before it", file=sys.stderr
            )
        count = export_session(session, args.format, args.output)
    except AgentError as exc:
        return fail(str(exc))
    print(f"wrote {args.output} ({args.format}, {count} {WHAT[args.format]})", file=sys.stderr)
    return EXIT_OK

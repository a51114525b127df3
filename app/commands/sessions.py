"""List the recorded sessions, newest first (task, date, outcome, steps, folder)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from agent.errors import AgentError
from agent.session import default_sessions_dir, list_sessions
from app.cli import EXIT_OK, fail
from app.terminal import printable
from sandbox.text import shorten

TASK_CHARS = 48


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="print a JSON array of {folder, task, started, outcome, steps, error}"
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        metavar="ROOT",
        help="the folder that holds the sessions (default: the user's sessions folder)",
    )


def run(args: argparse.Namespace) -> int:
    root = args.dir if args.dir is not None else default_sessions_dir()
    try:
        summaries = list_sessions(root)
    except AgentError as exc:
        return fail(printable(str(exc)))
    if args.json:  # ASCII: session text arrives as \uXXXX escapes, never as a raw control or bidi character
        print(json.dumps([s.to_json() for s in summaries], ensure_ascii=True, indent=2))
        return EXIT_OK
    if not summaries:
        print(printable(f"no sessions in {root}"))
        return EXIT_OK
    print(f"{'started':<19}  {'outcome':<11} {'steps':>5}  {'task':<{TASK_CHARS}}  folder")
    for s in summaries:  # every line built from session text (and folder names) is shown escaped
        task = shorten(printable(s.task or "?"), TASK_CHARS)
        started = printable(s.started or "?")[:19]
        print(
            f"{started:<19}  {printable(s.outcome):<11} {s.steps:>5}  {task:<{TASK_CHARS}}  {printable(str(s.folder))}"
        )
        if s.error:
            print(f"{'':<19}  error: {printable(s.error)}")
    return EXIT_OK

"""List the recorded sessions, newest first (task, date, outcome, steps, folder)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from agent.errors import AgentError
from agent.session import default_sessions_dir, list_sessions
from app.cli import EXIT_OK, fail

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
        return fail(str(exc))
    if args.json:
        print(json.dumps([s.to_json() for s in summaries], ensure_ascii=False, indent=2))
        return EXIT_OK
    if not summaries:
        print(f"no sessions in {root}")
        return EXIT_OK
    print(f"{'started':<19}  {'outcome':<11} {'steps':>5}  {'task':<{TASK_CHARS}}  folder")
    for s in summaries:
        task = s.task or "?"
        task = task if len(task) <= TASK_CHARS else task[: TASK_CHARS - 3] + "..."
        print(f"{(s.started or '?')[:19]:<19}  {s.outcome:<11} {s.steps:>5}  {task:<{TASK_CHARS}}  {s.folder}")
        if s.error:
            print(f"{'':<19}  error: {s.error}")
    return EXIT_OK

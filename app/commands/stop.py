"""Stop every run of this user now (bind it to a key: on Wayland no program can hear a global stop key).

Each run listens on a socket of its own (sandbox/stop.py `StopCommandListener`); this connects to each and
returns once every run has set its stop flag. It imports nothing else of deskpilot, so a key bound to it
answers as fast as Python starts (bench/stop_command.py measures it).
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="say nothing (for a key binding)")


def run(args: argparse.Namespace) -> int:
    from sandbox.stop import stop_runs

    stopped = stop_runs()
    if not args.quiet:
        print(f"stopped {stopped} run(s)" if stopped else "no run of yours was running", flush=True)
    return 0 if stopped else 1

"""Open the window (the default command): type a task, watch each step's preview, approve or stop."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from agent.backends.registry import BACKENDS, SERVERS
from app.cli import EXIT_BAD_INPUT, fail
from app.commands.common import add_family_arguments
from app.settings import MODES


def _geometry(text: str) -> tuple[int, int, int, int]:
    parts = text.split(",")
    if len(parts) != 4 or not all(p.strip().lstrip("-").isdigit() for p in parts):
        raise argparse.ArgumentTypeError(f"expected X,Y,W,H, got {text!r}")
    x, y, w, h = (int(p) for p in parts)
    return x, y, w, h


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", default=None, help="start this task as soon as the window is up")
    parser.add_argument("--backend", choices=BACKENDS, default=None)
    parser.add_argument("--model", default=None)
    parser.add_argument("--endpoint", default=None)
    parser.add_argument("--server", choices=SERVERS, default=None, help="openai: which server it is (docs/serving.md)")
    parser.add_argument("--script", type=Path, default=None)
    add_family_arguments(parser, required=False)
    parser.add_argument("--mode", choices=MODES, default=None, help="approve each step (default), auto, or dry-run")
    parser.add_argument("--practice", action="store_true", help="also open the practice board, a safe first target")
    parser.add_argument("--policy", type=Path, default=None, metavar="FILE")
    parser.add_argument("--settings", default=None, metavar="FILE", help="settings file (default: yours)")
    parser.add_argument("--geometry", type=_geometry, default=None, metavar="X,Y,W,H", help="where the window goes")
    parser.add_argument(
        "--exit-when-done", action="store_true", help="with --task: quit when the run ends, with the run's exit code"
    )


def run(args: argparse.Namespace) -> int:
    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        return fail(
            "no display: the window needs a desktop session ($DISPLAY is not set); "
            "for a task without a window use `deskpilot run`",
            EXIT_BAD_INPUT,
        )
    if args.script is not None and not args.script.exists():
        return fail(f"--script {args.script}: no such file")
    from app.gui.app import run_gui

    return run_gui(args)

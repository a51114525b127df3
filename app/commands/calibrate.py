"""Check where a backend's clicks would land: it is asked to click labelled targets on the practice board.

The board runs in its own process (`python -m app.gui.practice --ready`), so this command imports no Qt.
Nothing is clicked: each reply is parsed and its point compared with the target (agent.calibration).
Prints `{"hits", "total", "mean_offset_px", "worst_offset_px", "diagnosis", ...}`; exit 0 when every
click hit, 1 when some missed, 2 for bad input or no display. `deskpilot eval builtin` is its offline
counterpart (real widgets, no display needed).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from agent.calibration import NOTHING_EXECUTED, TargetResult, run_calibration
from agent.errors import AgentError
from app.cli import EXIT_FAILED, EXIT_OK, EXIT_REFUSED, fail, say
from app.commands.common import add_backend_arguments, backend_from_arguments, positive_int
from app.desktop import DesktopOptions, open_desktop
from sandbox.errors import SandboxError, StoppedError
from sandbox.geometry import Rect
from sandbox.stop import DEFAULT_STOP_KEY

BOARD_READY_TIMEOUT_S = 30.0
BOARD_CLOSE_TIMEOUT_S = 5.0
MAX_TARGETS = 9


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "Without a display, or to score more than the practice board: deskpilot eval builtin (real Qt and Tk "
        "widgets) or deskpilot eval on a grounding set or your own sessions."
    )
    add_backend_arguments(parser, script_help='scripted: JSONL file, one {"raw": "..."} per target, in order')
    parser.add_argument(
        "--targets",
        type=positive_int,
        default=MAX_TARGETS,
        metavar="N",
        help=f"how many targets to ask for, the most spread out first (default: all {MAX_TARGETS})",
    )
    parser.add_argument("--x", type=int, default=None, help="the board's left edge in screen px (default: centred)")
    parser.add_argument("--y", type=int, default=None, help="the board's top edge in screen px (default: centred)")
    parser.add_argument("--stop-key", default=DEFAULT_STOP_KEY, help=f"global stop key (default {DEFAULT_STOP_KEY})")


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except StoppedError as exc:
        return fail(str(exc), EXIT_REFUSED)
    except (AgentError, SandboxError, BoardError) as exc:
        return fail(str(exc))


class BoardError(Exception):
    """The practice board could not be started (no display, it crashed, it never said ready)."""


class Board:
    """The practice board as a child process; `ready` is its ready line, its later lines go to `events`."""

    def __init__(self, *, x: int | None = None, y: int | None = None, env: Mapping[str, str] | None = None) -> None:
        command = [sys.executable, "-m", "app.gui.practice", "--ready", "--on-top"]
        command += ["--x", str(x)] if x is not None else []
        command += ["--y", str(y)] if y is not None else []
        self.command = command
        self.env = dict(os.environ if env is None else env)
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._stderr: list[str] = []
        self._process: subprocess.Popen[str] | None = None
        self.ready: dict[str, Any] = {}

    def __enter__(self) -> Board:
        root = Path(__file__).resolve().parents[2]
        paths = (str(root), self.env.get("PYTHONPATH"))
        env = {**self.env, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}  # this very source tree
        self._process = subprocess.Popen(
            self.command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, stdin=subprocess.DEVNULL
        )
        assert self._process.stdout is not None and self._process.stderr is not None
        threading.Thread(target=self._read_events, args=(self._process.stdout,), daemon=True).start()
        threading.Thread(target=self._read_stderr, args=(self._process.stderr,), daemon=True).start()
        try:
            self.ready = self._wait_ready()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _read_events(self, stream: TextIO) -> None:
        for line in stream:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                self.events.put(record)

    def _read_stderr(self, stream: TextIO) -> None:
        for line in stream:
            self._stderr.append(line.rstrip())

    def _wait_ready(self) -> dict[str, Any]:
        deadline = time.monotonic() + BOARD_READY_TIMEOUT_S
        assert self._process is not None
        while time.monotonic() < deadline:
            try:
                record = self.events.get(timeout=0.05)
            except queue.Empty:
                if self._process.poll() is not None:
                    time.sleep(0.1)  # let the stderr reader catch up
                    raise BoardError(
                        f"the practice board exited with {self._process.returncode} before it was shown{self._why()}"
                    ) from None
                continue
            if record.get("event") == "ready":
                return record
        raise BoardError(f"the practice board did not show within {BOARD_READY_TIMEOUT_S:g} s{self._why()}")

    def _why(self) -> str:
        """The telling line of the board's stderr: a traceback's last, else the first (Qt's own messages)."""
        lines = [line.strip() for line in self._stderr if line.strip()]
        if not lines:
            return ""
        return f": {lines[-1] if any(line.startswith('Traceback') for line in lines) else lines[0]}"

    def targets(self) -> dict[str, Rect]:
        return {label: Rect(box[0], box[1], box[2], box[3], name=label) for label, box in self.ready["targets"].items()}

    def close(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=BOARD_CLOSE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=BOARD_CLOSE_TIMEOUT_S)


def _progress(result: TargetResult) -> None:
    if result.point is None:
        line = f"{result.label}: no point ({result.error})"
    else:
        verdict = "hit" if result.hit else "miss"
        line = f"{result.label}: {verdict} at {result.point}, {result.offset_px:.0f} px from its centre"
    say(line)


def _run(args: argparse.Namespace) -> int:
    backend, family = backend_from_arguments(args)
    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
        return fail("calibrate needs a display for the practice board: DISPLAY is not set")
    started = time.perf_counter()
    # nothing is performed: a dry-run desktop (capture and the stop key; the executor is never used)
    with open_desktop(DesktopOptions(dry_run=True, stop_key=args.stop_key)) as desktop:
        capture = desktop.capture
        say(f"calibrate: {NOTHING_EXECUTED}")
        with Board(x=args.x, y=args.y) as board:
            targets = dict(list(board.targets().items())[: args.targets])
            bx, by, bw, bh = board.ready["window"]
            monitor = capture.geometry().index_at(bx + bw / 2, by + bh / 2) or 0
            say(
                f"calibrate: {len(targets)} targets on the practice board at ({bx}, {by}), monitor {monitor}, "
                f"{backend.name} ({family.name})"
            )
            try:
                report = run_calibration(
                    backend,
                    family,
                    capture,
                    targets,
                    monitor=monitor,
                    min_pixels=args.min_pixels,
                    max_pixels=args.max_pixels,
                    stop=desktop.stop,
                    on_result=_progress,
                )
            finally:
                backend.close()
    output = {
        **report.to_json(),
        "backend": backend.name,
        "family": family.name,
        "board": board.ready["window"],
        "elapsed_s": round(time.perf_counter() - started, 2),
    }
    print(json.dumps(output, ensure_ascii=False))
    return EXIT_OK if report.hits == report.total else EXIT_FAILED

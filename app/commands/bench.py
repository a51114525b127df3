"""Run the benchmarks under bench/ (per-step overhead against the peers' pipeline, stop-key latency, OCR steps,
eval samples per second at 1, 4 and 16 requests in flight)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from app.cli import EXIT_OK, fail

BENCH = Path(__file__).resolve().parents[2] / "bench"
SUITES = {
    "overhead": "overhead.py",
    "stop": "stop_latency.py",
    "encode": "image_encode.py",
    "ocr": "ocr_step.py",
    "eval": "eval_concurrency.py",
    "recorder": "session_recorder.py",
    "accessibility": "atspi_lookup.py",
    "stop-command": "stop_command.py",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--only", choices=list(SUITES), action="append", default=None, help="run only this benchmark")


def run(args: argparse.Namespace) -> int:
    if not BENCH.is_dir():
        return fail(f"the benchmarks live in the source tree ({BENCH} is missing): run from a git checkout")
    results = {}
    for name in args.only or list(SUITES):
        command = [sys.executable, str(BENCH / SUITES[name])] + (["--json"] if args.json else [])
        out = subprocess.run(command, capture_output=args.json, text=True)
        if out.returncode != 0:
            return fail(f"benchmark {name} failed" + (f": {out.stderr.strip().splitlines()[-1]}" if out.stderr else ""))
        if args.json:
            results[name] = json.loads(out.stdout)
    if args.json:
        print(json.dumps(results, indent=2))
    return EXIT_OK

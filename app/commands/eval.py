"""Score a backend's grounding: how often it points inside the described element, on a public set or your sessions.

    deskpilot eval PATH|builtin [--backend B --model M --family F --endpoint URL] [--limit N] [--concurrency N]
                   [--json] [-o report.html] [--predictions FILE] [--fresh]

Nothing is clicked. Each sample is asked once as a run would ask it (agent.evaluation.locate); predictions are
appended to a JSONL file as they come (by default in the cache folder, one file per data set and settings), so
the same command after an interruption asks only what is left. Prints a table by group, or the JSON with
--json; exit 0 when every sample was scored, 2 for bad input or a failing backend, 3 when interrupted.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agent.errors import BackendError
from agent.evaluation.datasets import BUILTIN, FORMATS, Dataset, load_dataset
from agent.evaluation.errors import DatasetError
from agent.evaluation.locate import LOCATORS
from agent.evaluation.readers.common import Sample
from agent.evaluation.readers.sessions import DEFAULT_RADIUS_PX
from agent.evaluation.runner import EvalOptions, effective_concurrency, run_eval
from agent.evaluation.scoring import Result, scorecard, table
from agent.evaluation.store import PredictionStore, run_key
from agent.families import Family, pixel_budget
from agent.refine import REFINE_MODES
from app.cli import EXIT_OK, EXIT_REFUSED, fail, say
from app.commands.common import add_backend_arguments, backend_from_arguments, positive_float, positive_int
from app.terminal import printable
from sandbox.errors import StoppedError
from sandbox.files import write_atomically
from sandbox.stop import StopFlag

PROGRESS_EVERY_S = 10.0  # a progress line this often when stderr is not a terminal
BAR_EVERY_S = 0.1  # the terminal's bar is redrawn at most this often
BAR_WIDTH = 30


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path",
        metavar="PATH",
        help="a data set folder or JSON file (ScreenSpot, ScreenSpot-v2, ScreenSpot-Pro, UI-Vision, OSWorld-G), "
        "a session folder or the sessions folder, or 'builtin' (the small set shipped with deskpilot)",
    )
    parser.add_argument("--format", choices=FORMATS, default=None, help="the data set's format (default: found)")
    add_backend_arguments(parser, script_help='scripted: JSONL file, one {"raw": "..."} per sample asked, in order')
    parser.add_argument("--limit", type=positive_int, default=None, metavar="N", help="only the first N samples")
    parser.add_argument(
        "--concurrency",
        type=positive_int,
        default=1,
        metavar="N",
        help="requests in flight (openai backend: servers batch them); in-process backends take one at a time",
    )
    parser.add_argument(
        "--radius",
        type=positive_float,
        default=DEFAULT_RADIUS_PX,
        metavar="PX",
        help=f"sessions: a hit lies within this many screenshot pixels of the executed click (default {DEFAULT_RADIUS_PX:g})",
    )
    parser.add_argument(
        "--refine",
        choices=REFINE_MODES,
        default="off",
        help="zoom: ask again on a 2x-magnified crop around each first point (twice the model time)",
    )
    parser.add_argument("--json", action="store_true", help="print the scorecard as JSON")
    parser.add_argument("-o", "--output", type=Path, default=None, metavar="FILE", help="write an HTML report")
    parser.add_argument(
        "--predictions",
        type=Path,
        default=None,
        metavar="FILE",
        help="the JSONL file predictions are appended to and resumed from (default: in deskpilot's cache folder)",
    )
    parser.add_argument("--fresh", action="store_true", help="forget earlier predictions of these settings")


def run(args: argparse.Namespace) -> int:
    if args.output is not None and not args.output.parent.is_dir():
        return fail(f"cannot write the report {args.output}: its folder does not exist")
    dataset = load_dataset(args.path, format=args.format, radius=args.radius)
    samples = dataset.samples[: args.limit] if args.limit else dataset.samples
    for note in dataset.notes:
        say(f"eval: {note}")
    backend, family = backend_from_arguments(args)
    can = backend.capabilities
    try:
        backend.load()
        model = _model(backend, args)
        settings = {
            "backend": backend.name,
            "model": model,
            "family": family.name,
            **_budget(family, args),
            "image_format": args.image_format if can.server_options else None,
            "server": args.server if can.server_options else None,
            "refine": args.refine,
        }
        path = args.predictions or _default_predictions(dataset, run_key(settings))
        store = PredictionStore(path, run_key(settings))
        if args.fresh:
            store.start_over()
        workers = effective_concurrency(backend, args.concurrency)
        if workers < args.concurrency:
            say(f"eval: the {backend.name} backend runs in this process and answers one request at a time")
        done = len(store.load(samples))  # a bad file is an error before anything is asked
        progress = _Progress(len(samples))
        say(
            f"eval: {len(samples)} samples of {dataset.format} {dataset.name}, {backend.name}"
            + (f" ({family.name})" if can.takes_family else "")
            + f", {workers} in flight; predictions: {path}"
            + (f" ({done} done earlier)" if done else "")
        )
        started = time.perf_counter()
        try:
            results = run_eval(
                samples,
                backend=backend,
                family=family,
                stop=StopFlag(),
                options=EvalOptions(concurrency=workers, min_pixels=args.min_pixels, max_pixels=args.max_pixels),
                store=store,
                on_result=progress.update,
                locator=LOCATORS[args.refine],
            )
        except (KeyboardInterrupt, StoppedError):
            progress.end()
            kept = f"{_kept(store, samples, done)} new prediction(s) kept in {path}"
            return fail(f"interrupted: {kept}; the same command resumes there", EXIT_REFUSED)
        except BackendError as exc:
            progress.end()
            return fail(
                f"{exc}; {_kept(store, samples, done)} new prediction(s) kept in {path}; the same command resumes there"
            )
        finally:
            store.close()
        progress.end()
    finally:
        backend.close()
    elapsed = time.perf_counter() - started
    asked = sum(not r.resumed for r in results)
    resumed = len(results) - asked
    rate = f", {asked / elapsed:.2f} samples/s" if asked and elapsed > 0 else ""
    say(f"eval: {asked} asked in {elapsed:.1f} s{rate}" + (f", {resumed} from earlier predictions" if resumed else ""))
    header = {
        "dataset": dataset.name,
        "format": dataset.format,
        "backend": backend.name,
        "model": model if can.named_model else None,
        "family": family.name if can.takes_family else None,
        "refine": args.refine,
    }
    card = {**scorecard(results, **header), "predictions": str(path), "seconds": round(elapsed, 3)}
    if args.output is not None:
        _write_report(args.output, card, results)
    if args.json:
        print(json.dumps(card, ensure_ascii=True))  # data set and model text as \u escapes: never raw on a terminal
    else:
        for line in table(results).splitlines():
            print(printable(line))
        print(f"declined {card['declined']}, unusable replies {card['errors']}")
    return EXIT_OK


def _model(backend: Any, args: argparse.Namespace) -> str | None:
    """The model the answers come from: the server's (openai, after load), the one named, or None."""
    served = getattr(backend, "model", None)
    return served if isinstance(served, str) else args.model


def _kept(store: PredictionStore, samples: Sequence[Sample], before: int) -> int:
    """The predictions this run added, read back from the file (exact whenever the run was interrupted)."""
    store.close()
    return len(store.load(samples)) - before


def _budget(family: Family, args: argparse.Namespace) -> dict[str, int]:
    budget = pixel_budget(family, min_pixels=args.min_pixels, max_pixels=args.max_pixels)
    return {"min_pixels": budget.min_pixels, "max_pixels": budget.max_pixels}


def _default_predictions(dataset: Dataset, run: str) -> Path:
    """One file per data set and settings in the cache folder (platformdirs), so the same command resumes."""
    from platformdirs import user_cache_path

    where = BUILTIN if dataset.name == BUILTIN else str(Path(dataset.name).resolve())
    digest = hashlib.sha256(f"{where}\n{dataset.format}\n{run}".encode()).hexdigest()[:12]
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(dataset.name).name or "dataset").strip("-.") or "dataset"
    return user_cache_path("deskpilot") / "eval" / f"{stem}-{digest}.jsonl"


def _write_report(path: Path, card: dict[str, Any], results: list[Result]) -> None:
    from agent.evaluation.report import html_report

    try:
        write_atomically(path, html_report(card, results).encode("utf-8"))
    except OSError as exc:
        raise DatasetError(f"cannot write {path}: {exc.strerror or exc}") from None
    say(f"eval: report {path}")


class _Progress:
    """A bar on a terminal (redrawn in place), else a line every PROGRESS_EVERY_S; only our own text."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.hits, self.asked = total, 0, 0, 0
        self.tty = sys.stderr.isatty()
        self.started = self.shown_at = time.perf_counter()

    def update(self, result: Result) -> None:
        self.done += 1
        self.hits += result.hit
        self.asked += not result.resumed
        now = time.perf_counter()
        every = BAR_EVERY_S if self.tty else PROGRESS_EVERY_S
        if now - self.shown_at >= every or (self.tty and self.done == self.total):
            self.shown_at = now
            self._show(now)

    def _show(self, now: float) -> None:
        share = self.done / self.total if self.total else 1.0
        rate = self.asked / (now - self.started) if now > self.started else 0.0
        left = (self.total - self.done) / rate if rate > 0 else None
        eta = f", {left:.0f} s left" if left is not None and self.done < self.total else ""
        accuracy = 100 * self.hits / self.done if self.done else 0.0
        text = f"{self.done}/{self.total} ({accuracy:.1f}% hits, {rate:.2f}/s{eta})"
        if self.tty:
            filled = round(BAR_WIDTH * share)
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {text}\x1b[K")
            sys.stderr.flush()
        else:
            say(f"eval: {text}")

    def end(self) -> None:
        if self.tty and self.done:
            sys.stderr.write("\n")
            sys.stderr.flush()

"""Asking a backend about every sample: N requests in flight for a server, one at a time in this process.

A backend that can be asked concurrently (`capabilities.concurrent`: a server, which vLLM and SGLang batch)
takes `concurrency` requests at once; the in-process backends answer one request at a time, so they run one
sample after another whatever `concurrency` says (`effective_concurrency`). Workers decode the image and call the locator; only this thread
appends predictions to the store and reports progress, so the file holds whole lines whatever happens.

A BackendError (a server that is gone after its retries, a script that ran out) or the stop flag ends the
eval: requests in flight are given up (the stop flag), what was answered is already in the store, and the
error is raised. Ctrl-C (KeyboardInterrupt) does the same and is raised again.
"""

from __future__ import annotations

import concurrent.futures as futures
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from agent.backends.base import DEFAULT_MAX_NEW_TOKENS, Backend
from agent.evaluation.locate import Locator, locate
from agent.evaluation.readers.common import Sample, decoded, refusing_bombs
from agent.evaluation.scoring import Result
from agent.evaluation.store import PredictionStore
from agent.families import Family
from sandbox.stop import StopFlag

IMAGE_CACHE = 8  # decoded images kept: samples of one screenshot come together in every format
WAIT_SLICE_S = 0.2  # how often the waiting thread wakes (Ctrl-C is noticed between waits)


@dataclass(frozen=True, slots=True, kw_only=True)
class EvalOptions:
    concurrency: int = 1
    min_pixels: int | None = None
    max_pixels: int | None = None
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS


def effective_concurrency(backend: Backend, asked: int) -> int:
    """The requests in flight: as asked for a backend that takes concurrent requests, else 1."""
    return max(1, asked) if backend.capabilities.concurrent else 1


def run_eval(
    samples: Sequence[Sample],
    *,
    backend: Backend,
    family: Family,
    stop: StopFlag,
    options: EvalOptions = EvalOptions(),
    store: PredictionStore | None = None,
    on_result: Callable[[Result], None] | None = None,
    locator: Locator = locate,
) -> list[Result]:
    """Every sample's result, in data set order: from the store when this run already answered it, else asked.

    `backend` must be loaded. Raises BackendError, StoppedError, KeyboardInterrupt (after giving up what is in
    flight) and DatasetError (an image that cannot be read now, a store that cannot be written)."""
    with refusing_bombs():  # here, around the workers: the warnings filter is the process's, not a thread's
        return _run(samples, backend, family, stop, options, store, on_result, locator)


def _run(
    samples: Sequence[Sample],
    backend: Backend,
    family: Family,
    stop: StopFlag,
    options: EvalOptions,
    store: PredictionStore | None,
    on_result: Callable[[Result], None] | None,
    locator: Locator,
) -> list[Result]:
    done = store.load(samples) if store is not None else {}
    results: dict[int, Result] = {}
    todo: list[tuple[int, Sample]] = []
    for index, sample in enumerate(samples):
        if sample.id in done:
            results[index] = Result(index, sample, done[sample.id], resumed=True)
        else:
            todo.append((index, sample))
    for result in results.values():
        if on_result is not None:
            on_result(result)
    images = _Images()
    workers = effective_concurrency(backend, options.concurrency)

    def ask(index: int, sample: Sample) -> Result:
        image = images.get(sample)
        found = locator(
            backend,
            family,
            image,
            sample.instruction,
            stop=stop,
            min_pixels=options.min_pixels,
            max_pixels=options.max_pixels,
            max_new_tokens=options.max_new_tokens,
        )
        return Result(index, sample, found)

    def keep(result: Result) -> None:
        if store is not None:
            store.append(result.sample, result.prediction)
        results[result.index] = result
        if on_result is not None:
            on_result(result)

    if workers == 1:
        for index, sample in todo:
            keep(ask(index, sample))
    else:
        _in_flight(todo, workers, ask, keep, stop)
    return [results[i] for i in sorted(results)]


def _in_flight(
    todo: list[tuple[int, Sample]],
    workers: int,
    ask: Callable[[int, Sample], Result],
    keep: Callable[[Result], None],
    stop: StopFlag,
) -> None:
    """`workers` requests in flight until every sample is answered; the first failure stops the rest."""
    pending = iter(todo)
    pool = futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="deskpilot-eval")
    running: set[futures.Future[Result]] = set()
    try:

        def submit() -> None:
            item = next(pending, None)
            if item is not None:
                running.add(pool.submit(ask, *item))

        for _ in range(workers):
            submit()
        while running:
            finished, _ = futures.wait(running, timeout=WAIT_SLICE_S, return_when=futures.FIRST_COMPLETED)
            for future in finished:
                running.discard(future)
                keep(future.result())  # a worker's exception is raised here
                submit()
    except BaseException:
        stop.stop("the evaluation was interrupted")
        for future in running:
            future.cancel()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class _Images:
    """The last few decoded images, shared by the workers (read only)."""

    def __init__(self) -> None:
        self._cache: OrderedDict[Path, Image.Image] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, sample: Sample) -> Image.Image:
        with self._lock:
            cached = self._cache.get(sample.image)
            if cached is not None:
                self._cache.move_to_end(sample.image)
                return cached
        image = decoded(sample)
        with self._lock:
            self._cache[sample.image] = image
            while len(self._cache) > IMAGE_CACHE:
                self._cache.popitem(last=False)
        return image

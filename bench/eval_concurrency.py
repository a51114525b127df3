"""Samples per second of `deskpilot eval` against a server, with 1, 4 and 16 requests in flight.

A local OpenAI-compatible test server (tests/helpers/grounding_server.py, in its own process so that it takes
no time from the client's interpreter) answers every request after a fixed latency, the way a batching server (vLLM, SGLang) answers requests that arrive together in about the time of
one. The eval runs through its real path (agent.evaluation.run_eval with the openai backend: image decoding,
preparation, JPEG encoding, HTTP, parsing, scoring) on a ScreenSpot-v2-format set of desktop-like screenshots,
REPEAT times per level, and the medians and their ratio to one request in flight are printed.

    .venv/bin/python bench/eval_concurrency.py [--samples 64] [--latency 0.5] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from agent.backends.openai.backend import OpenAIBackend  # noqa: E402
from agent.evaluation.datasets import load_dataset  # noqa: E402
from agent.evaluation.runner import EvalOptions, run_eval  # noqa: E402
from agent.families import get_family  # noqa: E402
from sandbox.stop import StopFlag  # noqa: E402
from tests.helpers.desktop_image import desktop_image  # noqa: E402

LEVELS = (1, 4, 16)
IMAGES = 8
IMAGE_SIZE = (1280, 720)


def make_set(folder: Path, samples: int) -> Path:
    """A ScreenSpot-v2 file of `samples` targets spread over IMAGES screenshots."""
    images = folder / "screenspotv2_image"
    images.mkdir(parents=True)
    for n in range(IMAGES):
        desktop_image(*IMAGE_SIZE, seed=n).save(images / f"shot{n}.png")
    width, height = IMAGE_SIZE
    items = [
        {
            "img_filename": f"shot{n % IMAGES}.png",
            "bbox": [40 + (n * 97) % (width - 120), 30 + (n * 53) % (height - 80), 60, 24],
            "instruction": f"element {n}",
            "data_type": "text",
            "data_source": "bench",
        }
        for n in range(samples)
    ]
    path = folder / "screenspot_desktop_v2.json"
    path.write_text(json.dumps(items), encoding="utf-8")
    return path


def stats(url: str, *, reset: bool = False) -> dict[str, int]:
    """The server's counts (it runs in another process)."""
    answer = httpx.get(url.removesuffix("/v1") + "/stats" + ("?reset" if reset else ""), timeout=10)
    data: dict[str, int] = answer.json()
    return data


def measure(samples: int, latency_s: float, repeat: int) -> dict[str, Any]:
    family = get_family("qwen3-vl")
    command = [sys.executable, "-m", "tests.helpers.grounding_server", str(latency_s)]
    rates: dict[int, list[float]] = {level: [] for level in LEVELS}
    in_flight: dict[int, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        dataset = load_dataset(make_set(Path(tmp), samples))
        server = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert server.stdout is not None and server.stdin is not None
        try:
            url = server.stdout.readline().strip()
            for _ in range(repeat):
                for level in LEVELS:
                    backend = OpenAIBackend(url)
                    backend.load()
                    stats(url, reset=True)
                    started = time.perf_counter()
                    results = run_eval(
                        dataset.samples,
                        backend=backend,
                        family=family,
                        stop=StopFlag(),
                        options=EvalOptions(concurrency=level),
                    )
                    elapsed = time.perf_counter() - started
                    backend.close()
                    seen = stats(url)
                    assert len(results) == samples and seen["requests"] == samples, seen
                    rates[level].append(samples / elapsed)
                    in_flight[level] = max(in_flight.get(level, 0), seen["max_in_flight"])
        finally:
            server.stdin.close()
            server.wait(timeout=30)
    medians = {level: statistics.median(values) for level, values in rates.items()}
    return {
        "samples": samples,
        "latency_s": latency_s,
        "repeat": repeat,
        "samples_per_s": {str(level): round(medians[level], 2) for level in LEVELS},
        "ratio_to_1": {str(level): round(medians[level] / medians[1], 2) for level in LEVELS},
        "max_in_flight": {str(level): in_flight[level] for level in LEVELS},
        "ideal_samples_per_s": {str(level): round(level / latency_s, 2) for level in LEVELS},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.5, help="the server's seconds per request")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = measure(args.samples, args.latency, args.repeat)
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"eval against a server answering in {args.latency:g} s, {args.samples} samples, median of {args.repeat}:")
    for level in LEVELS:
        key = str(level)
        print(
            f"  {level:>2} in flight: {figures['samples_per_s'][key]:6.2f} samples/s "
            f"(x{figures['ratio_to_1'][key]:.2f}; ideal {figures['ideal_samples_per_s'][key]:.2f}; "
            f"the server held {figures['max_in_flight'][key]} at once)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

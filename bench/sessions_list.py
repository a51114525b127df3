"""How long `deskpilot sessions` takes to list a 10,000-step session (the red team's N14: 16.7 s and 789 MB).

Benchmark code, kept out of agent/. It records one real step (tests/helpers/sessions.py) with a long prompt
text, so that a line of steps.jsonl is about LINE_BYTES like the red team's (197 MB for 10,000 steps), repeats
that line STEPS times and ends the session. Then it times, as medians of --repeat runs:
- `list_sessions` in this process (the header and the last line only: agent/session/reader.py read_summary);
- the `deskpilot sessions --dir ROOT` command, interpreter start included;
- for comparison, `read_session` of the same folder (every step parsed: what listing did before).
With --export, also the `deskpilot export` command for html (the first HTML_STEPS_DRAWN steps drawn) and
jsonl (streamed), each once, with the child's peak memory.

    .venv/bin/python bench/sessions_list.py [--steps 10000] [--repeat 5] [--export]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.session import list_sessions, read_session  # noqa: E402
from sandbox.actions import Click  # noqa: E402
from tests.helpers.sessions import record_session  # noqa: E402

LINE_BYTES = 20_000  # one step's line, as in the red team's session (197 MB / 10,000)
DESKPILOT = Path(sys.executable).with_name("deskpilot")


def build(folder: Path, steps: int) -> int:
    """A session of `steps` copies of one recorded step, each line about LINE_BYTES; returns the file's size."""
    record_session(folder, [Click(250, 154)], task="a long run")
    step, end = (json.loads(line) for line in (folder / "steps.jsonl").read_text(encoding="utf-8").splitlines())
    parts = step["prompt"]["messages"][0]["parts"]
    parts[0]["text"] += " " + "x" * (LINE_BYTES - len(json.dumps(step)))
    end["steps"] = steps
    with open(folder / "steps.jsonl", "w", encoding="utf-8") as stream:
        for n in range(1, steps + 1):
            stream.write(json.dumps({**step, "step": n}) + "\n")
        stream.write(json.dumps(end) + "\n")
    return (folder / "steps.jsonl").stat().st_size


def median_s(what: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        what()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def command(*args: str) -> tuple[float, float]:
    """(seconds, the child's peak resident memory in MB) of one deskpilot command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    done = subprocess.run([str(DESKPILOT), *args], capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"deskpilot {' '.join(args)} failed: {done.stderr.strip()}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, max(peak, before) / 1024  # ru_maxrss is in KB on Linux; the largest child so far


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--export", action="store_true", help="also time the html and jsonl exports")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="deskpilot-bench-") as tmp:
        root = Path(tmp) / "sessions"
        folder = root / "long"
        size = build(folder, args.steps)
        print(f"session: {args.steps} steps, steps.jsonl {size / 1e6:.0f} MB")
        listed = list_sessions(root)
        assert listed[0].steps == args.steps and listed[0].outcome == "success", listed
        print(f"list_sessions (in process):      median {median_s(lambda: list_sessions(root), args.repeat):.3f} s")
        runs = [command("sessions", "--dir", str(root))[0] for _ in range(args.repeat)]
        print(f"deskpilot sessions (a command):  median {statistics.median(runs):.3f} s (interpreter start included)")
        whole = median_s(lambda: read_session(folder), max(1, min(args.repeat, 2)))
        print(f"read_session (every step, as listing did before): median {whole:.3f} s")
        if args.export:
            for fmt in ("html", "jsonl"):
                seconds, peak = command("export", str(folder), "--format", fmt, "-o", str(Path(tmp) / f"out.{fmt}"))
                print(
                    f"deskpilot export --format {fmt}: {seconds:.1f} s, peak RSS of the commands so far {peak:.0f} MB"
                )


if __name__ == "__main__":
    main()

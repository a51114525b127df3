"""The session writer's CPU per 1080p step, against the writer as it was before agent/session/png.py.

Benchmark code, kept out of agent/. `BenchRecorder` feeds a real SessionRecorder the events of a one-click
UI-TARS step: bench/overhead.py times a call as `record` (the recorder's cost on the loop's thread) and
`drain()` as the writer thread's. Run as a script, it records STEPS steps of a desktop-like 1920x1080
screenshot (tests/helpers/desktop_image.py, grainy wallpaper, as overhead.py shows it) and its 1932x1092
model image twice, step by step in turn: with today's writer, and with the writer's image encoding swapped
for the one it had before (`baseline_write_image`, Pillow's PNG at compress level 1, copied here). Each
step's figure is the process's CPU time from handing over the events to the writer having finished (the
loop's thread and the writer thread together; waiting on fsync is not CPU). It prints the medians, the
ratio, the bytes a step writes, and whether the new files decode to the very pixels recorded.

    .venv/bin/python bench/session_recorder.py [--steps 15] [--json]
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.events import (
    ActionExecuted,
    ActionProposed,
    ModelReplied,
    ReplyParsed,
    RunStarted,
    ScreenCaptured,
    StepStarted,
)
from agent.families import get_family, model_frame
from agent.parsing import ParsedReply
from agent.prompts import ImagePart, Message, TextPart
from agent.session import SessionRecorder
from sandbox.files import write_atomically
from sandbox.geometry import ScreenGeometry
from sandbox.policy import ALLOW

BASELINE_PNG_COMPRESS_LEVEL = 1  # what agent/session/recorder.py used before png.py
TARGET_MS = 50.0  # issue 16, item 10: the writer's CPU per 1080p step

FAMILY = "ui-tars-1.5"
RAW_REPLY = "Thought: bench\nAction: click(start_box='(1,1)')"


class BenchRecorder:
    """Calling it records one step, as the loop would; `drain` waits for the writer; `close` ends the session."""

    def __init__(self, folder: Path) -> None:
        self._family = get_family(FAMILY)
        self.recorder = SessionRecorder(folder, run={"mode": "bench"})
        self.recorder.handle(
            RunStarted(
                task="bench",
                backend="bench",
                model=None,
                family=self._family.name,
                min_pixels=self._family.min_pixels,
                max_pixels=self._family.max_pixels,
                screen=ScreenGeometry.single(1920, 1080),
                monitor=0,
                policy_digest="",
            )
        )
        self._step = 0

    @property
    def folder(self) -> Path:
        return self.recorder.folder

    def __call__(self, screenshot: Image.Image, model_image: Image.Image, reply: ParsedReply) -> None:
        self._step += 1
        n, handle = self._step, self.recorder.handle
        frame = model_frame(self._family, *screenshot.size)
        messages = (
            Message("system", (TextPart("You are a GUI agent."),)),
            Message("user", (TextPart("click Save"), ImagePart(model_image))),
        )
        handle(StepStarted(step=n))
        handle(
            ScreenCaptured(
                step=n,
                screenshot=screenshot,
                model_image=model_image,
                frame=frame,
                cursor=None,
                settle_s=0.0,
                capture_s=0.0,
                prepare_s=0.0,
            )
        )
        handle(
            ModelReplied(
                step=n,
                raw=RAW_REPLY,
                messages=messages,
                elapsed_s=0.0,
                input_tokens=None,
                output_tokens=None,
                image_tokens=None,
            )
        )
        handle(ReplyParsed(step=n, thought=reply.thought, actions=reply.actions, parse_s=0.0))
        for index, parsed in enumerate(reply.actions):
            handle(ActionProposed(step=n, index=index, parsed=parsed, verdict=ALLOW))
            handle(
                ActionExecuted(
                    step=n, index=index, action=parsed.action, edited=False, confirmed=False, check_s=0.0, execute_s=0.0
                )
            )

    def drain(self) -> None:
        self.recorder.drain()

    def close(self) -> None:
        self.recorder.close()


def bench_recorder(folder: Path) -> BenchRecorder:
    """A per-step recording callable for bench/overhead.py (its cost on the loop's thread is what it times)."""
    return BenchRecorder(folder)


def baseline_write_image(folder: Path, image: Image.Image, name: str) -> None:
    """The BASELINE: the session writer's image work before agent/session/png.py, as it was in
    agent/session/recorder.py `_Writer.write_image` (Pillow's PNG encoder, then the atomic write)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=BASELINE_PNG_COMPRESS_LEVEL)
    write_atomically(folder / name, buffer.getvalue())


def _cpu_ms_per_step(bench: BenchRecorder, screenshot: Image.Image, model_image: Image.Image, reply: Any) -> float:
    started = time.process_time()
    bench(screenshot, model_image, reply)
    bench.drain()
    return (time.process_time() - started) * 1000


def _step_bytes(folder: Path) -> float:
    """Bytes of the images a step wrote, on average."""
    files = list((folder / "images").glob("*.png"))
    steps = {f.name.split("-")[0] for f in files}
    return sum(f.stat().st_size for f in files) / max(1, len(steps))


def measure(steps: int) -> dict[str, Any]:
    from agent.families import model_input_size
    from agent.imaging import prepare_image
    from agent.parsing import parse_reply
    from agent.session import read_session
    from tests.helpers.desktop_image import desktop_image

    screenshot = desktop_image(1920, 1080, grain=1.0)
    family = get_family(FAMILY)
    model_image = prepare_image(screenshot, model_input_size(family, *screenshot.size))
    reply = parse_reply(RAW_REPLY, family=family, frame=model_frame(family, *screenshot.size))
    root = Path(tempfile.mkdtemp(prefix="deskpilot-bench-recorder-"))
    try:
        today, before = BenchRecorder(root / "today"), BenchRecorder(root / "before")
        writer = before.recorder._writer  # the bench swaps the encoding, nothing else
        writer.write_image = lambda image, name: baseline_write_image(writer.folder, image, name)  # type: ignore[method-assign]
        times: dict[str, list[float]] = {"today": [], "before": []}
        for _ in range(steps):  # in turn, so both see the same machine
            times["before"].append(_cpu_ms_per_step(before, screenshot, model_image, reply))
            times["today"].append(_cpu_ms_per_step(today, screenshot, model_image, reply))
        today.close()
        before.close()
        session = read_session(today.folder)
        exact = all(
            session.image(step.screenshot).tobytes() == screenshot.tobytes()
            and session.image(step.model_image).tobytes() == model_image.tobytes()
            for step in session.steps[:2]
        )
        return {
            "size": list(screenshot.size),
            "model_input": list(model_image.size),
            "steps": steps,
            "today_cpu_ms": statistics.median(times["today"]),
            "before_cpu_ms": statistics.median(times["before"]),
            "today_bytes_per_step": _step_bytes(today.folder),
            "before_bytes_per_step": _step_bytes(before.folder),
            "pixels_exact": exact,
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    r = measure(args.steps)
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    size = f"{r['size'][0]}x{r['size'][1]}"
    print(
        f"session writer, CPU per {size} step (screenshot + {r['model_input'][0]}x{r['model_input'][1]} model image), "
    )
    print(f"median of {r['steps']} steps each, the two writers in turn in this one run:")
    print(
        f"  before (Pillow PNG, level {BASELINE_PNG_COMPRESS_LEVEL}): {r['before_cpu_ms']:7.1f} ms "
        f"{r['before_bytes_per_step'] / 1e6:6.2f} MB a step"
    )
    print(
        f"  today (agent/session/png.py): {r['today_cpu_ms']:7.1f} ms {r['today_bytes_per_step'] / 1e6:6.2f} MB a step"
    )
    print(f"  ratio before/today: {r['before_cpu_ms'] / r['today_cpu_ms']:.1f}x; target: at most {TARGET_MS:.0f} ms")
    print(f"  recorded images decode to the exact pixels given: {'yes' if r['pixels_exact'] else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

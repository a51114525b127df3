"""bench/overhead.py's hook into the session recorder: one call records one step the way the loop would.

Benchmark code, kept out of agent/: it feeds a real SessionRecorder the events of a one-click UI-TARS step,
so what overhead.py times as `record` is the recorder's cost on the loop's thread, and `drain()` the writer
thread's (PNG encoding and writing, which overlaps the model's time in a real run).
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

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
from sandbox.geometry import ScreenGeometry
from sandbox.policy import ALLOW

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

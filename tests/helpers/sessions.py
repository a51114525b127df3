"""Session folders built for tests without a display: the real recorder fed the events a run would send,
then edited as JSON where a test needs a hostile one (a recording is untrusted input).

    folder = record_session(tmp_path / "s", [Click(10, 20), Type("hi")])
    edit_header(folder, started="not a date")
    edit_steps(folder, lambda records: records[0]["prompt"].update(sha256="x" * 64))
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from agent.events import (
    ActionExecuted,
    ActionProposed,
    ModelReplied,
    Outcome,
    ReplyParsed,
    RunFinished,
    RunStarted,
    ScreenCaptured,
    StepStarted,
)
from agent.parsing import ParsedAction
from agent.prompts import ImagePart, Message, TextPart
from agent.session import SessionRecorder
from sandbox.actions import Action, action_to_json
from sandbox.geometry import ModelFrame, ModelSpace, ScreenGeometry
from sandbox.policy import ALLOW

SCREEN = ScreenGeometry.single(1920, 1080)
MODEL_SCALE = 8  # the model image is the screenshot shrunk this much: a second, distinct file per step


def record_session(
    folder: Path,
    actions: Sequence[Action],
    *,
    task: str = "fill in the form",
    screen: ScreenGeometry = SCREEN,
    reasoning: str | None = None,
    outcome: Outcome = "success",
) -> Path:
    """One step per action (proposed, allowed, executed), then the end record; returns `folder`."""
    monitor = screen.monitors[0]
    shot = Image.new("RGB", (monitor.width, monitor.height), (200, 205, 210))
    model = shot.resize((monitor.width // MODEL_SCALE, monitor.height // MODEL_SCALE))
    frame = ModelFrame(shot.width, shot.height, ModelSpace.absolute(model.width, model.height))
    with SessionRecorder(folder, run={"mode": "test"}) as recorder:
        handle = recorder.handle
        handle(
            RunStarted(
                task=task,
                backend="scripted",
                model=None,
                family="qwen2.5-vl",
                min_pixels=3136,
                max_pixels=12845056,
                screen=screen,
                monitor=0,
                policy_digest="d" * 64,
            )
        )
        for n, action in enumerate(actions, start=1):
            raw = json.dumps(action_to_json(action))
            messages = (
                Message("system", (TextPart("You are a GUI agent."),)),
                Message("user", (TextPart(task), ImagePart(model))),
            )
            parsed = ParsedAction(action=action, model=action_to_json(action), source=raw)
            handle(StepStarted(step=n))
            handle(
                ScreenCaptured(
                    step=n,
                    screenshot=shot,
                    model_image=model,
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
                    raw=raw,
                    messages=messages,
                    elapsed_s=0.1,
                    input_tokens=100,
                    output_tokens=10,
                    image_tokens=80,
                    reasoning=reasoning,
                )
            )
            handle(ReplyParsed(step=n, thought=f"step {n}", actions=(parsed,), parse_s=0.0))
            handle(ActionProposed(step=n, index=0, parsed=parsed, verdict=ALLOW))
            handle(
                ActionExecuted(
                    step=n, index=0, action=action, edited=False, confirmed=False, check_s=0.0, execute_s=0.01
                )
            )
        handle(RunFinished(outcome=outcome, reason="the model finished the task", steps=len(actions)))
    return folder


def edit_header(folder: Path, **changes: Any) -> None:
    path = folder / "header.json"
    header = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**header, **changes}), encoding="utf-8")


def edit_steps(folder: Path, edit: Callable[[list[dict[str, Any]]], None]) -> None:
    """Rewrite steps.jsonl after `edit` changed its records (a list of dicts, the end record last) in place."""
    path = folder / "steps.jsonl"
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    edit(records)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")

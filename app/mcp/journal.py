"""The session of one MCP connection: each `act` recorded as a step, so a client's actions are browsable, replayable
and exportable like any run (agent/session/).

A step holds what the person would want to check afterwards: the screen just before the action, the action as the
client sent it (as the step's reply: the client is the model here), the policy's verdict, and whether it ran. The
session starts with the connection's first action (a client that only looks leaves no session) and ends when the
connection (or the server) does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from agent.errors import AgentError
from agent.events import (
    ActionBlocked,
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
from agent.session import SessionRecorder, new_session_folder
from sandbox.actions import Action, action_points, action_to_json
from sandbox.capture import Screenshot
from sandbox.geometry import ModelFrame, ModelSpace, ScreenGeometry
from sandbox.policy import Verdict


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalFacts:
    """What every connection's session header says about the server."""

    backend: str
    model: str | None
    family: str
    min_pixels: int
    max_pixels: int
    policy_digest: str
    run: dict[str, object]


def shot_frame(shot: Screenshot) -> ModelFrame:
    """The frame of a screenshot taken as it is: its own pixels, placed where its monitor lies."""
    width, height = shot.image.size
    return ModelFrame(
        shot_width=width,
        shot_height=height,
        space=ModelSpace.absolute(width, height),
        origin_x=shot.monitor.x,
        origin_y=shot.monitor.y,
        scale=shot.monitor.scale,
    )


def monitor_of(action: Action, screen: ScreenGeometry) -> int:
    """The monitor an action lands on (the first when it has no point or lands on none): what its step shows."""
    points = action_points(action)
    index = screen.index_at(*points[0]) if points else None
    return 0 if index is None else index


class Journal:
    """One connection's recording; every method runs on the thread that holds the hands' lock."""

    def __init__(self, *, root: Path, client: str, facts: JournalFacts) -> None:
        self.client = client
        self.folder: Path | None = None
        self._root = root
        self._facts = facts
        self._recorder: SessionRecorder | None = None
        self._step = 0

    def step(self, action: Action, raw: str, shot: Screenshot) -> int:
        """Start a step for `action` (the client's words `raw`) on the screen `shot`; its number."""
        recorder = self._open(shot)
        self._step += 1
        step = self._step
        recorder.handle(StepStarted(step=step))
        recorder.handle(
            ScreenCaptured(
                step=step,
                screenshot=shot.image,
                model_image=shot.image,
                frame=shot_frame(shot),
                cursor=shot.cursor,
                settle_s=0.0,
                capture_s=shot.elapsed_s,
                prepare_s=0.0,
            )
        )
        recorder.handle(
            ModelReplied(
                step=step, raw=raw, messages=(), elapsed_s=0.0, input_tokens=None, output_tokens=None, image_tokens=None
            )
        )
        parsed = ParsedAction(action=action, model=action_to_json(action), source=raw)
        recorder.handle(ReplyParsed(step=step, thought=f"asked by {self.client}", actions=(parsed,), parse_s=0.0))
        return step

    def verdict(self, step: int, action: Action, raw: str, verdict: Verdict) -> None:
        assert self._recorder is not None
        parsed = ParsedAction(action=action, model=action_to_json(action), source=raw)
        self._recorder.handle(ActionProposed(step=step, index=0, parsed=parsed, verdict=verdict))

    def blocked(self, step: int, action: Action, verdict: Verdict) -> None:
        assert self._recorder is not None
        self._recorder.handle(ActionBlocked(step=step, index=0, action=action, verdict=verdict))

    def executed(self, step: int, action: Action, *, confirmed: bool, execute_s: float) -> None:
        assert self._recorder is not None
        self._recorder.handle(
            ActionExecuted(
                step=step, index=0, action=action, edited=False, confirmed=confirmed, check_s=0.0, execute_s=execute_s
            )
        )

    def close(self, outcome: Outcome, reason: str) -> str | None:
        """End the session (nothing when no action was asked for); a warning line when recording failed."""
        recorder, self._recorder = self._recorder, None
        if recorder is None:
            return None
        recorder.handle(RunFinished(outcome=outcome, reason=reason, steps=self._step))
        try:
            recorder.close()
        except AgentError as exc:
            return f"warning: {exc}"
        return None

    def _open(self, shot: Screenshot) -> SessionRecorder:
        if self._recorder is not None:
            return self._recorder
        facts = self._facts
        task = f"MCP client {self.client}"
        self.folder = new_session_folder(self._root, task)
        recorder = SessionRecorder(self.folder, run={**facts.run, "mcp_client": self.client})
        recorder.handle(
            RunStarted(
                task=task,
                backend=facts.backend,
                model=facts.model,
                family=facts.family,
                min_pixels=facts.min_pixels,
                max_pixels=facts.max_pixels,
                screen=shot.screen,
                monitor=shot.index,
                policy_digest=facts.policy_digest,
            )
        )
        self._recorder = recorder
        return recorder


def raw_action(data: object) -> str:
    """The action as the client sent it, one line of JSON (what the step records as its reply)."""
    return data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)

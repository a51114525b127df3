"""The one small interface every model backend implements (transformers, openai, ocr, scripted).

A backend gets the step's conversation (agent.prompts), the prepared screenshot and the task, and returns
the model's raw text. Parsing, policy and execution happen outside, the same for every backend.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from PIL import Image

from agent.families import Family
from agent.prompts import Message
from sandbox.stop import StopFlag

# stage ("download", "files", "load", ...), units done, units in all (None when unknown)
ProgressFn = Callable[[str, int, "int | None"], None]
DEFAULT_MAX_NEW_TOKENS = 512


@dataclass(frozen=True, slots=True)
class ModelRequest:
    family: Family
    messages: tuple[Message, ...]
    task: str
    image: Image.Image  # the current screenshot, prepared at the family's model input size
    step: int  # 1-based
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    feedback: str | None = None  # why the previous reply did not fully run (a refusal, a rejection, ...); None: it ran


@dataclass(frozen=True, slots=True)
class ModelReply:
    raw: str
    elapsed_s: float
    input_tokens: int | None = None
    output_tokens: int | None = None
    image_tokens: int | None = None  # visual tokens of the newest image, where the backend can tell
    reasoning: str | None = None  # a server's separate reasoning channel: shown as the thought, never parsed
    follows_plan: bool = False  # a step of a plan the backend follows: repeating an action is intended (ocr)


class Backend(Protocol):
    name: str

    def load(self, *, progress: ProgressFn | None = None) -> None:
        """Get ready (download, load weights, connect); idempotent. Raises BackendError."""

    def generate(self, request: ModelRequest, *, stop: StopFlag) -> ModelReply:
        """One reply. Must give up promptly (StoppedError) once `stop` is set. Raises BackendError."""

    def close(self) -> None:
        """Release the model (GPU memory, connections)."""

"""Asking a backend "where would you click?": the one way calibration, evaluation and the second look ask.

`ask_point` prepares the picture (agent/picture.py), builds the conversation the caller names, asks once and
reads the reply with the picture's frame, so the point comes back in the picture's screen coordinates: the
monitor's for calibration (agent/calibration.py), the image's own pixels for evaluation
(agent/evaluation/locate.py), the screen (or the image) again for a second look at a magnified crop
(agent/refine.py, whose crop frame places the crop where it lies).

Which point counts is decided here and nowhere else (`read_point`): the reply is parsed for the family
(agent.parsing.parse_reply); its first action that names a point gives the point (sandbox.actions.action_points:
a click, a move, a drag's start, a scroll at a point; a key or a text before it is passed over); a Finish before
any such action declines (the model is done, or says the target is not there), and so does a reply without a
point. A reply that cannot be read is unusable: a reason on the answer, never raised.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

from agent.backends.base import DEFAULT_MAX_NEW_TOKENS, Backend, ModelReply, ModelRequest
from agent.errors import ParseError
from agent.families import Family
from agent.parsing import ParsedAction, ParsedReply, parse_reply
from agent.picture import prepare_picture
from agent.prompts import Message
from sandbox.actions import Finish, action_points
from sandbox.geometry import ModelFrame
from sandbox.stop import StopFlag
from sandbox.text import shorten

Point = tuple[int, int]
Conversation = Callable[[Image.Image], tuple[Message, ...]]  # the prepared picture -> the messages to send
THOUGHT_SHOWN_CHARS = 160  # of the first line of the thought, in the reason a reply declined


@dataclass(frozen=True, slots=True, kw_only=True)
class Reading:
    """What one reply says about where to click, by the one rule above."""

    parsed: ParsedReply | None  # None: the reply could not be read (`unusable` says why)
    chosen: ParsedAction | None  # the action whose point counts; None: declined or unusable
    point: Point | None  # `chosen`'s point, in the frame's screen coordinates
    unusable: str | None = None  # the parse error

    @property
    def declined(self) -> bool:
        return self.point is None and self.unusable is None

    @property
    def why_not(self) -> str | None:
        """Why there is no point (None when there is one): an unusable reply, or what the reply did instead."""
        if self.unusable is not None:
            return f"unusable reply: {self.unusable}"
        if self.parsed is None or self.point is not None:
            return None
        kinds = ", ".join(p.action.kind for p in self.parsed.actions)
        thought = self.parsed.thought
        why = f" ({shorten(thought.splitlines()[0], THOUGHT_SHOWN_CHARS)})" if thought else ""
        return f"the reply has no click, only: {kinds}{why}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    """One ask: the reading of the reply, the reply, and the picture as the model got it."""

    reading: Reading
    reply: ModelReply
    frame: ModelFrame  # the picture's frame: `reading.point` is in its screen coordinates
    model_size: tuple[int, int]  # the prepared picture's size
    seconds: float  # preparing, asking and reading

    @property
    def point(self) -> Point | None:
        return self.reading.point


def read_point(raw: str, *, family: Family, frame: ModelFrame) -> Reading:
    """The point a reply gives, by the one rule (the module's docstring), in `frame`'s screen coordinates."""
    try:
        parsed = parse_reply(raw, family=family, frame=frame)
    except ParseError as exc:
        return Reading(parsed=None, chosen=None, point=None, unusable=str(exc))
    for proposal in parsed.actions:
        if isinstance(proposal.action, Finish):
            break
        points = action_points(proposal.action)
        if points:
            return Reading(parsed=parsed, chosen=proposal, point=points[0])
    return Reading(parsed=parsed, chosen=None, point=None)


def ask_point(
    backend: Backend,
    family: Family,
    picture: Image.Image,
    *,
    task: str,
    conversation: Conversation,
    origin: tuple[float, float] = (0, 0),
    scale: float = 1.0,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    step: int = 1,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    stop: StopFlag,
) -> Answer:
    """Ask `backend` once where it would click on `picture` (placed at `origin`, `scale` pixels per screen point;
    see agent.picture.prepare_picture). `task` is what the backend is told to do, `conversation` the messages
    for the prepared picture. Raises BackendError and StoppedError; an unusable reply is the answer's reading."""
    started = time.perf_counter()
    image, frame = prepare_picture(
        backend,
        family,
        picture,
        origin=origin,
        scale=scale,
        min_pixels=min_pixels,
        max_pixels=max_pixels,
        stop=stop,
    )
    request = ModelRequest.for_family(family, conversation(image), task, image, step, max_new_tokens)
    reply = backend.generate(request, stop=stop)
    reading = read_point(reply.raw, family=family, frame=frame)
    return Answer(
        reading=reading, reply=reply, frame=frame, model_size=image.size, seconds=time.perf_counter() - started
    )

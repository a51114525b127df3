"""The seam of an evaluation: where a backend would click for one instruction on one image.

`locate` asks through agent.pointing.ask_point, the way calibration and the run's second look ask: the image is
prepared with the family's pixel budget (lowered where the backend's server would shrink it), the conversation
is the family's grounding form (agent.prompts.build_grounding_messages), and the reply is read with the frame of
an image at (0, 0) and scale 1, so screen coordinates are the image's own pixels. Which point counts is
agent/pointing.py's one rule: the first action that names a point; a reply whose actions end (terminate,
UI-Venus' [-1,-1]) or stay without a point (a bare answer) declines; a reply that cannot be read is an error on
the sample. A backend that reads tasks literally (the OCR grounder) is asked `click "<instruction>"` (quoted, so
its grammar takes the words as they are).

`locate_with_zoom` adds agent/refine.py's second look at a magnified crop around the first point.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PIL import Image

from agent.backends.base import DEFAULT_MAX_NEW_TOKENS, Backend
from agent.evaluation.store import Prediction
from agent.families import Family
from agent.pointing import Answer, ask_point
from agent.prompts import build_grounding_messages
from agent.refine import look_closer, why_first_stands
from sandbox.stop import StopFlag

Locator = Callable[..., Prediction]  # locate's signature: what the runner calls
# the OCR grounder's quotes (agent.backends.ocr.grammar), tried in turn: the first whose closing mark the
# instruction does not hold
_OCR_QUOTES = (('"', '"'), ("“", "”"), ("「", "」"), ("『", "』"), ("'", "'"))


def ocr_task(instruction: str) -> str:
    """`click "<instruction>"`: the OCR backend's literal task for finding the instruction's words."""
    text = " ".join(instruction.split())
    for opening, closing in _OCR_QUOTES:
        if closing not in text:
            return f"click {opening}{text}{closing}"
    return f"click {text}"


def locate(
    backend: Backend,
    family: Family,
    image: Image.Image,
    instruction: str,
    *,
    stop: StopFlag,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
) -> Prediction:
    """Ask `backend` once where it would click for `instruction` on `image`. Raises BackendError and
    StoppedError (the eval cannot go on); an unreadable reply is the Prediction's error."""
    started = time.perf_counter()
    stop.check_stopped()
    answer = _ask(backend, family, image, instruction, stop, min_pixels, max_pixels, max_new_tokens)
    return _prediction(answer, started)


def locate_with_zoom(
    backend: Backend,
    family: Family,
    image: Image.Image,
    instruction: str,
    *,
    stop: StopFlag,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
) -> Prediction:
    """`--refine zoom`: `locate`, then a second look at a magnified crop around the first point
    (agent.refine.look_closer, as a run's second look): the second point stands when agent.refine.why_first_stands
    lets it; a second look that declines, cannot be read or does another thing keeps the first point. Time: both
    asks."""
    started = time.perf_counter()
    stop.check_stopped()
    first = _ask(backend, family, image, instruction, stop, min_pixels, max_pixels, max_new_tokens)
    if first.point is None or first.reading.chosen is None:
        return _prediction(first, started)
    _crop, second = look_closer(
        backend,
        family,
        _rgb(image),
        first.frame,
        first.point,
        task=_task(backend, instruction),
        conversation=lambda picture: build_grounding_messages(family, instruction, picture),
        min_pixels=min_pixels,
        max_pixels=max_pixels,
        max_new_tokens=max_new_tokens,
        stop=stop,
    )
    if why_first_stands(first.reading.chosen.action, second.reading) is None:
        return _prediction(second, started)
    return _prediction(first, started)


LOCATORS: dict[str, Locator] = {"off": locate, "zoom": locate_with_zoom}


def _ask(
    backend: Backend,
    family: Family,
    image: Image.Image,
    instruction: str,
    stop: StopFlag,
    min_pixels: int | None,
    max_pixels: int | None,
    max_new_tokens: int,
) -> Answer:
    return ask_point(
        backend,
        family,
        _rgb(image),
        task=_task(backend, instruction),
        conversation=lambda picture: build_grounding_messages(family, instruction, picture),
        min_pixels=min_pixels,
        max_pixels=max_pixels,
        max_new_tokens=max_new_tokens,
        stop=stop,
    )


def _task(backend: Backend, instruction: str) -> str:
    return ocr_task(instruction) if backend.capabilities.literal_tasks else instruction


def _rgb(image: Image.Image) -> Image.Image:
    return image if image.mode == "RGB" else image.convert("RGB")


def _prediction(answer: Answer, started: float) -> Prediction:
    """The answer as the eval keeps it: an unusable reply is the error, a decline has neither point nor error."""
    unusable = answer.reading.unusable
    return Prediction(
        point=answer.point,
        error=None if unusable is None else f"unusable reply: {unusable}",
        seconds=time.perf_counter() - started,
        raw=answer.reply.raw,
    )

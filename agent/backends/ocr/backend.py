"""The OCR backend: literal tasks ("click Save", "type hello into Name") with no model download.

The task is parsed once into a plan (agent.backends.ocr.grammar); each call performs the next step: look for
the step's text on the prepared screenshot (agent.backends.ocr.reader: only what changed since the last step is
detected again, and the boxes likeliest to hold the text are recognised first, with the PP-OCRv6 models of
rapidocr, English and Chinese), and answer in qwen2.5-vl's `<tool_call>` computer_use syntax with absolute pixels of
`request.image`, so the loop parses and converts the reply like any model's. "type X into F" clicks inside the
field F names (agent.backends.ocr.fields) and, on the next call, reads that field back: the typed text must
show there, or the run ends with failure saying what the field shows. After the last step it answers terminate
success; a task that is not literal, or a target that is not on the screen, ends with terminate failure and a
sentence saying why.

State: one plan per run, the index of its next step, the text typed into a field (to check on the next frame),
the last point acted on (read near it first), and the reader's boxes and texts (checked against each new frame,
so they are kept across runs). A call with step 1 or a new task starts the plan over. The request's feedback
(the loop's word on the previous reply: a refusal, a rejection, the user taking over) means that reply did not
fully run: its step is done again, on the new screenshot; the loop's own limits (max_failures) end a run that
keeps failing. Every reply is marked `follows_plan`, so the loop does not take "press tab then press tab" for a
model stuck repeating itself. Calls are serialised by the backend's lock (agent.backends.base.BaseBackend); one
run at a time per instance.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from PIL import Image

from agent.backends.base import BaseBackend, Capabilities, ModelReply, ModelRequest, ProgressFn
from agent.backends.ocr.engine import RapidEngine
from agent.backends.ocr.fields import Field, find_field
from agent.backends.ocr.grammar import (
    ClickStep,
    NeedsModel,
    Plan,
    Press,
    ScrollStep,
    Step,
    TypeInto,
    WaitStep,
    parse_task,
)
from agent.backends.ocr.match import OcrLine, masked, seen_texts, shows_typed
from agent.backends.ocr.reader import ReadStats, ScreenReader
from agent.errors import BackendError
from sandbox.stop import StopFlag
from sandbox.text import shorten

FAMILY = "qwen2.5-vl"
SHOWN_CHARS = 40  # of a field's text quoted in a failure


def tool_call(action: str, **arguments: Any) -> str:
    body = {"name": "computer_use", "arguments": {"action": action, **arguments}}
    return f"<tool_call>\n{json.dumps(body, ensure_ascii=False)}\n</tool_call>"


def _terminate(sentence: str, status: Literal["success", "failure"]) -> str:
    return f"{sentence}\n{tool_call('terminate', status=status)}"


@dataclass(frozen=True, slots=True)
class _Typed:
    """Text typed into a field, to be read back from it on the next frame."""

    text: str
    name: str  # the field's name as the task gave it
    field: Field


class OcrBackend(BaseBackend):
    """Follows a literal task step by step by reading the screen; see the module docstring.

    `engine`: an engine to share (the benchmark and tests start one and hand it to several backends);
    `threads`: for an engine of its own (default: the cores this process may use).
    """

    name = "ocr"
    capabilities = Capabilities(
        target=None,
        named_model=False,
        fixed_family=FAMILY,
        literal_tasks=True,
        refines=False,
        runs_on="CPU (OCR)",
        label="OCR (built in, no model)",
    )

    def __init__(self, *, engine: RapidEngine | None = None, threads: int | None = None) -> None:
        super().__init__()
        self._threads = threads
        self._engine = engine
        self._reader: ScreenReader | None = ScreenReader(engine) if engine is not None else None
        self._task: str | None = None
        self._plan: Plan | NeedsModel | None = None
        self._next = 0  # index of the next plan step; len(steps) once every step was answered
        self._typed: _Typed | None = None
        self._last_point: tuple[int, int] | None = None  # where the last action pointed (image px)
        self._looked = False  # the current call's image was taken by the reader
        self.last_read: ReadStats | None = None  # what the newest reading pass did

    @property
    def last_ocr_s(self) -> float | None:
        """Seconds the newest reading pass took."""
        return None if self.last_read is None else self.last_read.seconds

    @property
    def loaded(self) -> bool:
        return self._reader is not None

    def _load(self, progress: ProgressFn | None) -> None:
        if progress:
            progress("load", 0, 1)
        engine = RapidEngine(threads=self._threads)
        engine.warm_up()
        self._engine, self._reader = engine, ScreenReader(engine)
        if progress:
            progress("load", 1, 1)

    def close(self) -> None:
        with self._lock:
            self._engine = self._reader = None

    def read(self, image: Image.Image) -> list[OcrLine]:
        """Every text line on the image, in image pixels (only what changed since the last image is read again)."""
        with self._lock:
            reader = self._ready()
            reader.look(image)
            lines = reader.lines()
            self._note(reader)
            return lines

    def _generate(self, request: ModelRequest, stop: StopFlag) -> ModelReply:
        with self._lock:
            if request.step == 1 or request.task != self._task or self._plan is None:
                self._task, self._plan, self._next = request.task, parse_task(request.task), 0
                self._typed = None
                note = None
            else:
                note = request.feedback
            self._looked = False
            raw = self._reply(self._plan, note, request.image, stop)
        return ModelReply(raw=raw, follows_plan=True)

    def _ready(self) -> ScreenReader:
        if self._reader is None:
            self.load()
        assert self._reader is not None
        return self._reader

    def _look(self, image: Image.Image, stop: StopFlag) -> ScreenReader:
        """The reader, with this call's image taken (once per call)."""
        reader = self._ready()
        stop.check_stopped()
        if not self._looked:
            reader.look(image)
            self._looked = True
        return reader

    def _note(self, reader: ScreenReader) -> None:
        self.last_read = reader.stats

    def _reply(self, plan: Plan | NeedsModel, note: str | None, image: Image.Image, stop: StopFlag) -> str:
        if isinstance(plan, NeedsModel):
            return _terminate(f"This task needs a real vision-language model: {plan.reason}", "failure")
        if note is not None and self._next > 0:
            self._next -= 1  # the previous reply did not fully run: do its step again on this screenshot
            self._typed = None
        elif self._typed is not None:
            failed = self._check_typed(self._typed, image, stop)
            self._typed = None
            if failed is not None:
                return failed
        if self._next >= len(plan.steps):
            return _terminate(f"Done: all {len(plan.steps)} step(s) of the task were carried out.", "success")
        step = plan.steps[self._next]
        raw = self._perform(step, image, stop)
        self._next += 1
        if note is not None:
            raw = f"Doing '{step.describe()}' again ({note}).\n{raw}"
        return raw

    def _check_typed(self, typed: _Typed, image: Image.Image, stop: StopFlag) -> str | None:
        """None when the field shows the typed text on this frame (or a password field's dots); else the failure
        to answer."""
        reader = self._look(image, stop)
        lines = reader.lines(typed.field.box)
        raw = reader.raw_texts(typed.field.box)
        self._note(reader)
        stop.check_stopped()
        texts = [line.text for line in sorted(lines, key=lambda line: line.box[0][0])]
        if any(shows_typed(text, typed.text) for text in [*texts, " ".join(texts)]):
            return None
        if any(masked(text, typed.text) for text in raw):
            return None
        shown = " ".join(texts)
        shown = f"'{shorten(shown, SHOWN_CHARS)}'" if shown else "nothing"
        return _terminate(
            f"Typed {typed.text!r} into '{typed.name}', but that field now shows {shown}: the text did not go "
            "there (another field had the keyboard focus, or the field did not take it).",
            "failure",
        )

    def _perform(self, step: Step, image: Image.Image, stop: StopFlag) -> str:
        """The reply for one step (tool calls after a sentence), or terminate failure if its text is missing."""
        if isinstance(step, Press):
            return f"{step.describe()}.\n{tool_call('key', keys=list(step.keys))}"
        if isinstance(step, WaitStep):
            return f"{step.describe()}.\n{tool_call('wait', time=step.seconds)}"
        if isinstance(step, TypeInto) and step.field is None:
            return f"{step.describe()}.\n" + "\n".join(_type_calls(step))
        if isinstance(step, ScrollStep) and step.target is None:
            return f"{step.describe()}.\n{_scroll_call(step, None)}"
        target = step.field if isinstance(step, TypeInto) else step.target
        if target is None:  # pragma: no cover - the cases above take every step without a text
            raise BackendError(f"internal: no text to look for in {step!r}")
        reader = self._look(image, stop)
        match = reader.find(target, near=self._last_point)
        stop.check_stopped()
        if match is None:
            seen = ", ".join(seen_texts(reader.lines())) or "no text at all"
            self._note(reader)
            return _terminate(f"Could not find '{target}' on the screen (saw: {seen}).", "failure")
        self._note(reader)
        found = f"found '{match.line}', {match.how} match"
        if isinstance(step, ClickStep):
            action = {
                (1, "left"): "left_click",
                (2, "left"): "double_click",
                (3, "left"): "triple_click",
                (1, "right"): "right_click",
                (1, "middle"): "middle_click",
            }[(step.count, step.button)]
            self._last_point = match.point
            return f"{step.describe()} ({found}).\n{tool_call(action, coordinate=list(match.point))}"
        if isinstance(step, ScrollStep):
            self._last_point = match.point
            return f"{step.describe()} ({found}).\n{_scroll_call(step, match.point)}"
        field = find_field(reader.frame, match)
        self._last_point = match.point  # the label: the next label is likelier near it than near its field
        if not step.submit:  # after enter the form may be gone or cleared: nothing to read back
            self._typed = _Typed(step.text, target, field)
        where = {"right": "right of it", "inside": "around it", "below": "below it", "guess": "not seen; guessed"}
        return f"{step.describe()} ({found}; its field: {where[field.where]}).\n" + "\n".join(
            [tool_call("left_click", coordinate=list(field.point)), *_type_calls(step)]
        )


def _type_calls(step: TypeInto) -> list[str]:
    calls = [tool_call("type", text=step.text)]
    return calls + [tool_call("key", keys=["enter"])] if step.submit else calls


def _scroll_call(step: ScrollStep, point: tuple[int, int] | None) -> str:
    """qwen2.5-vl scroll: positive pixels scroll up (hscroll: right); one unit is one wheel notch."""
    sign = 1 if step.direction in ("up", "right") else -1
    action = "scroll" if step.direction in ("up", "down") else "hscroll"
    where = {"coordinate": list(point)} if point is not None else {}
    return tool_call(action, pixels=sign * step.amount, **where)

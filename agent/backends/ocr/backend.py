"""The OCR backend: literal tasks ("click Save", "type hello into Name") with no model download.

The task is parsed once into a plan (agent.backends.ocr.grammar); each call performs the next step: look for
the step's text on the prepared screenshot (agent.backends.ocr.reader: only what changed since the last step is
detected again, and the boxes likeliest to hold the text are recognised first, with the PP-OCRv6 models of
rapidocr, English and Chinese), and answer in qwen2.5-vl's `<tool_call>` computer_use syntax with absolute pixels of
`request.image`, so the loop parses and converts the reply like any model's. "type X into F" reads the field F
names (agent.backends.ocr.fields), triple-clicks it (the one gesture that focuses and selects all of an entry in
GTK, Qt and Tk alike: ctrl+a moves to the line's start in Tk) and types X over what it held; "append X to F"
clicks it, presses End and types. Delivery is not success: on the next call the field is read back and compared
with what it showed before: exactly X after a replace, the old text and X after an append, or a password
field's dots that grew by about the typed length from none or dots (agent.backends.ocr.match); else the run ends
with failure saying what the field shows. After the last step it answers terminate success; a task that is not
literal ends with terminate failure and a sentence saying why.

A target not on the screen may not be there yet (a dialog still opening): the first miss of a step answers
`look_again` (the loop waits for the screen to change and settle and asks again with a fresh picture; its text
is a short wait, for a loop that does not look again), and only a miss on that second look ends the run with
"Could not find". The second ask redoes the same step: the plan does not move on, and neither the feedback nor
the typed-text check is taken twice.

State: one plan per run, the index of its next step, the text typed into a field and what the field showed
before (to check on the next frame), the step whose reply asked to look again, the last point acted on (read
near it first), and the reader's boxes and texts (checked against each new frame, so they are kept across
runs). A call with step 1 (other than the second look at step 1) or a new task starts the plan over. The
request's feedback (the loop's word on the previous reply: a refusal, a rejection, the user taking over) means
that reply did not fully run: its step is done again, on the new screenshot; the loop's own limits
(max_failures) end a run that keeps failing. Every reply is marked `follows_plan`, so the loop does not take "press tab then press tab" for a
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
from agent.backends.ocr.match import Box, OcrLine, dots_show_typed, field_shows, seen_texts, words_inside
from agent.backends.ocr.reader import ReadStats, ScreenReader
from agent.errors import BackendError
from sandbox.stop import StopFlag
from sandbox.text import shorten

FAMILY = "qwen2.5-vl"
SHOWN_CHARS = 40  # of a field's text quoted in a failure
LOOK_AGAIN_WAIT_S = 1.0  # the wait a look-again reply carries, for a loop that acts on it instead of looking again


def tool_call(action: str, **arguments: Any) -> str:
    body = {"name": "computer_use", "arguments": {"action": action, **arguments}}
    return f"<tool_call>\n{json.dumps(body, ensure_ascii=False)}\n</tool_call>"


def _terminate(sentence: str, status: Literal["success", "failure"]) -> str:
    return f"{sentence}\n{tool_call('terminate', status=status)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class _Typed:
    """Text typed into a field, to be read back from it on the next frame and compared with what it showed."""

    text: str
    name: str  # the field's name as the task gave it
    field: Field
    around: Box  # the field and the text that named it: the detector may run a label's line on into the field
    append: bool  # added to the end of what the field held; False: replaced it
    before: str  # what the field showed before (its confident OCR lines, left to right)
    before_raw: tuple[str, ...]  # and every raw reading in it, confident or not (password dots score low)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Answer:
    raw: str
    look_again: bool = False  # the step's target was not found on this first look


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
        self._again: int | None = None  # the request step whose reply asked to look again (None: it did not)
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
            # the second look: the loop asks the same step again (or, had it carried out the reply's wait, the
            # next one); the same step, even the first, does not start the plan over
            looked_at, self._again = self._again, None
            again = looked_at is not None and request.task == self._task and request.step - looked_at in (0, 1)
            if not again and (request.step == 1 or request.task != self._task or self._plan is None):
                self._task, self._plan, self._next = request.task, parse_task(request.task), 0
                self._typed = None
                note = None
            else:
                note = request.feedback
            assert self._plan is not None
            self._looked = False
            answer = self._reply(self._plan, note, request.image, stop, again=again)
            self._again = request.step if answer.look_again else None
        return ModelReply(raw=answer.raw, follows_plan=True, look_again=answer.look_again)

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

    def _reply(
        self, plan: Plan | NeedsModel, note: str | None, image: Image.Image, stop: StopFlag, *, again: bool
    ) -> _Answer:
        """The answer for the next step; `again`: this is the second look at a step whose target was missing
        (the feedback and the typed-text check were dealt with on the first)."""
        if isinstance(plan, NeedsModel):
            return _Answer(raw=_terminate(f"This task needs a real vision-language model: {plan.reason}", "failure"))
        if again:
            note = None
        elif note is not None and self._next > 0:
            self._next -= 1  # the previous reply did not fully run: do its step again on this screenshot
            self._typed = None
        elif self._typed is not None:
            failed = self._check_typed(self._typed, image, stop)
            self._typed = None
            if failed is not None:
                return _Answer(raw=failed)
        if self._next >= len(plan.steps):
            done = _terminate(f"Done: all {len(plan.steps)} step(s) of the task were carried out.", "success")
            return _Answer(raw=done)
        step = plan.steps[self._next]
        answer = self._perform(step, image, stop, final=again)
        if answer.look_again:
            return answer  # the same step is asked for again: the plan stays where it is
        self._next += 1
        if note is not None:
            return _Answer(raw=f"Doing '{step.describe()}' again ({note}).\n{answer.raw}")
        return answer

    def _check_typed(self, typed: _Typed, image: Image.Image, stop: StopFlag) -> str | None:
        """None when the field shows on this frame what typing must have left there (see the module docstring);
        else the failure to answer, saying what it shows."""
        reader = self._look(image, stop)
        shown, raw = _field_text(reader, typed.field, typed.around), tuple(reader.raw_texts(typed.field.box))
        self._note(reader)
        stop.check_stopped()
        if field_shows(shown, typed.text, before=typed.before, append=typed.append):
            return None
        if dots_show_typed(typed.before_raw, raw, typed.text, append=typed.append):
            return None
        now = f"'{shorten(shown, SHOWN_CHARS)}'" if shown else "nothing"
        if typed.append:
            wanted = f"{typed.before + typed.text!r}" if typed.before else f"{typed.text!r}"
            did = f"Appended {typed.text!r} to '{typed.name}'"
        else:
            wanted, did = f"exactly {typed.text!r}", f"Typed {typed.text!r} into '{typed.name}'"
        was = f"; before it showed '{shorten(typed.before, SHOWN_CHARS)}'" if typed.before else ""
        return _terminate(
            f"{did}, but that field now shows {now} where it should show {wanted}{was}: the text did not go "
            "there as asked (another field had the keyboard focus, the field did not take it, or its old text "
            "stayed).",
            "failure",
        )

    def _perform(self, step: Step, image: Image.Image, stop: StopFlag, *, final: bool) -> _Answer:
        """The reply for one step (tool calls after a sentence). When its text is missing: look again, or on the
        `final` look terminate failure saying what was seen."""
        if isinstance(step, Press):
            return _Answer(raw=f"{step.describe()}.\n{tool_call('key', keys=list(step.keys))}")
        if isinstance(step, WaitStep):
            return _Answer(raw=f"{step.describe()}.\n{tool_call('wait', time=step.seconds)}")
        if isinstance(step, TypeInto) and step.field is None:
            return _Answer(raw=f"{step.describe()}.\n" + "\n".join(_type_calls(step)))
        if isinstance(step, ScrollStep) and step.target is None:
            return _Answer(raw=f"{step.describe()}.\n{_scroll_call(step, None)}")
        target = step.field if isinstance(step, TypeInto) else step.target
        if target is None:  # pragma: no cover - the cases above take every step without a text
            raise BackendError(f"internal: no text to look for in {step!r}")
        reader = self._look(image, stop)
        match = reader.find(target, near=self._last_point)
        stop.check_stopped()
        if match is None:
            seen = ", ".join(seen_texts(reader.lines())) or "no text at all"
            self._note(reader)
            if not final:
                wait = tool_call("wait", time=LOOK_AGAIN_WAIT_S)
                sentence = f"'{target}' is not on the screen yet (saw: {seen}): looking again once it has settled."
                return _Answer(raw=f"{sentence}\n{wait}", look_again=True)
            return _Answer(raw=_terminate(f"Could not find '{target}' on the screen (saw: {seen}).", "failure"))
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
            return _Answer(raw=f"{step.describe()} ({found}).\n{tool_call(action, coordinate=list(match.point))}")
        if isinstance(step, ScrollStep):
            self._last_point = match.point
            return _Answer(raw=f"{step.describe()} ({found}).\n{_scroll_call(step, match.point)}")
        field = find_field(reader.frame, match)
        self._last_point = match.point  # the label: the next label is likelier near it than near its field
        if not step.submit:  # after enter the form may be gone or cleared: nothing to read back
            around = _union(field.box, match.line_box)
            placeholder = match.line if field.where == "inside" else None
            before = _field_text(reader, field, around, without=placeholder)
            raw = tuple(text for text in reader.raw_texts(field.box) if text != placeholder)
            self._note(reader)
            self._typed = _Typed(
                text=step.text,
                name=target,
                field=field,
                around=around,
                append=step.append,
                before=before,
                before_raw=raw,
            )
        where = {"right": "right of it", "inside": "around it", "below": "below it", "guess": "not seen; guessed"}
        point = list(field.point)
        # a replace: a triple click focuses the field and selects all it holds (GTK, Qt, Tk), and typing replaces
        # it; an append: a click focuses it, End goes past what it holds
        focus = [tool_call("left_click", coordinate=point), tool_call("key", keys=["end"])]
        if not step.append:
            focus = [tool_call("triple_click", coordinate=point)]
        return _Answer(
            raw=f"{step.describe()} ({found}; its field: {where[field.where]}).\n"
            + "\n".join([*focus, *_type_calls(step)])
        )


def _field_text(reader: ScreenReader, field: Field, around: Box, *, without: str | None = None) -> str:
    """What a field shows: its confident OCR lines, left to right, and the field's part of a line that runs on
    into it from its label (read in `around`); `without`: leave out the line that named it (a placeholder, gone
    once something is typed)."""
    x1, y1, x2, y2 = field.box
    texts: list[tuple[float, str]] = []
    for line in reader.lines(around):
        if line.text == without:
            continue
        xs, ys = [float(p[0]) for p in line.box], [float(p[1]) for p in line.box]
        cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
        if not y1 <= cy <= y2 or max(xs) < x1 or min(xs) > x2:
            continue
        text = line.text if x1 <= cx <= x2 else words_inside(line, x1, x2)
        if text:
            texts.append((min(xs), text))
    return " ".join(text for _, text in sorted(texts))


def _union(a: Box, b: Box) -> Box:
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def _type_calls(step: TypeInto) -> list[str]:
    calls = [tool_call("type", text=step.text)]
    return calls + [tool_call("key", keys=["enter"])] if step.submit else calls


def _scroll_call(step: ScrollStep, point: tuple[int, int] | None) -> str:
    """qwen2.5-vl scroll: positive pixels scroll up (hscroll: right); one unit is one wheel notch."""
    sign = 1 if step.direction in ("up", "right") else -1
    action = "scroll" if step.direction in ("up", "down") else "hscroll"
    where = {"coordinate": list(point)} if point is not None else {}
    return tool_call(action, pixels=sign * step.amount, **where)

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

The request's windows (agent.backends.ocr.windows) say which window each text is in: of two equal matches the one
in the focused or front window wins, "click File in Mousepad" looks only in windows titled so, and texts in
deskpilot's own windows are never chosen. For "type X into F", a label beside or above an entry wins over a column
header of a list (agent.backends.ocr.fields.column_header).

A target not on the screen may not be there yet (a dialog still opening): the first miss of a step answers
`look_again` (the loop waits for the screen to change and settle and asks again with a fresh picture; its text
is a short wait, for a loop that does not look again), and only a miss on that second look ends the run with
"Could not find", naming the five texts nearest to it by spelling (deskpilot's own left out). On the plan's first
step a text spelled almost like the target (TYPO_SIMILARITY) is a typo, not a window still to come: the first
look ends the run at once. The second ask redoes the same step: the plan does not move on, and neither the
feedback nor the typed-text check is taken twice.

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

from agent.backends.base import (
    BaseBackend,
    Capabilities,
    ModelReply,
    ModelRequest,
    PictureElement,
    PictureElements,
    PictureWindow,
    ProgressFn,
)
from agent.backends.ocr.elements import Found, editable_for, named
from agent.backends.ocr.engine import RapidEngine
from agent.backends.ocr.fields import Field, column_header, find_field
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
from agent.backends.ocr.match import (
    Box,
    Match,
    OcrLine,
    dots_show_typed,
    field_shows,
    find_all,
    nearest_texts,
    words_inside,
)
from agent.backends.ocr.reader import ReadStats, ScreenReader
from agent.backends.ocr.windows import Layout
from agent.errors import BackendError
from sandbox.stop import StopFlag
from sandbox.text import shorten

FAMILY = "qwen2.5-vl"
SHOWN_CHARS = 40  # of a field's text quoted in a failure
LOOK_AGAIN_WAIT_S = 1.0  # the wait a look-again reply carries, for a loop that acts on it instead of looking again
NEAR_HEIGHTS = 20  # with no windows known, texts naming a field are weighed this many text heights around it
TYPO_SIMILARITY = 0.7  # a text at least this near a missing first target by spelling: a typo, not a window to come


_CLICKS = {
    (1, "left"): "left_click",
    (2, "left"): "double_click",
    (3, "left"): "triple_click",
    (1, "right"): "right_click",
    (1, "middle"): "middle_click",
}


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
    tree: bool = False  # the field was found in the accessibility tree: its text is read back from there


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
        self._layout = Layout()  # the windows on the current call's image
        self._elements: PictureElements | None = None  # the accessible elements on it, read when first asked
        self._walked: tuple[PictureElement, ...] | None = None
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
            self._layout = Layout(request.windows)
            self._elements, self._walked = request.elements, None
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

    def _tree(self) -> tuple[PictureElement, ...]:
        """The accessible elements on this call's image (none: the desktop has no tree), read once per call."""
        if self._walked is None:
            self._walked = self._elements() if self._elements is not None else ()
        return self._walked

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
        if typed.tree:
            found = editable_for(self._tree(), typed.name, self._layout, None)
            if found is not None and found.element.text is not None:
                return self._check_tree_text(typed, found.element.text)
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

    def _check_tree_text(self, typed: _Typed, shown: str) -> str | None:
        """The typed-text check on the text the field's element holds (exact: no reading of pixels)."""
        wanted = typed.before + typed.text if typed.append else typed.text
        if shown == wanted:
            return None
        now = f"'{shorten(shown, SHOWN_CHARS)}'" if shown else "nothing"
        did = (
            f"Appended {typed.text!r} to '{typed.name}'"
            if typed.append
            else f"Typed {typed.text!r} into '{typed.name}'"
        )
        was = f"; before it held '{shorten(typed.before, SHOWN_CHARS)}'" if typed.before else ""
        return _terminate(
            f"{did}, but that field now holds {now} (its accessibility tree says) where it should hold "
            f"exactly {wanted!r}{was}: the text did not go there as asked (another field had the keyboard focus, "
            "the field did not take it, or its old text stayed).",
            "failure",
        )

    def _from_tree(
        self, step: ClickStep | TypeInto, target: str, image: Image.Image, stop: StopFlag,
        among: tuple[PictureWindow, ...] | None,
    ) -> _Answer | None:  # fmt: skip
        """The reply from the accessibility tree (agent.backends.ocr.elements): a click on the control named
        `target`, typing into the field it labels; None where the tree has no such element (pixels decide)."""
        elements = self._tree()
        if not elements:
            return None
        if isinstance(step, ClickStep):
            found = named(elements, target, self._layout, among)
            if found is None:
                return None
            self._last_point = found.point
            action = _CLICKS[(step.count, step.button)]
            sentence = f"{step.describe()} (found {found.describe()} in the accessibility tree, by {found.how})"
            return _Answer(raw=f"{sentence}.\n{tool_call(action, coordinate=list(found.point))}")
        found = editable_for(elements, target, self._layout, among)
        if found is None:
            return None
        self._last_point = found.point
        if not step.submit:
            self._typed = self._typed_in_tree(step, target, found, image, stop)
        point = list(found.point)
        focus = [tool_call("left_click", coordinate=point), tool_call("key", keys=["end"])]
        if not step.append:
            focus = [tool_call("triple_click", coordinate=point)]
        sentence = f"{step.describe()} (found {found.describe()} in the accessibility tree, {found.how})"
        return _Answer(raw=f"{sentence}.\n" + "\n".join([*focus, *_type_calls(step)]))

    def _typed_in_tree(self, step: TypeInto, target: str, found: Found, image: Image.Image, stop: StopFlag) -> _Typed:
        """What to check on the next frame: the element's text; a field whose text the tree does not give (a
        password field) is read back from pixels, as without a tree."""
        x1, y1, x2, y2 = found.element.rect
        field = Field((x1, y1, x2, y2), "inside", found.point)
        if found.element.text is not None:
            return _Typed(text=step.text, name=target, field=field, around=field.box, append=step.append,
                          before=found.element.text, before_raw=(), tree=True)  # fmt: skip
        reader = self._look(image, stop)
        before = _field_text(reader, field, field.box)
        raw = tuple(reader.raw_texts(field.box))
        self._note(reader)
        return _Typed(text=step.text, name=target, field=field, around=field.box, append=step.append,
                      before=before, before_raw=raw)  # fmt: skip

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
        title = step.window if isinstance(step, (ClickStep, TypeInto)) else None
        among: tuple[PictureWindow, ...] | None = None
        if title is not None:  # no windows known: the text alone, as written when it may be one text
            among = self._layout.titled(title) if self._layout.known else None
            if not among:
                whole = step.whole if isinstance(step, ClickStep) else None
                if whole is not None or not self._layout.known:  # "Log in to account": no window is titled so
                    target, title, among = whole or target, None, None
        if isinstance(step, (ClickStep, TypeInto)) and (among is None or among):
            from_tree = self._from_tree(step, target, image, stop, among)
            if from_tree is not None:
                return from_tree
        match = self._locate(reader, target, among) if among is None or among else None
        stop.check_stopped()
        if match is None:
            self._note(reader)
            return self._missing(reader, target, title, among, final=final)
        self._note(reader)
        found = f"found '{match.line}', {match.how} match"
        if isinstance(step, ClickStep):
            action = _CLICKS[(step.count, step.button)]
            self._last_point = match.point
            return _Answer(raw=f"{step.describe()} ({found}).\n{tool_call(action, coordinate=list(match.point))}")
        if isinstance(step, ScrollStep):
            self._last_point = match.point
            return _Answer(raw=f"{step.describe()} ({found}).\n{_scroll_call(step, match.point)}")
        match, field = self._field_of(reader, target, match, among)
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

    def _locate(self, reader: ScreenReader, target: str, among: tuple[PictureWindow, ...] | None) -> Match | None:
        """The best place of `target` (agent.backends.ocr.windows): the reader's best by the text alone, unless a
        window in front of it (or, with `among`, one of those windows) holds as good a match. The reader stops at
        a certain match; only windows that could beat it are read on."""
        layout = self._layout
        match = reader.find(target, near=self._last_point)
        if match is None or not layout.known:
            return match if among is None else None
        if match.how == "exact" and layout.allows(match.line_box, among):
            rank = layout.rank(layout.owner(match.line_box))
            better = [w for w in (among or layout.applications) if layout.rank(w) < rank]
            if not better:
                return match
            lines = [line for w in better for line in reader.lines(w.rect)]
        elif match.how == "exact" and among:
            lines = [line for w in among for line in reader.lines(w.rect)]
        else:  # not certain: the reader has read everything already
            lines = reader.lines()
        return layout.choose([match, *find_all(lines, target)], among)

    def _field_of(
        self, reader: ScreenReader, target: str, match: Match, among: tuple[PictureWindow, ...] | None
    ) -> tuple[Match, Field]:
        """The text naming the field to type into, and the field. A label beside or above an entry wins over a
        column header of a list (GTK's file chooser: "Name:" beside the entry, "Name" above the files): when the
        best match has no field of its own or is a header, every match in its window is weighed, a label whose
        field was found first."""
        frame = reader.frame
        height, width = frame.shape[:2]
        field = find_field(frame, match)
        if field.where in ("right", "below"):  # an entry beside or under it: a label (nothing more is read)
            return match, field
        owner = self._layout.owner(match.line_box)
        x1, y1, x2, y2 = match.line_box
        h = y2 - y1
        left, right = (owner.rect[0], owner.rect[2]) if owner is not None else (0, width)
        band = (left, max(0, y1 - h), right, min(height, y2 + 4 * h))
        if field.where == "inside" and not column_header(match, field, reader.lines(band)):
            return match, field  # a placeholder inside its entry
        # every text naming the field in its window (no windows known: the stretch of screen around it)
        near = (0, max(0, y1 - NEAR_HEIGHTS * h), width, min(height, y2 + NEAR_HEIGHTS * h))
        areas = [w.rect for w in among] if among else [owner.rect if owner is not None else near]
        lines = [line for area in areas for line in reader.lines(area)]
        candidates = [m for m in find_all(lines, target) if self._layout.allows(m.line_box, among)] or [match]
        weighed = []
        for candidate in candidates:
            found = find_field(frame, candidate)
            header = column_header(candidate, found, lines)
            weighed.append(
                ((header, found.where == "guess", not candidate.label, self._layout.key(candidate)), candidate, found)
            )
        _, best, best_field = min(weighed, key=lambda w: w[0])
        return best, best_field

    def _missing(
        self,
        reader: ScreenReader,
        target: str,
        title: str | None,
        among: tuple[PictureWindow, ...] | None,
        *,
        final: bool,
    ) -> _Answer:
        """The answer when `target` is not on the picture (or no window has the title): look again once (a dialog
        may still be opening), unless this is the final look or the plan's first step finds a text spelled almost
        like it (a typo: nothing of ours is opening); then fail naming the nearest texts by spelling, deskpilot's
        own left out."""
        nearest = nearest_texts(self._layout.lines(reader.lines()), target)
        near = "nearest by spelling: " + ", ".join(f"'{t}'" for t, _ in nearest) if nearest else "no text at all"
        where = ""
        if title is not None:
            titles = sorted({w.title for w in self._layout.applications if w.title})
            if not among:
                where = f" in the '{title}' window (no window has that title; " + (
                    "windows: " + ", ".join(f"'{t}'" for t in titles) + ")" if titles else "no window has a title)"
                )
            else:
                where = f" in the '{title}' window"
        typo = self._next == 0 and bool(nearest) and nearest[0][1] >= TYPO_SIMILARITY
        if not final and not typo:
            wait = tool_call("wait", time=LOOK_AGAIN_WAIT_S)
            sentence = f"'{target}'{where} is not on the screen yet ({near}): looking again once it has settled."
            return _Answer(raw=f"{sentence}\n{wait}", look_again=True)
        return _Answer(raw=_terminate(f"Could not find '{target}'{where} on the screen ({near}).", "failure"))


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

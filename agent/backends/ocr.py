"""The OCR backend: literal tasks ("click Save", "type hello into Name") with no model download.

The task is parsed once into a plan (agent.backends.ocr_grammar); each call performs the next step: read
the prepared screenshot with RapidOCR (PP-OCRv4, English and Chinese), find the step's text, and answer in
qwen2.5-vl's `<tool_call>` computer_use syntax with absolute pixels of `request.image`, so the loop parses
and converts the reply like any model's. After the last step it answers terminate success; a task that is
not literal, or a target that is not on the screen, ends with terminate failure and a sentence saying why.

State: one plan per run, and the index of its next step. A call with step 1 or a new task starts over.
The request's feedback (the loop's word on the previous reply: a refusal, a rejection, the user taking over)
means that reply did not fully run: its step is done again, on the new screenshot; the loop's own limits
(max_failures) end a run that keeps failing. Every reply is marked `follows_plan`, so the loop does not take
"press tab then press tab" for a model stuck repeating itself. Calls are serialised by a lock; one run at a
time per instance.
"""

from __future__ import annotations

import difflib
import json
import re
import threading
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from PIL import Image

from agent.backends.base import ModelReply, ModelRequest, ProgressFn
from agent.backends.ocr_grammar import (
    Click,
    NeedsModel,
    Plan,
    Press,
    ScrollStep,
    Step,
    TypeInto,
    WaitStep,
    parse_task,
)
from agent.errors import BackendError
from agent.families import Family, PixelBudget
from sandbox.stop import StopFlag

FAMILY = "qwen2.5-vl"
FUZZY_MIN_RATIO = 0.8
CONFUSION_RATIO = 0.95  # similarity given to texts equal up to OCR confusions (0/O, 1/l/I, rn/m)
LABEL_GAP_HEIGHTS = 2.0  # a label's field is clicked this many label heights right of the label's right edge
SEEN_LIMIT = 8
SEEN_CHARS = 30
# use_cls=False: screen text is upright, the angle classifier only costs time.
ENGINE_OPTIONS: dict[str, Any] = {"use_cls": False, "print_verbose": False}

Box = tuple[int, int, int, int]  # x1, y1, x2, y2 in image pixels


class OcrLine(NamedTuple):
    text: str
    box: Sequence[Sequence[float]]  # 4 corner points (x, y) in image pixels, as rapidocr gives them
    score: float


@dataclass(frozen=True, slots=True)
class Match:
    line: str  # the whole OCR line the target was found in
    point: tuple[int, int]  # where to click: the centre of the target's part of the line
    box: Box  # the target's part of the line
    line_box: Box
    how: Literal["exact", "word", "fuzzy"]
    similarity: float
    score: float  # the OCR's confidence in the line
    label: bool  # the line ends with ':' right after the target (a label beside its field)


def find_text(lines: Sequence[OcrLine | tuple[str, Sequence[Sequence[float]], float]], target: str) -> Match | None:
    """The best place of `target` among OCR lines, or None.

    Texts are compared normalised (NFKC, casefolded, spaces collapsed, trailing ':' and '*' dropped).
    Tiers: the whole line equals the target; the target is a whole word (any substring for CJK) of a
    longer line, the point then estimated by character widths along the box (CJK counts double); a
    fuzzy match (difflib ratio >= 0.8 or equal up to OCR confusions) of the line or of a run of as many
    words. Within a tier: more similar first (for words: the target covers more of the line), then the
    OCR score, then top-left first.
    """
    wanted = _normalise(target)[0]
    if not wanted:
        return None
    best: tuple[tuple[float, ...], Match] | None = None
    for raw in lines:
        line = OcrLine(str(raw[0]), raw[1], float(raw[2]))
        for tier, similarity, span in _candidates(line.text, wanted):
            match = _match(line, tier, similarity, span)
            key = (tier, -similarity, -line.score, match.line_box[1], match.line_box[0])
            if best is None or key < best[0]:
                best = (key, match)
    return None if best is None else best[1]


_TIERS: tuple[Literal["exact", "word", "fuzzy"], ...] = ("exact", "word", "fuzzy")


def _candidates(text: str, wanted: str) -> list[tuple[int, float, tuple[int, int]]]:
    """(tier, similarity, span of original character indices [start, end)) for one line."""
    norm, where = _normalise(text)
    if not norm:
        return []
    whole = (0, len(text))
    if norm == wanted:
        return [(0, 1.0, whole)]
    found: list[tuple[int, float, tuple[int, int]]] = []
    start = norm.find(wanted)
    while start != -1:
        end = start + len(wanted)
        if _boundary(text, norm, where, start - 1, start) and _boundary(text, norm, where, end - 1, end):
            found.append((1, len(wanted) / len(norm), (where[start], where[end - 1] + 1)))
        start = norm.find(wanted, start + 1)
    if found:
        return found
    for a, b in _windows(norm, wanted):
        similarity = _similarity(norm[a:b], wanted)
        if similarity >= FUZZY_MIN_RATIO:
            found.append((2, similarity, whole if (a, b) == (0, len(norm)) else (where[a], where[b - 1] + 1)))
    return found


def _boundary(text: str, norm: str, where: list[int], left: int, right: int) -> bool:
    """Whether a cut between two normalised characters is a word boundary.

    It is unless both are letters or digits of a spaced script, except where the original goes from a
    lower-case to an upper-case letter: OCR often drops the spaces of a menu bar ("FileEditSaveView").
    """
    if left < 0 or right >= len(norm):
        return True
    if not (_spaced_word_char(norm[left]) and _spaced_word_char(norm[right])):
        return True
    return text[where[left]].islower() and text[where[right]].isupper()


def _spaced_word_char(char: str) -> bool:
    return char.isalnum() and not _is_wide(char)


def _windows(norm: str, wanted: str) -> list[tuple[int, int]]:
    """Spans of the line to compare fuzzily: the whole, runs of as many words, and for CJK as many chars."""
    spans = [(0, len(norm))]
    words = [(m.start(), m.end()) for m in re.finditer(r"\S+", norm)]
    count = len(wanted.split())
    if len(words) > count:
        spans += [(words[i][0], words[i + count - 1][1]) for i in range(len(words) - count + 1)]
    if any(_is_wide(c) for c in wanted) and len(norm) > len(wanted):
        spans += [(i, i + len(wanted)) for i in range(len(norm) - len(wanted) + 1)]
    return spans


_CONFUSIONS = (("rn", "m"), ("vv", "w"), ("0", "o"), ("1", "l"), ("i", "l"), ("|", "l"), ("5", "s"))


def _confusable(text: str) -> str:
    for seen, meant in _CONFUSIONS:
        text = text.replace(seen, meant)
    return text


def _similarity(seen: str, wanted: str) -> float:
    ratio = difflib.SequenceMatcher(None, seen, wanted, autojunk=False).ratio()
    if ratio < CONFUSION_RATIO and _confusable(seen) == _confusable(wanted):
        return CONFUSION_RATIO
    return ratio


def _normalise(text: str) -> tuple[str, list[int]]:
    """Normalised text, and for each of its characters the index of the original character it came from."""
    chars: list[str] = []
    where: list[int] = []
    for index, char in enumerate(text):
        for piece in unicodedata.normalize("NFKC", char).casefold():
            if piece.isspace():
                if not chars or chars[-1] == " ":
                    continue
                piece = " "
            chars.append(piece)
            where.append(index)
    while chars and chars[-1] in " :*":
        chars.pop()
        where.pop()
    while chars and chars[0] in " *":
        chars.pop(0)
        where.pop(0)
    # OCR is unsure about spaces next to punctuation ("notes.py-Editor" for "notes.py - Editor"): drop them
    keep = [k for k, c in enumerate(chars) if c != " " or (chars[k - 1].isalnum() and chars[k + 1].isalnum())]
    return "".join(chars[k] for k in keep), [where[k] for k in keep]


def _is_wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in ("W", "F")


def _match(line: OcrLine, tier: int, similarity: float, span: tuple[int, int]) -> Match:
    xs = [float(p[0]) for p in line.box]
    ys = [float(p[1]) for p in line.box]
    x1, y1, x2, y2 = min(xs), min(ys), max(xs), max(ys)
    line_box = (round(x1), round(y1), round(x2), round(y2))
    widths = [2.0 if _is_wide(c) else 1.0 for c in line.text] or [1.0]
    total = sum(widths)
    start, end = sum(widths[: span[0]]) / total, sum(widths[: span[1]]) / total
    left, right = x1 + start * (x2 - x1), x1 + end * (x2 - x1)
    box = (round(left), line_box[1], round(right), line_box[3])
    point = (round((left + right) / 2), round((y1 + y2) / 2))
    rest = line.text[span[1] :].strip()
    label = rest in (":", "：") or (rest == "" and line.text.rstrip().endswith((":", "：")))
    return Match(line.text, point, box, line_box, _TIERS[tier], similarity, line.score, label)


def field_point(match: Match, width: int) -> tuple[int, int]:
    """Where to click to focus the field a text names.

    A placeholder or a field's own text is clicked where it is. A label that ends with ':' sits left of
    its field: click LABEL_GAP_HEIGHTS label heights right of the label's right edge (clamped to the image).
    """
    if not match.label:
        return match.point
    x1, y1, x2, y2 = match.line_box
    return min(round(x2 + LABEL_GAP_HEIGHTS * (y2 - y1)), width - 1), match.point[1]


def seen_texts(lines: Sequence[OcrLine], limit: int = SEEN_LIMIT) -> list[str]:
    """A few texts read on the screen, top-left first, without repeats (for 'not found' messages)."""
    ordered = sorted(lines, key=lambda line: (min(p[1] for p in line.box), min(p[0] for p in line.box)))
    texts: list[str] = []
    for line in ordered:
        text = " ".join(line.text.split())
        text = text if len(text) <= SEEN_CHARS else text[: SEEN_CHARS - 1] + "…"
        if text and text not in texts:
            texts.append(text)
    return texts[:limit] + (["..."] if len(texts) > limit else [])


def tool_call(action: str, **arguments: Any) -> str:
    body = {"name": "computer_use", "arguments": {"action": action, **arguments}}
    return f"<tool_call>\n{json.dumps(body, ensure_ascii=False)}\n</tool_call>"


def _terminate(sentence: str, status: Literal["success", "failure"]) -> str:
    return f"{sentence}\n{tool_call('terminate', status=status)}"


class OcrBackend:
    """Follows a literal task step by step by reading the screen; see the module docstring."""

    name = "ocr"

    def __init__(self, *, engine_options: dict[str, Any] | None = None) -> None:
        self._options = {**ENGINE_OPTIONS, **(engine_options or {})}
        self._engine: Any = None
        self._lock = threading.RLock()
        self._task: str | None = None
        self._plan: Plan | NeedsModel | None = None
        self._next = 0  # index of the next plan step; len(steps) once every step was answered
        self.last_ocr_s: float | None = None  # time of the newest OCR pass

    def load(self, *, progress: ProgressFn | None = None) -> None:
        with self._lock:
            if self._engine is not None:
                return
            if progress:
                progress("load", 0, 1)
            try:
                from rapidocr_onnxruntime import RapidOCR
            except ImportError as exc:
                raise BackendError(
                    f"the OCR backend needs rapidocr-onnxruntime (pip install rapidocr-onnxruntime): {exc}"
                ) from exc
            try:
                self._engine = RapidOCR(**self._options)
            except Exception as exc:  # onnxruntime: a broken model file or an unusable CPU build
                raise BackendError(f"could not start the OCR engine: {exc}") from exc
            if progress:
                progress("load", 1, 1)

    def close(self) -> None:
        with self._lock:
            self._engine = None

    def read(self, image: Image.Image) -> list[OcrLine]:
        """Every text line on the image, in image pixels."""
        import numpy as np

        with self._lock:
            self.load()
            started = time.perf_counter()
            pixels = np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])  # RapidOCR wants BGR
            try:
                result, _ = self._engine(pixels, use_cls=False)
            except Exception as exc:
                raise BackendError(f"OCR failed: {exc}") from exc
            self.last_ocr_s = time.perf_counter() - started
        return [
            OcrLine(str(text).strip(), [(float(x), float(y)) for x, y in box], float(score))
            for box, text, score in (result or [])
            if str(text).strip()
        ]

    def fit(self, family: Family, shot: tuple[int, int], budget: PixelBudget) -> PixelBudget:
        return budget  # what deskpilot prepares is what the model reads

    def generate(self, request: ModelRequest, *, stop: StopFlag) -> ModelReply:
        started = time.perf_counter()
        if request.family.name != FAMILY:
            raise BackendError(
                f"the OCR backend answers in {FAMILY}'s syntax, not {request.family.name}'s: "
                f"run it with --family {FAMILY}"
            )
        with self._lock:
            stop.check_stopped()
            if request.step == 1 or request.task != self._task or self._plan is None:
                self._task, self._plan, self._next = request.task, parse_task(request.task), 0
                note = None
            else:
                note = request.feedback
            raw = self._reply(self._plan, note, request.image, stop)
        return ModelReply(raw, time.perf_counter() - started, follows_plan=True)

    def _reply(self, plan: Plan | NeedsModel, note: str | None, image: Image.Image, stop: StopFlag) -> str:
        if isinstance(plan, NeedsModel):
            return _terminate(f"This task needs a real vision-language model: {plan.reason}", "failure")
        if note is not None and self._next > 0:
            self._next -= 1  # the previous reply did not fully run: do its step again on this screenshot
        if self._next >= len(plan.steps):
            return _terminate(f"Done: all {len(plan.steps)} step(s) of the task were carried out.", "success")
        step = plan.steps[self._next]
        raw = self._perform(step, image, stop)
        self._next += 1
        if note is not None:
            raw = f"Doing '{step.describe()}' again ({note}).\n{raw}"
        return raw

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
        stop.check_stopped()
        lines = self.read(image)
        stop.check_stopped()
        match = find_text(lines, target)
        if match is None:
            seen = ", ".join(seen_texts(lines)) or "no text at all"
            return _terminate(f"Could not find '{target}' on the screen (saw: {seen}).", "failure")
        found = f"found '{match.line}', {match.how} match"
        if isinstance(step, Click):
            action = {
                (1, "left"): "left_click",
                (2, "left"): "double_click",
                (3, "left"): "triple_click",
                (1, "right"): "right_click",
                (1, "middle"): "middle_click",
            }[(step.count, step.button)]
            return f"{step.describe()} ({found}).\n{tool_call(action, coordinate=list(match.point))}"
        if isinstance(step, ScrollStep):
            return f"{step.describe()} ({found}).\n{_scroll_call(step, match.point)}"
        x, y = field_point(match, image.width)
        return f"{step.describe()} ({found}).\n" + "\n".join(
            [tool_call("left_click", coordinate=[x, y]), *_type_calls(step)]
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

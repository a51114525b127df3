"""Finding a text among OCR lines: normalised, then exact, word-inside-a-line or fuzzy; English and Chinese.

Pure functions on lines (text, 4 corner points, score); no OCR here. agent.backends.ocr.reader decides which
lines to read; this module says whether and where the target is among them, how wide a text of a given
length should be (to read the likeliest boxes first), and whether a field changed as typing into it must have
changed it: compared with what it showed before, exactly the text after a replace, the old text and the text
after an append, or password dots that grew by about the typed length from none or dots (a field that merely
shows `0.00` is not dots). When the target is not there, the texts nearest to it by spelling say what was meant.
"""

from __future__ import annotations

import difflib
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

from sandbox.text import shorten

FUZZY_MIN_RATIO = 0.8
CONFUSION_RATIO = 0.95  # similarity given to texts equal up to OCR confusions (0/O, 1/l/I, rn/m)
SEEN_LIMIT = 8
SEEN_CHARS = 30
NEAREST_LIMIT = 5  # texts nearest by spelling named when a target is not found
EXACT_RATIO = 0.9  # a field shows a text "exactly" up to a misread character in ten
SCROLLED_MIN_CHARS = 4  # a field that scrolled shows at least this many of the text's last characters
# A detected box's width, in box heights: CHAR_WIDTH_HEIGHTS a character (a wide, CJK, one counts 2) plus the
# detector's padding. Fitted (least squares of the log width) to the ~200 boxes PP-OCRv6 detects on
# bench/ocr_step.py's 1080p scene (11-14 px DejaVu Sans, Noto Sans CJK); the misfit's standard deviation is 0.09.
CHAR_WIDTH_HEIGHTS = 0.325
BOX_PAD_HEIGHTS = 0.48
# what OCR reads for password dots: "●〇〇〇〇〇" or "一〇〇〇〇〇一一" for ●●●●●●●● (as the batch is padded)
MASK_CHARS = frozenset("•●∙·*.○◦⚫⬤◯〇一oO0°cC")

Box = tuple[int, int, int, int]  # x1, y1, x2, y2 in image pixels


def box_area(box: Box) -> int:
    return (box[2] - box[0]) * (box[3] - box[1])


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
    return min(find_all(lines, target), key=match_key, default=None)


def find_all(lines: Sequence[OcrLine | tuple[str, Sequence[Sequence[float]], float]], target: str) -> list[Match]:
    """Every place of `target` among OCR lines (find_text's candidates, each line's places in every tier), in no
    particular order: for choosing among them by more than the text (its window, its field)."""
    wanted = _normalise(target)[0]
    if not wanted:
        return []
    found = []
    for raw in lines:
        line = OcrLine(str(raw[0]), raw[1], float(raw[2]))
        found += [_match(line, tier, similarity, span) for tier, similarity, span in _candidates(line.text, wanted)]
    return found


TIERS: tuple[Literal["exact", "word", "fuzzy"], ...] = ("exact", "word", "fuzzy")


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
    return Match(line.text, point, box, line_box, TIERS[tier], similarity, line.score, label)


def words_inside(line: OcrLine, left: float, right: float) -> str:
    """The words of a line whose middle lies between x = left and x = right (estimated by character widths, as
    for a word inside a line): the field's part of a line the detector ran on from its label into the field."""
    xs = [float(p[0]) for p in line.box]
    x1, x2 = min(xs), max(xs)
    widths = [2.0 if _is_wide(c) else 1.0 for c in line.text] or [1.0]
    total = sum(widths)
    kept = []
    for word in re.finditer(r"\S+", line.text):
        middle = (sum(widths[: word.start()]) + sum(widths[: word.end()])) / 2 / total
        if left <= x1 + middle * (x2 - x1) <= right:
            kept.append(word.group())
    return " ".join(kept)


def seen_texts(lines: Sequence[OcrLine], limit: int = SEEN_LIMIT) -> list[str]:
    """A few texts read on the screen, top-left first, without repeats (for 'not found' messages)."""
    ordered = sorted(lines, key=lambda line: (min(p[1] for p in line.box), min(p[0] for p in line.box)))
    texts: list[str] = []
    for line in ordered:
        text = " ".join(line.text.split())
        text = shorten(text, SEEN_CHARS)
        if text and text not in texts:
            texts.append(text)
    return texts[:limit] + (["..."] if len(texts) > limit else [])


def nearest_texts(lines: Sequence[OcrLine], target: str, limit: int = NEAREST_LIMIT) -> list[tuple[str, float]]:
    """The `limit` texts read on the screen nearest to `target` by spelling, nearest first, without repeats, each
    with its similarity (0..1): a whole line, or the run of as many of its words as the target has (the word
    "sqrt" of "sqrt cos tan" for "sqtr"); for 'not found' messages, where a typo shows itself."""
    wanted = _normalise(target)[0]
    scored: dict[str, tuple[float, int, int, str]] = {}
    for line in lines:
        norm, where = _normalise(line.text)
        if not norm or not wanted:
            continue
        y, x = min(p[1] for p in line.box), min(p[0] for p in line.box)
        for a, b in _windows(norm, wanted):
            text = " ".join(line.text[where[a] : where[b - 1] + 1].split())
            similarity = _similarity(norm[a:b], wanted)
            known = scored.get(norm[a:b])
            if known is None or similarity > known[0]:
                scored[norm[a:b]] = (similarity, round(y), round(x), shorten(text, SEEN_CHARS))
    ordered = sorted(scored.values(), key=lambda s: (-s[0], s[1], s[2]))
    return [(text, similarity) for similarity, _, _, text in ordered[:limit]]


def text_units(text: str) -> float:
    """A text's length in narrow characters: a wide (CJK) character counts 2, spaces count."""
    return float(sum(2 if _is_wide(c) else 1 for c in " ".join(text.split())))


def width_ratio(box: Box, target: str) -> float:
    """log(box width / the width `target` alone would take at the box's height): 0 is a perfect fit, log(2) twice
    as wide, -log(2) half as wide. What a detected box could hold is told before reading it."""
    x1, y1, x2, y2 = box
    expected = (max(text_units(target), 1.0) * CHAR_WIDTH_HEIGHTS + BOX_PAD_HEIGHTS) * max(y2 - y1, 1)
    return math.log(max(x2 - x1, 1) / expected)


def match_key(match: Match) -> tuple[float, ...]:
    """find_text's order: better tier, more similar, more confident, then top-left first (smaller is better)."""
    return (TIERS.index(match.how), -match.similarity, -match.score, match.line_box[1], match.line_box[0])


def dots(seen: str) -> int | None:
    """How many password dots a field's raw OCR reading (confident or not) shows, or None when it is not dots.

    Only dot-like characters (MASK_CHARS), at least two of them, and not a number: `0`, `0.00`, `000000`, `.`,
    `o` and `c` alone are never dots (GTK's ● reads as "oo..o.", at a low score; an amount field's `0.00` is
    text). A caret next to the dots is left out."""
    text = _without_caret("".join(seen.split()))
    if len(text) < 2 or not all(c in MASK_CHARS for c in text) or _NUMBER.fullmatch(text):
        return None
    return len(text)


def masked(seen: str, typed: str) -> bool:
    """Whether a field's raw OCR reading is a password field's dots for `typed` alone: about one dot per typed
    character (OCR merges or drops some: from half as many to twice as many)."""
    count = dots(seen)
    return count is not None and _about(count, typed)


def dots_show_typed(before: Sequence[str], after: Sequence[str], typed: str, *, append: bool) -> bool:
    """Whether the field's raw readings went from `before` to `after` as dots for `typed` would: the field was
    empty or dots before; after an append the dots grew by about the typed length, after a replace they are
    about the typed length and not the same reading as before (the same dots again prove nothing)."""
    old = _dot_count(before)
    new = _dot_count(after)
    if old is None or not new:
        return False
    if append:
        return _about(new - old, typed)
    return _about(new, typed) and (old == 0 or sorted(before) != sorted(after))


def _dot_count(readings: Sequence[str]) -> int | None:
    """All the dots of a field's readings (0: it shows nothing), or None when any reading is not dots."""
    total = 0
    for reading in readings:
        if not _without_caret("".join(reading.split())):
            continue
        count = dots(reading)
        if count is None:
            return None
        total += count
    return total


def _about(count: int, typed: str) -> bool:
    return len(typed) / 2 <= count <= 2 * len(typed)


_NUMBER = re.compile(r"[0-9.,]+")
_CARETS = "|lI1i丨"  # what OCR reads a text caret as


def _without_caret(text: str) -> str:
    """`text` (spaces removed) without one caret-like character at either end."""
    if text[-1:] and text[-1] in _CARETS:
        text = text[:-1]
    if text[:1] and text[0] in _CARETS:
        text = text[1:]
    return text


def field_shows(seen: str, typed: str, *, before: str, append: bool) -> bool:
    """Whether a field's OCR text after typing is what it must be: exactly `typed` after a replace, `before`
    followed by `typed` after an append (case, spaces and OCR confusions forgiven; a caret read as a letter at
    either end forgiven; a few misread characters forgiven unless the old text explains the difference better).
    Longer than the field, the text may have scrolled: then the end of it must show."""
    want = _squash(before + typed) if append else _squash(typed)
    old = _squash(before)
    other = _squash(typed) if append else old + want  # what a replace or an append would have left instead
    have = _squash(seen)
    if not want:
        return not have
    candidates = {have, _without_caret(have)} - {""}
    if want in candidates:
        return True
    for text in candidates:
        # the field scrolled: only the end shows (after an append, some of the old text too: the typed text
        # alone is what a replace would have left)
        shortest = max(SCROLLED_MIN_CHARS, len(_squash(typed)) + 1 if append else 0)
        if shortest <= len(text) < len(want) and _similarity(text, want[-len(text) :]) >= EXACT_RATIO:
            return True
        similarity = _similarity(text, want)
        if similarity >= EXACT_RATIO and not (old and other != want and _similarity(text, other) > similarity):
            return True
    return False


def _squash(text: str) -> str:
    return _confusable("".join(unicodedata.normalize("NFKC", text).casefold().split()))

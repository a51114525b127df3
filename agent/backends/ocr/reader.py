"""What the OCR grounder has read of the screen, kept between steps, and reading for a target first.

A person does not re-read the whole screen to find "Apply", and neither does this reader:

- **Only what changed.** Each frame (the request image, in its own pixels) is compared with the last one
  pixel by pixel. A known text box with a changed pixel is dropped; the changed tiles (TILE_PX), grown to cover
  the boxes they dropped (a word typed after a line invalidates the whole line), are detected again, and
  every other box keeps its place and its text. A frame of another size (the monitor's geometry changed) or
  one where most of it changed (a new full-screen window, a page scrolled) is detected whole. A box whose
  pixels were read before (a row that scrolled, a label that moved) gets its text back without recognition.
- **Only what holds content.** The detector is given the parts of the frame (or of a changed region) that
  hold sharp detail, each group of such tiles on its own, and never the background between them (a flat colour,
  a smooth wallpaper): PP-OCRv6's detector misses small text amid a large empty image (xmessage in X core fonts
  at the top-left of a 1280x800 screen: nothing at all) and reads it in a crop around it. A busy screen is one
  group, detected whole as before. `stats.detected_px` counts what the detector was given.
- **The target first.** Detection is cheap; recognition is most of the cost. `find` recognises the detected
  boxes most likely to hold the target first (a box as wide as the target would be at its height, nearest
  the last action), in batches, and stops at the first certain match (exact, confident). Only when
  none turns up does it read the rest, in larger batches, and then the best of everything wins, as a whole
  read would. A target that is nowhere (a typo) is answered after one read of every box, which costs in
  proportion to the text on the screen: on two cores about 2.3 s for a window of 187 buttons at 1080p, 3.7 s
  for the file manager of `bench/ocr_step.py` (198 boxes, long names; its "misspelled target" line).
- **Kept in image pixels.** Boxes are where they are on the request image; the loop maps the reply's pixels
  back to the screen. A box is never moved: what moved on screen changed both where it was and where it is.

`stats` says what the last pass did (pixels detected, boxes recognised), so tests can prove what was read.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image

from agent.backends.ocr.engine import MIN_SCORE, RapidEngine, detection_scale
from agent.backends.ocr.match import (
    CONFUSION_RATIO,
    Box,
    Match,
    OcrLine,
    box_area,
    find_text,
    match_key,
    width_ratio,
)

TILE_PX = 16  # the frame is compared in tiles of this size
EDGE_LEVEL = 32  # a tile holds content where a channel steps by more than this (0..255) between neighbouring pixels
DIFF_LEVEL = 12  # a pixel changed when a channel moved more than this (0..255): cursor blinks count, noise does not
REGION_MARGIN_PX = 12  # context around a changed region for the detector
FULL_CHANGE = 0.45  # when more than this fraction of the frame changed, it is detected whole
CERTAIN_SCORE = 0.8  # a match of the whole line at least this confident ends the search
PLAUSIBLE_FIT = math.log(1.5)  # boxes within 1.5 times the target's expected width (either way) are read first
FIT_SPREAD = 0.1  # how far (log of the width ratio) a box's width strays from the expected one, typically
NEAR_PX = 300  # every this many image px from the last action add one to the cost, as a misfit of 1.4 FIT_SPREAD does
FIRST_BATCH, BATCH = 2, 6  # boxes recognised at a time (then rapidocr's own batch); a certain match ends the search
# Past the boxes about as wide as the target, a certain match is unlikely (it is a whole line): the rest is read
# this many at a time, which lets the engine put crops of like width together (less padding, fewer runs)
REST_BATCH = 30
READ_MEMORY = 4096  # texts remembered by their box's pixels

FrameKind = Literal["first", "resized", "whole", "changed", "same"]


@dataclass
class _Entry:
    box: Box
    text: str | None = None  # None until recognised; "" when what was read scored below MIN_SCORE
    score: float = 0.0
    raw: str = ""  # what recognition read, whatever its score

    def line(self) -> OcrLine:
        x1, y1, x2, y2 = self.box
        return OcrLine(self.text or "", ((x1, y1), (x2, y1), (x2, y2), (x1, y2)), self.score)


@dataclass(frozen=True, slots=True)
class ReadStats:
    frame: FrameKind  # how the newest frame related to the one before
    detected_px: int  # pixels the detector read for it (background left out)
    regions: int  # changed regions detected again (0 when detected whole or unchanged)
    boxes: int  # text boxes known on the frame
    recognised: int  # boxes run through recognition since the frame came (every find and lines call on it)
    seconds: float  # time spent on the frame so far


class ScreenReader:
    """The boxes and texts of the newest frame; see the module docstring. Not thread-safe (the backend locks)."""

    def __init__(self, engine: RapidEngine) -> None:
        self.engine = engine
        self._frame: np.ndarray | None = None  # the newest frame, RGB
        self._entries: list[_Entry] = []
        self._read: dict[bytes, tuple[str, float]] = {}  # what boxes read, by their pixels
        self._scale = 1.0
        self._kind: FrameKind = "first"
        self._detected_px = 0
        self._regions = 0
        self._recognised = 0
        self._seconds = 0.0

    @property
    def frame(self) -> np.ndarray:
        if self._frame is None:
            raise RuntimeError("the reader has not seen a frame yet")
        return self._frame

    @property
    def stats(self) -> ReadStats:
        return ReadStats(
            self._kind, self._detected_px, self._regions, len(self._entries), self._recognised, self._seconds
        )

    def look(self, image: Image.Image) -> ReadStats:
        """Take a new frame: detect again what changed since the last one (everything the first time)."""
        started = time.perf_counter()
        rgb = np.asarray(image.convert("RGB"))
        previous, self._frame = self._frame, rgb
        self._detected_px = self._regions = self._recognised = 0
        if previous is None or previous.shape != rgb.shape:
            self._kind = "first" if previous is None else "resized"
            self._detect_whole()
        else:
            self._kind = self._update(previous, rgb)
        self._seconds = time.perf_counter() - started
        return self.stats

    def find(self, target: str, *, near: tuple[int, int] | None = None) -> Match | None:
        """The best place of `target`, reading the likeliest boxes first and stopping at a certain match."""
        started = time.perf_counter()
        try:
            best = find_text([e.line() for e in self._entries if e.text], target)
            if _certain(best):
                return best
            order = self._reading_order(target, near)
            plausible = sum(1 for e in order if abs(width_ratio(e.box, target)) <= PLAUSIBLE_FIT)
            size, read = FIRST_BATCH, 0
            while order:
                batch, order = order[:size], order[size:]
                read += len(batch)
                size = BATCH if read < plausible else REST_BATCH
                self._recognise(batch)
                found = find_text([e.line() for e in batch if e.text], target)
                if found is not None and (best is None or match_key(found) < match_key(best)):
                    best = found
                if _certain(best):
                    return best
            return best
        finally:
            self._seconds += time.perf_counter() - started

    def lines(self, area: Box | None = None) -> list[OcrLine]:
        """Every text line (in `area`: lines whose centre is inside it), recognising what was not yet read."""
        started = time.perf_counter()
        chosen = [e for e in self._entries if area is None or _centre_in(e.box, area)]
        self._recognise([e for e in chosen if e.text is None])
        self._seconds += time.perf_counter() - started
        ordered = sorted((e for e in chosen if e.text), key=lambda e: (e.box[1], e.box[0]))
        return [e.line() for e in ordered]

    def raw_texts(self, area: Box) -> list[str]:
        """What recognition read in `area` (boxes whose centre is inside), whatever its score."""
        self.lines(area)
        return [e.raw for e in self._entries if _centre_in(e.box, area) and e.raw]

    # -- internals -----------------------------------------------------------------------------------------

    def _detect_whole(self) -> None:
        height, width = self.frame.shape[:2]
        self._scale = detection_scale(width, height)
        self._entries = [_Entry(box) for box in self._detect((0, 0, width, height))]

    def _detect(self, area: Box) -> list[Box]:
        """Text boxes in `area` of the frame (frame pixels): each part of it that holds content is detected on its
        own, the background between them not at all (see _content)."""
        frame, boxes = self.frame, []
        for x1, y1, x2, y2 in _content(frame, area):
            for bx1, by1, bx2, by2 in self.engine.detect(frame[y1:y2, x1:x2], self._scale):
                boxes.append((bx1 + x1, by1 + y1, bx2 + x1, by2 + y1))
            self._detected_px += (x2 - x1) * (y2 - y1)
        return boxes

    def _update(self, previous: np.ndarray, frame: np.ndarray) -> FrameKind:
        """Detect again only where `frame` differs from `previous`; keep every box whose pixels did not change."""
        height, width = frame.shape[:2]
        changed = _changed_pixels(previous, frame)
        regions = _changed_regions(changed)
        if regions is None:
            self._detect_whole()
            return "whole"
        if not regions:
            return "same"
        stale = [e for e in self._entries if any(_overlaps(e.box, r) for r in regions) and _touched(changed, e.box)]
        crops = _crops(regions, [e.box for e in stale], width, height)
        if sum(box_area(c) for c in crops) > FULL_CHANGE * width * height:
            self._detect_whole()
            return "whole"
        dropped = {id(e) for e in stale}
        kept = [e for e in self._entries if id(e) not in dropped]
        for crop in crops:
            for box in self._detect(crop):
                kept = _admit(box, kept)
        self._entries = kept
        self._regions = len(crops)
        return "changed"

    def _recognise(self, entries: Sequence[_Entry]) -> None:
        """Read `entries`; a box whose pixels were read before (a row that scrolled, a label that moved) is not
        read again."""
        frame = self.frame
        todo: list[tuple[_Entry, bytes]] = []
        for entry in entries:
            crop = frame[entry.box[1] : entry.box[3], entry.box[0] : entry.box[2]]
            key = hashlib.blake2b(crop.tobytes(), digest_size=16).digest() + b"%dx%d" % crop.shape[:2]
            known = self._read.get(key)
            if known is not None:
                _set(entry, *known)
            else:
                todo.append((entry, key))
        if not todo:
            return
        crops = [frame[e.box[1] : e.box[3], e.box[0] : e.box[2]] for e, _ in todo]
        for (entry, key), (text, score) in zip(todo, self.engine.recognise(crops)):
            _set(entry, text, score)
            self._read[key] = (text, score)
            if len(self._read) > READ_MEMORY:
                del self._read[next(iter(self._read))]  # the oldest
        self._recognised += len(todo)

    def _reading_order(self, target: str, near: tuple[int, int] | None) -> list[_Entry]:
        """Unread boxes, likeliest first. First those about as wide as the target would be at their height, by
        a cost that grows with the square of the width's misfit (FIT_SPREAD: what fonts and box padding vary)
        and with the distance from `near` (one more unit every NEAR_PX); then wider boxes (the target may be a
        word of a line), nearest first; then narrower ones."""

        def key(entry: _Entry) -> tuple[int, float, int, int]:
            ratio = width_ratio(entry.box, target)
            group = 0 if abs(ratio) <= PLAUSIBLE_FIT else 1 if ratio > 0 else 2
            x1, y1, x2, y2 = entry.box
            distance = math.hypot((x1 + x2) / 2 - near[0], (y1 + y2) / 2 - near[1]) if near is not None else 0.0
            cost = distance / NEAR_PX + ((ratio / FIT_SPREAD) ** 2 / 2 if group == 0 else 0.0)
            return group, cost, y1, x1

        return sorted((e for e in self._entries if e.text is None), key=key)


def _set(entry: _Entry, text: str, score: float) -> None:
    keep = score >= MIN_SCORE and bool(text)
    entry.text, entry.score, entry.raw = (text if keep else ""), (score if keep else 0.0), text


def _certain(match: Match | None) -> bool:
    """Confident, and the whole line is the target: exactly, or but for OCR confusions ("photo_ql_82.txt")."""
    if match is None or match.score < CERTAIN_SCORE:
        return False
    return match.how == "exact" or (match.similarity >= CONFUSION_RATIO and match.box == match.line_box)


def _changed_pixels(previous: np.ndarray, current: np.ndarray) -> np.ndarray:
    """255 where any channel moved more than DIFF_LEVEL, else 0 (height x width, uint8)."""
    import cv2

    height, width = current.shape[:2]
    moved = cv2.threshold(cv2.absdiff(previous, current).reshape(height, -1), DIFF_LEVEL, 255, cv2.THRESH_BINARY)[1]
    moved = moved.reshape(height, width, 3)
    return cv2.bitwise_or(cv2.bitwise_or(moved[:, :, 0], moved[:, :, 1]), moved[:, :, 2])


def _changed_regions(changed: np.ndarray) -> list[Box] | None:
    """Rectangles of changed tiles (8-connected groups), in pixels; None when most of the frame changed."""
    import cv2

    height, width = changed.shape
    rows, cols = -(-height // TILE_PX), -(-width // TILE_PX)
    padded = cv2.copyMakeBorder(changed, 0, rows * TILE_PX - height, 0, cols * TILE_PX - width, cv2.BORDER_CONSTANT)
    tiles = padded.reshape(rows, TILE_PX, cols * TILE_PX).max(axis=1).reshape(rows, cols, TILE_PX).max(axis=2) > 0
    if not tiles.any():
        return []
    if tiles.mean() > FULL_CHANGE:
        return None
    count, _labels, stats, _centroids = cv2.connectedComponentsWithStats(tiles.astype(np.uint8), connectivity=8)
    return [
        (int(x) * TILE_PX, int(y) * TILE_PX, min(width, int(x + w) * TILE_PX), min(height, int(y + h) * TILE_PX))
        for x, y, w, h, _ in stats[1:count]
    ]


def _content(frame: np.ndarray, area: Box) -> list[Box]:
    """The parts of `area` to detect: groups of tiles (TILE_PX, from the area's corner) that hold a sharp step
    between neighbouring pixels (text, lines, icons), each with a tile of margin, as rectangles that do not overlap
    (grown until they do not); frame pixels. What lies between them is background (a flat colour, a smooth
    wallpaper) and never reaches the detector: a small dialog on an empty screen is detected as the small image it
    is, where amid the whole frame the detector misses its text."""
    import cv2

    x1, y1, x2, y2 = area
    height, width = y2 - y1, x2 - x1
    if height < 2 or width < 2:
        return []
    rows, cols = -(-height // TILE_PX), -(-width // TILE_PX)
    pixels = np.ascontiguousarray(frame[y1:y2, x1:x2]).reshape(height, width * 3)
    steps = np.zeros((rows * TILE_PX, cols * TILE_PX * 3), np.uint8)
    steps[:height, 3 : width * 3] = cv2.absdiff(pixels[:, 3:], pixels[:, :-3])  # from the pixel on the left
    np.maximum(steps[1:height, : width * 3], cv2.absdiff(pixels[1:], pixels[:-1]), out=steps[1:height, : width * 3])
    sharp = steps.reshape(rows, TILE_PX, cols * TILE_PX * 3).max(axis=1).reshape(rows, cols, TILE_PX * 3).max(axis=2)
    grid = cv2.dilate((sharp > EDGE_LEVEL).astype(np.uint8), np.ones((3, 3), np.uint8))
    while True:
        count, _labels, stats, _centroids = cv2.connectedComponentsWithStats(grid, connectivity=8)
        filled = np.zeros_like(grid)
        for x, y, w, h, _ in stats[1:count]:
            filled[y : y + h, x : x + w] = 1
        if np.array_equal(filled, grid):
            break
        grid = filled
    return [
        (
            x1 + int(x) * TILE_PX,
            y1 + int(y) * TILE_PX,
            min(x2, x1 + int(x + w) * TILE_PX),
            min(y2, y1 + int(y + h) * TILE_PX),
        )
        for x, y, w, h, _ in stats[1:count]
    ]


def _touched(changed: np.ndarray, box: Box) -> bool:
    return bool(changed[box[1] : box[3], box[0] : box[2]].any())


def _crops(regions: Sequence[Box], stale: Sequence[Box], width: int, height: int) -> list[Box]:
    """What to detect again: each region with the stale boxes it touches and a margin; overlapping ones merged."""
    crops = []
    for region in regions:
        for box in stale:
            if _overlaps(box, region):
                region = _union(region, box)
        crops.append(_pad(region, REGION_MARGIN_PX, width, height))
    merged = True
    while merged:
        merged = False
        for i in range(len(crops)):
            for j in range(i + 1, len(crops)):
                if _overlaps(crops[i], crops[j]):
                    crops[i] = _union(crops[i], crops.pop(j))
                    merged = True
                    break
            if merged:
                break
    return crops


def _admit(new: Box, kept: list[_Entry]) -> list[_Entry]:
    """Boxes after a newly detected one: dropped when it lies mostly inside a box still valid (a piece of unchanged
    text cut by the crop's edge); otherwise it replaces the valid boxes it mostly covers (the line they are part of
    grew: a word typed after them)."""
    if any(_intersection(new, e.box) > 0.5 * box_area(new) for e in kept):
        return kept
    return [e for e in kept if _intersection(new, e.box) <= 0.5 * box_area(e.box)] + [_Entry(new)]


def _intersection(a: Box, b: Box) -> int:
    return max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))


def _pad(box: Box, margin: int, width: int, height: int) -> Box:
    return max(0, box[0] - margin), max(0, box[1] - margin), min(width, box[2] + margin), min(height, box[3] + margin)


def _union(a: Box, b: Box) -> Box:
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _centre_in(box: Box, area: Box) -> bool:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return area[0] <= cx <= area[2] and area[1] <= cy <= area[3]

"""The field a text names, found in the image, and whether typing reached it.

"type Ada into First name": "First name" may be a label beside its field (GTK and Qt labels have no colon, and
a click on a label does not focus its field), a label above it, or the field's own placeholder. The field is
a bordered box (an entry's frame) found with OpenCV near the text: right of it on the same line, else around
it (a placeholder), else below it. Without one, a label ending in ':' gets the old guess (a little right of
it) and any other text is clicked where it is. The field's box is read before typing and again on the next
frame; agent.backends.ocr.match says whether it changed as the step asked (replaced or appended to), and if not
the step failed (the keys went to another field, or nowhere, or the old text stayed).

A label names a field; a column header of a list or table does not (GTK's file chooser shows "Name:" beside its
entry and "Name" above its files): `column_header` tells them apart, for the backend to weigh every text that
names the field when the first has no field of its own or is a header.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from agent.backends.ocr.match import Box, Match, OcrLine, box_area

LABEL_GAP_HEIGHTS = 2.0  # without a box: a label's field is clicked this many label heights right of the label
RIGHT_GAP_HEIGHTS = 20.0  # a field right of its label starts at most this many label heights away
BELOW_GAP_HEIGHTS = 2.5  # a field below its label starts at most this many label heights under it
MIN_FIELD_HEIGHTS = 0.6  # a field is at least this high, in heights of the text's box (which may reach over its border)
MAX_INSIDE_HEIGHTS = 4.0  # a box around the text higher than this is a panel, not the field
MIN_FIELD_WIDTH_HEIGHTS = 3.0  # and at least this many label heights wide
HELD = 0.7  # a text lies in a box when this much of its own box does
CLOSED = 0.8  # a box's outline encloses at least this fraction of its bounding rectangle (a closed frame)
ROW_HEIGHTS = 0.5  # texts of one row: their middles this many text heights apart at most
COLUMN_HEIGHTS = 1.5  # an item under a header starts within this many text heights of the header's left edge
ITEM_GAP_HEIGHTS = 2.5  # and at most this many text heights below it
CANNY_LOW, CANNY_HIGH = 20, 50  # low: entry borders are often light grey on a near-white window

Where = Literal["right", "inside", "below", "guess"]


@dataclass(frozen=True, slots=True)
class Field:
    box: Box  # the field's box (image px); for a guess, the stretch to read the typed text back from
    where: Where  # where the box was found relative to the text; "guess": no box was found
    point: tuple[int, int]  # where to click: the box's centre, or the guessed point


def _boxed(box: Box, where: Where) -> Field:
    return Field(box, where, ((box[0] + box[2]) // 2, (box[1] + box[3]) // 2))


def field_point(match: Match, width: int) -> tuple[int, int]:
    """The guess when no box is found: a label ending in ':' is clicked LABEL_GAP_HEIGHTS label heights right of
    its right edge (kept on the image); any other text (a placeholder, the field's own text) where it is."""
    if not match.label:
        return match.point
    x1, y1, x2, y2 = match.line_box
    return min(round(x2 + LABEL_GAP_HEIGHTS * (y2 - y1)), width - 1), match.point[1]


def find_field(frame: np.ndarray, match: Match) -> Field:
    """The field `match` names on `frame` (RGB): see the module docstring."""
    height, width = frame.shape[:2]
    x1, y1, x2, y2 = match.line_box
    h = max(y2 - y1, 1)
    area = (
        max(0, x1 - 4 * h),
        max(0, y1 - 4 * h),
        min(width, round(x2 + (RIGHT_GAP_HEIGHTS + 25) * h)),
        min(height, y2 + 10 * h),
    )
    boxes = [
        b
        for b in _closed_boxes(frame, area)
        if b[3] - b[1] >= MIN_FIELD_HEIGHTS * h and b[2] - b[0] >= MIN_FIELD_WIDTH_HEIGHTS * h
    ]
    cy = (y1 + y2) / 2
    right = [  # starts right of the text's middle (the detector's box may reach over a close field's border)
        b
        for b in boxes
        if b[0] > (x1 + x2) / 2 and b[0] - x2 <= RIGHT_GAP_HEIGHTS * h and b[1] <= cy <= min(b[3], b[1] + 3 * h)
    ]
    if right:
        return _boxed(min(right, key=lambda b: (max(0, b[0] - x2), box_area(b))), "right")
    inside = [b for b in boxes if _holds(b, match.line_box) and b[3] - b[1] <= MAX_INSIDE_HEIGHTS * h]
    if inside:
        return _boxed(min(inside, key=box_area), "inside")
    below = [
        b
        for b in boxes
        if y2 - 0.3 * h <= b[1] <= y2 + BELOW_GAP_HEIGHTS * h and x1 - 6 * h <= b[0] <= x1 + 2 * h and b[2] > x2
    ]
    if below:
        return _boxed(min(below, key=lambda b: (b[1] - y2, box_area(b))), "below")
    point = field_point(match, width)
    left = point[0] - h if match.label else x1 - h  # read the typed text back from a stretch from there rightwards
    stretch = (max(0, left), max(0, y1 - h // 2), min(width, point[0] + 30 * h), min(height, y2 + h // 2))
    return Field(stretch, "guess", point)


def _closed_boxes(frame: np.ndarray, area: Box) -> list[Box]:
    """Bounding boxes (image px) of closed outlines in `area`: frames of entries, buttons, panels."""
    import cv2

    ax1, ay1, ax2, ay2 = area
    if ax2 - ax1 < 8 or ay2 - ay1 < 8:
        return []
    grey = cv2.cvtColor(np.ascontiguousarray(frame[ay1:ay2, ax1:ax2]), cv2.COLOR_RGB2GRAY)
    # thickened: a resized screenshot's border has two thin edges with gaps at the corners; one thick ring closes
    edges = cv2.dilate(cv2.Canny(grey, CANNY_LOW, CANNY_HIGH), np.ones((3, 3), np.uint8))
    contours, _ = cv2.findContours(edges, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    found: list[Box] = []
    for contour in contours:
        x, y, w, h = cv2.boundingRect(contour)
        if w >= 8 and h >= 8 and cv2.contourArea(contour) >= CLOSED * w * h:
            found.append((x + ax1 + 1, y + ay1 + 1, x + w + ax1 - 1, y + h + ay1 - 1))  # the ring's middle
    return found


def _holds(outer: Box, text: Box) -> bool:
    """Whether a text lies in a box: its centre inside, and most of it (the detector's box of a placeholder may
    stick out of a tight field's border by a pixel or two)."""
    cx, cy = (text[0] + text[2]) / 2, (text[1] + text[3]) / 2
    if not (outer[0] <= cx <= outer[2] and outer[1] <= cy <= outer[3]):
        return False
    width = max(0, min(outer[2], text[2]) - max(outer[0], text[0]))
    height = max(0, min(outer[3], text[3]) - max(outer[1], text[1]))
    return width * height >= HELD * box_area(text)


def column_header(match: Match, field: Field, lines: Sequence[OcrLine]) -> bool:
    """Whether the text `match` found is a column header of a list or table, not a label: none of its row ends with
    ':', and beside it on its row lie two other texts (an empty list's "Name  Size  Modified"), or one and an item
    under it starting where it starts (a row of labels above rows of items). What lies in its `field` (the field's
    own text, right of a label) is not part of the row."""
    if match.label:
        return False
    x1, y1, x2, y2 = match.line_box
    h = max(y2 - y1, 1)
    row, below = 0, False
    for line in lines:
        lx1, ly1, lx2, ly2 = _extent(line)
        if (lx1, ly1, lx2, ly2) == match.line_box or (
            field.where != "guess" and _holds(field.box, (lx1, ly1, lx2, ly2))
        ):
            continue
        if abs((ly1 + ly2) / 2 - (y1 + y2) / 2) <= ROW_HEIGHTS * h and (lx2 <= x1 or lx1 >= x2):
            if line.text.rstrip().endswith((":", "：")):
                return False
            row += 1
        elif y2 <= ly1 <= y2 + ITEM_GAP_HEIGHTS * h and abs(lx1 - x1) <= COLUMN_HEIGHTS * h:
            below = True
    return row >= 2 or (row >= 1 and below)


def _extent(line: OcrLine) -> Box:
    xs, ys = [float(p[0]) for p in line.box], [float(p[1]) for p in line.box]
    return round(min(xs)), round(min(ys)), round(max(xs)), round(max(ys))

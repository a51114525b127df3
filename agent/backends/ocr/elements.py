"""Where an app publishes an accessibility tree, the OCR grounder's targets from it instead of from pixels.

A screen reader knows which label belongs to which entry (AT-SPI's labelled-by relation) wherever the two are
placed, the name of a button that shows only an icon, and the exact text an entry holds. The loop hands the
elements on the picture to the backend (agent.backends.base.PictureElement, read when first asked); here:
- `named`: the element a click names: a control (not plain text: pixels decide for text on screen) whose
  accessible name is the target;
- `editable_for`: the editable element a field name means: the one labelled by it, else one named so, else the
  first editable after a label so named in reading order (right of it on its row, else below it).
Names compare as a person reads them: case, spacing and a label's trailing colon aside. An element hidden
behind another window, in one of deskpilot's own windows or outside the windows asked for is never chosen; of
several, the one in the window in front wins (agent.backends.ocr.windows).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agent.backends.base import PictureElement, PictureWindow
from agent.backends.ocr.windows import Layout

# roles of plain text and containers: a click on their text is decided by pixels (agent.backends.ocr.reader)
NOT_CONTROLS = frozenset(
    {
        "label",
        "static",
        "text",
        "paragraph",
        "heading",
        "caption",
        "frame",
        "window",
        "dialog",
        "filler",
        "panel",
        "application",
        "scroll pane",
        "viewport",
        "section",
        "document frame",
        "redundant object",
        "unknown",
    }
)
LABEL_ROLES = frozenset({"label", "static", "text", "caption"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Found:
    """An element the tree gives for a target, and how it was found (said in the reply)."""

    element: PictureElement
    how: str

    @property
    def point(self) -> tuple[int, int]:
        x1, y1, x2, y2 = self.element.rect
        return (x1 + x2) // 2, (y1 + y2) // 2

    def describe(self) -> str:
        name = self.element.name or (self.element.labelled_by[0] if self.element.labelled_by else "")
        return f"{self.element.role} '{name}'" if name else self.element.role


def same_name(a: str, b: str) -> bool:
    return _normal(a) == _normal(b) and bool(_normal(a))


def named(
    elements: Sequence[PictureElement], target: str, layout: Layout, among: tuple[PictureWindow, ...] | None
) -> Found | None:
    """The control whose accessible name is `target` (see the module docstring), or None."""
    found = [
        e
        for e in elements
        if e.role.lower() not in NOT_CONTROLS and same_name(e.name, target) and _reachable(e, layout, among)
    ]
    best = _front(found, layout)
    return None if best is None else Found(element=best, how="its accessible name")


def editable_for(
    elements: Sequence[PictureElement], target: str, layout: Layout, among: tuple[PictureWindow, ...] | None
) -> Found | None:
    """The editable element the field name `target` means (see the module docstring), or None."""
    editable = [e for e in elements if "editable" in e.states and _reachable(e, layout, among)]
    labelled = [e for e in editable if any(same_name(label, target) for label in e.labelled_by)]
    if (best := _front(labelled, layout)) is not None:
        return Found(element=best, how="labelled by it")
    own = [e for e in editable if same_name(e.name, target)]
    if (best := _front(own, layout)) is not None:
        return Found(element=best, how="named so")
    labels = [e for e in elements if e.role.lower() in LABEL_ROLES and same_name(e.name or e.text or "", target)]
    for label in sorted(labels, key=lambda e: layout.rank(layout.owner(e.rect))):
        after = _after(label, [e for e in editable if e.window == label.window])
        if after is not None:
            return Found(element=after, how="the field after its label")
    return None


def _after(label: PictureElement, editable: Sequence[PictureElement]) -> PictureElement | None:
    """The first editable after `label` in reading order: on its row to its right, else the nearest below."""
    x1, y1, x2, y2 = label.rect
    middle = (y1 + y2) / 2

    def order(e: PictureElement) -> tuple[int, float, float]:
        ex1, ey1, ex2, ey2 = e.rect
        same_row = ey1 <= middle <= ey2
        return (0 if same_row else 1, 0 if same_row else ey1 - y2, abs(ex1 - x1))

    following = [
        e for e in editable if (e.rect[1] <= middle <= e.rect[3] and e.rect[0] >= x2 - 1) or e.rect[1] >= middle
    ]
    return min(following, key=order, default=None)


def _reachable(element: PictureElement, layout: Layout, among: tuple[PictureWindow, ...] | None) -> bool:
    """Not hidden behind another window (its centre lies in a window of its own name, when windows are known),
    not in deskpilot's own windows, and in one of `among` (None: any)."""
    if "showing" not in element.states:
        return False
    if not layout.known:
        return among is None
    owner = layout.owner(element.rect)
    if owner is None or owner.deskpilot or (element.window and owner.title != element.window):
        return False
    return layout.allows(element.rect, among)


def _front(found: Sequence[PictureElement], layout: Layout) -> PictureElement | None:
    """The one in the window in front (then the topmost, leftmost)."""
    return min(found, key=lambda e: (layout.rank(layout.owner(e.rect)), e.rect[1], e.rect[0]), default=None)


def _normal(text: str) -> str:
    return " ".join(text.split()).rstrip(":").strip().casefold()

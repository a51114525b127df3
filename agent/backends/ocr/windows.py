"""Which window each text on the picture belongs to, and which windows count first.

The same label often shows twice on a desktop: "File" in the menu bars of two apps. The request carries the
desktop's windows on the picture (agent.backends.base.PictureWindow, bottom to top); a text belongs to the
topmost window whose rectangle holds its centre (what a click there reaches). Among texts matched equally
well (the same tier: exact, word, fuzzy), those in the focused window or the window in front win over those of
windows lying behind: a window's rank is 0 when it is focused, else the number of windows above it. Texts in
deskpilot's own windows (any deskpilot process's) are never candidates; texts on the bare desktop rank last.
A window is found by its title as a text is found on a line ("in Mousepad" finds "Untitled 1 - Mousepad").
With no windows known (no X stacking: tests on drawn pictures, other desktops) every text ranks the same and
matching is by the text alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agent.backends.base import PictureWindow
from agent.backends.ocr.match import TIERS, Box, Match, OcrLine, find_all, match_key


@dataclass(frozen=True, slots=True)
class Layout:
    """The windows on one picture (bottom to top), for ranking the texts on it."""

    windows: tuple[PictureWindow, ...] = ()

    @property
    def known(self) -> bool:
        return bool(self.windows)

    @property
    def applications(self) -> tuple[PictureWindow, ...]:
        return tuple(w for w in self.windows if not w.deskpilot)

    def owner(self, box: Box) -> PictureWindow | None:
        """The topmost window holding the centre of `box` (None: the bare desktop, or no windows known)."""
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        holding = [w for w in self.windows if w.rect[0] <= cx < w.rect[2] and w.rect[1] <= cy < w.rect[3]]
        return max(holding, key=lambda w: w.order, default=None)

    def rank(self, window: PictureWindow | None) -> int:
        """0 for the focused window and the one in front; else how many windows lie above it (the bare desktop:
        below them all)."""
        apps = self.applications
        if window is None:
            return len(apps) if self.windows else 0
        if window.focused:
            return 0
        return sum(1 for w in apps if w.order > window.order)

    def allows(self, box: Box, among: Sequence[PictureWindow] | None) -> bool:
        """Whether a text in `box` may be chosen: not in deskpilot's windows, and in one of `among` (None: any)."""
        window = self.owner(box)
        if window is not None and window.deskpilot:
            return False
        return among is None or window in among

    def key(self, match: Match) -> tuple[float, ...]:
        """find_text's order with the window's rank after the tier: an exact "File" behind the focused window
        still beats a fuzzy one in it, but of two exact ones the one in front wins."""
        tier, *rest = match_key(match)
        return (tier, self.rank(self.owner(match.line_box)), *rest)

    def titled(self, title: str) -> tuple[PictureWindow, ...]:
        """The windows whose title names `title` best (exactly, as a word of it, or fuzzily), front first."""
        apps = [w for w in self.applications if w.title]
        matches = find_all([OcrLine(w.title, _corners(w.rect), 1.0) for w in apps], title)
        if not matches:
            return ()
        tier = min(TIERS.index(m.how) for m in matches)
        named = {m.line_box for m in matches if TIERS.index(m.how) == tier}
        return tuple(sorted((w for w in apps if w.rect in named), key=self.rank))

    def choose(self, candidates: Sequence[Match], among: Sequence[PictureWindow] | None) -> Match | None:
        """The best of `candidates` that may be chosen (see `allows`), by `key`."""
        allowed = [m for m in candidates if self.allows(m.line_box, among)]
        return min(allowed, key=self.key, default=None)

    def lines(self, lines: Sequence[OcrLine], among: Sequence[PictureWindow] | None = None) -> list[OcrLine]:
        """The lines that may be chosen (see `allows`)."""
        return [line for line in lines if self.allows(_box(line), among)]


def _corners(box: Box) -> tuple[tuple[int, int], ...]:
    x1, y1, x2, y2 = box
    return (x1, y1), (x2, y1), (x2, y2), (x1, y2)


def _box(line: OcrLine) -> Box:
    xs, ys = [float(p[0]) for p in line.box], [float(p[1]) for p in line.box]
    return round(min(xs)), round(min(ys)), round(max(xs)), round(max(ys))

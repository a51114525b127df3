"""What an action visibly did: delivery is not success, so the loop and `deskpilot act` look.

An action that was delivered may still have done nothing (text typed into no window, a click on a dead spot).
The frame before the action and the settled frame after it are compared pixel by pixel: the screen changed
near the action's point, elsewhere, or not at all; and the keyboard focus (the focused window, where the
desktop can say) moved or not. No visible effect is not a failure by itself (a second click on a selected
item changes nothing); the loop tells the model, and the timeline, the report and the CLI show it.

A changed pixel is one whose colour moved by more than CHANGE_LEVEL in some channel (JPEG-free screenshots:
only real drawing moves them). A blinking caret is small: fewer than CHANGED_PX changed pixels away from the
action's point are no change, while near the point (NEAR_PX around it) a few pixels are enough (the caret of
the field just clicked).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from PIL import Image, ImageChops

from sandbox.capture import Screenshot

ScreenChange = Literal["near", "elsewhere", "changed", "none"]
SCREEN_CHANGES: tuple[str, ...] = get_args(ScreenChange)
CHANGE_LEVEL = 8  # 0..255 in one channel: a pixel moved more than this has changed (a hover highlight does)
CHANGED_PX = 50  # changed pixels anywhere below this are no change (a caret blinking, a clock's digit edge)
NEAR_PX = 100  # screen px around an action's point that count as "near" it
NEAR_CHANGED_PX = 4  # changed pixels near the point that count (the caret of a field just clicked)
NO_EFFECT = (
    "Your last action was carried out but had no visible effect: the screen did not change and the keyboard "
    "focus did not move. Check that it reached the right place before going on."
)
_LEVELS = [255 if v > CHANGE_LEVEL else 0 for v in range(256)]


@dataclass(frozen=True, slots=True, kw_only=True)
class Effect:
    """The visible effect of a step's performed actions, measured once after the last of them.

    `screen`: "near" an action's point, "elsewhere", "changed" (for actions with no point: keys, text), "none".
    `focus_moved`: whether the focused window changed; None where the desktop cannot tell.
    `waited_s`: how long the look after the actions waited for the change and for the screen to settle."""

    screen: ScreenChange
    focus_moved: bool | None
    waited_s: float

    @property
    def visible(self) -> bool:
        return self.screen != "none" or self.focus_moved is True

    def describe(self) -> str:
        """One line: `no visible effect`, `the screen changed near the point; the focus moved`, ..."""
        if not self.visible:
            return "no visible effect"
        where = {
            "near": "the screen changed near the point",
            "elsewhere": "the screen changed away from the point",
            "changed": "the screen changed",
            "none": "the screen did not change",
        }[self.screen]
        return where + ("; the focus moved" if self.focus_moved else "")


def changed_pixels(before: Image.Image, after: Image.Image) -> Image.Image | None:
    """A mask (mode L, 255 where a pixel changed) of two frames of one size; None when the sizes differ."""
    if before.size != after.size:
        return None
    red, green, blue = ImageChops.difference(before.convert("RGB"), after.convert("RGB")).split()
    return ImageChops.lighter(ImageChops.lighter(red, green), blue).point(_LEVELS)


def screen_change(before: Screenshot, after: Screenshot, points: Sequence[tuple[int, int]] = ()) -> ScreenChange:
    """Where the screen changed between two grabs of one monitor: near one of `points` (screen px), elsewhere,
    "changed" when there are no points, or "none"."""
    mask = changed_pixels(before.image, after.image)
    if mask is None or before.monitor != after.monitor:  # the layout itself changed
        return "elsewhere" if points else "changed"
    area = after.monitor
    for x, y in points:
        cx, cy, reach = (x - area.x) * area.scale, (y - area.y) * area.scale, NEAR_PX * area.scale
        box = (
            max(0, round(cx - reach)),
            max(0, round(cy - reach)),
            min(mask.width, round(cx + reach)),
            min(mask.height, round(cy + reach)),
        )
        if box[0] < box[2] and box[1] < box[3] and mask.crop(box).histogram()[255] >= NEAR_CHANGED_PX:
            return "near"
    if mask.histogram()[255] < CHANGED_PX:
        return "none"
    return "elsewhere" if points else "changed"


def focus_moved(before: int | None, after: int | None) -> bool | None:
    """Whether the focused window changed; None when either reading is unknown."""
    return None if before is None or after is None else before != after

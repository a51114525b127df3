"""Small flat screens drawn with PIL for the OCR tests: words and bordered fields at known places.

`draw_panel(size, words, fields)` draws each word at its top-left (DejaVu Sans, or Noto Sans CJK for Chinese)
and each field as a bordered white box (with its text, if any) on a light grey window, and returns the image
with the box each word was drawn in. Small on purpose: a whole read takes a fraction of a second, so tests
can read from scratch as often as they need.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

Box = tuple[int, int, int, int]
LATIN_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
CJK_FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
BACKGROUND, INK, BORDER = (242, 242, 242), (20, 20, 24), (190, 186, 182)
WORD_PX = 18


@dataclass(frozen=True)
class Field:
    box: Box
    text: str = ""
    border: tuple[int, int, int] = BORDER


@dataclass(frozen=True)
class Drawn:
    image: Image.Image
    words: dict[str, Box] = field(default_factory=dict)  # text -> the box it was drawn in


def need_fonts() -> None:
    if not LATIN_FONT.exists() or not CJK_FONT.exists():
        pytest.skip("needs DejaVuSans and Noto Sans CJK (fonts-dejavu-core, fonts-noto-cjk)")


@lru_cache(maxsize=16)
def font(text_is_ascii: bool, px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(LATIN_FONT if text_is_ascii else CJK_FONT), px)


def draw_panel(
    size: tuple[int, int],
    words: dict[str, tuple[int, int]] | list[tuple[str, tuple[int, int]]],
    fields: tuple[Field, ...] = (),
    *,
    px: int = WORD_PX,
    background: tuple[int, int, int] = BACKGROUND,
) -> Drawn:
    """A `size` image with `words` (text -> top-left) and `fields` drawn; the same text twice needs a list."""
    need_fonts()
    image = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(image)
    for box in fields:
        draw.rounded_rectangle(box.box, 4, fill="white", outline=box.border, width=1)
        if box.text:
            x1, y1, _, y2 = box.box
            draw.text((x1 + 8, (y1 + y2) // 2 - px * 0.62), box.text, fill=INK, font=font(box.text.isascii(), px))
    drawn = {}
    for text, (x, y) in words.items() if isinstance(words, dict) else words:
        face = font(text.isascii(), px)
        draw.text((x, y), text, fill=INK, font=face)
        drawn[text] = tuple(int(v) for v in draw.textbbox((x, y), text, font=face))
    return Drawn(image, drawn)  # type: ignore[arg-type]


def inside(point: tuple[float, float], box: Box, slack: int = 0) -> bool:
    return box[0] - slack <= point[0] <= box[2] + slack and box[1] - slack <= point[1] <= box[3] + slack

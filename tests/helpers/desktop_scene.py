"""A busy desktop drawn with PIL whose every text and field is known: for the OCR grounder's tests and bench.

Unlike desktop_image.py (random words, for encoders), each label here is drawn once at a recorded place, so
a test or benchmark can say whether a click landed on it. The screen holds a file manager with a long listing
of small text (11-12 px, as a real 1080p desktop has), a form whose labels have no colon (GTK style) with one
label above its field, and a dialog with English and Chinese labels. `desktop_scene(...)` takes the state that
changes between steps: a pressed button, words typed into fields, the status line, the listing's scroll,
and where the dialog sits. Deterministic; sizes and places are screen pixels.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

Box = tuple[int, int, int, int]  # x1, y1, x2, y2 (screen px, x2/y2 exclusive)
LATIN = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
LATIN_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
CJK = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
INK, MUTED, PANEL, WINDOW = (28, 30, 34), (96, 100, 108), (246, 245, 244), (255, 255, 255)
FIELD_BORDER, BUTTON, BUTTON_DOWN = (200, 196, 192), (232, 232, 231), (176, 180, 188)
FORM_FIELDS = ("First name", "Last name", "Email", "Company", "Phone")  # labels without a colon
BUTTONS = ("Export report", "Apply", "Cancel", "OK")
DIALOG_FIELDS = ("名称", "备注")
DIALOG_BUTTONS = ("保存", "取消", "Don't Save", "Save")
SIDEBAR = ("Recent", "Starred", "Home", "Desktop", "Documents", "Downloads", "Music", "Pictures", "Videos", "Trash")
_STEMS = ("budget", "invoice", "meeting-notes", "roadmap", "survey", "backup", "photo", "draft", "summary", "slides")
_TAILS = ("q1", "q2", "q3", "final", "v2", "old", "2024", "march", "team", "ada")
_KINDS = (("xlsx", "Spreadsheet"), ("pdf", "PDF document"), ("md", "Markdown"), ("png", "Image"), ("txt", "Text"))
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True, slots=True)
class Scene:
    image: Image.Image
    texts: dict[str, Box]  # every label drawn once, by its text: where it is
    fields: dict[str, Box]  # the field each form label names: its bordered box
    rows: tuple[str, ...] = ()  # the listing's file names, top to bottom as drawn (scrolled rows left out)
    small: tuple[tuple[str, Box], ...] = ()  # the listing's 11 px texts (sizes, kinds, dates), which may repeat


@dataclass(frozen=True, slots=True)
class State:
    """What changes between steps."""

    pressed: str | None = None  # a button drawn pressed
    typed: dict[str, str] = field(default_factory=dict)  # field label -> its text
    focus: str | None = None  # the field with the caret
    status: str = "Ready"
    scroll: int = 0  # listing rows scrolled off the top
    dialog_at: tuple[int, int] | None = None  # the dialog's top-left; None: its usual place
    hidden: tuple[str, ...] = ()  # buttons not drawn
    selected: str | None = None  # a listing row drawn selected (white on blue)


@lru_cache(maxsize=32)
def _font(path: str, px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, px)


def _text(draw: ImageDraw.ImageDraw, xy: tuple[int, int], text: str, px: int, fill=INK, *, bold=False) -> Box:  # type: ignore[no-untyped-def]
    path = CJK if not text.isascii() else (LATIN_BOLD if bold else LATIN)
    font = _font(path, px)
    draw.text(xy, text, fill=fill, font=font)
    x1, y1, x2, y2 = draw.textbbox(xy, text, font=font)
    return int(x1), int(y1), int(x2), int(y2)


def file_names(count: int) -> list[tuple[str, str]]:
    """(name, kind) of the listing's rows: unique, deterministic."""
    rng = random.Random(7)
    names: list[tuple[str, str]] = []
    seen: set[str] = set()
    while len(names) < count:
        ext, kind = rng.choice(_KINDS)
        name = f"{rng.choice(_STEMS)}_{rng.choice(_TAILS)}_{rng.randint(10, 99)}.{ext}"
        if name not in seen:
            seen.add(name)
            names.append((name, kind))
    return names


def _window(draw: ImageDraw.ImageDraw, box: Box, title: str) -> None:
    x1, y1, x2, y2 = box
    draw.rectangle((x1 + 3, y1 + 3, x2 + 3, y2 + 3), fill=(20, 22, 28))
    draw.rectangle(box, fill=PANEL, outline=(150, 150, 150))
    draw.rectangle((x1, y1, x2, y1 + 34), fill=(235, 235, 235), outline=(150, 150, 150))
    _text(draw, (x1 + 14, y1 + 9), title, 14, bold=True)
    for i in range(3):
        cx = x2 - 22 - i * 26
        draw.ellipse((cx - 7, y1 + 10, cx + 7, y1 + 24), fill=(200, 200, 200) if i else (224, 96, 80))


def _button(draw: ImageDraw.ImageDraw, box: Box, label: str, *, down: bool, px: int = 13) -> Box:
    draw.rounded_rectangle(box, 5, fill=BUTTON_DOWN if down else BUTTON, outline=(178, 176, 172))
    font = _font(CJK if not label.isascii() else LATIN, px)
    width = draw.textlength(label, font=font)
    x = (box[0] + box[2] - width) / 2 + (1 if down else 0)
    y = (box[1] + box[3]) / 2 - px * 0.62 + (1 if down else 0)
    return _text(draw, (round(x), round(y)), label, px)


def _field(draw: ImageDraw.ImageDraw, box: Box, text: str, *, focused: bool, px: int = 13) -> None:
    draw.rounded_rectangle(box, 4, fill=WINDOW, outline=(53, 132, 228) if focused else FIELD_BORDER)
    end = box[0] + 8
    if text:
        end = _text(draw, (box[0] + 8, box[1] + (box[3] - box[1] - px) // 2 - 1), text, px)[2]
    if focused:
        draw.line((end + 1, box[1] + 6, end + 1, box[3] - 6), fill=INK, width=1)


def desktop_scene(width: int = 1920, height: int = 1080, state: State | None = None) -> Scene:
    """The scene at (width, height) screen px (at least 1600x900) in `state`."""
    if width < 1600 or height < 900:
        raise ValueError(f"desktop_scene needs at least 1600x900, not {width}x{height}")
    state = state or State()
    image = Image.new("RGB", (width, height), (58, 74, 96))
    draw = ImageDraw.Draw(image)
    texts: dict[str, Box] = {}
    fields: dict[str, Box] = {}

    # top bar
    draw.rectangle((0, 0, width, 26), fill=(24, 24, 28))
    texts["Activities"] = _text(draw, (12, 6), "Activities", 12, (236, 236, 236))
    texts["Tue 14:32"] = _text(draw, (width // 2 - 30, 6), "Tue 14:32", 12, (236, 236, 236))

    # file manager: sidebar, toolbar, a long listing of small text
    fm = (30, 50, min(width - 760, round(width * 0.58)), height - 40)
    _window(draw, fm, "Files - /home/ada/reports")
    top = fm[1] + 35
    draw.rectangle((fm[0] + 1, top, fm[2] - 1, top + 36), fill=(240, 240, 240))
    for name, x in (("Back", fm[0] + 12), ("Forward", fm[0] + 64), ("New Folder", fm[0] + 140)):
        texts[name] = _button(draw, (x - 4, top + 6, x + 10 + 8 * len(name), top + 30), name, down=False, px=12)
    search = (fm[2] - 260, top + 6, fm[2] - 12, top + 30)
    _field(draw, search, "", focused=False)
    texts["Search files"] = _text(draw, (search[0] + 8, top + 11), "Search files", 12, (150, 150, 150))
    side = fm[0] + 170
    draw.rectangle((fm[0] + 1, top + 37, side, fm[3] - 1), fill=(236, 236, 238))
    for i, name in enumerate(SIDEBAR):
        texts[name] = _text(draw, (fm[0] + 16, top + 50 + i * 28), name, 12, (50, 50, 56))
    head = top + 44
    columns = (side + 16, fm[2] - 430, fm[2] - 320, fm[2] - 170)
    for title, x in zip(("Name", "Size", "Type", "Modified"), columns):
        texts[f"column {title}"] = _text(draw, (x, head), title, 12, MUTED, bold=True)
    draw.line((side + 1, head + 20, fm[2] - 1, head + 20), fill=(210, 210, 210))
    row_h = 23
    count = (fm[3] - head - 30) // row_h
    listing = file_names(count + state.scroll)[state.scroll :]
    rows, small = [], []
    for i, (name, kind) in enumerate(listing):
        y = head + 28 + i * row_h
        chosen = name == state.selected
        rng = random.Random(name)  # a row's size and date go with it when the listing scrolls
        if chosen or i % 2:
            fill = (53, 132, 228) if chosen else (250, 250, 252)
            draw.rectangle((side + 1, y - 4, fm[2] - 1, y + row_h - 5), fill=fill)
        texts[name] = _text(draw, (columns[0], y), name, 12, WINDOW if chosen else INK)
        rows.append(name)
        date = f"{rng.randint(1, 28)} {rng.choice(MONTHS)} 2025 {rng.randint(10, 23)}:{rng.randint(10, 59)}"
        size = f"{rng.randint(1, 999)}.{rng.randint(0, 9)} kB"
        for text, x in ((size, columns[1]), (kind, columns[2]), (date, columns[3])):
            small.append((text, _text(draw, (x, y), text, 11, WINDOW if chosen else MUTED)))

    # the form: labels without colons left of their fields, one above its field
    fx = width - 720
    form = (fx, 70, width - 40, 600)
    _window(draw, form, "Contact details")
    for i, label in enumerate(FORM_FIELDS):
        y = form[1] + 60 + i * 46
        texts[label] = _text(draw, (fx + 24, y + 7), label, 13)
        fields[label] = (fx + 150, y, form[2] - 30, y + 32)
        _field(draw, fields[label], state.typed.get(label, ""), focused=state.focus == label)
    y = form[1] + 60 + len(FORM_FIELDS) * 46
    texts["Notes"] = _text(draw, (fx + 24, y), "Notes", 13)
    fields["Notes"] = (fx + 24, y + 24, form[2] - 30, y + 96)
    _field(draw, fields["Notes"], state.typed.get("Notes", ""), focused=state.focus == "Notes")
    draw.rectangle((fx + 24, y + 110, fx + 38, y + 124), outline=(110, 110, 110), width=2)
    texts["Subscribe to updates"] = _text(draw, (fx + 46, y + 109), "Subscribe to updates", 13)
    texts[state.status] = _text(draw, (fx + 24, form[3] - 44), state.status, 12, MUTED)
    bx = form[2] - 30
    for label in reversed(BUTTONS):
        w = 40 + 9 * len(label)
        if label not in state.hidden:
            texts[label] = _button(draw, (bx - w, form[3] - 52, bx, form[3] - 18), label, down=state.pressed == label)
        bx -= w + 12

    # the dialog: Chinese fields and buttons, an English question
    dx, dy = state.dialog_at or (width - 700, 640)
    dialog = (dx, dy, dx + 640, dy + 340)
    _window(draw, dialog, "文件属性")
    texts["Save changes to the report before closing?"] = _text(
        draw, (dx + 24, dy + 52), "Save changes to the report before closing?", 13
    )
    for i, label in enumerate(DIALOG_FIELDS):
        y = dy + 92 + i * 50
        texts[label] = _text(draw, (dx + 24, y + 6), label, 14)
        fields[label] = (dx + 110, y, dx + 610, y + 34)
        _field(draw, fields[label], state.typed.get(label, ""), focused=state.focus == label)
    bx = dx + 610
    for label in DIALOG_BUTTONS:
        w = 44 + (20 if label.isascii() else 10) * len(label) // (2 if label.isascii() else 1)
        if label not in state.hidden:
            texts[label] = _button(draw, (bx - w, dy + 280, bx, dy + 316), label, down=state.pressed == label, px=14)
        bx -= w + 12

    # task bar
    draw.rectangle((0, height - 30, width, height), fill=(24, 24, 28))
    for i, name in enumerate(("Files", "Terminal", "Browser", "Mail")):
        texts[f"task {name}"] = _text(draw, (14 + i * 110, height - 22), name, 12, (220, 220, 220))
    return Scene(image, texts, fields, tuple(rows), tuple(small))

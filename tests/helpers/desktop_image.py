"""A desktop-like screenshot drawn with PIL: wallpaper, windows, menus, text, lists, buttons, icons.

Not a blank image: encoders (PNG, JPEG) and vision processors behave on it roughly as on a real screen,
which is mostly flat UI with a lot of small text and some photographic wallpaper. Deterministic per seed.
"""

from __future__ import annotations

import random

from PIL import Image, ImageDraw, ImageFilter, ImageFont

MIN_SIZE = (640, 360)
FONT_PATHS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "DejaVuSans.ttf")
MONO_PATHS = ("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf", "DejaVuSansMono.ttf")
WORDS = [
    "file",
    "edit",
    "view",
    "search",
    "terminal",
    "help",
    "open",
    "save",
    "close",
    "settings",
    "window",
    "document",
    "project",
    "build",
    "test",
    "deskpilot",
    "screen",
    "model",
    "image",
    "click",
    "button",
    "menu",
    "select",
    "copy",
    "paste",
    "undo",
    "redo",
    "format",
    "insert",
    "table",
    "python",
    "import",
    "return",
    "class",
    "def",
    "self",
    "none",
    "true",
    "false",
    "value",
    "error",
    "warning",
    "info",
    "debug",
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "for",
    "on",
    "with",
    "as",
    "at",
    "by",
    "from",
    "this",
    "that",
]


def _font(paths: tuple[str, ...], size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in paths:
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            continue
    return ImageFont.load_default()


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _wallpaper(rng: random.Random, width: int, height: int, grain: float) -> Image.Image:
    """A gradient with blurred blobs; `grain` (0..1) adds sensor-like noise, as a photo wallpaper has."""
    small = Image.new("RGB", (width // 8, height // 8))
    pixels = small.load()
    assert pixels is not None
    for y in range(small.height):
        for x in range(small.width):
            pixels[x, y] = (
                20 + x * 60 // small.width + rng.randint(0, 12),
                40 + y * 90 // small.height,
                110 + (x + y) * 80 // (small.width + small.height) + rng.randint(0, 12),
            )
    draw = ImageDraw.Draw(small)
    for _ in range(12):
        cx, cy, r = rng.randrange(small.width), rng.randrange(small.height), rng.randint(10, 60)
        draw.ellipse(
            (cx - r, cy - r, cx + r, cy + r), fill=(rng.randint(40, 200), rng.randint(60, 200), rng.randint(100, 230))
        )
    wallpaper = small.filter(ImageFilter.GaussianBlur(6)).resize((width, height), Image.Resampling.BICUBIC)
    if grain <= 0:
        return wallpaper
    noise = Image.effect_noise((width, height), 64).convert("RGB")
    return Image.blend(wallpaper, noise, min(grain, 1.0) * 0.25)


def _window(
    draw: ImageDraw.ImageDraw, rng: random.Random, box: tuple[int, int, int, int], title: str, kind: str
) -> None:
    x0, y0, x1, y1 = box
    ui, mono, bold = _font(FONT_PATHS, 13), _font(MONO_PATHS, 13), _font(FONT_PATHS, 14)
    draw.rectangle((x0 + 4, y0 + 4, x1 + 4, y1 + 4), fill=(30, 30, 40))  # shadow
    draw.rectangle(box, fill=(250, 250, 250), outline=(120, 120, 130))
    draw.rectangle((x0, y0, x1, y0 + 30), fill=(54, 57, 66))
    draw.text((x0 + 12, y0 + 7), title, fill=(235, 235, 235), font=bold)
    for i, colour in enumerate(((237, 106, 94), (245, 191, 79), (98, 197, 84))):
        cx = x1 - 20 - i * 22
        draw.ellipse((cx - 6, y0 + 9, cx + 6, y0 + 21), fill=colour)
    menu_y = y0 + 31
    draw.rectangle((x0 + 1, menu_y, x1 - 1, menu_y + 24), fill=(236, 236, 238))
    mx = x0 + 10
    for name in ("File", "Edit", "View", "Tools", "Help"):
        draw.text((mx, menu_y + 5), name, fill=(30, 30, 30), font=ui)
        mx += int(draw.textlength(name, font=ui)) + 18
    top = menu_y + 30
    if kind == "editor":
        draw.rectangle((x0 + 1, top, x0 + 44, y1 - 1), fill=(240, 240, 240))
        for n, y in enumerate(range(top + 4, y1 - 18, 18), start=1):
            draw.text((x0 + 8, y), f"{n:3d}", fill=(140, 140, 140), font=mono)
            indent = 4 * rng.randint(0, 3)
            colour = rng.choice(((30, 30, 30), (0, 90, 160), (160, 40, 40), (40, 120, 40)))
            draw.text((x0 + 52 + indent * 8, y), _sentence(rng, rng.randint(2, 9)), fill=colour, font=mono)
    elif kind == "files":
        draw.rectangle((x0 + 1, top, x0 + 170, y1 - 1), fill=(244, 245, 248))
        for y in range(top + 8, y1 - 24, 24):
            draw.text(
                (x0 + 16, y),
                rng.choice(("Home", "Desktop", "Documents", "Downloads", "Pictures")),
                fill=(50, 50, 60),
                font=ui,
            )
        for n, y in enumerate(range(top + 6, y1 - 24, 26)):
            if n % 2:
                draw.rectangle((x0 + 171, y - 3, x1 - 1, y + 21), fill=(245, 247, 252))
            icon = (rng.randint(60, 220), rng.randint(60, 220), rng.randint(60, 220))
            draw.rectangle((x0 + 182, y, x0 + 198, y + 16), fill=icon, outline=(90, 90, 90))
            draw.text(
                (x0 + 208, y + 1),
                f"{_sentence(rng, 2).replace(' ', '_')}.{rng.choice(('txt', 'png', 'py'))}",
                fill=(20, 20, 20),
                font=ui,
            )
            draw.text(
                (x1 - 190, y + 1),
                f"{rng.randint(1, 999)} kB    2025-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}",
                fill=(110, 110, 110),
                font=ui,
            )
    else:  # a form with fields, checkboxes and buttons
        y = top + 14
        while y < y1 - 80:
            draw.text((x0 + 20, y + 4), _sentence(rng, 2).title() + ":", fill=(40, 40, 40), font=ui)
            draw.rectangle((x0 + 170, y, max(x0 + 170, x1 - 24), y + 24), fill=(255, 255, 255), outline=(170, 170, 180))
            draw.text((x0 + 178, y + 4), _sentence(rng, rng.randint(1, 4)), fill=(20, 20, 20), font=ui)
            y += 36
            draw.rectangle((x0 + 20, y + 2, x0 + 34, y + 16), outline=(100, 100, 110), width=2)
            draw.text((x0 + 42, y + 1), _sentence(rng, 4), fill=(40, 40, 40), font=ui)
            y += 30
        for i, label in enumerate(("Cancel", "Apply", "OK")):
            bx = x1 - 110 - i * 100
            fill = (52, 120, 246) if label == "OK" else (232, 232, 236)
            draw.rounded_rectangle((bx, y1 - 50, bx + 88, y1 - 18), 6, fill=fill, outline=(150, 150, 160))
            draw.text((bx + 22, y1 - 42), label, fill=(255, 255, 255) if label == "OK" else (20, 20, 20), font=ui)


def desktop_image(width: int = 1932, height: int = 1092, *, seed: int = 0, grain: float = 0.0) -> Image.Image:
    """An RGB desktop screenshot at (width, height); 1932x1092 is 1920x1080 prepared for Qwen2.5-VL."""
    if width < MIN_SIZE[0] or height < MIN_SIZE[1]:
        raise ValueError(f"desktop_image needs at least {MIN_SIZE[0]}x{MIN_SIZE[1]}, not {width}x{height}")
    rng = random.Random(seed)
    image = _wallpaper(rng, width, height, grain)
    draw = ImageDraw.Draw(image)
    ui = _font(FONT_PATHS, 13)
    for i, name in enumerate(("Home", "Trash", "Terminal", "Browser", "Notes")):  # desktop icons
        y = 60 + i * 90
        draw.rounded_rectangle((24, y, 72, y + 48), 8, fill=(rng.randint(80, 230), rng.randint(80, 230), 200))
        draw.text((48 - draw.textlength(name, font=ui) / 2, y + 54), name, fill=(255, 255, 255), font=ui)
    _window(
        draw,
        rng,
        (int(width * 0.07), int(height * 0.06), int(width * 0.55), int(height * 0.88)),
        "notes.py - Editor",
        "editor",
    )
    _window(
        draw,
        rng,
        (int(width * 0.45), int(height * 0.18), int(width * 0.95), int(height * 0.80)),
        "Files - Documents",
        "files",
    )
    _window(
        draw, rng, (int(width * 0.60), int(height * 0.45), int(width * 0.90), int(height * 0.92)), "Preferences", "form"
    )
    draw.rectangle((0, height - 36, width, height), fill=(28, 30, 36))  # task bar
    for i in range(8):
        draw.rounded_rectangle((10 + i * 46, height - 31, 44 + i * 46, height - 5), 4, fill=(70 + i * 15, 90, 140))
    draw.text((width - 140, height - 26), "14:32  Tue 12 May", fill=(230, 230, 230), font=ui)
    return image

"""An eval as one self-contained HTML page: the figures, the table by group, and a grid of misses.

Data set text (instructions, file names, group names) and model text (errors, replies) are untrusted: each
value goes through `_e` (agent.html_report.escape) on its way into the page; images are decoded and re-encoded;
the page's Content-Security-Policy allows nothing but inline style and data: images, and there is no JavaScript
(agent.html_report).

Each miss shows a crop of the image around its target with the target drawn (box, polygon or circle, blue)
and the point the backend gave (red crosshair), captioned with the instruction and the exact figures. When
the point lies outside that crop, a small picture of the whole image shows both.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PIL import Image, ImageDraw

from agent.evaluation.readers.common import decoded, refusing_bombs
from agent.evaluation.scoring import Result, by_group, tally
from agent.evaluation.targets import Box, CircleTarget, PolygonTarget, RefusalTarget
from agent.html_report import escape as _e
from agent.html_report import facts_html, page, picture_url

MAX_MISSES = 200  # misses drawn; the rest are counted
CROP_PAD_PX = 48  # image pixels around the target in a miss's crop
CROP_MIN_PX = (240, 160)  # the least image area a crop shows
CROP_SHOWN_PX = (360, 240)  # the crop is scaled to fit this (pixels repeated when it is magnified)
CROP_MAX_ZOOM = 3
THUMB_WIDTH_PX = 360
TARGET = (30, 120, 255)
POINT = (220, 30, 30)
HALO = (255, 255, 255)
ARM_PX = 10
_CSS = """
h2{font-size:18px;margin:22px 0 8px}
table.groups{border-collapse:collapse;min-width:420px}table.groups td,table.groups th{border-bottom:1px solid #e1e4e9;padding:3px 10px}
table.groups th{text-align:left}table.groups td.n{text-align:right;font-variant-numeric:tabular-nums}
table.groups tr.all td{font-weight:600;border-top:2px solid #9aa1ab}
.misses{display:grid;grid-template-columns:repeat(auto-fill,minmax(362px,1fr));gap:16px}
figure{margin:0;border:1px solid #d0d5dd;border-radius:8px;padding:8px}
figure img{display:block;max-width:100%;height:auto;border:1px solid #9aa1ab;border-radius:3px;margin-bottom:6px}
figure img.crop{image-rendering:pixelated}
figcaption{font:13px/1.4 ui-monospace,monospace;white-space:pre-wrap;overflow-wrap:anywhere}
.instruction{font:600 14px/1.4 system-ui,sans-serif}.none{color:#5f6670}
"""


def html_report(card: dict[str, Any], results: Sequence[Result], *, max_misses: int = MAX_MISSES) -> str:
    """The whole page for a scorecard (scoring.scorecard) and its results."""
    total = tally(results)
    facts = [
        ("Accuracy", f"{100 * total.accuracy:.1f}%"),
        ("Hits", f"{total.hits} of {total.samples}"),
        ("Format", card.get("format")),
        ("Backend", card.get("backend")),
        ("Model", card.get("model")),
        ("Family", card.get("family")),
        ("Declined", sum(r.declined for r in results)),
        ("Unusable replies", sum(r.error is not None for r in results)),
    ]
    misses = [r for r in results if not r.hit]
    shown = misses[:max_misses]
    more = len(misses) - len(shown)
    with refusing_bombs():  # each miss's image is opened again (runner.decoded: its size checked first)
        grid = "\n".join(_miss_html(r) for r in shown)
    if not misses:
        grid_html = '<p class="none">No misses: every sample was a hit.</p>'
    else:
        tail = f'<p class="none">{more} more misses are not drawn.</p>' if more else ""
        grid_html = f'<div class="misses">\n{grid}\n</div>{tail}'
    body = (
        f'<p class="kicker">deskpilot grounding eval</p><h1>{_e(card.get("dataset"))}</h1>\n'
        f"{facts_html((k, v) for k, v in facts if v is not None)}\n"
        f"<h2>By group</h2>\n{_groups_html(results)}\n"
        f'<h2 id="misses">Misses ({len(misses)})</h2>\n{grid_html}\n'
    )
    return page(title=f"deskpilot eval: {card.get('dataset') or ''}", css=_CSS, body=body)


def _groups_html(results: Sequence[Result]) -> str:
    rows = [(name, t, "") for name, t in by_group(results).items()] + [("all", tally(results), ' class="all"')]
    body = "".join(
        f'<tr{cls}><td>{_e(name)}</td><td class="n">{t.samples}</td><td class="n">{t.hits}</td>'
        f'<td class="n">{100 * t.accuracy:.1f}%</td></tr>'
        for name, t, cls in rows
    )
    return (
        '<table class="groups"><thead><tr><th>Group</th><th>Samples</th><th>Hits</th><th>Accuracy</th></tr>'
        f"</thead><tbody>{body}</tbody></table>"
    )


def _miss_html(result: Result) -> str:
    sample = result.sample
    image = decoded(sample)
    crop, area = _crop(image, result)
    pictures = [f'<img class="crop" alt="target of sample {result.index}" src="{picture_url(crop, "png")}">']
    point = result.point
    if point is not None and not _inside(point, area):
        pictures.append(
            f'<img alt="the whole image of sample {result.index}" src="{picture_url(_thumb(image, result))}">'
        )
    if result.error is not None:
        answer = f"unusable reply: {result.error}"
    elif point is None:
        answer = "declined (no point)"
    else:
        answer = f"point ({point[0]}, {point[1]})"
    target = sample.target
    if isinstance(target, RefusalTarget):
        wanted = "a refusal: the element is not there"
    else:
        bounds = target.bounds
        assert bounds is not None
        wanted = "box [" + ", ".join(f"{v:g}" for v in bounds) + "]"
        if isinstance(target, CircleTarget):
            wanted = f"within {target.radius:g} px of ({target.centre[0]:g}, {target.centre[1]:g})"
    caption = (
        f'<span class="instruction">#{result.index} {_e(sample.instruction)}</span>\n'
        f"{_e(answer)}\ntarget: {_e(wanted)}\n{_e(sample.group)} · {_e(sample.image_name)}"
    )
    return f"<figure>{''.join(pictures)}<figcaption>{caption}</figcaption></figure>"


def _crop(image: Image.Image, result: Result) -> tuple[Image.Image, Box]:
    """The image around the target (or the point, for a refusal), magnified or shrunk to CROP_SHOWN_PX."""
    bounds = result.sample.target.bounds
    point = result.point
    if bounds is None:
        cx, cy = point if point is not None else (image.width / 2, image.height / 2)
        bounds = (cx, cy, cx, cy)
    x1, y1, x2, y2 = bounds[0] - CROP_PAD_PX, bounds[1] - CROP_PAD_PX, bounds[2] + CROP_PAD_PX, bounds[3] + CROP_PAD_PX
    x1, x2 = _widen(x1, x2, CROP_MIN_PX[0], image.width)
    y1, y2 = _widen(y1, y2, CROP_MIN_PX[1], image.height)
    area = (x1, y1, x2, y2)
    crop = image.crop((round(x1), round(y1), round(x2), round(y2)))
    zoom = min(CROP_SHOWN_PX[0] / crop.width, CROP_SHOWN_PX[1] / crop.height, CROP_MAX_ZOOM)
    size = (max(1, round(crop.width * zoom)), max(1, round(crop.height * zoom)))
    crop = crop.resize(size, Image.Resampling.NEAREST if zoom >= 1 else Image.Resampling.LANCZOS)
    left, top = round(x1), round(y1)

    def at(x: float, y: float) -> tuple[float, float]:  # image pixel -> the centre of its place in the crop
        return (x - left + 0.5) * zoom, (y - top + 0.5) * zoom

    _draw(ImageDraw.Draw(crop), result, at, zoom)
    return crop, area


def _widen(low: float, high: float, least: int, side: int) -> tuple[float, float]:
    """[low, high] grown to at least `least` (or the whole side) and moved inside [0, side]."""
    if high - low < least:
        middle = (low + high) / 2
        low, high = middle - least / 2, middle + least / 2
    if high - low >= side:
        return 0.0, float(side)
    if low < 0:
        low, high = 0.0, high - low
    if high > side:
        low, high = low - (high - side), float(side)
    return low, high


def _thumb(image: Image.Image, result: Result) -> Image.Image:
    ratio = min(1.0, THUMB_WIDTH_PX / image.width)
    thumb = image.resize((max(1, round(image.width * ratio)), max(1, round(image.height * ratio))))
    _draw(ImageDraw.Draw(thumb), result, lambda x, y: (x * ratio, y * ratio), ratio)
    return thumb


def _draw(
    draw: ImageDraw.ImageDraw, result: Result, at: Callable[[float, float], tuple[float, float]], scale: float
) -> None:
    """The target (blue) and the point (red crosshair over a white halo); `at` maps image pixels, `scale` is
    picture pixels per image pixel."""
    target = result.sample.target
    width = 2
    if isinstance(target, PolygonTarget):
        corners = [at(*p) for p in target.points]
        draw.line([*corners, corners[0]], fill=TARGET, width=width)
    elif isinstance(target, CircleTarget):
        cx, cy = at(*target.centre)
        r = target.radius * scale
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=TARGET, width=width)
    elif target.bounds is not None:
        x1, y1 = at(target.bounds[0], target.bounds[1])
        x2, y2 = at(target.bounds[2], target.bounds[3])
        draw.rectangle((min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)), outline=TARGET, width=width)
    if result.point is not None:
        x, y = at(*result.point)
        for fill, line in ((HALO, 5), (POINT, 2)):
            draw.line(((x - ARM_PX, y), (x + ARM_PX, y)), fill=fill, width=line)
            draw.line(((x, y - ARM_PX), (x, y + ARM_PX)), fill=fill, width=line)


def _inside(point: tuple[int, int], area: Box) -> bool:
    return area[0] <= point[0] < area[2] and area[1] <= point[1] < area[3]

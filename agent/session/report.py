"""A session as one self-contained HTML page: no external files, no JavaScript.

A session is untrusted input: every value from it goes through `_e` (html.escape) on its way into the
page, whatever its type or however it was checked when read; screenshots are decoded from their checked
PNG bytes (Session.image) and embedded re-encoded as JPEG.

Each step shows its screenshot (downscaled, JPEG, inline as a data URL) with the actions drawn on it by
PIL: a crosshair at each click, the model's box, an arrow for a drag or a scroll; typed text and keys are
the caption under it (the browser draws any script; PIL's font might not). Then the thought, the verdict
and rule of every action, what ran, the timings, and the raw reply in a collapsible <details>.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Callable, Iterable
from datetime import datetime

from PIL import Image, ImageDraw, ImageFont

from agent.session.records import ActionRecord, Session, StepRecord
from sandbox.actions import Action, Click, Drag, Move, Scroll, describe

THUMB_WIDTH_PX = 1024
JPEG_QUALITY = 80
COLOURS = {"ran": (0, 170, 60), "refused": (220, 30, 30), "not run": (240, 140, 0), "box": (30, 120, 255)}
CROSS_PX = 14
HALO = (255, 255, 255)
_At = Callable[[float, float], tuple[float, float]]  # screen point -> thumbnail pixel
_CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:16px;color:#222}
h1{font-size:22px;margin:0 0 8px}h2{font-size:18px;margin:0 0 8px}
table{border-collapse:collapse;margin:6px 0}
td,th{border:1px solid #ccc;padding:2px 8px;text-align:left;vertical-align:top}
section.step{border:1px solid #bbb;border-radius:6px;padding:12px;margin:16px 0}
figure{margin:0}figure img{max-width:100%;border:1px solid #999}
figcaption{font-family:monospace;margin:4px 0;white-space:pre-wrap}
.ran{color:#00843c}.refused{color:#c81e1e}.notrun{color:#b86a00}
pre{background:#f4f4f4;padding:8px;white-space:pre-wrap;word-break:break-word}
.outcome{font-weight:bold}
"""


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _state(record: ActionRecord) -> str:
    if record.executed is not None:
        return "ran"
    if record.blocked is not None or (record.verdict is not None and record.verdict.verdict == "deny"):
        return "refused"
    return "not run"


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the bitmap font
        return ImageFont.load_default()


def _annotate(session: Session, step: StepRecord) -> Image.Image:
    """The step's screenshot at THUMB_WIDTH_PX wide with its actions drawn on."""
    shot = session.image(step.screenshot)
    ratio = min(1.0, THUMB_WIDTH_PX / shot.width)
    thumb = (
        shot.resize((max(1, round(shot.width * ratio)), max(1, round(shot.height * ratio))), Image.Resampling.LANCZOS)
        if ratio < 1
        else shot
    )
    draw = ImageDraw.Draw(thumb)
    font = _font(16)

    def at(x: float, y: float) -> tuple[float, float]:
        px, py = step.frame.screen_to_physical(x, y)
        return px * ratio, py * ratio

    for number, record in enumerate(step.actions, start=1):
        action = record.executed.action if record.executed is not None else record.screen
        colour = COLOURS[_state(record)]
        if record.box is not None:
            x1, y1 = at(record.box[0], record.box[1])
            x2, y2 = at(record.box[2], record.box[3])
            draw.rectangle((min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)), outline=COLOURS["box"], width=2)
        if action is None:
            continue
        label = _draw_action(draw, action, at, colour, step.cursor)
        if label is not None:
            draw.text(
                (label[0] + CROSS_PX + 3, label[1] - CROSS_PX - 10),
                str(number),
                fill=colour,
                font=font,
                stroke_width=2,
                stroke_fill=(255, 255, 255),
            )
    return thumb


def _draw_action(
    draw: ImageDraw.ImageDraw, action: Action, at: _At, colour: tuple[int, int, int], cursor: tuple[int, int] | None
) -> tuple[float, float] | None:
    """Draw one action; returns where its number goes (None for actions with no place on the screen)."""
    if isinstance(action, (Click, Move)):
        x, y = at(action.x, action.y)
        _cross(draw, (x, y), colour)
        if isinstance(action, Click):
            box = (x - CROSS_PX / 2, y - CROSS_PX / 2, x + CROSS_PX / 2, y + CROSS_PX / 2)
            draw.ellipse(box, outline=HALO, width=4)
            draw.ellipse(box, outline=colour, width=2)
        return x, y
    if isinstance(action, Drag):
        start = (action.x, action.y) if action.x is not None and action.y is not None else cursor
        end = at(action.to_x, action.to_y)
        if start is None:
            _cross(draw, end, colour)
            return end
        begin = at(*start)
        _arrow(draw, begin, end, colour)
        return begin
    if isinstance(action, Scroll) and action.x is not None and action.y is not None:
        x, y = at(action.x, action.y)
        dx, dy = {"up": (0, -1), "down": (0, 1), "left": (-1, 0), "right": (1, 0)}[action.direction]
        draw.ellipse((x - 6, y - 6, x + 6, y + 6), outline=HALO, width=5)
        draw.ellipse((x - 6, y - 6, x + 6, y + 6), outline=colour, width=3)
        _arrow(draw, (x, y), (x + dx * 40, y + dy * 40), colour)
        return x, y
    return None


def _lines(
    draw: ImageDraw.ImageDraw,
    segments: list[tuple[tuple[float, float], tuple[float, float]]],
    colour: tuple[int, int, int],
) -> None:
    """Segments in `colour` over a white halo, so they show on any background."""
    for fill, width in ((HALO, 5), (colour, 3)):
        for segment in segments:
            draw.line(segment, fill=fill, width=width)


def _cross(draw: ImageDraw.ImageDraw, point: tuple[float, float], colour: tuple[int, int, int]) -> None:
    x, y = point
    _lines(draw, [((x - CROSS_PX, y), (x + CROSS_PX, y)), ((x, y - CROSS_PX), (x, y + CROSS_PX))], colour)


def _arrow(
    draw: ImageDraw.ImageDraw, start: tuple[float, float], end: tuple[float, float], colour: tuple[int, int, int]
) -> None:
    angle = math.atan2(end[1] - start[1], end[0] - start[0])
    tips = [(end[0] - 14 * math.cos(angle + side), end[1] - 14 * math.sin(angle + side)) for side in (-0.5, 0.5)]
    _lines(draw, [(start, end), *((end, tip) for tip in tips)], colour)


def _data_url(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _rows(pairs: Iterable[tuple[str, object]]) -> str:
    return "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in pairs)


def _action_line(number: int, record: ActionRecord) -> str:
    state = _state(record)
    action = record.executed.action if record.executed is not None else record.screen
    what = describe(action) if action is not None else "(no action)"
    verdict = record.blocked or record.verdict
    parts = [f"{number}. {what}", f"[{state}]"]
    if verdict is not None:
        parts.append(f"verdict {verdict.verdict}" + (f" ({verdict.rule}: {verdict.reason})" if verdict.rule else ""))
    if record.rejected:
        parts.append("rejected by the user" + (f": {record.note}" if record.note else ""))
    if record.executed is not None and record.executed.edited:
        proposed = f" (proposed: {describe(record.screen)})" if record.screen is not None else ""
        parts.append(f"edited by the user{proposed}")
    if record.executed is not None and record.executed.confirmed:
        parts.append("confirmed")
    return f'<span class="{state.replace(" ", "")}">{_e(" ".join(parts))}</span>'


def _step_html(session: Session, step: StepRecord) -> str:
    """One step's section; every value that came from the session goes through _e (a number too)."""
    image = _data_url(_annotate(session, step))
    caption = "\n".join(_action_line(n, a) for n, a in enumerate(step.actions, start=1)) or "(no action)"
    timings = " ".join(f"{k.removesuffix('_s')} {v * 1000:.0f} ms" for k, v in step.timings.items())
    pauses = "".join(f"<p>{_e(e.reason or e.kind)}</p>" for e in step.events)
    thought = f"<p><b>Thought:</b> {_e(step.thought)}</p>" if step.thought else ""
    error = f'<p class="refused"><b>Unusable reply:</b> {_e(step.parse_error)}</p>' if step.parse_error else ""
    raw = (
        f"<details><summary>Raw reply</summary><pre>{_e(step.raw)}</pre></details>"
        if step.raw is not None
        else "<p>(no reply)</p>"
    )
    started = datetime.fromtimestamp(step.started).strftime("%H:%M:%S")
    space = step.frame.space
    extent = "" if space.kind == "absolute" else f" 0..{space.width:g}"
    sha = f", prompt sha256 {_e(step.prompt_sha256[:16])}…" if step.prompt_sha256 else ""
    number = _e(step.step)
    return (
        f'<section class="step" id="step-{number}">\n<h2>Step {number} <small>{_e(started)}</small></h2>\n'
        f'<figure><img alt="screenshot of step {number}" src="{image}">\n'
        f"<figcaption>{caption}</figcaption></figure>\n{thought}{error}{pauses}\n"
        f"<p><b>Timings:</b> {_e(timings)}</p>\n"
        f"<p><b>Screen</b> {_e(step.screenshot.width)}x{_e(step.screenshot.height)} px, <b>model image</b> "
        f"{_e(step.model_image.width)}x{_e(step.model_image.height)} px ({_e(space.kind)} coordinates"
        f"{_e(extent)}){sha}</p>\n{raw}\n</section>"
    )


def html_report(session: Session) -> str:
    """The whole page."""
    h = session.header
    end = session.end
    outcome = (
        f"{end.outcome}: {end.reason}" + (f" (answer: {end.answer})" if end.answer else "")
        if end is not None
        else "interrupted: the run ended without an end record (killed or crashed)"
    )
    screen = "; ".join(f"{m.width}x{m.height} at ({m.x}, {m.y}) scale {m.scale:g}" for m in h.screen.monitors)
    head = _rows(
        [
            ("Task", h.task),
            ("Started", h.started),
            ("Backend", h.backend),
            ("Model", h.model or "-"),
            ("Family", h.family),
            ("Pixels", f"{h.min_pixels}..{h.max_pixels}"),
            ("Screen", screen),
            ("Monitor", h.monitor),
            ("Policy digest", h.policy_digest or "-"),
            ("deskpilot", h.deskpilot_version),
            ("Steps", len(session.steps)),
            *((k.capitalize(), v) for k, v in h.run.items()),
        ]
    )
    steps = "\n".join(_step_html(session, step) for step in session.steps)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
        f"<title>deskpilot session: {_e(h.task)}</title>\n<style>{_CSS}</style></head>\n<body>\n"
        f"<h1>deskpilot session: {_e(h.task)}</h1>\n<table>{head}</table>\n"
        f'<p class="outcome" id="outcome">Outcome: {_e(outcome)}</p>\n{steps}\n</body></html>\n'
    )

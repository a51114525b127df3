"""A session as one self-contained HTML page: no external files, no JavaScript.

A session is untrusted input: every value from it goes through `_e` (agent.html_report.escape) on its way
into the page, whatever its type or however it was checked when read; screenshots are decoded from their
checked PNG bytes (Session.image) and embedded re-encoded; the page's Content-Security-Policy allows nothing
but inline style and data: images (agent.html_report).

Laid out for a person reviewing a run: a summary, a step list that jumps to each step, the details that
apply to the backend; per step, a magnified crop of the full-resolution screenshot around every point an
action names (the crosshair on the point's own pixel) beside the whole screenshot with the actions drawn
on it (typed text and keys as captions: the browser draws any script, PIL's font might not)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from PIL import Image, ImageDraw, ImageFont

from agent.backends.base import Capabilities
from agent.backends.registry import capabilities_of
from agent.errors import ConfigError
from agent.html_report import escape as _e
from agent.html_report import facts_html, page, picture_url
from agent.session.records import ActionRecord, Header, Session, StepRecord
from sandbox.actions import Action, Click, Drag, Move, Scroll, describe, named_points

THUMB_WIDTH_PX = 1024
COLOURS = {"ran": (0, 170, 60), "refused": (220, 30, 30), "not run": (240, 140, 0), "box": (30, 120, 255)}
CROSS_PX = 14
HALO = (255, 255, 255)
CROP_PX = (120, 80)  # screenshot (physical) pixels around a point: a button with its label
CROP_ZOOM = 3  # each screenshot pixel becomes a 3x3 block (nearest neighbour): 360x240, the recorded pixels
CROP_ARM_PX = 33  # crosshair arm in the crop: 11 screenshot pixels each way
CROP_LINE_PX = (CROP_ZOOM + 2, CROP_ZOOM)  # halo, line: the line is the point's own row and column of pixels
CROP_RING_PX = 16  # the ring around a click in the crop
# A recorded backend this deskpilot does not know (a newer one's): its model and family are shown, not hidden
UNKNOWN_BACKEND = Capabilities(target="model", named_model=True)
TONES = {"success": "good", "failure": "bad", "refused": "bad", "error": "bad"}  # else "warn"
_At = Callable[[float, float], tuple[float, float]]  # screen point -> pixel of the picture drawn on
_Colour = tuple[int, int, int]
_Segment = tuple[tuple[float, float], tuple[float, float]]
_CSS = """
a{color:#1f5fbf;text-decoration:none}a:hover{text-decoration:underline}h2{font-size:17px;margin:0 0 8px}
.outcome{border:1px solid;border-radius:8px;padding:9px 14px;margin:0 0 12px}.outcome p{margin:2px 0}
.good{background:#ebf7ef;border-color:#98d2ad}.bad{background:#fdeded;border-color:#eca5a5}
.warn{background:#fff5e3;border-color:#eec57c}
.overview{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(460px,100%),1fr));gap:14px 24px}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #e1e4e9;padding:3px 8px;text-align:left}
th{font-weight:600;color:#394049;white-space:nowrap;vertical-align:top}td{overflow-wrap:anywhere}
.steplist td:first-child{white-space:nowrap}.steplist td.t{white-space:nowrap;color:#5f6670;text-align:right}
section.step{border:1px solid #d0d5dd;border-radius:8px;padding:12px 16px;margin:22px 0}
section.step h2{display:flex;gap:12px;align-items:baseline}h2 small{color:#5f6670;font-weight:normal;font-size:14px}
a.top{margin-left:auto;font-size:13px;font-weight:normal}.view{display:flex;flex-wrap:wrap;gap:14px;align-items:start}
.crops{flex:0 1 362px;display:flex;flex-direction:column;gap:10px;max-width:100%}.whole{flex:1 1 480px;min-width:0}
figure{margin:0}figure img{display:block;max-width:100%;height:auto;border:1px solid #9aa1ab;border-radius:3px}
figcaption{font:13px/1.4 ui-monospace,monospace;margin:4px 0;white-space:pre-wrap;overflow-wrap:anywhere}
.crop img{image-rendering:pixelated}.crop figcaption{font-size:12px}
.nopoint{margin:0;padding:12px;border:1px dashed #c5cad3;border-radius:3px;color:#5f6670}
.ran{color:#00843c}.refused{color:#c81e1e}.notrun{color:#b86a00}
pre{background:#f4f5f7;padding:8px;white-space:pre-wrap;word-break:break-word}
"""


def _shown(record: ActionRecord) -> Action | None:
    """The action to show: what ran, else what was refused, else what was proposed."""
    if record.executed is not None:
        return record.executed.action
    return record.blocked_action or record.screen


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


def _annotate(step: StepRecord, shot: Image.Image) -> Image.Image:
    """The step's screenshot at THUMB_WIDTH_PX wide (a copy) with its actions drawn on."""
    ratio = min(1.0, THUMB_WIDTH_PX / shot.width)
    size = (max(1, round(shot.width * ratio)), max(1, round(shot.height * ratio)))
    thumb = shot.resize(size, Image.Resampling.LANCZOS) if ratio < 1 else shot.copy()
    draw = ImageDraw.Draw(thumb)
    font = _font(16)

    def at(x: float, y: float) -> tuple[float, float]:
        px, py = step.frame.screen_to_physical(x, y)
        return px * ratio, py * ratio

    for number, record in enumerate(step.actions, start=1):
        action, colour = _shown(record), COLOURS[_state(record)]
        if record.box is not None:
            _box(draw, record.box, at)
        if action is None:
            continue
        label = _draw_action(draw, action, at, colour, step.cursor)
        if label is not None:
            where = (label[0] + CROSS_PX + 3, label[1] - CROSS_PX - 10)
            draw.text(where, str(number), fill=colour, font=font, stroke_width=2, stroke_fill=HALO)
    return thumb


def _box(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], at: _At) -> None:
    x1, y1 = at(box[0], box[1])
    x2, y2 = at(box[2], box[3])
    draw.rectangle((min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)), outline=COLOURS["box"], width=2)


def _draw_action(
    draw: ImageDraw.ImageDraw, action: Action, at: _At, colour: _Colour, cursor: tuple[int, int] | None
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
    draw: ImageDraw.ImageDraw, segments: Sequence[_Segment], colour: _Colour, widths: tuple[int, int] = (5, 3)
) -> None:
    """Segments in `colour` over a white halo (`widths`: halo, line), so they show on any background."""
    for fill, width in zip((HALO, colour), widths):
        for segment in segments:
            draw.line(segment, fill=fill, width=width)


def _cross(draw: ImageDraw.ImageDraw, point: tuple[float, float], colour: _Colour) -> None:
    x, y = point
    _lines(draw, [((x - CROSS_PX, y), (x + CROSS_PX, y)), ((x, y - CROSS_PX), (x, y + CROSS_PX))], colour)


def _arrow(draw: ImageDraw.ImageDraw, start: tuple[float, float], end: tuple[float, float], colour: _Colour) -> None:
    angle = math.atan2(end[1] - start[1], end[0] - start[0])
    tips = [(end[0] - 14 * math.cos(angle + side), end[1] - 14 * math.sin(angle + side)) for side in (-0.5, 0.5)]
    _lines(draw, [(start, end), *((end, tip) for tip in tips)], colour)


def _crop(
    shot: Image.Image, step: StepRecord, record: ActionRecord, action: Action, point: tuple[int, int]
) -> Image.Image | None:
    """CROP_PX of the full-resolution screenshot around `point` (clamped at its edges), magnified CROP_ZOOM
    times by repeating pixels, with a crosshair whose lines are the point's own row and column of screenshot
    pixels; None when the point is not on the screenshot (another monitor, or off every screen)."""
    px, py = step.frame.screen_to_physical(*point)
    if not (0 <= px < shot.width and 0 <= py < shot.height):
        return None
    width, height = min(CROP_PX[0], shot.width), min(CROP_PX[1], shot.height)
    left = min(max(math.floor(px) - width // 2, 0), shot.width - width)
    top = min(max(math.floor(py) - height // 2, 0), shot.height - height)
    crop = shot.crop((left, top, left + width, top + height))
    crop = crop.resize((width * CROP_ZOOM, height * CROP_ZOOM), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(crop)

    def at(x: float, y: float) -> tuple[float, float]:  # screenshot pixel p -> the centre of its block
        qx, qy = step.frame.screen_to_physical(x, y)
        return (qx - left) * CROP_ZOOM + (CROP_ZOOM - 1) / 2, (qy - top) * CROP_ZOOM + (CROP_ZOOM - 1) / 2

    colour = COLOURS[_state(record)]
    if record.box is not None:
        _box(draw, record.box, at)
    if isinstance(action, (Drag, Scroll)):
        _draw_action(draw, action, at, colour, step.cursor)  # the drag's line, the scroll's arrow
    cx, cy = (round(v) for v in at(*point))
    if isinstance(action, Click):
        ring = (cx - CROP_RING_PX, cy - CROP_RING_PX, cx + CROP_RING_PX, cy + CROP_RING_PX)
        draw.ellipse(ring, outline=HALO, width=4)
        draw.ellipse(ring, outline=colour, width=2)
    arms = [((cx - CROP_ARM_PX, cy), (cx + CROP_ARM_PX, cy)), ((cx, cy - CROP_ARM_PX), (cx, cy + CROP_ARM_PX))]
    _lines(draw, arms, colour, widths=CROP_LINE_PX)
    return crop


def _crops_html(shot: Image.Image, step: StepRecord) -> str:
    """A magnified crop per point of every action, captioned with the action and the exact point."""
    figures = []
    for number, record in enumerate(step.actions, start=1):
        action = _shown(record)
        if action is None:
            continue
        for nth, (end, point) in enumerate(named_points(action)):
            what = f"{number}. {describe(action)}" + (f" ({end})" if end else "")
            px, py = step.frame.screen_to_physical(*point)
            pixel = f"screenshot pixel ({px:g}, {py:g})"
            exact = f"at ({point[0]}, {point[1]}) · {pixel}"
            if nth == 0 and record.element is not None:  # the element was looked up at an action's first point
                exact += f" · on {record.element.describe()}"
            state = _state(record).replace(" ", "")
            crop = _crop(shot, step, record, action, point)
            if crop is None:
                figures.append(f'<p class="{state}">{_e(what)}: {_e(pixel)} is outside the screenshot</p>')
                continue
            figures.append(
                f'<figure class="crop"><img alt="magnified: {_e(what)}" width="{crop.width}" height="{crop.height}" '
                f'src="{picture_url(crop, "png")}">\n<figcaption class="{state}">{_e(what)}\n{_e(exact)}'
                "</figcaption></figure>"
            )
    shown = "".join(figures) or '<p class="nopoint">No action of this step has a point on the screen.</p>'
    return f'<div class="crops">{shown}</div>\n'


def _rows(pairs: Iterable[tuple[str, object]]) -> str:
    return "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in pairs)


def _action_line(number: int, record: ActionRecord) -> str:
    state = _state(record)
    action = _shown(record)
    what = describe(action) if action is not None else "(no action)"
    verdict = record.blocked or record.verdict
    parts = [f"{number}. {what}", f"[{state}]"]
    if record.element is not None:
        parts.insert(1, f"on {record.element.describe()}")
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


def _happened(step: StepRecord) -> list[tuple[str, str]]:
    """What a step did, for the step list: (CSS class, words) per action, or one entry for a step without."""
    if step.parse_error is not None:
        return [("refused", "unusable reply")]
    if not step.actions:
        return [("notrun", "no reply" if step.reply is None else "no action")]
    done = []
    for record in step.actions:
        action, state, verdict = _shown(record), _state(record), record.blocked or record.verdict
        what = describe(action) if action is not None else "(no action)"
        if record.rejected:
            what = f"rejected {what}"
        elif state == "refused":
            what = f"refused {what}" + (f" ({verdict.rule})" if verdict is not None and verdict.rule else "")
        elif state == "not run":
            what = f"not run: {what}"
        elif record.executed is not None and record.executed.edited:
            what += " (edited by the user)"
        done.append((state.replace(" ", ""), what))
    if step.effect is not None and not step.effect.visible:
        done.append(("notrun", step.effect.describe()))
    return done


def _duration(seconds: float) -> str:
    if abs(seconds) < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def _start(header: Header) -> datetime | None:
    """The run's start with the recording's own offset (step times read as the clock on the recording
    machine, not the reader's); None when the field does not read as a time (a session not from the reader)."""
    try:
        return datetime.fromisoformat(header.started)
    except ValueError:
        return None


def _clock(seconds: float, start: datetime | None) -> str:
    try:
        return datetime.fromtimestamp(seconds, None if start is None else start.tzinfo).strftime("%H:%M:%S")
    except (OverflowError, OSError, ValueError):  # finite, as the reader checks, but past the calendar
        return "?"


def _step_html(session: Session, step: StepRecord, origin: float) -> str:
    """One step's section; every value that came from the session goes through _e (a number too)."""
    shot = session.image(step.screenshot)
    image = picture_url(_annotate(step, shot))
    caption = "\n".join(_action_line(n, a) for n, a in enumerate(step.actions, start=1)) or "(no action)"
    timings = " ".join(f"{k.removesuffix('_s')} {v * 1000:.0f} ms" for k, v in step.timings.items())
    pauses = "".join(f"<p>{_e(e.reason or e.kind)}</p>" for e in step.events)
    thought = f"<p><b>Thought:</b> {_e(step.thought)}</p>" if step.thought else ""
    error = f'<p class="refused"><b>Unusable reply:</b> {_e(step.parse_error)}</p>' if step.parse_error else ""
    effect = ""
    if step.effect is not None:
        tone = "" if step.effect.visible else ' class="notrun"'
        effect = (
            f"<p{tone}><b>Effect:</b> {_e(step.effect.describe())} "
            f"(looked {_e(f'{step.effect.waited_s:.2f}')} s after)</p>"
        )
    if step.reply is not None and step.reply.repaired:
        error += f"<p><b>Repaired:</b> {_e(step.reply.repaired)} lone surrogate(s) in the reply became U+FFFD</p>"
    raw = (
        f"<details><summary>Raw reply</summary><pre>{_e(step.raw)}</pre></details>"
        if step.raw is not None
        else "<p>(no reply)</p>"
    )
    clock = _clock(step.started, _start(session.header))
    when = f"{clock} · +{_duration(step.started - origin)} · took {_duration(step.ended - step.started)}"
    space = step.frame.space
    extent = "" if space.kind == "absolute" else f" 0..{space.width:g}"
    sha = f", prompt sha256 {_e(step.prompt_sha256[:16])}…" if step.prompt_sha256 else ""
    number = _e(step.step)
    return (
        f'<section class="step" id="step-{number}">\n'
        f'<h2>Step {number} <small>{_e(when)}</small> <a class="top" href="#top">↑ top</a></h2>\n'
        f'<div class="view">{_crops_html(shot, step)}<figure class="whole">'
        f'<img alt="screenshot of step {number}" src="{image}">\n'
        f"<figcaption>{caption}</figcaption></figure></div>\n{thought}{error}{effect}{pauses}\n"
        f"<p><b>Timings:</b> {_e(timings)}</p>\n"
        f"<p><b>Screen</b> {_e(step.screenshot.width)}x{_e(step.screenshot.height)} px, <b>model image</b> "
        f"{_e(step.model_image.width)}x{_e(step.model_image.height)} px ({_e(space.kind)} coordinates"
        f"{_e(extent)}){sha}</p>\n{raw}\n</section>"
    )


def _summary_html(session: Session) -> str:
    """Outcome (reason, answer), then steps, total time, backend and model as tiles."""
    h, end, steps = session.header, session.end, session.steps
    tone = TONES.get(session.outcome, "warn")
    if end is not None:
        outcome = f"<p><b>Outcome: {_e(end.outcome)}</b> · {_e(end.reason)}</p>"
        outcome += f"<p><b>Answer:</b> {_e(end.answer)}</p>" if end.answer else ""
    else:
        outcome = "<p><b>Outcome: interrupted</b> · the run ended without an end record (killed or crashed)</p>"
    if session.error is not None:
        outcome += f"<p><b>Read in part:</b> {_e(session.error)}</p>"
    total = None if not steps else (end.ended if end is not None else steps[-1].ended) - steps[0].started
    facts = [("Steps", len(steps)), ("Total time", "-" if total is None else _duration(total)), ("Backend", h.backend)]
    if h.model and _capabilities(h.backend).named_model:
        facts.append(("Model", h.model))
    return f'<div class="outcome {tone}" id="outcome">{outcome}</div>\n{facts_html(facts)}\n'


def _details(h: Header) -> list[tuple[str, object]]:
    """The header's facts that apply to its backend (the summary has the backend and model)."""
    screen = "; ".join(f"{m.width}x{m.height} at ({m.x}, {m.y}) scale {m.scale:g}" for m in h.screen.monitors)
    pixels = f"{h.min_pixels}..{h.max_pixels} (the model image's budget)"
    family = [("Family", h.family), ("Pixels", pixels)] if _capabilities(h.backend).takes_family else []
    return [
        ("Started", h.started),
        *family,
        ("Screen", screen),
        ("Monitor", h.monitor),
        ("Policy digest", h.policy_digest or "-"),
        ("deskpilot", h.deskpilot_version),
        *((k.replace("_", " ").capitalize(), v) for k, v in h.run.items()),
    ]


def _capabilities(backend: str) -> Capabilities:
    """What the backend a header names can do: which of the header's fields mean something for it (the OCR
    grounder has no model, family or image budget; a script has no model)."""
    try:
        return capabilities_of(backend)
    except ConfigError:
        return UNKNOWN_BACKEND


def _step_list(session: Session, origin: float) -> str:
    """One row per step linking to its section: number, what happened, when, how long."""
    rows = []
    for step in session.steps:
        link = f'href="#step-{_e(step.step)}"'
        what = "; ".join(f'<span class="{css}">{_e(words)}</span>' for css, words in _happened(step))
        rows.append(
            f"<tr><td><a {link}>Step {_e(step.step)}</a></td><td><a {link}>{what}</a></td>"
            f'<td class="t">+{_e(_duration(step.started - origin))}</td>'
            f'<td class="t">{_e(_duration(step.ended - step.started))}</td></tr>'
        )
    body = "".join(rows) or '<tr><td colspan="4">(no step was recorded)</td></tr>'
    return f'<nav class="steplist"><h2>Steps</h2><table>{body}</table></nav>'


def html_report(session: Session) -> str:
    """The whole page."""
    h = session.header
    origin = session.steps[0].started if session.steps else h.t
    steps = "\n".join(_step_html(session, step, origin) for step in session.steps)
    start = _start(h)
    when = h.started if start is None else start.strftime("%Y-%m-%d %H:%M:%S ") + (start.tzname() or "")
    body = (
        f'<header id="top"><p class="kicker">deskpilot session · {_e(when)}</p>\n<h1>{_e(h.task)}</h1>\n'
        f"{_summary_html(session)}</header>\n"
        f'<div class="overview">{_step_list(session, origin)}\n'
        f'<section class="details"><h2>Details</h2><table>{_rows(_details(h))}</table></section></div>\n'
        f"{steps}\n"
    )
    return page(title=f"deskpilot session: {h.task}", css=_CSS, body=body)

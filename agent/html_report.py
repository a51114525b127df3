"""What the two HTML reports share (a session's, agent/session/report.py; an eval's, agent/evaluation/report.py):
the page around them, its policy, the common look, escaping and the embedded pictures.

Both pages show untrusted text (a session, a data set, a model's replies), so both are built the same way: every
value goes through `escape` on its way in, pictures are re-encoded into `data:` URLs (agent.imaging), and the
Content-Security-Policy allows nothing but inline style and data: images, so even markup that slipped through
could neither run nor fetch. There is no JavaScript.
"""

from __future__ import annotations

import html
from collections.abc import Iterable

from PIL import Image

from agent.imaging import ImageFormat, data_url

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
JPEG_QUALITY = 80  # a whole screenshot, for a person to look at: small beats exact (a crop is PNG)
# The look both pages share: the page's width and type, the kicker over the title, the tiles of facts
BASE_CSS = """
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1240px;padding:18px 24px 40px;color:#1d2126}
.kicker{margin:0;color:#5f6670;font-size:13px;letter-spacing:.04em;text-transform:uppercase}
h1{font-size:24px;margin:2px 0 12px;overflow-wrap:anywhere}
.facts{display:flex;flex-wrap:wrap;gap:10px;margin:0 0 18px}
.facts div{border:1px solid #d8dce3;border-radius:8px;padding:5px 14px;background:#f6f7f9;min-width:110px}
.facts dt{font-size:12px;color:#5f6670;letter-spacing:.04em;text-transform:uppercase}
.facts dd{margin:0;font-size:17px;font-weight:600;overflow-wrap:anywhere}
"""


def escape(value: object) -> str:
    """Any value as HTML text (None as nothing): the only way a value gets into a page."""
    return html.escape("" if value is None else str(value))


def picture_url(image: Image.Image, fmt: ImageFormat = "jpeg") -> str:
    """A picture for the page: JPEG for a whole screenshot; PNG where the pixels are the point (a crop)."""
    return data_url(image if image.mode == "RGB" else image.convert("RGB"), fmt, quality=JPEG_QUALITY)


def facts_html(facts: Iterable[tuple[str, object]]) -> str:
    """A row of tiles, each a label over its value."""
    tiles = "".join(f"<div><dt>{escape(label)}</dt><dd>{escape(value)}</dd></div>" for label, value in facts)
    return f'<dl class="facts">{tiles}</dl>'


def page(*, title: str, css: str, body: str) -> str:
    """The whole self-contained page: `title` is escaped here, `css` follows BASE_CSS, `body` is ready HTML."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{BASE_CSS}{css}</style></head>\n<body>\n{body}</body></html>\n"
    )

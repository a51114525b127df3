"""Model and session text in Qt widgets, always as plain text.

Qt guesses whether a label's or a tooltip's text is HTML (Qt::mightBeRichText). A model's thought is not to
be trusted with that guess: `<h1 style="color:green">SAFE</h1>` would render large and green over a shrunk
command. Labels are set to PlainText; tooltips (which have no such switch) get the text escaped.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel


def plain_label(text: str = "", *, wrap: bool = False) -> QLabel:
    """A label that never interprets its text as HTML."""
    label = QLabel()
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(wrap)
    label.setText(text)
    return label


def plain_tooltip(text: str) -> str:
    """Tooltip markup that shows `text` exactly as it is, line breaks kept."""
    return f"<p style='white-space:pre-wrap'>{html.escape(text)}</p>" if text else ""

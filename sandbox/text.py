"""One way to shorten a text for a message, a caption or a list: every truncation in deskpilot goes through here."""

from __future__ import annotations

ELLIPSIS = "…"


def shorten(text: str, limit: int) -> str:
    """`text` when it has at most `limit` characters, else its first `limit - 1` and an ellipsis (… marks the cut)."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS

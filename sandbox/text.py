"""One way to shorten a text for a message, a caption or a list: every truncation in deskpilot goes through here."""

from __future__ import annotations

import re

ELLIPSIS = "…"


def shorten(text: str, limit: int) -> str:
    """`text` when it has at most `limit` characters, else its first `limit - 1` and an ellipsis (… marks the cut)."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


_SURROGATES = re.compile("([\ud800-\udbff][\udc00-\udfff])|[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def valid_text(text: str) -> tuple[str, int]:
    """`text` as valid UTF-8, and how many lone surrogates it held: each becomes U+FFFD (a high and a low one in a
    row are the one character they spell). Python strings can hold surrogates (a JSON `\\ud800`, bytes read with
    surrogateescape) that no file, terminal or server can take, so text from a model or a server is made valid
    where it enters deskpilot."""
    if _SURROGATES.search(text) is None:
        return text, 0
    replaced = 0

    def fix(match: re.Match[str]) -> str:
        nonlocal replaced
        if match.group(1):  # a whole UTF-16 pair written as two halves: the character it spells
            return match.group(1).encode("utf-16", "surrogatepass").decode("utf-16")
        replaced += 1
        return REPLACEMENT

    return _SURROGATES.sub(fix, text), replaced

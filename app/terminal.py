"""Text on its way to the user's terminal: model and session text never reaches it raw.

A model reply or a recorded session can hold escape sequences (OSC 52 writes the clipboard, cursor movement
hides or forges earlier lines) and bidirectional overrides that reorder what is shown; a lone surrogate (from
a `\\ud800` JSON escape, or a file name that is not UTF-8) cannot be written to the terminal at all and would
end the command with a UnicodeEncodeError. Every line built from such text goes through `printable`, which
shows those characters as escapes instead of sending them.
"""

from __future__ import annotations

import re

# C0 controls and DEL, C1 controls, line and paragraph separators, bidirectional embeddings, overrides, isolates,
# surrogates (alone they are not text: UTF-8 cannot encode them)
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def printable(text: str) -> str:
    """`text` with every control, separator, bidi-override and surrogate character escaped: one line, shown as
    it is, that any terminal encoding can write."""
    return _UNSAFE.sub(_escape, text)

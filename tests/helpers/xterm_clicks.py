"""Run inside an xterm: show a line of words, then write the character cell of the first mouse press to a file.

    python tests/helpers/xterm_clicks.py FILE WORDS

xterm reports presses itself once asked (DECSET 1000: ESC [ M, then the button, column and row, each plus 32), so
the cell is the one xterm saw pressed, in its own font and layout. Writes FILE.ready (FILE with the suffix
.ready) once the words show and reporting is on, and FILE ("column row", 1-based) at the first press; then ends.
"""

from __future__ import annotations

import os
import sys
import termios
import tty
from pathlib import Path


def main() -> None:
    target, words = Path(sys.argv[1]), sys.argv[2]
    saved = termios.tcgetattr(sys.stdin)
    tty.setraw(sys.stdin)
    try:
        sys.stdout.write("\033[2J\033[H" + words + "\033[?1000h")
        sys.stdout.flush()
        target.with_suffix(".ready").write_text("ready\n", encoding="ascii")
        seen = b""
        while True:
            seen += os.read(sys.stdin.fileno(), 64)
            start = seen.find(b"\033[M")
            if start >= 0 and len(seen) >= start + 6:
                button, column, row = (value - 32 for value in seen[start + 3 : start + 6])
                if button & 3 != 3:  # 3: a release
                    target.write_text(f"{column} {row}\n", encoding="ascii")
                    return
                seen = seen[start + 6 :]
    finally:
        sys.stdout.write("\033[?1000l")
        sys.stdout.flush()
        termios.tcsetattr(sys.stdin, termios.TCSADRAIN, saved)


if __name__ == "__main__":
    main()

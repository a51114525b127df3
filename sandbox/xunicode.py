"""Typing any Unicode character on X11 (accents, CJK, emoji) through XTest and spare keycodes.

pyautogui drops non-ASCII characters, and pynput's own X11 fallback stacks borrowed characters on the
levels of one keycode, where levels 3-4 are unreachable without an AltGr mapping (seen on Xvfb: '🙂' typed
as the previous character). Here every character gets its own spare keycode (one with no symbols), mapped
to the character's keysym on all four levels, pressed and released. Keycodes rotate, and one is reused only
after MIN_REUSE_S, because clients read the new mapping when they handle the MappingNotify, which can be
after the next change: reusing a keycode too soon lets an app read an earlier key with the later character.
"""

from __future__ import annotations

import atexit
import threading
import time
from typing import Any

from sandbox.errors import DriverError

CHAR_GAP_S = 0.005  # after each character: lets the app catch up with the mapping changes
MIN_REUSE_S = 0.3  # a keycode is remapped only this long after its last use


def keysym_for(char: str) -> int:
    """The X keysym of one character: Latin-1 keysyms are the code point, the rest 0x01000000 + code point."""
    code = ord(char)
    if 0x20 <= code <= 0x7E or 0xA0 <= code <= 0xFF:
        return code
    return 0x01000000 | code


_TYPERS: dict[str, XUnicodeTyper] = {}
_TYPERS_LOCK = threading.Lock()


def typer_for(display_name: str) -> XUnicodeTyper:
    """One typer per display and process: the spare keycodes it borrows are its own until exit."""
    with _TYPERS_LOCK:
        if display_name not in _TYPERS:
            _TYPERS[display_name] = XUnicodeTyper(display_name)
        return _TYPERS[display_name]


class XUnicodeTyper:
    """Types characters that the keyboard layout does not have, on one X display (use typer_for)."""

    def __init__(self, display_name: str | None = None) -> None:
        try:
            from Xlib import X, display
            from Xlib.ext import xtest
        except ImportError as exc:  # pragma: no cover - python-xlib is a dependency on Linux
            raise DriverError(f"python-xlib is needed to type Unicode on X11: {exc}") from exc
        try:
            self._display: Any = display.Display(display_name)
        except Exception as exc:
            raise DriverError(f"cannot open X display {display_name or ''} to type text: {exc}") from exc
        self._X, self._xtest = X, xtest
        low = self._display.display.info.min_keycode
        high = self._display.display.info.max_keycode
        mapping = self._display.get_keyboard_mapping(low, high - low + 1)
        # keycode 8 is the lowest X allows but many clients ignore it; keep to the rest
        self._spare = [low + i for i, syms in enumerate(mapping) if not any(syms) and low + i > 8]
        if not self._spare:
            raise DriverError("no spare keycode to type Unicode text (the keyboard map is full)")
        self._last_use = {keycode: 0.0 for keycode in self._spare}
        self._next = 0
        self._used: set[int] = set()
        self._lock = threading.Lock()
        atexit.register(self.close)

    def type_char(self, char: str) -> None:
        with self._lock:
            keycode = self._spare[self._next % len(self._spare)]
            self._next += 1
            wait = MIN_REUSE_S - (time.monotonic() - self._last_use[keycode])
            if wait > 0:
                time.sleep(wait)
            keysym = keysym_for(char)
            self._display.change_keyboard_mapping(keycode, [(keysym,) * 4])
            self._display.sync()
            self._xtest.fake_input(self._display, self._X.KeyPress, keycode)
            self._xtest.fake_input(self._display, self._X.KeyRelease, keycode)
            self._display.sync()
            self._last_use[keycode] = time.monotonic()
            self._used.add(keycode)
        time.sleep(CHAR_GAP_S)

    def close(self) -> None:
        """Give the borrowed keycodes back (after apps had time to read the last character)."""
        with self._lock:
            if not self._used or self._display is None:
                return
            time.sleep(MIN_REUSE_S)
            try:
                for keycode in self._used:
                    self._display.change_keyboard_mapping(keycode, [(0,) * 4])
                self._display.sync()
            except Exception:  # the display may already be gone at exit
                pass
            self._used.clear()

"""deskpilot's input driver over a remote-desktop session: Mutter's own (sandbox/desktops/mutter.py) or the XDG
desktop portal's (sandbox/desktops/portal.py). Both speak the same primitives, `Notify*` calls of one session:
absolute motion inside a screen-cast stream, a button by its evdev code, wheel notches, a key by its X keysym.

Keys are sent as keysyms, never keycodes: the compositor finds the keycode in the person's own layout, so
Shift and AltGr levels come right whatever the layout is. A character the layout lacks cannot be typed this
way on Mutter 43 (it drops the key and says so only in its own log), so text is typed one character at a
time, each as a keysym (Latin-1 as itself, the rest as Unicode keysyms 0x01000000 + code point).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sandbox.actions import Button, Direction
from sandbox.desktops.x11_input import X_KEYSYM_NAMES
from sandbox.errors import DriverError
from sandbox.geometry import Monitor

BUTTON_CODES: dict[str, int] = {"left": 0x110, "right": 0x111, "middle": 0x112}  # linux/input-event-codes.h
CONTROL_CHAR_KEYS = {"\n": "enter", "\t": "tab"}


class RemoteSession(Protocol):
    """One started remote-desktop session: the monitors its streams cover and the Notify* primitives."""

    def streams(self) -> Sequence[tuple[str | int, Monitor]]: ...
    def motion_absolute(self, stream: str | int, x: float, y: float) -> None: ...
    def button(self, code: int, *, down: bool) -> None: ...
    def axis_discrete(self, axis: int, steps: int) -> None: ...
    def keysym(self, keysym: int, *, down: bool) -> None: ...
    def close(self) -> None: ...


def key_keysym(key: str) -> int:
    """The X keysym of a deskpilot key name (sandbox/keys.py) or of one character."""
    if key in X_KEYSYM_NAMES:
        from Xlib import XK  # pure Python tables: no display is opened

        keysym = int(XK.string_to_keysym(X_KEYSYM_NAMES[key]))
        if keysym == 0:
            raise DriverError(f"no X keysym for the key {key!r}")
        return keysym
    if len(key) == 1:
        return char_keysym(key)
    raise DriverError(f"no key named {key!r}")


def char_keysym(char: str) -> int:
    if char in CONTROL_CHAR_KEYS:
        return key_keysym(CONTROL_CHAR_KEYS[char])
    code = ord(char)
    if code < 0x20 or 0x7F <= code < 0xA0:
        raise DriverError(f"cannot type the control character U+{code:04X} on Wayland")
    return code if code <= 0xFF else 0x01000000 + code


@dataclass(frozen=True, slots=True, kw_only=True)
class _Held:
    buttons: set[int]
    keys: set[int]


class RemoteDesktopDriver:
    """An input driver over a started session; whatever X-era driver name was asked for, it is this one."""

    def __init__(self, name: str, session: RemoteSession) -> None:
        self.name = name
        self._session = session
        self._lock = threading.Lock()
        self._held = _Held(buttons=set(), keys=set())
        self.last_position: tuple[int, int] | None = None

    def position(self) -> tuple[int, int]:
        return self.last_position or (0, 0)

    def move(self, x: int, y: int) -> None:
        for stream, area in self._session.streams():
            if area.x <= x < area.x + area.width and area.y <= y < area.y + area.height:
                with self._lock:
                    self._session.motion_absolute(stream, x - area.x, y - area.y)
                    self.last_position = (x, y)
                return
        raise DriverError(f"cannot move the pointer to ({x}, {y}): no monitor of the desktop holds that point")

    def button_down(self, button: Button) -> None:
        with self._lock:
            self._session.button(BUTTON_CODES[button], down=True)
            self._held.buttons.add(BUTTON_CODES[button])

    def button_up(self, button: Button) -> None:
        with self._lock:
            self._session.button(BUTTON_CODES[button], down=False)
            self._held.buttons.discard(BUTTON_CODES[button])

    def click(self, button: Button) -> None:
        self.button_down(button)
        self.button_up(button)

    def scroll(self, direction: Direction, notches: int) -> None:
        axis = 0 if direction in ("up", "down") else 1  # vertical, horizontal
        sign = -1 if direction in ("up", "left") else 1
        with self._lock:
            self._session.axis_discrete(axis, sign * notches)

    def key_down(self, key: str) -> None:
        keysym = key_keysym(key)
        with self._lock:
            self._session.keysym(keysym, down=True)
            self._held.keys.add(keysym)

    def key_up(self, key: str) -> None:
        keysym = key_keysym(key)
        with self._lock:
            self._session.keysym(keysym, down=False)
            self._held.keys.discard(keysym)

    def type_text(self, text: str) -> None:
        keysyms = [char_keysym(char) for char in text]  # every character checked before the first is sent
        with self._lock:
            for keysym in keysyms:
                self._session.keysym(keysym, down=True)
                self._session.keysym(keysym, down=False)

    def close(self) -> None:
        """Release whatever is still held, then end the session (the compositor removes its devices)."""
        with self._lock:
            try:
                for code in sorted(self._held.buttons):
                    self._session.button(code, down=False)
                for keysym in sorted(self._held.keys):
                    self._session.keysym(keysym, down=False)
            except DriverError:
                pass  # the session is already gone: nothing is held there any more
            finally:
                self._held.buttons.clear()
                self._held.keys.clear()
                self._session.close()

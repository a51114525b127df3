"""Pointer and keyboard on a wlroots compositor (Sway, Hyprland, labwc, river): the virtual pointer and the
virtual keyboard protocols, spoken over one long-lived connection (sandbox/desktops/wayland_wire.py).

Why one connection and no `wtype` per step: each `wtype` makes a new virtual keyboard, so a combo held across
two calls (ctrl down, then a, then ctrl up) would land on three keyboards, and on a headless seat the first
keyboard appears only with the first call, so the app under the pointer binds it too late and the first
character is lost. Here the keyboard is made once, when the driver is, and a first key waits until the
compositor has handled its keymap and a short grace for clients to bind it has passed (`KEYBOARD_GRACE_S`).

The keymap is deskpilot's own: one keycode per named key (sandbox/keys.py) and one per character typed so far,
each character on level 1 as its Unicode keysym, so any text types exactly whatever the person's layout is;
a character not in it yet grows the keymap, which is uploaded again before the key. Modifiers are sent as
state with every change, as wtype does, besides the modifier keys themselves.
"""

from __future__ import annotations

import os
import struct
import threading
import time
from dataclasses import dataclass

from sandbox.actions import Button, Direction
from sandbox.desktops.wayland_wire import WaylandConnection, WaylandError, fixed
from sandbox.desktops.x11_input import X_KEYSYM_NAMES
from sandbox.errors import DriverError

BUTTON_CODES: dict[str, int] = {"left": 0x110, "right": 0x111, "middle": 0x112}  # linux/input-event-codes.h
WHEEL_STEP = 15.0  # what one notch scrolls in wl_pointer.axis units (libinput's and wlroots' default)
MODIFIER_MASKS: dict[str, int] = {"shift": 0x01, "ctrl": 0x04, "alt": 0x08, "super": 0x40}  # X's real modifiers
MODIFIER_MAPS: dict[str, str] = {"shift": "Shift", "ctrl": "Control", "alt": "Mod1", "super": "Mod4"}
CONTROL_CHAR_KEYS = {"\n": "enter", "\t": "tab"}
KEYBOARD_GRACE_S = 0.3  # after a new virtual keyboard: time for clients to bind the seat's new keyboard
MAX_KEYCODE = 255  # Xwayland clients read only keycodes up to 255
FIRST_KEYCODE = 8


def _millis() -> int:
    return int(time.monotonic() * 1000) & 0xFFFFFFFF


def _char_keysym(char: str) -> str:
    code = ord(char)
    if code < 0x20 or 0x7F <= code < 0xA0:
        raise DriverError(f"cannot type the control character U+{code:04X} on Wayland")
    return f"U{code:04X}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Layout:
    """The layout box every absolute pointer position is relative to (logical px)."""

    x: int
    y: int
    width: int
    height: int


class WlrootsInput:
    """A virtual pointer and a virtual keyboard on the compositor's first seat; one per driver."""

    def __init__(self, connection: WaylandConnection, layout: Layout) -> None:
        self._conn = connection
        self._layout = layout
        self._lock = threading.Lock()
        try:
            seat = connection.bind("wl_seat", 1)
            pointer_manager = connection.bind("zwlr_virtual_pointer_manager_v1", 1)
            keyboard_manager = connection.bind("zwp_virtual_keyboard_manager_v1", 1)
        except WaylandError as exc:
            raise DriverError(f"cannot send input on Wayland: {exc}") from exc
        self._pointer = connection.new_id()
        connection.send(pointer_manager, 0, struct.pack("<II", seat, self._pointer))  # create_virtual_pointer
        self._keyboard = connection.new_id()
        connection.send(keyboard_manager, 0, struct.pack("<II", seat, self._keyboard))  # create_virtual_keyboard
        self._keys: list[str] = [X_KEYSYM_NAMES[name] for name in X_KEYSYM_NAMES]  # keysym names, keycode order
        self._keys += [_char_keysym(chr(code)) for code in range(0x21, 0x7F)]
        self._uploaded = 0
        self._modifiers = 0
        self._held: set[int] = set()
        self._upload_keymap()
        connection.roundtrip()
        self._ready_at = time.monotonic() + KEYBOARD_GRACE_S
        self.position: tuple[int, int] | None = None

    # -- pointer ---------------------------------------------------------------------------------------

    def move(self, x: int, y: int) -> None:
        box = self._layout
        if not (box.x <= x < box.x + box.width and box.y <= y < box.y + box.height):
            raise DriverError(f"cannot move the pointer to ({x}, {y}): outside the desktop {box.width}x{box.height}")
        with self._lock:
            payload = struct.pack("<IIIII", _millis(), x - box.x, y - box.y, box.width, box.height)
            self._conn.send(self._pointer, 1, payload)  # motion_absolute
            self._frame()
            self.position = (x, y)

    def button(self, button: Button, *, down: bool) -> None:
        with self._lock:
            self._conn.send(self._pointer, 2, struct.pack("<III", _millis(), BUTTON_CODES[button], int(down)))
            self._frame()

    def wheel(self, direction: Direction, notches: int) -> None:
        axis = 0 if direction in ("up", "down") else 1
        sign = -1 if direction in ("up", "left") else 1
        with self._lock:
            for _ in range(notches):
                self._conn.send(self._pointer, 5, struct.pack("<I", 0))  # axis_source: wheel
                payload = struct.pack("<IIIi", _millis(), axis, fixed(sign * WHEEL_STEP), sign)
                self._conn.send(self._pointer, 7, payload)  # axis_discrete
                self._frame()

    def _frame(self) -> None:
        self._conn.send(self._pointer, 4)
        self._conn.roundtrip()  # handled before the call returns: the executor's pacing starts from here

    # -- keyboard --------------------------------------------------------------------------------------

    def key_down(self, key: str) -> None:
        with self._lock:
            self._key(self._keycode_of_key(key), down=True)
            if key in MODIFIER_MASKS:
                self._set_modifiers(self._modifiers | MODIFIER_MASKS[key])

    def key_up(self, key: str) -> None:
        with self._lock:
            self._key(self._keycode_of_key(key), down=False)
            if key in MODIFIER_MASKS:
                self._set_modifiers(self._modifiers & ~MODIFIER_MASKS[key])

    def type_text(self, text: str) -> None:
        with self._lock:
            codes = [self._keycode_of_char(char) for char in text]
            self._upload_keymap()
            self._wait_ready()
            for code in codes:
                self._key(code, down=True, wait=False)
                self._key(code, down=False, wait=False)
            self._conn.roundtrip()

    def release_all(self) -> None:
        with self._lock:
            for code in sorted(self._held):
                self._key(code, down=False, wait=False)
            if self._modifiers:
                self._set_modifiers(0)
            self._conn.roundtrip()

    def _keycode_of_key(self, key: str) -> int:
        if key in X_KEYSYM_NAMES:
            code = FIRST_KEYCODE + self._keys.index(X_KEYSYM_NAMES[key])
        elif len(key) == 1:
            code = self._keycode_of_char(key)
        else:
            raise DriverError(f"no key named {key!r} on Wayland")
        self._upload_keymap()
        return code

    def _keycode_of_char(self, char: str) -> int:
        if char in CONTROL_CHAR_KEYS:
            return FIRST_KEYCODE + self._keys.index(X_KEYSYM_NAMES[CONTROL_CHAR_KEYS[char]])
        keysym = _char_keysym(char)
        if keysym not in self._keys:
            if FIRST_KEYCODE + len(self._keys) > MAX_KEYCODE:
                raise DriverError("cannot type on Wayland: more distinct characters than a keymap holds")
            self._keys.append(keysym)
        return FIRST_KEYCODE + self._keys.index(keysym)

    def _key(self, keycode: int, *, down: bool, wait: bool = True) -> None:
        self._wait_ready()
        self._conn.send(self._keyboard, 1, struct.pack("<III", _millis(), keycode - FIRST_KEYCODE, int(down)))
        (self._held.add if down else self._held.discard)(keycode)
        if wait:
            self._conn.roundtrip()

    def _set_modifiers(self, mask: int) -> None:
        self._modifiers = mask
        self._conn.send(self._keyboard, 2, struct.pack("<IIII", mask, 0, 0, 0))
        self._conn.roundtrip()

    def _wait_ready(self) -> None:
        left = self._ready_at - time.monotonic()
        if left > 0:
            time.sleep(left)

    def _upload_keymap(self) -> None:
        if self._uploaded == len(self._keys):
            return
        text = keymap_text(self._keys).encode() + b"\0"
        fd = os.memfd_create("deskpilot-keymap", os.MFD_CLOEXEC)
        try:
            os.write(fd, text)
            self._conn.send(self._keyboard, 0, struct.pack("<II", 1, len(text)), fds=(fd,))  # keymap(xkb_v1, fd, size)
        finally:
            os.close(fd)
        self._uploaded = len(self._keys)
        self._conn.roundtrip()

    def close(self) -> None:
        try:
            self.release_all()
            self._conn.send(self._pointer, 8)  # destroy
            self._conn.send(self._keyboard, 3)  # destroy
            self._conn.roundtrip()
        except WaylandError:
            pass  # the compositor is gone: nothing is held there any more


def keymap_text(keysyms: list[str]) -> str:
    """An XKB keymap with keycode 8 + i typing keysyms[i] on level 1, and the modifier keys mapped."""
    lines = ["xkb_keymap {", 'xkb_keycodes "deskpilot" {', "minimum = 8;", f"maximum = {MAX_KEYCODE};"]
    lines += [f"<K{i}> = {FIRST_KEYCODE + i};" for i in range(len(keysyms))]
    lines += ["};", 'xkb_types "deskpilot" { include "complete" };', 'xkb_compat "deskpilot" { include "complete" };']
    lines += ['xkb_symbols "deskpilot" {']
    lines += [f"key <K{i}> {{[ {name} ]}};" for i, name in enumerate(keysyms)]
    for key, real in MODIFIER_MAPS.items():
        lines.append(f"modifier_map {real} {{ <K{keysyms.index(X_KEYSYM_NAMES[key])}> }};")
    lines += ["};", "};"]
    return "\n".join(lines) + "\n"

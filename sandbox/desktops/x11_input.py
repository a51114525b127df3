"""Keys, text and the mouse on X11 through XTest, as xdotool sends them: the input every app accepts.

Events sent with XSendEvent are marked synthetic, and apps may ignore them: xterm does by default, and a GTK3
entry on a display without a window manager receives nothing. XTest events go through the server's input
path like a real keyboard's, so here every key press, every character and every pointer event is an XTest
event (`fake_input`).

A character the live keymap holds is typed with the modifiers of its level: Shift, AltGr (ISO_Level3_Shift),
or both, read from the keymap at every call, so a German layout types `y`, `z` and `@` as asked. Any other
character gets a spare keycode (one with no symbols) remapped to its keysym, synced with the server before the
key is pressed, and given back (no symbols again) after the text is typed. Keycodes rotate, and one is remapped
or given back only MIN_REUSE_S after its last use: clients read a new mapping when they handle MappingNotify,
which can come after the next change, and an app reading the later mapping would see a different character.

This file stands alone (the standard library and python-xlib, imported when an XTestInput is made): the
Python export (agent/session/script.py) copies it into the scripts it writes, so the executor and an exported
script type through the same code.
"""

from __future__ import annotations

import atexit
import threading
import time
from typing import Any

MIN_REUSE_S = 0.3  # a spare keycode is remapped or given back only this long after its last use
CHAR_GAP_S = 0.005  # after each character typed on a spare keycode: apps catch up with the mapping change
# XTest keys take the modifiers that are down on the server, the person's too: a character typed while they hold
# ctrl (the stop key's first key, say) would press a shortcut. Typing waits this long for such a key to go up.
HELD_MODIFIER_WAIT_S = 2.0
HELD_MODIFIER_MASKS = {0x01: "shift", 0x04: "ctrl", 0x08: "alt", 0x40: "super", 0x80: "altgr"}  # Lock, NumLock: no
# deskpilot key name (sandbox/keys.py) -> X keysym name
X_KEYSYM_NAMES = {
    "ctrl": "Control_L",
    "alt": "Alt_L",
    "shift": "Shift_L",
    "super": "Super_L",
    "enter": "Return",
    "esc": "Escape",
    "tab": "Tab",
    "space": "space",
    "backspace": "BackSpace",
    "delete": "Delete",
    "insert": "Insert",
    "home": "Home",
    "end": "End",
    "pageup": "Prior",
    "pagedown": "Next",
    "up": "Up",
    "down": "Down",
    "left": "Left",
    "right": "Right",
    "capslock": "Caps_Lock",
    "printscreen": "Print",
    "menu": "Menu",
    "numlock": "Num_Lock",
    "scrolllock": "Scroll_Lock",
    "pause": "Pause",
    **{f"f{n}": f"F{n}" for n in range(1, 25)},
}
CONTROL_KEYSYMS = {"\n": 0xFF0D, "\t": 0xFF09}  # typed as Return and Tab
POINTER_BUTTONS = {"left": 1, "middle": 2, "right": 3}
WHEEL_BUTTONS = {"up": 4, "down": 5, "left": 6, "right": 7}  # one press and release per notch
# Columns of the core keymap that an XKB server fills from group 1: level 1, Shift, AltGr, Shift+AltGr.
# Columns 2 and 3 are group 2, reached only by switching groups: such a character takes a spare keycode.
SHIFT_L, ISO_LEVEL3_SHIFT = 0xFFE1, 0xFE03  # keysyms (python-xlib's XK loads the ISO_ group only on request)
LEVEL_MODIFIERS = {0: (), 1: (SHIFT_L,), 4: (ISO_LEVEL3_SHIFT,), 5: (SHIFT_L, ISO_LEVEL3_SHIFT)}


class XInputError(RuntimeError):
    """The X display cannot take input here (no python-xlib, no display, no spare keycode, no XTest)."""


def keysym_for(char: str) -> int:
    """The X keysym of one character: Latin-1 keysyms are the code point, the rest 0x01000000 + code point."""
    if char in CONTROL_KEYSYMS:
        return CONTROL_KEYSYMS[char]
    code = ord(char)
    if 0x20 <= code <= 0x7E or 0xA0 <= code <= 0xFF:
        return code
    return 0x01000000 | code


def char_of(keysym: int) -> str | None:
    """The character a keymap's keysym types, for Latin-1 and Unicode keysyms (None for the rest)."""
    if 0x20 <= keysym <= 0x7E or 0xA0 <= keysym <= 0xFF:
        return chr(keysym)
    if 0x01000100 <= keysym <= 0x0110FFFF:
        return chr(keysym - 0x01000000)
    return None


_SHARED: dict[str | None, XTestInput] = {}
_SHARED_LOCK = threading.Lock()


def xtest_input(display_name: str | None = None) -> XTestInput:
    """One XTestInput per display and process: the spare keycodes it borrows are its own while it types."""
    with _SHARED_LOCK:
        if display_name not in _SHARED:
            _SHARED[display_name] = XTestInput(display_name)
        return _SHARED[display_name]


class XTestInput:
    """Every key, character and pointer event on one X display, through XTest (use xtest_input)."""

    def __init__(self, display_name: str | None = None) -> None:
        try:
            from Xlib import XK, X, display
            from Xlib.ext import xtest
        except ImportError as exc:
            raise XInputError(f"python-xlib is needed for input on X11: {exc}") from exc
        try:
            self._display: Any = display.Display(display_name)
        except Exception as exc:
            raise XInputError(f"cannot open X display {display_name or ''} for input: {exc}") from exc
        if not self._display.has_extension("XTEST"):
            raise XInputError(f"the X display {display_name or ''} has no XTEST extension")
        self._X, self._XK, self._xtest = X, XK, xtest
        self._root = self._display.screen().root
        self._low = int(self._display.display.info.min_keycode)
        self._high = int(self._display.display.info.max_keycode)
        self._lock = threading.RLock()
        self._borrowed: dict[int, float] = {}  # spare keycode -> when it was last pressed (mapped by us)
        self._borrowed_keysyms: dict[int, int] = {}  # spare keycode -> the keysym it is mapped to now
        self._next_spare = 0
        self._held: dict[str, list[int]] = {}  # key name -> keycodes key_down pressed (modifiers first)
        atexit.register(self.close)

    # --- the pointer --------------------------------------------------------------------------------

    def position(self) -> tuple[int, int]:
        with self._lock:
            pointer = self._root.query_pointer()
            return int(pointer.root_x), int(pointer.root_y)

    def move(self, x: int, y: int) -> None:
        with self._lock:
            self._xtest.fake_input(self._display, self._X.MotionNotify, x=int(x), y=int(y))
            self._display.sync()

    def button(self, number: int, *, down: bool) -> None:
        """Press or release pointer button `number` (1 left, 2 middle, 3 right, 4-7 the wheel)."""
        with self._lock:
            kind = self._X.ButtonPress if down else self._X.ButtonRelease
            self._xtest.fake_input(self._display, kind, number)
            self._display.sync()

    def wheel(self, direction: str, notches: int) -> None:
        for _ in range(notches):
            self.button(WHEEL_BUTTONS[direction], down=True)
            self.button(WHEEL_BUTTONS[direction], down=False)

    # --- keys ---------------------------------------------------------------------------------------

    def key_down(self, key: str) -> None:
        """Press a key by deskpilot's name (sandbox/keys.py) or a single character, with the modifiers its
        level needs (Shift for '+' on a US layout); key_up releases exactly what this pressed."""
        with self._lock:
            keysym = self._keysym_of_key(key)
            keycode, modifiers = self._locate(keysym, self._keymap())
            held = {code for codes in self._held.values() for code in codes}
            pressed = [code for code in modifiers if code not in held] + [keycode]
            for code in pressed:
                self._key(code, down=True)
            self._held[key] = pressed

    def key_up(self, key: str) -> None:
        with self._lock:
            pressed = self._held.pop(key, None)
            if pressed is None:  # not pressed by key_down: release the key it names
                pressed = [self._locate(self._keysym_of_key(key), self._keymap())[0]]
            for code in reversed(pressed):
                self._key(code, down=False)
            if not self._held:
                self._give_back()

    def type_text(self, text: str) -> None:
        """Type `text` exactly: each character with its level's modifiers, or on a spare keycode."""
        with self._lock:
            keymap = self._keymap()
            try:
                for char in text:
                    keycode, modifiers = self._locate(keysym_for(char), keymap)
                    self._type_when_free([*modifiers, keycode])
                    if keycode in self._borrowed:
                        time.sleep(CHAR_GAP_S)
            finally:
                if not self._held:
                    self._give_back()

    def close(self) -> None:
        """Release what is held and give the borrowed keycodes back (the display may already be gone)."""
        with self._lock:
            try:
                for key in list(self._held):
                    self.key_up(key)
                self._give_back()
            except Exception:  # noqa: BLE001 - at exit, the display may already be closed
                pass

    def _type_when_free(self, keycodes: list[int]) -> None:
        """Press `keycodes` in order and release them in reverse, once no modifier this did not press is down.

        The look and the keys happen under a server grab, so no other client's XTest key (xdotool's ctrl of a stop
        key, say) comes between them. XInputError naming the modifier after HELD_MODIFIER_WAIT_S.
        """
        deadline = time.monotonic() + HELD_MODIFIER_WAIT_S
        while True:
            self._display.grab_server()
            try:
                state = 0 if self._held else int(self._root.query_pointer().mask)
                held = [name for mask, name in HELD_MODIFIER_MASKS.items() if state & mask]
                if not held:
                    for code in keycodes:
                        self._key(code, down=True)
                    for code in reversed(keycodes):
                        self._key(code, down=False)
                    return
            finally:
                self._display.ungrab_server()
                self._display.sync()
            if time.monotonic() > deadline:
                raise XInputError(
                    f"{'+'.join(held)} held down: typing would press shortcuts, so nothing more was typed"
                )
            time.sleep(0.01)

    # --- the keymap ---------------------------------------------------------------------------------

    def _keysym_of_key(self, key: str) -> int:
        if key in X_KEYSYM_NAMES:
            keysym = int(self._XK.string_to_keysym(X_KEYSYM_NAMES[key]))
            if keysym == 0:
                raise XInputError(f"no X keysym for the key {key!r}")
            return keysym
        if len(key) != 1:
            raise XInputError(f"unknown key {key!r}")
        return keysym_for(key)

    def _keymap(self) -> list[list[int]]:
        """The live keymap: keysyms per column for each keycode from min_keycode."""
        count = self._high - self._low + 1
        return [list(syms) for syms in self._display.get_keyboard_mapping(self._low, count)]

    def _find(self, keysym: int, keymap: list[list[int]]) -> tuple[int, int] | None:
        """(keycode, column) of `keysym` at the lowest level that has it, on keycodes not borrowed."""
        if keysym == 0:  # NoSymbol: what an empty keycode holds
            return None
        for column in LEVEL_MODIFIERS:
            for index, syms in enumerate(keymap):
                keycode = self._low + index
                if keycode not in self._borrowed and column < len(syms) and syms[column] == keysym:
                    return keycode, column
        return None

    def _locate(self, keysym: int, keymap: list[list[int]]) -> tuple[int, tuple[int, ...]]:
        """The keycode that types `keysym` and the modifier keycodes to hold; a spare keycode when the keymap
        lacks it or a modifier it needs."""
        found = self._find(keysym, keymap)
        if found is not None:
            keycode, column = found
            modifiers = []
            for modifier_keysym in LEVEL_MODIFIERS[column]:
                modifier = self._find(modifier_keysym, keymap)
                if modifier is None or modifier[1] != 0:
                    break
                modifiers.append(modifier[0])
            else:
                return keycode, tuple(modifiers)
        return self._spare_keycode(keysym, keymap), ()

    def _spare_keycode(self, keysym: int, keymap: list[list[int]]) -> int:
        """A keycode with no symbols (or one borrowed before), remapped to `keysym` and synced with the server;
        the keycode already borrowed for `keysym` when there is one (no remapping, so no race with apps)."""
        for keycode, mapped in self._borrowed_keysyms.items():
            if mapped == keysym:
                return keycode
        held = {code for codes in self._held.values() for code in codes}
        # keycode 8 is the lowest X allows but many clients ignore it; keep to the rest
        spare = [
            self._low + index
            for index, syms in enumerate(keymap)
            if self._low + index > 8 and (self._low + index in self._borrowed or not any(syms))
        ]
        spare = [code for code in spare if code not in held]
        if not spare:
            raise XInputError("no spare keycode to type a character the keyboard map lacks (the map is full)")
        keycode = spare[self._next_spare % len(spare)]
        self._next_spare += 1
        wait = MIN_REUSE_S - (time.monotonic() - self._borrowed.get(keycode, 0.0))
        if wait > 0:
            time.sleep(wait)
        self._display.change_keyboard_mapping(keycode, [(keysym,) * 4])
        self._display.sync()
        self._borrowed[keycode] = time.monotonic()
        self._borrowed_keysyms[keycode] = keysym
        return keycode

    def _key(self, keycode: int, *, down: bool) -> None:
        self._xtest.fake_input(self._display, self._X.KeyPress if down else self._X.KeyRelease, keycode)
        self._display.sync()
        if keycode in self._borrowed:
            self._borrowed[keycode] = time.monotonic()

    def _give_back(self) -> None:
        """Map the borrowed keycodes to no symbols again, once apps had MIN_REUSE_S to read the last one."""
        if not self._borrowed:
            return
        wait = MIN_REUSE_S - (time.monotonic() - max(self._borrowed.values()))
        if wait > 0:
            time.sleep(wait)
        for keycode in self._borrowed:
            self._display.change_keyboard_mapping(keycode, [(0,) * 4])
        self._display.sync()
        self._borrowed.clear()
        self._borrowed_keysyms.clear()

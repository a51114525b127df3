"""Key names: one lower-case spelling for every key, whatever the model or the user wrote.

A key name names the key the driver will press. Control characters are never key names: drivers map some
of them to other keys (pyautogui presses BackSpace for "\b", Return for "\n"), so a policy that saw "\b"
would not know that ctrl+alt+"\b" is ctrl+alt+backspace. Such names are refused; the key has a name.
"""

from __future__ import annotations

import re

from sandbox.errors import KeyNameError

MODIFIERS: tuple[str, ...] = ("ctrl", "alt", "shift", "super")

NAMED_KEYS: frozenset[str] = frozenset(
    {
        *MODIFIERS,
        "enter",
        "esc",
        "tab",
        "space",
        "backspace",
        "delete",
        "insert",
        "home",
        "end",
        "pageup",
        "pagedown",
        "up",
        "down",
        "left",
        "right",
        "capslock",
        "printscreen",
        "menu",
        "numlock",
        "scrolllock",
        "pause",
        *(f"f{n}" for n in range(1, 25)),
    }
)

# Alias -> canonical name. Lookups happen after lower-casing and removing "_", "-" and spaces,
# and after dropping an X keysym's side suffix (Control_L -> control).
_ALIASES: dict[str, str] = {
    "control": "ctrl",
    "ctl": "ctrl",
    "strg": "ctrl",
    "option": "alt",
    "opt": "alt",
    "altgr": "alt",
    "meta": "super",
    "cmd": "super",
    "command": "super",
    "win": "super",
    "windows": "super",
    "hyper": "super",
    "return": "enter",
    "kpenter": "enter",
    "escape": "esc",
    "del": "delete",
    "ins": "insert",
    "pgup": "pageup",
    "prior": "pageup",
    "pgdn": "pagedown",
    "pgdown": "pagedown",
    "next": "pagedown",
    "arrowup": "up",
    "arrowdown": "down",
    "arrowleft": "left",
    "arrowright": "right",
    "uparrow": "up",
    "downarrow": "down",
    "leftarrow": "left",
    "rightarrow": "right",
    "caps": "capslock",
    "print": "printscreen",
    "prtsc": "printscreen",
    "prtscr": "printscreen",
    "prtscn": "printscreen",
    "printscrn": "printscreen",
    "sysrq": "printscreen",
    "apps": "menu",
    "contextmenu": "menu",
    "scroll": "scrolllock",
    "break": "pause",
    "spacebar": "space",
    "bksp": "backspace",
    "back": "backspace",
}

_SIDE_SUFFIX = re.compile(r"^(.+?)[_-]?[lr]$")
_SIDED = {"control", "ctrl", "alt", "shift", "super", "meta", "hyper", "cmd", "win", "option"}


# Characters typed with Shift on a US layout: a hotkey holding one presses Shift too (the drivers add the Shift of
# the character's level, sandbox/desktops/x11_input.py on X11)
SHIFTED_CHARACTERS = frozenset('~!@#$%^&*()_+{}|:"<>?')
_CONTROL_NAMES = {"\b": "backspace", "\t": "tab", "\n": "enter", "\r": "enter", "\x1b": "esc", "\x7f": "delete"}


def normalize_key(name: str) -> str:
    """Return deskpilot's name for one key (`Control_L` -> `ctrl`, `Return` -> `enter`, `A` -> `a`)."""
    if not isinstance(name, str) or name == "":
        raise KeyNameError(f"key name must be a non-empty string, got {name!r}")
    unprintable = next((c for c in name if not c.isprintable() and c != " "), None)
    if unprintable is not None:
        named = _CONTROL_NAMES.get(unprintable)
        hint = f" (write {named!r})" if named else ""
        what = "is a control character" if len(name) == 1 else f"holds the control character {unprintable!r}"
        raise KeyNameError(f"{name!r} {what}, not a key name{hint}")
    if len(name) == 1:
        return "space" if name == " " else name.lower()
    squashed = re.sub(r"[\s_\-]", "", name.strip().lower())
    if squashed == "":
        raise KeyNameError(f"unknown key {name!r}")
    if squashed in NAMED_KEYS:
        return squashed
    if squashed in _ALIASES:
        return _ALIASES[squashed]
    side = _SIDE_SUFFIX.match(name.strip().lower())
    if side and side.group(1).replace("_", "") in _SIDED:
        return normalize_key(side.group(1))
    if len(squashed) == 1:
        return squashed
    raise KeyNameError(f"unknown key {name!r}")


def pressed_keys(keys: tuple[str, ...] | list[str]) -> frozenset[str]:
    """The keys a hotkey really holds down, for the policy: its keys, plus Shift for a shifted character."""
    held = frozenset(keys)
    return held | {"shift"} if held & SHIFTED_CHARACTERS else held


def split_combo(combo: str) -> list[str]:
    """Split `ctrl+shift+t`, `ctrl shift t` or `Control_L+Alt+Del` into raw key names."""
    text = combo.strip()
    if text in ("+", " "):
        return [text]
    parts = [p for p in re.split(r"\s*\+\s*|\s+", text) if p != ""]
    if text.endswith("++"):  # "ctrl++" means ctrl and the plus key
        parts.append("+")
    if not parts:
        raise KeyNameError(f"empty key combination {combo!r}")
    return parts


def normalize_combo(keys: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Normalise every key and put modifiers first (in their given order), rejecting repeats."""
    names = [normalize_key(k) for k in keys]
    if not names:
        raise KeyNameError("a hotkey needs at least one key")
    if len(set(names)) != len(names):
        raise KeyNameError(f"a key is repeated in {list(keys)!r}")
    mods = [n for n in names if n in MODIFIERS]
    rest = [n for n in names if n not in MODIFIERS]
    return tuple(mods + rest)

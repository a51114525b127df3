"""Input drivers: the only code that moves the real mouse or presses real keys.

A driver does one primitive at a time (move, press, release, one click, one wheel notch, one key, a
short piece of text); the executor composes actions from them and checks the stop flag before each.
On X11 every event goes through XTest (sandbox/desktops/x11_input.py), whichever driver is named: events sent
with XSendEvent, as pynput sends keys, are ignored by xterm and by a GTK3 entry without a window manager.
Hardware libraries are imported inside the drivers: pyautogui, pynput and Xlib fail at import without a display.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from sandbox.actions import Button, Direction
from sandbox.desktops.x11_input import POINTER_BUTTONS, XInputError, XTestInput, xtest_input
from sandbox.display import on_display
from sandbox.errors import DriverError, FailSafeError, first_line

FAILSAFE_REASON = "failsafe: the pointer was moved into a screen corner"
PYAUTOGUI_PAUSE_S = 0.0  # pyautogui sleeps 0.1 s after every call by default; the executor paces instead
DRY_RUN_DRIVER = "dry-run"  # records what would be done, touches nothing
DRIVER_NAMES = ("pyautogui", "pynput", DRY_RUN_DRIVER)


class InputDriver(Protocol):
    name: str

    def position(self) -> tuple[int, int]: ...
    def move(self, x: int, y: int) -> None: ...
    def button_down(self, button: Button) -> None: ...
    def button_up(self, button: Button) -> None: ...
    def click(self, button: Button) -> None: ...
    def scroll(self, direction: Direction, notches: int) -> None: ...
    def key_down(self, key: str) -> None: ...
    def key_up(self, key: str) -> None: ...
    def type_text(self, text: str) -> None: ...


@dataclass
class DryRunDriver:
    """Records what would have been done; touches nothing."""

    name: str = DRY_RUN_DRIVER
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    pointer: tuple[int, int] = (0, 0)

    def position(self) -> tuple[int, int]:
        return self.pointer

    def move(self, x: int, y: int) -> None:
        self.pointer = (x, y)
        self.calls.append(("move", x, y))

    def button_down(self, button: Button) -> None:
        self.calls.append(("button_down", button))

    def button_up(self, button: Button) -> None:
        self.calls.append(("button_up", button))

    def click(self, button: Button) -> None:
        self.calls.append(("click", button))

    def scroll(self, direction: Direction, notches: int) -> None:
        self.calls.append(("scroll", direction, notches))

    def key_down(self, key: str) -> None:
        self.calls.append(("key_down", key))

    def key_up(self, key: str) -> None:
        self.calls.append(("key_up", key))

    def type_text(self, text: str) -> None:
        self.calls.append(("type_text", text))


# deskpilot key name -> pyautogui key name (single characters pass through)
PYAUTOGUI_KEYS = {
    "ctrl": "ctrl",
    "alt": "alt",
    "shift": "shift",
    "super": "win",
    "enter": "enter",
    "esc": "esc",
    "tab": "tab",
    "space": "space",
    "backspace": "backspace",
    "delete": "delete",
    "insert": "insert",
    "home": "home",
    "end": "end",
    "pageup": "pageup",
    "pagedown": "pagedown",
    "up": "up",
    "down": "down",
    "left": "left",
    "right": "right",
    "capslock": "capslock",
    "printscreen": "printscreen",
    "menu": "apps",
    "numlock": "numlock",
    "scrolllock": "scrolllock",
    "pause": "pause",
    **{f"f{n}": f"f{n}" for n in range(1, 25)},
}
# deskpilot key name -> pynput Key attribute
PYNPUT_KEYS = {
    "ctrl": "ctrl",
    "alt": "alt",
    "shift": "shift",
    "super": "cmd",
    "enter": "enter",
    "esc": "esc",
    "tab": "tab",
    "space": "space",
    "backspace": "backspace",
    "delete": "delete",
    "insert": "insert",
    "home": "home",
    "end": "end",
    "pageup": "page_up",
    "pagedown": "page_down",
    "up": "up",
    "down": "down",
    "left": "left",
    "right": "right",
    "capslock": "caps_lock",
    "printscreen": "print_screen",
    "menu": "menu",
    "numlock": "num_lock",
    "scrolllock": "scroll_lock",
    "pause": "pause",
    **{f"f{n}": f"f{n}" for n in range(1, 25)},
}


def _is_x11() -> bool:
    return sys.platform.startswith("linux")


def _x_display(display: str | None) -> str | None:
    """The X display a driver acts on: `display`, else $DISPLAY (None off X11). DriverError when there is none."""
    if not _is_x11():
        return None
    name = display or os.environ.get("DISPLAY")
    if not name:
        raise DriverError("no display: $DISPLAY is not set (run inside a desktop session or use --isolated)")
    return name


class XTestDriver:
    """Mouse and keyboard through XTest on X11 (sandbox/desktops/x11_input.py): the `pynput` driver there.

    pynput sends keys with XSendEvent, which xterm and a GTK3 entry without a window manager ignore; the name
    stays, as the settings and the command line know it.
    """

    def __init__(self, *, name: str = "pynput", display: str | None = None) -> None:
        """`display`: the X display to act on (default $DISPLAY)."""
        self.name = name
        self.display = _x_display(display)
        self._input = _xtest(self.display)

    def position(self) -> tuple[int, int]:
        return self._input.position()

    def move(self, x: int, y: int) -> None:
        self._input.move(x, y)

    def button_down(self, button: Button) -> None:
        self._input.button(POINTER_BUTTONS[button], down=True)

    def button_up(self, button: Button) -> None:
        self._input.button(POINTER_BUTTONS[button], down=False)

    def click(self, button: Button) -> None:
        self.button_down(button)
        self.button_up(button)

    def scroll(self, direction: Direction, notches: int) -> None:
        self._input.wheel(direction, notches)

    def key_down(self, key: str) -> None:
        _xtest_key(self._input.key_down, key)

    def key_up(self, key: str) -> None:
        _xtest_key(self._input.key_up, key)

    def type_text(self, text: str) -> None:
        _xtest_key(self._input.type_text, text)


def _xtest(display: str | None) -> XTestInput:
    """The process's XTest input on `display`, its failure to start as a DriverError."""
    try:
        return xtest_input(display)
    except XInputError as exc:
        raise DriverError(f"cannot start XTest input: {first_line(exc)}") from exc


def _xtest_key(press: Callable[[str], None], what: str) -> None:
    """A key or text call of XTestInput, a key it has no keysym for (or no spare keycode) as a DriverError."""
    try:
        press(what)
    except XInputError as exc:
        raise DriverError(first_line(exc)) from exc


class PynputDriver:
    """Mouse and keyboard through pynput, off X11 (Windows, macOS): it types any Unicode text there."""

    name = "pynput"

    def __init__(self) -> None:
        try:
            from pynput import keyboard, mouse

            self._mouse = mouse.Controller()
            self._keyboard = keyboard.Controller()
        except Exception as exc:  # missing accessibility permission, ...
            raise DriverError(f"cannot start the pynput driver: {first_line(exc)}") from exc
        self._buttons = {"left": mouse.Button.left, "right": mouse.Button.right, "middle": mouse.Button.middle}
        self._keys = keyboard.Key

    def position(self) -> tuple[int, int]:
        x, y = self._mouse.position
        return int(x), int(y)

    def move(self, x: int, y: int) -> None:
        self._mouse.position = (x, y)

    def button_down(self, button: Button) -> None:
        self._mouse.press(self._buttons[button])

    def button_up(self, button: Button) -> None:
        self._mouse.release(self._buttons[button])

    def click(self, button: Button) -> None:
        self._mouse.click(self._buttons[button], 1)

    def scroll(self, direction: Direction, notches: int) -> None:
        dx, dy = {"up": (0, 1), "down": (0, -1), "left": (-1, 0), "right": (1, 0)}[direction]
        self._mouse.scroll(dx * notches, dy * notches)

    def _key(self, key: str) -> Any:
        if key in PYNPUT_KEYS:
            try:
                return getattr(self._keys, PYNPUT_KEYS[key])
            except AttributeError:
                raise DriverError(f"key {key!r} is not available on this platform (pynput)") from None
        return key  # a single character

    def key_down(self, key: str) -> None:
        self._keyboard.press(self._key(key))

    def key_up(self, key: str) -> None:
        self._keyboard.release(self._key(key))

    def type_text(self, text: str) -> None:
        self._keyboard.type(text)


class PyAutoGUIDriver:
    """The mouse through pyautogui (FAILSAFE on: the pointer in a screen corner ends the run, FailSafeError); the
    keyboard too on Windows and macOS for plain ASCII.

    On X11 pyautogui's mouse is XTest already; keys and text go through XTestInput (sandbox/desktops/x11_input.py),
    as pyautogui's own X11 keysym table presses '<' with Shift and so types '>' (the key that holds '<' also holds
    '>'), and it cannot type a character the layout lacks. Elsewhere, text that is not plain ASCII goes through
    pynput, as pyautogui silently drops it.
    """

    name = "pyautogui"

    def __init__(self, *, display: str | None = None) -> None:
        """`display`: the X display to act on (default $DISPLAY). pyautogui connects once per process, at import."""
        self.display = _x_display(display)
        try:
            with on_display(self.display):
                import pyautogui
        except Exception as exc:
            raise DriverError(f"cannot start the pyautogui driver: {first_line(exc)}") from exc
        bound = _pyautogui_display(pyautogui)
        if self.display is not None and bound is not None and bound != self.display:
            raise DriverError(
                f"pyautogui already acts on display {bound} in this process, not {self.display}: use --driver pynput"
            )
        pyautogui.PAUSE = PYAUTOGUI_PAUSE_S
        pyautogui.FAILSAFE = True
        self._gui = pyautogui
        self._xtest: XTestDriver | None = XTestDriver(name=self.name, display=self.display) if _is_x11() else None
        self._pynput: PynputDriver | None = None

    def _unicode_keyboard(self) -> PynputDriver:
        """pynput off X11, for text that is not plain ASCII (made on first use)."""
        if self._pynput is None:
            self._pynput = PynputDriver()
        return self._pynput

    @contextlib.contextmanager
    def _failsafe(self) -> Iterator[None]:
        """pyautogui's FailSafeException as the sandbox's FailSafeError, which ends the run (sandbox/executor.py)."""
        try:
            yield
        except self._gui.FailSafeException:
            raise FailSafeError(FAILSAFE_REASON) from None

    def position(self) -> tuple[int, int]:
        x, y = self._gui.position()
        return int(x), int(y)

    def move(self, x: int, y: int) -> None:
        with self._failsafe():
            self._gui.moveTo(x, y, _pause=False)

    def button_down(self, button: Button) -> None:
        with self._failsafe():
            self._gui.mouseDown(button=button, _pause=False)

    def button_up(self, button: Button) -> None:
        with self._failsafe():
            self._gui.mouseUp(button=button, _pause=False)

    def click(self, button: Button) -> None:
        with self._failsafe():
            self._gui.click(button=button, _pause=False)

    def scroll(self, direction: Direction, notches: int) -> None:
        with self._failsafe():
            if direction in ("up", "down"):
                self._gui.scroll(notches if direction == "up" else -notches, _pause=False)
            else:
                self._gui.hscroll(notches if direction == "right" else -notches, _pause=False)

    def key_down(self, key: str) -> None:
        if self._xtest is not None:
            self._xtest.key_down(key)
            return
        with self._failsafe():
            self._gui.keyDown(PYAUTOGUI_KEYS.get(key, key), _pause=False)

    def key_up(self, key: str) -> None:
        if self._xtest is not None:
            self._xtest.key_up(key)
            return
        with self._failsafe():
            self._gui.keyUp(PYAUTOGUI_KEYS.get(key, key), _pause=False)

    def type_text(self, text: str) -> None:
        if self._xtest is not None:
            self._xtest.type_text(text)
        elif text.isascii():
            with self._failsafe():
                self._gui.write(text, interval=0, _pause=False)
        else:
            self._unicode_keyboard().type_text(text)


def _pyautogui_display(module: Any) -> str | None:
    """The X display pyautogui connected to when it was imported (None off X11 or when it cannot be told)."""
    connection = getattr(getattr(module, "_pyautogui_x11", None), "_display", None)
    try:
        return str(connection.get_display_name()) if connection is not None else None
    except Exception:  # noqa: BLE001 - an unexpected pyautogui build: nothing to compare
        return None


def make_driver(name: str, *, display: str | None = None) -> InputDriver:
    """A driver by name: pyautogui (default), pynput (XTest on X11), or dry-run; `display` (X11): where it acts,
    default $DISPLAY."""
    if name == "pyautogui":
        return PyAutoGUIDriver(display=display)
    if name == "pynput":
        return XTestDriver(display=display) if _is_x11() else PynputDriver()
    if name == DRY_RUN_DRIVER:
        return DryRunDriver()
    raise DriverError(f"unknown input driver {name!r} (known: {', '.join(DRIVER_NAMES)})")

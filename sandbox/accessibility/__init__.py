"""What a screen reader sees: the AT-SPI accessibility tree beside the pixels (Linux).

Toolkits (GTK, Qt, Chromium, LibreOffice, ...) publish their widgets on the accessibility bus, a D-Bus bus of
its own whose address the session bus hands out (`org.a11y.Bus.GetAddress`). From it deskpilot reads, for a
screen point, the element there: its role, name, description, states, text (text elements only) and box, so that
an icon-only button has a name and a box is exact rather than guessed from pixels. Apps that publish no tree
(Tk, xterm, most games) get None: pixels alone decide there.

Library: jeepney, a pure-Python D-Bus client, speaking the AT-SPI D-Bus interfaces (`org.a11y.atspi.*`) itself.
- pyatspi and `gi.repository.Atspi` come only from system packages (python3-gi, gir1.2-atspi-2.0) and do not
  install into a virtualenv or a wheel; libatspi also runs a GLib main loop and caches behind our back.
- dbus-fast is asyncio-first (its blocking use needs an event loop per call) and ships compiled parts; the
  sandbox is synchronous and wants a hard time budget per lookup, which jeepney's blocking connection gives
  directly (a timeout per reply on one socket), with no dependency of its own.
- python-dbus (dbus-python) needs libdbus and a GLib loop, and is not on PyPI as a wheel.
A lookup is a handful of round trips (`Component.GetAccessibleAtPoint` from the window down), a few ms on a
typical window; a walk sends each level's requests at once and reads the replies after (pipelined).

Modules: `bus` (finding the accessibility bus, turning accessibility on), `tree` (applications, windows, the
element at a point, a window's walk), `finder` (the executor's lookup: opened once, free when there is no bus), `x11` (which top-level window, and whose process, is at a point),
`names` (AT-SPI's state and relation numbers). Importing any of them has no side effects: jeepney and Xlib are
imported inside the functions that talk to a bus or a display.
"""

from __future__ import annotations

from sandbox.accessibility.bus import AccessibilityBus, open_bus
from sandbox.accessibility.finder import ElementAt, ElementFinder
from sandbox.accessibility.tree import AccessibilityTree, Application, Element, open_tree
from sandbox.accessibility.x11 import TopWindow, X11WindowAt

__all__ = [
    "AccessibilityBus",
    "AccessibilityTree",
    "Application",
    "Element",
    "ElementAt",
    "ElementFinder",
    "TopWindow",
    "X11WindowAt",
    "open_bus",
    "open_tree",
]

"""A GTK3 window with one entry, for the typing tests: run with the SYSTEM python3 (python3-gi, gir1.2-gtk-3.0),
as PyGObject is not in the virtualenv.

    /usr/bin/python3 tests/helpers/gtk_entry.py --x X --y Y

prints one JSON line `{"event": "ready", "entry": [x, y, w, h]}` (screen px) once the window is shown, then
`{"event": "text", "text": ...}` each time the entry's text changes. It never takes the keyboard focus itself:
what gives it the focus is a click (or a window manager).
"""

from __future__ import annotations

import argparse
import json
import sys

import gi

gi.require_version("Gtk", "3.0")
from gi.repository import GLib, Gtk  # noqa: E402


def say(**event: object) -> None:
    print(json.dumps(event, ensure_ascii=False), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--x", type=int, default=200)
    parser.add_argument("--y", type=int, default=200)
    args = parser.parse_args()
    window = Gtk.Window(title="deskpilot gtk entry")
    window.set_default_size(520, 120)
    window.move(args.x, args.y)
    box = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=12, margin=24)
    box.pack_start(Gtk.Label(label="Type here:"), False, False, 0)
    entry = Gtk.Entry()
    box.pack_start(entry, False, False, 0)
    window.add(box)
    window.connect("destroy", Gtk.main_quit)
    entry.connect("changed", lambda e: say(event="text", text=e.get_text()))

    def ready() -> bool:
        gdk_window = entry.get_window()
        if gdk_window is None or not window.get_mapped():
            return True  # not shown yet: ask again
        _, left, top = gdk_window.get_origin()
        allocation = entry.get_allocation()
        if window.get_has_window() and allocation.width > 1:
            say(event="ready", entry=[left + allocation.x, top + allocation.y, allocation.width, allocation.height])
            return False
        return True

    window.show_all()
    GLib.timeout_add(300, ready)
    Gtk.main()


if __name__ == "__main__":
    sys.exit(main())

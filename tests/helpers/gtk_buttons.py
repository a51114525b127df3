"""A GTK3 window with a "Delete" and a "Cancel" button that says which was pressed, for the element policy tests:
run with the SYSTEM python3 (python3-gi, gir1.2-gtk-3.0), as PyGObject is not in the virtualenv.

    /usr/bin/python3 tests/helpers/gtk_buttons.py --x X --y Y

Once shown it prints `{"event": "ready", "widgets": {name: [x, y, w, h]}}` (screen px, as GTK places them), then
`{"event": "clicked", "name": "Delete"}` for every press, in order. The labels are large for the OCR backend.
"""

from __future__ import annotations

import argparse
import json
import sys

import gi

gi.require_version("Gtk", "3.0")
from gi.repository import GLib, Gtk  # noqa: E402

NAMES = ("Delete", "Cancel")


def say(**event: object) -> None:
    print(json.dumps(event), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--x", type=int, default=200)
    parser.add_argument("--y", type=int, default=200)
    args = parser.parse_args()
    window = Gtk.Window(title="deskpilot gtk buttons")
    window.move(args.x, args.y)
    css = Gtk.CssProvider()
    css.load_from_data(b"button { font-size: 28px; padding: 16px 40px; }")
    Gtk.StyleContext.add_provider_for_screen(window.get_screen(), css, Gtk.STYLE_PROVIDER_PRIORITY_APPLICATION)
    row = Gtk.Box(spacing=120, margin=40)
    buttons = {}
    for name in NAMES:
        button = Gtk.Button(label=name)
        button.connect("clicked", lambda _b, n=name: say(event="clicked", name=n))
        row.pack_start(button, False, False, 0)
        buttons[name] = button
    window.add(row)
    window.connect("destroy", Gtk.main_quit)

    def ready() -> bool:
        if not window.get_mapped() or any(b.get_window() is None for b in buttons.values()):
            return True
        boxes = {}
        for name, button in buttons.items():
            _, left, top = button.get_window().get_origin()
            allocation = button.get_allocation()
            if allocation.width <= 1:
                return True
            scale = button.get_scale_factor()
            boxes[name] = [
                v * scale for v in (left + allocation.x, top + allocation.y, allocation.width, allocation.height)
            ]
        say(event="ready", widgets=boxes)
        return False

    window.show_all()
    GLib.timeout_add(200, ready)
    Gtk.main()


if __name__ == "__main__":
    sys.exit(main())

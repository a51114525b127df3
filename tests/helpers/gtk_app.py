"""A GTK3 window that publishes an accessibility tree, for the AT-SPI tests: run with the SYSTEM python3
(python3-gi, gir1.2-gtk-3.0), as PyGObject is not in the virtualenv.

    /usr/bin/python3 tests/helpers/gtk_app.py --x X --y Y [--last-name TEXT] [--buttons N]

It holds a button "Save", an icon-only button whose accessible name is "Bold", buttons "Delete" and "Cancel",
and two entries whose labels sit above them ("First name", "Last name": mnemonic widgets, so GTK publishes
label-for / labelled-by). Once shown it prints one JSON line
`{"event": "ready", "scale": S, "widgets": {name: [x, y, w, h]}}`, the widgets' boxes as GTK itself places them,
in physical screen px (GTK's logical px times the window's scale factor: run it with GDK_SCALE=2 for HiDPI).
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
    parser.add_argument("--last-name", default="", help="what the Last name entry holds at the start")
    parser.add_argument("--buttons", type=int, default=0, help="so many more buttons, 10 a row (a bigger tree)")
    args = parser.parse_args()
    window = Gtk.Window(title="deskpilot gtk form")
    window.move(args.x, args.y)
    grid = Gtk.Grid(row_spacing=8, column_spacing=12, margin=24)
    widgets: dict[str, Gtk.Widget] = {}
    for row, label_text in enumerate(("First name", "Last name")):
        label = Gtk.Label(label=label_text, xalign=0)
        entry = Gtk.Entry(width_chars=30)
        label.set_mnemonic_widget(entry)
        grid.attach(label, 0, 2 * row, 3, 1)
        grid.attach(entry, 0, 2 * row + 1, 3, 1)
        widgets[f"{label_text} label"] = label
        widgets[f"{label_text} entry"] = entry
    widgets["Last name entry"].set_text(args.last_name)
    bold = Gtk.Button()
    bold.set_image(Gtk.Image.new_from_icon_name("format-text-bold", Gtk.IconSize.BUTTON))
    bold.set_always_show_image(True)
    bold.get_accessible().set_name("Bold")
    widgets["Bold"] = bold
    for name in ("Save", "Delete", "Cancel"):
        widgets[name] = Gtk.Button(label=name)
    for column, name in enumerate(("Bold", "Save", "Delete", "Cancel")):
        grid.attach(widgets[name], column % 3, 4 + column // 3, 1, 1)
    more = Gtk.Grid(row_spacing=2, column_spacing=2)
    for index in range(args.buttons):
        more.attach(Gtk.Button(label=f"Button {index + 1}"), index % 10, index // 10, 1, 1)
    outer = Gtk.Box(orientation=Gtk.Orientation.VERTICAL)
    outer.pack_start(grid, False, False, 0)
    outer.pack_start(more, False, False, 0)
    window.add(outer)
    window.connect("destroy", Gtk.main_quit)

    def ready() -> bool:
        if not window.get_mapped() or any(w.get_window() is None for w in widgets.values()):
            return True  # not shown yet: ask again
        scale = window.get_scale_factor()
        boxes = {}
        for name, widget in widgets.items():
            _, left, top = widget.get_window().get_origin()
            allocation = widget.get_allocation()
            if allocation.width <= 1:
                return True
            box = (left + allocation.x, top + allocation.y, allocation.width, allocation.height)
            boxes[name] = [value * scale for value in box]
        say(event="ready", scale=scale, widgets=boxes)
        return False

    window.show_all()
    GLib.timeout_add(200, ready)
    Gtk.main()


if __name__ == "__main__":
    sys.exit(main())

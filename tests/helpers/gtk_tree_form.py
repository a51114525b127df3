"""A GTK3 form that pixels alone read wrong, for the OCR grounder with the accessibility tree: run with the SYSTEM
python3 (python3-gi, gir1.2-gtk-3.0), as PyGObject is not in the virtualenv.

    /usr/bin/python3 tests/helpers/gtk_tree_form.py --x X --y Y

Labels sit above the entries but crossed: "Last name" above the First name entry's neighbour, "First name"
above the Last name entry's, each the mnemonic label of the other column's entry (GTK publishes label-for /
labelled-by), and a decoy text "First name?" sits just right of the Last name entry. An icon-only button's
accessible name is "Bold" (no text on screen). Once shown it prints `{"event": "ready", "widgets": {name:
[x, y, w, h]}}` (screen px), then `{"event": "changed", "name": "First name", "text": ...}` on each change of
an entry and `{"event": "clicked", "name": "Bold"}` for each press.
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
    window = Gtk.Window(title="deskpilot tree form")
    window.move(args.x, args.y)
    grid = Gtk.Grid(row_spacing=6, column_spacing=40, margin=24)
    css = Gtk.CssProvider()
    css.load_from_data(b"label { font-size: 16pt; }")
    Gtk.StyleContext.add_provider_for_screen(window.get_screen(), css, Gtk.STYLE_PROVIDER_PRIORITY_APPLICATION)
    widgets: dict[str, Gtk.Widget] = {}
    entries = {name: Gtk.Entry(width_chars=18) for name in ("First name", "Last name")}
    # column 0: the "Last name" label over the First name entry; column 1: "First name" over the Last name entry
    for column, (label_text, entry_name) in enumerate((("Last name", "First name"), ("First name", "Last name"))):
        label = Gtk.Label(label=label_text, xalign=0)
        label.set_mnemonic_widget(entries[label_text])
        grid.attach(label, column, 0, 1, 1)
        grid.attach(entries[entry_name], column, 1, 1, 1)
        widgets[f"{label_text} label"] = label
    decoy = Gtk.Label(label="First name?", xalign=0)
    grid.attach(decoy, 2, 1, 1, 1)
    widgets["decoy"] = decoy
    for name, entry in entries.items():
        widgets[f"{name} entry"] = entry
        entry.connect("changed", lambda e, name=name: say(event="changed", name=name, text=e.get_text()))
    bold = Gtk.Button()
    bold.set_image(Gtk.Image.new_from_icon_name("format-text-bold", Gtk.IconSize.BUTTON))
    bold.set_always_show_image(True)
    bold.get_accessible().set_name("Bold")
    bold.connect("clicked", lambda _: say(event="clicked", name="Bold"))
    widgets["Bold"] = bold
    grid.attach(bold, 0, 2, 1, 1)
    window.add(grid)
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
        say(event="ready", widgets=boxes)
        return False

    window.show_all()
    GLib.timeout_add(200, ready)
    Gtk.main()


if __name__ == "__main__":
    sys.exit(main())

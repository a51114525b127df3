"""GTK3 scenes for the built-in grounding set (tools/make_builtin_gtk.py): run with the SYSTEM python3
(python3-gi, gir1.2-gtk-3.0), as PyGObject is not in the virtualenv.

One window, "deskpilot gtk editor": a toolbar of icon-only buttons with accessible names (the OCR cannot find
these), labelled entries, a check box and buttons named by their words. Its boxes come from the accessibility
tree, not from here: the maker reads them over AT-SPI (tools/grounding_from_tree.py).
"""

from __future__ import annotations

import sys

import gi

gi.require_version("Gtk", "3.0")
from gi.repository import Gtk  # noqa: E402

ICONS = (
    ("Bold", "format-text-bold"),
    ("Italic", "format-text-italic"),
    ("Underline", "format-text-underline"),
    ("Undo", "edit-undo"),
    ("Redo", "edit-redo"),
    ("Search", "edit-find"),
)


def main() -> None:
    window = Gtk.Window(title="deskpilot gtk editor")
    window.move(40, 40)
    outer = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=10, margin=16)
    bar = Gtk.Box(spacing=4)
    for name, icon in ICONS:
        button = Gtk.Button()
        button.set_image(Gtk.Image.new_from_icon_name(icon, Gtk.IconSize.BUTTON))
        button.set_always_show_image(True)
        button.get_accessible().set_name(name)
        bar.pack_start(button, False, False, 0)
    outer.pack_start(bar, False, False, 0)
    grid = Gtk.Grid(row_spacing=8, column_spacing=12)
    for row, text in enumerate(("Title", "Author")):
        label = Gtk.Label(label=text, xalign=0)
        entry = Gtk.Entry(width_chars=28)
        label.set_mnemonic_widget(entry)
        grid.attach(label, 0, row, 1, 1)
        grid.attach(entry, 1, row, 1, 1)
    outer.pack_start(grid, False, False, 0)
    outer.pack_start(Gtk.CheckButton(label="Wrap lines"), False, False, 0)
    buttons = Gtk.Box(spacing=8)
    for name in ("Apply", "Close"):
        buttons.pack_end(Gtk.Button(label=name), False, False, 0)
    outer.pack_start(buttons, False, False, 0)
    window.add(outer)
    window.connect("destroy", Gtk.main_quit)
    window.show_all()
    Gtk.main()


if __name__ == "__main__":
    sys.exit(main())

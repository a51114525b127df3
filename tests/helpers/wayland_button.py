"""A native Wayland GTK3 window that is one big button: run with the SYSTEM python3 (python3-gi).

Sway tiles it over the whole output, so any point below the title bar is on the button. Prints one JSON line
`{"event": "ready"}` once drawn and `{"event": "clicked"}` for each click.
"""

from __future__ import annotations

import json

import gi

gi.require_version("Gtk", "3.0")
from gi.repository import GLib, Gtk  # noqa: E402


def say(event: str) -> None:
    print(json.dumps({"event": event}), flush=True)


def main() -> None:
    window = Gtk.Window(title="deskpilot wayland button")
    button = Gtk.Button(label="Press me")
    button.connect("clicked", lambda _: say("clicked"))
    window.add(button)
    window.connect("destroy", Gtk.main_quit)
    window.connect("map-event", lambda *_: GLib.idle_add(lambda: say("ready")) and False)
    window.show_all()
    Gtk.main()


if __name__ == "__main__":
    main()

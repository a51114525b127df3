"""The target app's Tk twin: a heading label, Submit and Cancel buttons and a Name entry, and a log of the input
it receives, in tests/target_app.py's log format (tests/helpers/target.py reads both: `TargetWindow(app="tk")`).

    python tests/helpers/tk_target.py --log FILE --x X --y Y --width W --height H [--title T]

Tk is not Qt: a test that drives it shows deskpilot working on an app no one here wrote the toolkit of. The window
is placed at (X, Y) with Tk's own geometry; without a window manager nothing moves it, with one the `ready` line
says where it really is. Once shown the app gives the Name entry the keyboard focus (focus_force: XSetInputFocus,
as many forms do on opening).

One JSON object per line, written and flushed at once, each with "event" and "t" (time.time()):
    press                   button (1, 2, 3), x, y (screen px), widget
    key_press               key (Tk's keysym, e.g. "Control_L", "x"), text, widget
    text                    widget ("Name"), text (the whole text after the change)
    clicked                 clicked (button label), widget
    focus                   widget (the widget that got the keyboard focus)
    ready                   widgets {name: [x, y, w, h]}, window [x, y, w, h], colours {}, pid
`widget` is the name of the widget the event happened in ("Heading", "Submit", "Cancel", "Name"), or "".
"""

from __future__ import annotations

import argparse
import json
import os
import time
import tkinter
from typing import Any, TextIO

FONT = ("DejaVu Sans", 16)
HEADING = "Shipping address"


class Log:
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, event: str, **fields: Any) -> None:
        self.stream.write(json.dumps({"event": event, "t": time.time(), **fields}) + "\n")
        self.stream.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", required=True)
    parser.add_argument("--x", type=int, default=100)
    parser.add_argument("--y", type=int, default=100)
    parser.add_argument("--width", type=int, default=1000)
    parser.add_argument("--height", type=int, default=700)
    parser.add_argument("--title", default="deskpilot tk target")
    args = parser.parse_args()
    with open(args.log, "a", encoding="utf-8") as stream:
        log = Log(stream)
        root = tkinter.Tk()
        root.title(args.title)
        root.geometry(f"{args.width}x{args.height}+{args.x}+{args.y}")
        root.configure(padx=24, pady=24)
        heading = tkinter.Label(root, text=HEADING, font=FONT)
        submit = tkinter.Button(root, text="Submit", font=FONT, width=8)
        cancel = tkinter.Button(root, text="Cancel", font=FONT, width=8)
        text = tkinter.StringVar(root)
        name = tkinter.Entry(root, textvariable=text, font=FONT, width=30)
        widgets = {"Heading": heading, "Submit": submit, "Cancel": cancel, "Name": name}
        names = {str(widget): key for key, widget in widgets.items()}
        heading.grid(row=0, column=0, columnspan=2, sticky="w", pady=(0, 24))
        submit.grid(row=1, column=0, sticky="w", padx=(0, 24))
        cancel.grid(row=1, column=1, sticky="w")
        name.grid(row=2, column=0, columnspan=2, sticky="we", pady=(24, 0))
        submit.configure(command=lambda: log.write("clicked", clicked="Submit", widget="Submit"))
        cancel.configure(command=lambda: log.write("clicked", clicked="Cancel", widget="Cancel"))
        text.trace_add("write", lambda *_: log.write("text", widget="Name", text=text.get()))

        def widget_of(event: tkinter.Event) -> str:  # type: ignore[type-arg]
            return names.get(str(event.widget), "")

        root.bind_all(
            "<ButtonPress>",
            lambda e: log.write("press", button=e.num, x=e.x_root, y=e.y_root, widget=widget_of(e)),
            add="+",
        )
        root.bind_all(
            "<KeyPress>", lambda e: log.write("key_press", key=e.keysym, text=e.char, widget=widget_of(e)), add="+"
        )
        root.bind_all("<FocusIn>", lambda e: log.write("focus", widget=widget_of(e)), add="+")

        def box(widget: tkinter.Misc) -> list[int]:
            return [widget.winfo_rootx(), widget.winfo_rooty(), widget.winfo_width(), widget.winfo_height()]

        root.wait_visibility(root)  # mapped: its place on the screen is known
        root.update_idletasks()
        name.focus_force()
        log.write(
            "ready",
            widgets={key: box(widget) for key, widget in widgets.items()},
            window=box(root),
            colours={},
            pid=os.getpid(),
        )
        root.mainloop()


if __name__ == "__main__":
    main()

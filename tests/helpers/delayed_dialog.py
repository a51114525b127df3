"""A Tk window whose button opens a second window a moment later, as slow apps do (a Save As dialog, a menu).

    python tests/helpers/delayed_dialog.py [--x X --y Y --delay-ms MS]

prints one JSON line `{"event": "ready", "open": [x, y, w, h], "label": [x, y, w, h]}` (screen px) once the main
window is shown; its `Open` button opens, `--delay-ms`
later (default 700), a window with a `Confirm` button (`{"event": "opened"}`), and `Confirm` prints
`{"event": "confirmed"}` and ends the app. Buttons are Tk's own, highlighting under the pointer as they do.
"""

from __future__ import annotations

import argparse
import json
import tkinter


def say(**event: object) -> None:
    print(json.dumps(event), flush=True)


def rect(widget: tkinter.Widget) -> list[int]:
    return [widget.winfo_rootx(), widget.winfo_rooty(), widget.winfo_width(), widget.winfo_height()]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--x", type=int, default=150)
    parser.add_argument("--y", type=int, default=150)
    parser.add_argument("--delay-ms", type=int, default=700)
    args = parser.parse_args()
    root = tkinter.Tk()
    root.title("deskpilot delayed dialog")
    root.geometry(f"420x200+{args.x}+{args.y}")
    font = ("DejaVu Sans", 16)
    label = tkinter.Label(root, text="Press the button to go on", font=font)
    label.pack(pady=(30, 16))

    def confirm() -> None:
        say(event="confirmed")
        root.destroy()

    def open_dialog() -> None:
        dialog = tkinter.Toplevel(root)
        dialog.title("deskpilot dialog")
        dialog.geometry(f"360x160+{args.x + 520}+{args.y + 260}")
        tkinter.Label(dialog, text="Are you sure?", font=font).pack(pady=(24, 12))
        tkinter.Button(dialog, text="Confirm", font=font, command=confirm).pack()
        say(event="opened")

    button = tkinter.Button(root, text="Open", font=font, command=lambda: root.after(args.delay_ms, open_dialog))
    button.pack()

    def ready() -> None:
        root.update_idletasks()
        say(event="ready", open=rect(button), label=rect(label))

    root.after(300, ready)
    root.mainloop()


if __name__ == "__main__":
    main()

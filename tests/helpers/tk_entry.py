"""A Tk window with one entry, for the typing tests.

    python tests/helpers/tk_entry.py --x X --y Y

prints one JSON line `{"event": "ready", "entry": [x, y, w, h]}` (screen px) once the window is shown, then
`{"event": "text", "text": ...}` each time the entry's text changes. It never takes the keyboard focus itself.
"""

from __future__ import annotations

import argparse
import json
import tkinter


def say(**event: object) -> None:
    print(json.dumps(event, ensure_ascii=False), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--x", type=int, default=200)
    parser.add_argument("--y", type=int, default=200)
    args = parser.parse_args()
    root = tkinter.Tk()
    root.title("deskpilot tk entry")
    root.geometry(f"520x120+{args.x}+{args.y}")
    tkinter.Label(root, text="Type here:").pack(padx=24, pady=(24, 6), anchor="w")
    text = tkinter.StringVar(root)
    entry = tkinter.Entry(root, textvariable=text, width=60)
    entry.pack(padx=24, fill="x")
    text.trace_add("write", lambda *_: say(event="text", text=text.get()))

    def ready() -> None:
        root.update_idletasks()
        say(event="ready", entry=[entry.winfo_rootx(), entry.winfo_rooty(), entry.winfo_width(), entry.winfo_height()])

    root.after(500, ready)
    root.mainloop()


if __name__ == "__main__":
    main()

"""A small Tk app with one button ("Go" unless --text says otherwise), placed where a test asks (the run panel's corner, for one).

    python tests/helpers/tk_go.py --x X --y Y [--text LABEL]

Prints one JSON line `{"event": "ready", "window": [x, y, w, h], "go": [x, y, w, h]}` (screen px) once shown,
then `{"event": "clicked"}` each time Go is pressed.
"""

from __future__ import annotations

import argparse
import json
import tkinter


def say(**event: object) -> None:
    print(json.dumps(event), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--x", type=int, required=True)
    parser.add_argument("--y", type=int, required=True)
    parser.add_argument("--text", default="Go", help="the button's label")
    args = parser.parse_args()
    root = tkinter.Tk()
    root.title("go app")
    root.geometry(f"+{args.x}+{args.y}")
    button = tkinter.Button(root, text=args.text, font=("DejaVu Sans", 20), command=lambda: say(event="clicked"))
    button.pack(padx=110, pady=70)

    def ready() -> None:
        root.update_idletasks()
        window = [root.winfo_rootx(), root.winfo_rooty(), root.winfo_width(), root.winfo_height()]
        go = [button.winfo_rootx(), button.winfo_rooty(), button.winfo_width(), button.winfo_height()]
        say(event="ready", window=window, go=go)

    root.wait_visibility(root)  # mapped: its place on the screen is known
    ready()
    root.mainloop()


if __name__ == "__main__":
    main()

"""A Tk window of word buttons, titled and placed where a test asks: the same label in two windows, a busy screen.

    python tests/helpers/tk_words.py --title T --x X --y Y [--line "File Edit View"] [--words "Open,Close"]
                                     [--columns N] [--mark PID]

`--line` is one label across the top, as a menu bar reads (the detector takes it as one line); each word is a
button below it, in a grid of `--columns` columns (DejaVu Sans 12, big enough for the whole-frame detector). `--mark PID` puts deskpilot's mark (sandbox/desktops/x11_stacking.py MARK_PROPERTY) on the window, as
another deskpilot process's window carries it. Prints `{"event": "ready", "window": [x, y, w, h]}` (screen px)
once shown, then `{"event": "clicked", "word": W}` each time a button (or the line: W is all of it) is pressed.
"""

from __future__ import annotations

import argparse
import json
import tkinter


def say(**event: object) -> None:
    print(json.dumps(event), flush=True)


def mark(root: tkinter.Tk, pid: int) -> None:
    """deskpilot's mark on the client window (Tk's wrapper, the window that gets WM_STATE), as app/gui/run/x_mark.py puts it."""
    from Xlib import Xatom, display

    connection = display.Display()
    inner = connection.create_resource_object("window", root.winfo_id())
    window = inner.query_tree().parent  # Tk's wrapper: the client a window manager frames
    window.change_property(connection.intern_atom("_DESKPILOT_PID"), Xatom.CARDINAL, 32, [pid])
    connection.sync()
    connection.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--title", required=True)
    parser.add_argument("--x", type=int, required=True)
    parser.add_argument("--y", type=int, required=True)
    parser.add_argument("--line", default=None, help="one label across the top")
    parser.add_argument("--words", default="", help="comma-separated")
    parser.add_argument("--columns", type=int, default=1)
    parser.add_argument("--mark", type=int, default=None, help="deskpilot's mark: this pid")
    args = parser.parse_args()
    root = tkinter.Tk()
    root.title(args.title)
    root.geometry(f"+{args.x}+{args.y}")
    if args.line is not None:
        line = tkinter.Label(root, text=args.line, font=("DejaVu Sans", 12))
        line.bind("<Button-1>", lambda _: say(event="clicked", word=args.line))
        line.grid(row=0, column=0, columnspan=max(1, args.columns), padx=6, pady=3, sticky="w")
    for index, word in enumerate(w for w in args.words.split(",") if w):
        button = tkinter.Button(
            root, text=word, font=("DejaVu Sans", 12), command=lambda word=word: say(event="clicked", word=word)
        )
        button.grid(row=1 + index // args.columns, column=index % args.columns, padx=6, pady=3, sticky="w")
    if args.mark is not None:
        root.update_idletasks()
        mark(root, args.mark)
    root.wait_visibility(root)  # mapped: its place on the screen is known
    root.update_idletasks()
    say(event="ready", window=[root.winfo_rootx(), root.winfo_rooty(), root.winfo_width(), root.winfo_height()])
    root.mainloop()


if __name__ == "__main__":
    main()

"""A Tk form for the OCR grounder's replace/append tests: labels with a colon left of their entries, and OK.

    python tests/helpers/tk_form.py --field "Name=draft.txt" [--field "Amount=0.00" --disabled Amount]
        [--focus Message] [--x X --y Y]

Each `--field LABEL=TEXT` is a row (an entry holding TEXT); `--disabled LABEL` makes that entry disabled (it
shows its text but a click does not give it the keyboard focus, as a display-only amount field);
`--focus LABEL` is the entry the app itself puts the keyboard focus in when it opens, as many forms do (the
red team's N3 form: "Message" has the focus, "Amount" shows 0.00 and does not take it). Prints one JSON line
`{"event": "ready", "fields": {label: [x, y, w, h]}}` (screen px) once shown, then
`{"event": "ok", "texts": {label: text}}` when OK is clicked, and exits.
"""

from __future__ import annotations

import argparse
import json
import tkinter

FONT = ("DejaVu Sans", 13)


def say(**event: object) -> None:
    print(json.dumps(event, ensure_ascii=False), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--field", action="append", default=[], help="LABEL=TEXT")
    parser.add_argument("--disabled", action="append", default=[])
    parser.add_argument("--focus", default=None)
    parser.add_argument("--x", type=int, default=300)
    parser.add_argument("--y", type=int, default=220)
    args = parser.parse_args()
    root = tkinter.Tk()
    root.title("deskpilot tk form")
    root.geometry(f"+{args.x}+{args.y}")
    root.configure(padx=24, pady=24)
    entries: dict[str, tkinter.Entry] = {}
    for row, spec in enumerate(args.field):
        label, _, text = spec.partition("=")
        tkinter.Label(root, text=f"{label}:", font=FONT).grid(row=row, column=0, sticky="w", padx=(0, 16), pady=8)
        entry = tkinter.Entry(root, width=28, font=FONT, disabledforeground="#333333")
        entry.insert(0, text)
        if label in args.disabled:
            entry.configure(state="disabled")
        entry.grid(row=row, column=1, sticky="we", pady=8)
        entries[label] = entry

    def ok() -> None:
        say(event="ok", texts={label: entry.get() for label, entry in entries.items()})
        root.destroy()

    tkinter.Button(root, text="OK", font=FONT, width=8, command=ok).grid(
        row=len(entries), column=1, sticky="e", pady=(16, 0)
    )

    def ready() -> None:
        root.update_idletasks()
        if args.focus is not None:
            entries[args.focus].focus_force()
        rects = {
            label: [e.winfo_rootx(), e.winfo_rooty(), e.winfo_width(), e.winfo_height()] for label, e in entries.items()
        }
        say(event="ready", fields=rects)

    root.after(500, ready)
    root.mainloop()


if __name__ == "__main__":
    main()

"""The built-in grounding set's Tk scenes: real tkinter widgets, boxes from Tk's own geometry (winfo_*, bbox).

The same protocol as tools/builtin_scenes_qt.py: per scene one JSON line {"scene", "window", "targets"} (boxes
relative to the window, x2, y2 the last pixel of the element), then a line on stdin before the next scene.
"""

from __future__ import annotations

import json
import sys
import time
import tkinter as tk
from collections.abc import Callable
from tkinter import ttk

WINDOW_AT = (40, 40)
PAINT_S = 0.5
Area = Callable[[], tuple[int, int, int, int]] | None  # (x, y, w, h) inside the widget, asked once laid out
Target = tuple[str, str, tk.Misc, Area]  # instruction, ui_type, widget, area (None: all of it)


def _delete_dialog(top: tk.Toplevel) -> list[Target]:
    top.title("Delete files")
    body = tk.Frame(top, padx=14, pady=12)
    body.pack(fill="both", expand=True)
    sign = tk.Label(body, bitmap="warning", padx=6)
    sign.grid(row=0, column=0, rowspan=2, sticky="n")
    tk.Label(body, text="Delete 3 files permanently?", font=("DejaVu Sans", 11, "bold")).grid(
        row=0, column=1, sticky="w"
    )
    tk.Label(body, text="They will not go to the trash and cannot be restored.").grid(row=1, column=1, sticky="w")
    again = tk.Checkbutton(body, text="Do not ask me again")
    again.grid(row=2, column=1, sticky="w", pady=(10, 4))
    row = tk.Frame(body)
    row.grid(row=3, column=0, columnspan=2, sticky="e", pady=(8, 0))
    keep = tk.Button(row, text="Keep Files", width=10)
    delete = tk.Button(row, text="Delete", width=10)
    keep.pack(side="left", padx=4)
    delete.pack(side="left", padx=4)
    return [
        ("Keep Files", "text", keep, None),
        ("Delete", "text", delete, None),
        ("Do not ask me again", "text", again, None),
        ("the warning sign", "icon", sign, None),
    ]


def _sign_in(top: tk.Toplevel) -> list[Target]:
    top.title("Sign in")
    body = tk.Frame(top, padx=16, pady=12)
    body.pack(fill="both", expand=True)
    tk.Label(body, text="Username").grid(row=0, column=0, sticky="w")
    user = tk.Entry(body, width=28)
    user.insert(0, "ada")
    user.grid(row=0, column=1, pady=3)
    tk.Label(body, text="Password").grid(row=1, column=0, sticky="w")
    password = tk.Entry(body, width=28, show="•")
    password.insert(0, "secret")
    password.grid(row=1, column=1, pady=3)
    show = tk.Checkbutton(body, text="Show password")
    show.grid(row=2, column=1, sticky="w")
    modes = tk.Frame(body)
    modes.grid(row=3, column=1, sticky="w", pady=4)
    choice = tk.StringVar(value="light")
    light = tk.Radiobutton(modes, text="Light mode", variable=choice, value="light")
    dark = tk.Radiobutton(modes, text="Dark mode", variable=choice, value="dark")
    light.pack(side="left")
    dark.pack(side="left")
    row = tk.Frame(body)
    row.grid(row=4, column=0, columnspan=2, sticky="e", pady=(10, 0))
    help_button = tk.Button(row, bitmap="question", width=28, height=22)
    help_button.pack(side="left", padx=4)
    cancel = tk.Button(row, text="Cancel", width=9)
    sign_in = tk.Button(row, text="Sign in", width=9)
    cancel.pack(side="left", padx=4)
    sign_in.pack(side="left", padx=4)
    return [
        ("Sign in", "text", sign_in, None),
        ("Cancel", "text", cancel, None),
        ("Show password", "text", show, None),
        ("Dark mode", "text", dark, None),
        ("the password field", "icon", password, None),
        ("the question mark help button", "icon", help_button, None),
    ]


def _downloads(top: tk.Toplevel) -> list[Target]:
    top.title("Downloads")
    body = tk.Frame(top, padx=12, pady=10)
    body.pack(fill="both", expand=True)
    bar = tk.Frame(body)
    bar.pack(fill="x")
    busy = tk.Button(bar, bitmap="hourglass", width=28, height=22)
    info = tk.Button(bar, bitmap="info", width=28, height=22)
    busy.pack(side="left", padx=(0, 4))
    info.pack(side="left")
    search = ttk.Entry(bar, width=24)
    search.insert(0, "Search downloads")
    search.pack(side="right")
    files = tk.Listbox(body, height=7, width=44, activestyle="none")
    for name in ("invoice-march.pdf", "kernel-6.9.tar.xz", "meeting notes.docx", "photo-0042.jpg", "setup.exe"):
        files.insert("end", name)
    files.pack(fill="both", expand=True, pady=8)
    progress = ttk.Progressbar(body, length=300, value=64)
    progress.pack(fill="x")
    row = tk.Frame(body)
    row.pack(fill="x", pady=(8, 0))
    clear = ttk.Button(row, text="Clear List")
    folder = ttk.Button(row, text="Open Folder")
    folder.pack(side="right", padx=4)
    clear.pack(side="right", padx=4)
    return [
        ("Clear List", "text", clear, None),
        ("Open Folder", "text", folder, None),
        ("meeting notes.docx", "text", files, lambda: _row(files, 2)),
        ("setup.exe", "text", files, lambda: _row(files, 4)),
        ("the hourglass button", "icon", busy, None),
        ("the download progress bar", "icon", progress, None),
    ]


def _row(listbox: tk.Listbox, index: int) -> tuple[int, int, int, int]:
    """A listbox row as wide as the list shows it (bbox gives only the text's own width)."""
    listbox.update_idletasks()
    box = listbox.bbox(index)
    assert box is not None
    inset = int(listbox.cget("borderwidth")) + int(listbox.cget("highlightthickness"))
    return inset, box[1], listbox.winfo_width() - 2 * inset, box[3]


SCENES = {"tk-delete-dialog": _delete_dialog, "tk-sign-in": _sign_in, "tk-downloads": _downloads}


def _settle(root: tk.Tk, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        root.update()
        time.sleep(0.01)


def main() -> int:
    root = tk.Tk()
    root.withdraw()
    for scene, build in SCENES.items():
        top = tk.Toplevel(root)
        targets = build(top)
        top.geometry(f"+{WINDOW_AT[0]}+{WINDOW_AT[1]}")
        top.lift()
        _settle(root, PAINT_S)
        left, upper = top.winfo_rootx(), top.winfo_rooty()
        boxes = []
        for instruction, ui_type, widget, area in targets:
            x, y, w, h = area() if area is not None else (0, 0, widget.winfo_width(), widget.winfo_height())
            x1, y1 = widget.winfo_rootx() - left + x, widget.winfo_rooty() - upper + y
            boxes.append({"instruction": instruction, "ui_type": ui_type, "box": [x1, y1, x1 + w - 1, y1 + h - 1]})
        record = {"scene": scene, "window": [left, upper, top.winfo_width(), top.winfo_height()], "targets": boxes}
        print(json.dumps(record), flush=True)
        sys.stdin.readline()  # the picture is taken
        top.destroy()
        _settle(root, 0.05)
    root.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())

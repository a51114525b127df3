"""Make a grounding set from a running app's accessibility tree, to score a backend on your own apps.

    .venv/bin/python tools/grounding_from_tree.py OUT [--window TITLE] [--name NAME] [--group GROUP]
    deskpilot eval OUT --backend ...

For every showing window of every app on the accessibility bus (AT-SPI; `--window`: those whose title holds
TITLE), the window's pixels are grabbed from the X server ($DISPLAY) once two grabs agree, and each named,
showing, enabled control in it (not plain text or a container: agent/backends/ocr/elements.py's NOT_CONTROLS)
becomes one sample with its box from the tree. A name two controls of one window share is left out (the
instruction would be ambiguous). The set is written in ScreenSpot-Pro's format, which `deskpilot eval` reads:
`OUT/images/<NAME>-<n>.png` and `OUT/annotations/<NAME>_linux.json` (bbox = [x1, y1, x2, y2], x2 and y2 the
last pixel column and row of the element; `ui_type` text when the OCR backend's reader finds the name's words
inside the control's box, else icon; `group` GROUP, default the app's toolkit).
The accessibility bus is the one $AT_SPI_BUS_ADDRESS names, else the session bus's (accessibility is turned on
if it is off: apps started before that may publish nothing until restarted). Exit 2 with one line when there is
no bus, no window matches or no control has a name.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from agent.backends.ocr.backend import OcrBackend  # noqa: E402
from agent.backends.ocr.elements import NOT_CONTROLS  # noqa: E402
from agent.backends.ocr.match import OcrLine, find_all  # noqa: E402
from sandbox.accessibility import AccessibilityTree, Element, open_tree  # noqa: E402

STILL_TIMEOUT_S = 3.0


class GroundingError(Exception):
    """Nothing to make a set of (no bus, no window, no named control) or a window that would not hold still."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Picture:
    """One window's grab and its samples (ScreenSpot-Pro fields but `img_filename`)."""

    window: Element
    image: Image.Image
    samples: tuple[dict[str, Any], ...]


def samples_of(
    window: Element, elements: list[Element], *, group: str, words: list[OcrLine] | None
) -> list[dict[str, Any]]:
    """One sample per named, showing, enabled control of `window` (its box relative to the window), a name
    shared by two controls left out; `words`: the text read on the window's picture (None: every sample is
    text)."""
    wx, wy, ww, wh = window.box.x, window.box.y, window.box.width, window.box.height
    controls = [
        e
        for e in elements
        if e.name.strip()
        and e.role.lower() not in NOT_CONTROLS
        and "showing" in e.states
        and ("enabled" in e.states or "sensitive" in e.states)
        and e.box.width > 1
        and e.box.height > 1
    ]
    counts: dict[str, int] = {}
    for e in controls:
        counts[e.name.strip()] = counts.get(e.name.strip(), 0) + 1
    samples = []
    for e in controls:
        name = e.name.strip()
        x1, y1 = max(0, e.box.x - wx), max(0, e.box.y - wy)
        x2, y2 = min(ww, e.box.x + e.box.width - wx) - 1, min(wh, e.box.y + e.box.height - wy) - 1
        if counts[name] > 1 or x2 <= x1 or y2 <= y1:
            continue
        box = (x1, y1, x2, y2)
        worded = words is None or any(m.how in ("exact", "word") and _within(m.box, box) for m in find_all(words, name))
        samples.append(
            {
                "bbox": [x1, y1, x2, y2],
                "img_size": [ww, wh],
                "instruction": name,
                "ui_type": "text" if worded else "icon",
                "group": group,
                "platform": "linux",
                "role": e.role,
            }
        )
    return samples


def collect(
    tree: AccessibilityTree, *, display: str | None, window_title: str | None = None, group: str | None = None
) -> list[Picture]:
    """Every matching showing window's grab and samples; windows without a named control are left out."""
    pictures = []
    apps = {app.bus_name: app for app in tree.applications()}
    for window in tree.showing_windows(except_pid=os.getpid()):
        if window_title is not None and window_title.casefold() not in window.name.casefold():
            continue
        if window.box.width <= 1 or window.box.height <= 1:
            continue
        app = apps.get(window.bus_name)
        toolkit = (app.toolkit if app is not None else "").lower() or "app"
        image = grab(display, window)
        samples = samples_of(window, tree.walk(window, full=True)[1:], group=group or toolkit, words=read(image))
        if samples:
            pictures.append(Picture(window=window, image=image, samples=tuple(samples)))
    return pictures


def write(pictures: list[Picture], out: Path, name: str, *, images_under: str = "") -> list[dict[str, Any]]:
    """The set in ScreenSpot-Pro's format (see the module docstring); `images_under`: a folder inside images/."""
    folder = out / "images" / images_under
    folder.mkdir(parents=True, exist_ok=True)
    samples = []
    for index, picture in enumerate(pictures, start=1):
        filename = f"{name}-{index}.png"
        buffer = io.BytesIO()
        picture.image.save(buffer, format="PNG", optimize=True)
        (folder / filename).write_bytes(buffer.getvalue())
        image_name = f"{images_under}/{filename}" if images_under else filename
        application = picture.window.name or picture.window.app or name
        samples += [{"img_filename": image_name, **s, "application": application} for s in picture.samples]
    annotations = out / "annotations"
    annotations.mkdir(parents=True, exist_ok=True)
    (annotations / f"{name}_linux.json").write_text(
        json.dumps(samples, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return samples


def grab(display: str | None, window: Element) -> Image.Image:
    """The window's pixels from the X server, once two grabs in a row are the same (painting finished)."""
    import mss

    box = window.box
    region = {"left": box.x, "top": box.y, "width": box.width, "height": box.height}
    deadline = time.monotonic() + STILL_TIMEOUT_S
    with mss.MSS(display=display) as screen:
        previous = None
        while True:
            shot = screen.grab(region)
            picture = Image.frombytes("RGB", shot.size, shot.bgra, "raw", "BGRX")
            if previous is not None and picture.tobytes() == previous.tobytes():
                return picture
            if time.monotonic() > deadline:
                raise GroundingError(f"the window {window.name!r} kept changing for {STILL_TIMEOUT_S:g} s")
            previous = picture
            time.sleep(0.1)


def read(image: Image.Image) -> list[OcrLine]:
    """The text lines on a window's picture (the OCR backend's reader): a control whose name is among them
    inside its box is named by its visible words (ui_type text)."""
    if not _OCR:
        _OCR.append(OcrBackend(threads=1))
    return _OCR[0].read(image)


_OCR: list[OcrBackend] = []  # one reader for every window, loaded when first needed


def _within(inner: tuple[int, int, int, int], outer: tuple[int, int, int, int]) -> bool:
    cx, cy = (inner[0] + inner[2]) / 2, (inner[1] + inner[3]) / 2
    return outer[0] <= cx <= outer[2] and outer[1] <= cy <= outer[3]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the folder to write the set into")
    parser.add_argument("--window", help="only windows whose title holds this")
    parser.add_argument("--name", default="tree", help="the set's name (file names), default 'tree'")
    parser.add_argument("--group", help="the samples' group (default: the app's toolkit)")
    args = parser.parse_args(argv)
    if not re.fullmatch(r"[A-Za-z0-9._-]+", args.name):
        print(f"--name {args.name!r}: use letters, digits, '.', '_' and '-' only", file=sys.stderr)
        return 2
    try:
        tree = open_tree(a11y_address=os.environ.get("AT_SPI_BUS_ADDRESS") or None)
        if tree is None:
            raise GroundingError("no accessibility bus on this desktop (at-spi2-core not running)")
        pictures = collect(tree, display=os.environ.get("DISPLAY"), window_title=args.window, group=args.group)
        if not pictures:
            which = f" titled like {args.window!r}" if args.window else ""
            raise GroundingError(f"no showing window{which} has a named control in the accessibility tree")
        samples = write(pictures, args.out, args.name)
    except GroundingError as exc:
        print(f"grounding_from_tree: {exc}", file=sys.stderr)
        return 2
    icons = sum(s["ui_type"] == "icon" for s in samples)
    print(f"{len(samples)} samples ({icons} icon) on {len(pictures)} window(s), in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

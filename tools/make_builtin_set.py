"""Make the built-in grounding set (`deskpilot eval builtin`): real Qt and Tk widgets on a private Xvfb.

    .venv/bin/python tools/make_builtin_set.py [OUT]      (default: agent/evaluation/builtin)

Each toolkit's scenes run in their own process (tools/builtin_scenes_qt.py, tools/builtin_scenes_tk.py) on a
private Xvfb of DISPLAY_SIZE; each scene reports its window and every target's box from the toolkit's own
widget geometry, this process grabs the window's pixels from the X server (mss) once two grabs agree, and the
set is written in ScreenSpot-Pro's format: `images/<scene>.png` (optimised PNG) and `annotations/builtin.json`
(bbox = [x1, y1, x2, y2], x2 and y2 the last pixel column and row of the element; group = the toolkit;
ui_type text for targets named by their visible words, icon for the others). GTK is not included: its
dialogs (zenity) expose their geometry only through AT-SPI, which needs packages deskpilot does not install.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from sandbox.display import IsolatedDisplay  # noqa: E402

DISPLAY_SIZE = (1024, 768)
TOOLKITS = {"qt": "builtin_scenes_qt.py", "tk": "builtin_scenes_tk.py"}
SCENE_TIMEOUT_S = 30.0
STILL_TIMEOUT_S = 3.0
OUT = ROOT / "agent" / "evaluation" / "builtin"


class MakeError(Exception):
    """A scene that did not come up, or a box that does not fit its picture."""


def make(out: Path, display: str) -> list[dict[str, Any]]:
    """Render every scene on `display` into `out`; returns the samples written."""
    images = out / "images"
    images.mkdir(parents=True, exist_ok=True)
    for old in images.glob("*.png"):
        old.unlink()
    samples: list[dict[str, Any]] = []
    for toolkit, script in TOOLKITS.items():
        samples += _render(toolkit, Path(__file__).with_name(script), images, display)
    annotations = out / "annotations"
    annotations.mkdir(parents=True, exist_ok=True)
    (annotations / "builtin.json").write_text(
        json.dumps(samples, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return samples


def _render(toolkit: str, script: Path, images: Path, display: str) -> list[dict[str, Any]]:
    env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
    env.pop("WAYLAND_DISPLAY", None)
    process = subprocess.Popen(
        [sys.executable, str(script)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdin is not None and process.stdout is not None
    samples: list[dict[str, Any]] = []
    try:
        for line in process.stdout:
            scene = json.loads(line)
            picture = _grab(display, scene["window"])
            name = f"{scene['scene']}.png"
            _check(scene, picture.size)
            buffer = io.BytesIO()
            picture.save(buffer, format="PNG", optimize=True)
            (images / name).write_bytes(buffer.getvalue())
            for target in scene["targets"]:
                samples.append(
                    {
                        "img_filename": name,
                        "bbox": target["box"],
                        "img_size": list(picture.size),
                        "instruction": target["instruction"],
                        "ui_type": target["ui_type"],
                        "group": toolkit,
                        "platform": "linux",
                        "application": scene["scene"],
                    }
                )
            process.stdin.write("next\n")
            process.stdin.flush()
        process.stdin.close()
        code = process.wait(timeout=SCENE_TIMEOUT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    if code != 0 or not samples:
        error = process.stderr.read() if process.stderr else ""
        raise MakeError(f"{script.name} exited with {code}: {error.strip()[-800:]}")
    return samples


def _grab(display: str, window: list[int]) -> Image.Image:
    """The window's pixels from the X server, once two grabs in a row are the same (painting finished)."""
    import mss

    left, top, width, height = window
    region = {"left": left, "top": top, "width": width, "height": height}
    deadline = time.monotonic() + STILL_TIMEOUT_S
    with mss.MSS(display=display) as screen:
        previous = None
        while True:
            shot = screen.grab(region)
            picture = Image.frombytes("RGB", shot.size, shot.bgra, "raw", "BGRX")
            if previous is not None and picture.tobytes() == previous.tobytes():
                return picture
            if time.monotonic() > deadline:
                raise MakeError(f"the window at {window} kept changing for {STILL_TIMEOUT_S:g} s")
            previous = picture
            time.sleep(0.1)


def _check(scene: dict[str, Any], size: tuple[int, int]) -> None:
    width, height = size
    seen = set()
    for target in scene["targets"]:
        x1, y1, x2, y2 = target["box"]
        if not (0 <= x1 <= x2 < width and 0 <= y1 <= y2 < height):
            raise MakeError(
                f"{scene['scene']}: the box of {target['instruction']!r} {target['box']} is not inside {size}"
            )
        if target["instruction"] in seen:
            raise MakeError(f"{scene['scene']}: {target['instruction']!r} is asked twice")
        seen.add(target["instruction"])


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else OUT
    with IsolatedDisplay(*DISPLAY_SIZE, nested=False) as display:
        samples = make(out, display.name)
    pictures = sorted((out / "images").glob("*.png"))
    size = sum(p.stat().st_size for p in pictures)
    kinds = {kind: sum(s["ui_type"] == kind for s in samples) for kind in ("text", "icon")}
    print(
        f"{len(samples)} samples ({kinds['text']} text, {kinds['icon']} icon) on {len(pictures)} images, "
        f"{size / 1024:.0f} KiB, in {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The OCR grounder's time per step on busy desktop screens, against a whole-frame rapidocr read, in one run.

Scenes (tests/helpers/desktop_scene.py) hold a file manager with a long listing of 11-12 px text, a form whose
labels have no colon, and a dialog with English and Chinese labels, at 1920x1080 and 2560x1440. Each task
below runs through a fresh OcrBackend (one engine, loaded and warmed once, shared by all), on frames that
change as its steps would change them (a button pressed and the status line, a word typed into a field, a
row selected); each step's request image is the frame prepared for qwen2.5-vl, as the loop prepares it.

For each size it prints the median time of the first step (nothing read yet), of later steps (the screen
changed a little), and of rapidocr reading a whole frame of the same scenes (its own pipeline: every box
detected, then recognised), timed in the same run and interleaved with the steps, so that other load on
the machine weighs on both; the ratios of the two; how many boxes a step recognised against a whole read;
and the hit rate: clicks inside the target's drawn box (a field's box for "type X into F"), every step. And
how long a misspelled target (on nothing of the screen) takes to be answered "not found" on the first look,
naming the text it was meant to be.

Beside them, X core fonts from real programs (tests/helpers/small_text.py) on an Xvfb of the benchmark's own
at 1280x800 and 1920x1080: xmessage at the screen's top-left (where PP-OCRv6 read nothing of a whole frame) and
xterm in its default font, task "click Cancel then click No". Each step's click is made for real with xdotool and
the programs say what it pressed (xterm's cell, xmessage's button), and the next step reads the screen it left.

    .venv/bin/python bench/ocr_step.py [--sizes 1920x1080,2560x1440] [--repeat 3] [--json] [--no-xcore]
    .venv/bin/python bench/ocr_step.py --det-scales 1,0.87,0.75,0.5   # detection scale: what 11 px text needs
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from tests.helpers.desktop_scene import State  # noqa: E402

TARGET_LATER_MS = 150.0  # the promise (issue 18): at 1080p, later steps at most this (median), ...
TARGET_FIRST_RATIO = 1 / 4  # ... and the first step at most this fraction of a whole read
TARGET_NOT_FOUND_MS = 2000.0  # ... and a misspelled target answered (with the nearest texts) within this
TYPO_TASK, TYPO_OF = "click Pcitrues", "Pictures"  # nowhere on the scene (no fuzzy match); the nearest by spelling


@dataclass(frozen=True)
class Task:
    text: str
    states: tuple[State, ...]  # the screen before each step, and after the last
    targets: tuple[tuple[str, str], ...]  # per step: ("text" | "field", name) it must land in


def tasks(rows: tuple[str, ...]) -> list[Task]:
    first, second = rows[5], rows[21]
    return [
        Task(
            "click Apply then click Cancel then click Export report",
            (
                State(),
                State(pressed="Apply", status="Settings applied"),
                State(pressed="Cancel", status="Changes discarded"),
                State(pressed="Export report", status="Report exported"),
            ),
            (("text", "Apply"), ("text", "Cancel"), ("text", "Export report")),
        ),
        Task(
            'type "Ada" into First name then type "Lovelace" into Last name then click OK',
            (
                State(),
                State(typed={"First name": "Ada"}, focus="First name"),
                State(typed={"First name": "Ada", "Last name": "Lovelace"}, focus="Last name"),
                State(typed={"First name": "Ada", "Last name": "Lovelace"}, pressed="OK", status="Saved"),
            ),
            (("field", "First name"), ("field", "Last name"), ("text", "OK")),
        ),
        Task(
            "在名称中输入周报，点击保存，然后点击取消",
            (
                State(),
                State(typed={"名称": "周报"}, focus="名称"),
                State(typed={"名称": "周报"}, pressed="保存", status="已保存"),
                State(typed={"名称": "周报"}, pressed="取消", status="已取消"),
            ),
            (("field", "名称"), ("text", "保存"), ("text", "取消")),
        ),
        Task(
            f"click {first} then click {second} then click Downloads",
            (State(), State(selected=first), State(selected=second), State(selected=second, status="Downloads")),
            (("text", first), ("text", second), ("text", "Downloads")),
        ),
    ]


def measure(width: int, height: int, repeat: int, engine: Any, *, verbose: bool = False) -> dict[str, Any]:
    from agent.backends.base import ModelRequest
    from agent.backends.ocr.backend import OcrBackend
    from agent.families import get_family, model_frame, model_input_size
    from agent.imaging import prepare_image
    from agent.parsing import parse_reply
    from agent.prompts import build_messages
    from sandbox.actions import Click
    from sandbox.stop import StopFlag
    from tests.helpers.desktop_scene import desktop_scene

    family = get_family("qwen2.5-vl")
    size = model_input_size(family, width, height)
    frame = model_frame(family, width, height)
    first_ms: list[float] = []
    later_ms: list[float] = []
    whole_ms: list[float] = []
    step_boxes: list[int] = []
    whole_boxes: list[int] = []
    typo_ms: list[float] = []
    hits, misses, typo_named = 0, [], 0
    plan = tasks(desktop_scene(width, height).rows)
    scenes = {
        (task.text, i): desktop_scene(width, height, state) for task in plan for i, state in enumerate(task.states)
    }
    images = {key: prepare_image(scene.image, size) for key, scene in scenes.items()}
    for _ in range(repeat):
        for task in plan:
            backend = OcrBackend(engine=engine)  # nothing read yet: the first step reads from scratch
            for step in range(1, len(task.states) + 1):
                image = images[(task.text, step - 1)]
                request = ModelRequest(
                    family=family,
                    messages=build_messages(family, task.text, image),
                    task=task.text,
                    image=image,
                    step=step,
                )
                started = time.perf_counter()
                reply = backend.generate(request, stop=StopFlag())
                elapsed = (time.perf_counter() - started) * 1000
                actions = [p.action for p in parse_reply(reply.raw, family=family, frame=frame).actions]
                if step > len(task.targets):
                    if "success" not in reply.raw:
                        misses.append(f"{task.text}: did not finish ({reply.raw.splitlines()[0]})")
                    continue
                (first_ms if step == 1 else later_ms).append(elapsed)
                read = backend.last_read
                step_boxes.append(read.recognised if read else 0)
                if verbose and read is not None:
                    print(
                        f"  {width}x{height} {task.text[:40]:40} step {step}: {elapsed:6.0f} ms, frame {read.frame},"
                        f" detected {read.detected_px} px in {read.regions or 'one'} region(s), recognised {read.recognised}",
                        file=sys.stderr,
                    )
                kind, name = task.targets[step - 1]
                scene = scenes[(task.text, step - 1)]
                box = scene.fields[name] if kind == "field" else scene.texts[name]
                clicks = [a for a in actions if isinstance(a, Click)]
                if clicks and box[0] <= clicks[0].x <= box[2] and box[1] <= clicks[0].y <= box[3]:
                    hits += 1
                else:
                    misses.append(f"{task.text}: step {step} ({name}): {reply.raw.splitlines()[0]}")
            lines, seconds = engine.read_whole(_rgb(images[(task.text, 1)]))  # interleaved with the steps
            whole_ms.append(seconds * 1000)
            whole_boxes.append(len(lines))
        # a typo, on the first look at the scene: answered "not found", naming the text it was meant to be first
        backend = OcrBackend(engine=engine)
        image = images[(plan[0].text, 0)]
        request = ModelRequest(
            family=family, messages=build_messages(family, TYPO_TASK, image), task=TYPO_TASK, image=image, step=1
        )
        started = time.perf_counter()
        reply = backend.generate(request, stop=StopFlag())
        typo_ms.append((time.perf_counter() - started) * 1000)
        if f"nearest by spelling: '{TYPO_OF}'" in reply.raw and "failure" in reply.raw:
            typo_named += 1
        else:
            misses.append(f"{TYPO_TASK}: {reply.raw.splitlines()[0]}")
    first, later, whole = statistics.median(first_ms), statistics.median(later_ms), statistics.median(whole_ms)
    return {
        "scene": "desktop_scene",
        "size": [width, height],
        "image": list(size),
        "first_ms": first,
        "later_ms": later,
        "whole_ms": whole,
        "later_over_whole": later / whole,
        "first_over_whole": first / whole,
        "boxes_per_step": statistics.median(step_boxes),
        "boxes_per_whole_read": statistics.median(whole_boxes),
        "steps": len(first_ms) + len(later_ms),
        "hits": hits,
        "misses": misses,
        "later_all_ms": sorted(round(v) for v in later_ms),
        "first_all_ms": sorted(round(v) for v in first_ms),
        "not_found_ms": statistics.median(typo_ms),
        "not_found_all_ms": sorted(round(v) for v in typo_ms),
        "not_found_named": typo_named,
    }


XCORE_SIZES = ((1280, 800), (1920, 1080))
XCORE_TASK = "click Cancel then click No"
XCORE_WORDS = "Save Cancel Quit"  # the xterm's line
XCORE_TERMINAL = "60x8+300+200"  # the xterm's size (cells) and place; xmessage keeps its own, the top-left


def measure_xcore(width: int, height: int, repeat: int, engine: Any) -> dict[str, Any]:
    """XCORE_TASK on xmessage and xterm, started afresh each round on an Xvfb of width x height; see the docstring."""
    import subprocess
    import tempfile

    from agent.backends.ocr.backend import OcrBackend
    from tests.helpers.small_text import XTERM_FIRST_COLUMN, press, settled_screen, terminal, xmessage, xvfb

    first_ms: list[float] = []
    later_ms: list[float] = []
    whole_ms: list[float] = []
    step_boxes: list[int] = []
    hits, misses = 0, []
    cancel = XTERM_FIRST_COLUMN + XCORE_WORDS.index("Cancel")
    with xvfb(width, height) as display, tempfile.TemporaryDirectory() as folder:
        for _ in range(repeat):
            backend = OcrBackend(engine=engine)
            with (
                xmessage(display) as message,
                terminal(display, XCORE_WORDS, Path(folder), geometry=XCORE_TERMINAL) as xterm,
            ):
                screen = settled_screen(display)
                point, elapsed, raw = _step(backend, XCORE_TASK, screen, 1)
                first_ms.append(elapsed)
                step_boxes.append(backend.last_read.recognised if backend.last_read else 0)
                whole_ms.append(engine.read_whole(_rgb(_prepared(screen)))[1] * 1000)  # interleaved with the steps
                try:
                    if point is None:
                        raise subprocess.TimeoutExpired("xterm", 0)
                    press(display, point)
                    column, row = xterm.pressed_cell(timeout=5)
                    if row == 1 and cancel <= column < cancel + len("Cancel"):
                        hits += 1
                    else:
                        misses.append(f"{width}x{height} step 1 (Cancel): pressed cell {column},{row}: {raw}")
                except subprocess.TimeoutExpired:
                    misses.append(f"{width}x{height} step 1 (Cancel): xterm saw no press: {raw}")
                after = settled_screen(display, unlike=screen)
                point, elapsed, raw = _step(backend, XCORE_TASK, after, 2)
                later_ms.append(elapsed)
                step_boxes.append(backend.last_read.recognised if backend.last_read else 0)
                try:
                    if point is None:
                        raise subprocess.TimeoutExpired("xmessage", 0)
                    press(display, point)
                    status, printed = message.result(timeout=5)
                    if (status, printed) == (1, "No"):
                        hits += 1
                    else:
                        misses.append(f"{width}x{height} step 2 (No): xmessage said {printed!r}: {raw}")
                except subprocess.TimeoutExpired:
                    misses.append(f"{width}x{height} step 2 (No): xmessage saw no press: {raw}")
    first, later, whole = statistics.median(first_ms), statistics.median(later_ms), statistics.median(whole_ms)
    return {
        "scene": "xcore",
        "size": [width, height],
        "image": list(_prepared(Image.new("RGB", (width, height))).size),
        "first_ms": first,
        "later_ms": later,
        "whole_ms": whole,
        "later_over_whole": later / whole,
        "first_over_whole": first / whole,
        "boxes_per_step": statistics.median(step_boxes),
        "boxes_per_whole_read": None,
        "steps": 2 * repeat,
        "hits": hits,
        "misses": misses,
        "later_all_ms": sorted(round(v) for v in later_ms),
        "first_all_ms": sorted(round(v) for v in first_ms),
    }


def _prepared(screen: Any) -> Any:
    """The request image of a screenshot, as the loop prepares it for qwen2.5-vl."""
    from agent.families import get_family, model_input_size
    from agent.imaging import prepare_image

    return prepare_image(screen, model_input_size(get_family("qwen2.5-vl"), *screen.size))


def _step(backend: Any, task: str, screen: Any, step: int) -> tuple[tuple[int, int] | None, float, str]:
    """One step on a screenshot: the click it answers (screen px) or None, its ms, and the reply's first line."""
    from agent.backends.base import ModelRequest
    from agent.families import get_family, model_frame
    from agent.parsing import parse_reply
    from agent.prompts import build_messages
    from sandbox.actions import Click
    from sandbox.stop import StopFlag

    family = get_family("qwen2.5-vl")
    image = _prepared(screen)
    request = ModelRequest(
        family=family, messages=build_messages(family, task, image), task=task, image=image, step=step
    )
    started = time.perf_counter()
    reply = backend.generate(request, stop=StopFlag())
    elapsed = (time.perf_counter() - started) * 1000
    actions = [p.action for p in parse_reply(reply.raw, family=family, frame=model_frame(family, *screen.size)).actions]
    clicks = [a for a in actions if isinstance(a, Click)]
    point = (round(clicks[0].x), round(clicks[0].y)) if clicks else None
    return point, elapsed, reply.raw.splitlines()[0]


def _rgb(image: Any) -> Any:
    import numpy as np

    return np.asarray(image.convert("RGB"))


def detection_scales(width: int, height: int, scales: list[float], engine: Any) -> list[dict[str, Any]]:
    """For each scale: how many of the scene's texts (11 px ones apart) a box was found for, and read exactly."""
    from agent.backends.ocr.match import OcrLine, find_text
    from agent.families import get_family, model_input_size
    from agent.imaging import prepare_image
    from tests.helpers.desktop_scene import desktop_scene

    scene = desktop_scene(width, height)
    size = model_input_size(get_family("qwen2.5-vl"), width, height)
    rgb = _rgb(prepare_image(scene.image, size))
    sx, sy = size[0] / width, size[1] / height
    labels = [(t, b) for t, b in scene.texts.items() if not t.startswith(("column ", "task "))]
    results = []
    for scale in scales:
        started = time.perf_counter()
        boxes = engine.detect(rgb, scale)
        detect_s = time.perf_counter() - started
        read = engine.recognise([rgb[b[1] : b[3], b[0] : b[2]] for b in boxes])
        row: dict[str, Any] = {
            "size": [width, height],
            "scale": scale,
            "detect_ms": detect_s * 1000,
            "boxes": len(boxes),
        }
        for group, items in (("labels", labels), ("11px", list(scene.small))):
            found = exact = 0
            for text, (x1, y1, x2, y2) in items:
                target = (x1 * sx, y1 * sy, x2 * sx, y2 * sy)
                cx, cy = (target[0] + target[2]) / 2, (target[1] + target[3]) / 2
                holding = [i for i, b in enumerate(boxes) if b[0] <= cx <= b[2] and b[1] <= cy <= b[3]]
                if not holding:
                    continue
                found += 1
                i = holding[0]
                b = boxes[i]
                line = OcrLine(read[i][0], [(b[0], b[1]), (b[2], b[1]), (b[2], b[3]), (b[0], b[3])], read[i][1])
                match = find_text([line], text)
                exact += match is not None and match.how == "exact"
            row[group] = {"texts": len(items), "boxed": found, "read_exactly": exact}
        results.append(row)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1920x1080,2560x1440")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--det-scales", help="instead: measure detection at these scales (comma-separated)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-xcore", action="store_true", help="leave out the X-core-font scenes (real programs)")
    parser.add_argument("--verbose", action="store_true", help="each step's time and what it read, on stderr")
    args = parser.parse_args()

    from agent.backends.ocr.engine import RapidEngine, machine_threads

    engine = RapidEngine()
    engine.warm_up()
    sizes = [tuple(int(v) for v in text.lower().split("x")) for text in args.sizes.split(",")]
    if args.det_scales:
        chosen = [float(v) for v in args.det_scales.split(",")]
        scales = [row for width, height in sizes for row in detection_scales(width, height, chosen, engine)]
        if args.json:
            print(json.dumps(scales, indent=2))
            return 0
        print("screen     scale  detect ms  boxes  labels: boxed / read exactly   11 px texts: boxed / read exactly")
        for r in scales:
            lab, small = r["labels"], r["11px"]
            print(
                f"{r['size'][0]}x{r['size'][1]:<5} {r['scale']:5.2f} {r['detect_ms']:10.0f} {r['boxes']:6d}"
                f"  {lab['boxed']:3d}/{lab['texts']} / {lab['read_exactly']:3d}/{lab['texts']}"
                f"                {small['boxed']:3d}/{small['texts']} / {small['read_exactly']:3d}/{small['texts']}"
            )
        return 0
    results = [measure(width, height, args.repeat, engine, verbose=args.verbose) for width, height in sizes]
    xcore, xcore_skipped = [], ""
    if not args.no_xcore:
        from tests.helpers.small_text import ProgramUnavailable

        try:
            xcore = [measure_xcore(width, height, args.repeat, engine) for width, height in XCORE_SIZES]
        except ProgramUnavailable as exc:
            xcore_skipped = str(exc)
    if args.json:
        print(json.dumps([*results, *xcore], indent=2))
        return 0
    print(
        f"OCR step times, median ms ({args.repeat} rounds of {len(tasks(('',) * 30))} tasks; {machine_threads()} threads)"
    )
    print(
        "screen      image       first step  later steps  whole read  later/whole  first/whole  boxes/step  boxes/whole  hits"
    )
    for r in results:
        print(
            f"{r['size'][0]}x{r['size'][1]:<6} {r['image'][0]}x{r['image'][1]:<6} {r['first_ms']:10.0f} {r['later_ms']:12.0f}"
            f" {r['whole_ms']:11.0f} {r['later_over_whole']:11.2f} {r['first_over_whole']:12.2f}"
            f" {r['boxes_per_step']:11.0f} {r['boxes_per_whole_read']:12.0f}  {r['hits']}/{r['steps']}"
        )
    for r in xcore:
        print(
            f"{r['size'][0]}x{r['size'][1]:<6} {r['image'][0]}x{r['image'][1]:<6} {r['first_ms']:10.0f} {r['later_ms']:12.0f}"
            f" {r['whole_ms']:11.0f} {r['later_over_whole']:11.2f} {r['first_over_whole']:12.2f}"
            f" {r['boxes_per_step']:11.0f} {'':>12}  {r['hits']}/{r['steps']}  X core fonts: xmessage + xterm"
        )
    for r in results:
        print(
            f"{r['size'][0]}x{r['size'][1]} a misspelled target ('{TYPO_TASK}', nowhere on the screen), first look:"
            f" answered in {r['not_found_ms']:.0f} ms median ({r['not_found_all_ms']}), {r['not_found_ms'] / r['whole_ms']:.2f}"
            f" of a whole read; '{TYPO_OF}' named nearest {r['not_found_named']}/{len(r['not_found_all_ms'])}"
        )
    if xcore_skipped:
        print(f"X core fonts (real programs): not run: {xcore_skipped}")
    for r in [*results, *xcore]:
        print(
            f"{r['size'][0]}x{r['size'][1]}{' X core fonts' if r['scene'] == 'xcore' else ''}: later steps (ms) {r['later_all_ms']}; first steps (ms) {r['first_all_ms']}"
        )
        for miss in r["misses"]:
            print(f"  missed: {miss}")
    print(
        f"target: at 1080p later steps at most {TARGET_LATER_MS:.0f} ms median, the first step at most "
        f"{TARGET_FIRST_RATIO:.2f} of a whole read, a misspelled target answered within {TARGET_NOT_FOUND_MS:.0f} ms;"
        " every click inside its target (X core fonts: the program pressed it)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

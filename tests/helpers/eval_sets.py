"""Small grounding data sets in each public format, written as the real ones are laid out, with the point a
scripted backend will give for each sample and the hit the format's own convention says that point is.

Images are IMAGE_SIZE, a multiple of 28 on both sides, so qwen2.5-vl's model image is the image itself and a
scripted reply's pixel coordinates are image pixels. For every box the points probe its edges: on the
top-left and bottom-right corners (hits: edges are included), one pixel past them (misses), the centre.

    built = screenspot_v2(tmp_path / "ss")       # built.path, built.cases, built.script(tmp_path)
    expected = [case.hit for case in built.cases]
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

IMAGE_SIZE = (560, 336)  # 20 x 12 patches of 28 px: qwen2.5-vl reads it at exactly this size
Point = tuple[int, int] | None  # None: the backend declines (terminate failure)


@dataclass(frozen=True)
class Case:
    instruction: str
    point: Point
    hit: bool  # by the format's own convention, computed here from the annotation as the format defines it


@dataclass(frozen=True)
class Built:
    path: Path  # what `deskpilot eval` is given
    cases: list[Case]  # in data set order

    def script(self, folder: Path, order: Sequence[int] | None = None) -> Path:
        """A scripted backend's replies: each case's point as a qwen2.5-vl click, or terminate failure."""
        lines = [json.dumps({"raw": reply(self.cases[i].point)}) for i in (order or range(len(self.cases)))]
        path = folder / f"{self.path.name}-script.jsonl"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path


def reply(point: Point) -> str:
    if point is None:
        body = {"name": "computer_use", "arguments": {"action": "terminate", "status": "failure"}}
        return f"It is not on the screen.\n<tool_call>\n{json.dumps(body)}\n</tool_call>"
    body = {"name": "computer_use", "arguments": {"action": "left_click", "coordinate": list(point)}}
    return f"<tool_call>\n{json.dumps(body)}\n</tool_call>"


def picture(path: Path, size: tuple[int, int] = IMAGE_SIZE, *, seed: int = 0) -> None:
    """A small screenshot-like PNG: a few grey panels with dark bars (so crops in a report show something)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", size, (236, 238, 241))
    draw = ImageDraw.Draw(image)
    for n in range(6):
        x, y = (37 * (n + seed)) % (size[0] - 120), (53 * (n + 2 * seed)) % (size[1] - 60)
        draw.rectangle((x, y, x + 110, y + 50), fill=(200 + n * 5, 205, 215), outline=(90, 90, 100))
        draw.rectangle((x + 8, y + 20, x + 70, y + 28), fill=(40, 40, 50))
    image.save(path)


def probes(x1: float, y1: float, x2: float, y2: float) -> list[tuple[int, int]]:
    """Points around a box x1..x2, y1..y2 (whole-pixel corners): on both corners, one past each, the centre."""
    a, b, c, d = int(x1), int(y1), int(x2), int(y2)
    return [(a, b), (c, d), (a - 1, b), (c, d + 1), ((a + c) // 2, (b + d) // 2)]


def _inside_xyxy(point: Point, x1: float, y1: float, x2: float, y2: float) -> bool:
    return point is not None and x1 <= point[0] <= x2 and y1 <= point[1] <= y2


def screenspot_v2(folder: Path) -> Built:
    """`screenspot_desktop_v2.json` + `screenspot_web_v2.json`, images in `screenspotv2_image/`; bbox x, y, w, h."""
    boxes = [(40, 30, 120, 40), (300, 200, 60, 60), (500, 300, 50, 30)]  # (x, y, w, h); the last touches the edge
    cases: list[Case] = []
    for split, chosen in (("desktop", boxes[:2]), ("web", boxes[2:])):
        items = []
        for n, (x, y, w, h) in enumerate(chosen):
            picture(folder / "screenspotv2_image" / f"{split}_{n}.png", seed=n)
            for k, point in enumerate(probes(x, y, x + w, y + h)):
                instruction = f"{split} element {n} probe {k}"
                items.append(
                    {
                        "img_filename": f"{split}_{n}.png",
                        "bbox": [x, y, w, h],
                        "instruction": instruction,
                        "data_type": "text" if n == 0 else "icon",
                        "data_source": "linux",
                    }
                )
                cases.append(Case(instruction, point, x <= point[0] <= x + w and y <= point[1] <= y + h))
        (folder / f"screenspot_{split}_v2.json").write_text(json.dumps(items), encoding="utf-8")
    return Built(folder, cases)


def screenspot_pro(folder: Path) -> Built:
    """`annotations/*.json`, `images/<app>/...`; bbox x1, y1, x2, y2 in pixels of img_size (here twice the
    image's size for one file: the box is halved onto the image); negative samples answered by declining."""
    files: dict[str, list[tuple[dict[str, Any], Case]]] = {}
    layouts = [
        ("vscode_linux.json", "vscode/shot.png", (100, 80, 220, 120), IMAGE_SIZE),
        ("blender_windows.json", "blender/shot.png", (600, 400, 800, 500), (IMAGE_SIZE[0] * 2, IMAGE_SIZE[1] * 2)),
    ]
    for n, (name, image, (x1, y1, x2, y2), declared) in enumerate(layouts):
        picture(folder / "images" / image, seed=n)
        scale = IMAGE_SIZE[0] / declared[0]
        entries = files.setdefault(name, [])
        for k, point in enumerate(probes(x1 * scale, y1 * scale, x2 * scale, y2 * scale)):
            item = {
                "img_filename": image,
                "bbox": [x1, y1, x2, y2],
                "img_size": list(declared),
                "instruction": f"{name} probe {k}",
                "instruction_cn": "点击",
                "application": name.split("_")[0],
                "platform": "linux",
                "group": "Dev" if "vscode" in name else "Creative",
                "ui_type": "text" if k % 2 else "icon",
                "id": f"{name}-{k}",
            }
            hit = _inside_xyxy(point, x1 * scale, y1 * scale, x2 * scale, y2 * scale)
            entries.append((item, Case(item["instruction"], point, hit)))
    for k, point in enumerate([None, (10, 10)]):  # refusals: declining is the hit
        item = {
            "img_filename": "vscode/shot.png",
            "img_size": list(IMAGE_SIZE),
            "instruction": f"the element that is not there {k}",
            "application": "vscode",
            "platform": "linux",
            "group": "Dev",
            "ui_type": "text",
            "gt_type": "negative",
        }
        files["vscode_linux.json"].append((item, Case(item["instruction"], point, point is None)))
    (folder / "annotations").mkdir(parents=True, exist_ok=True)
    for name, entries in files.items():
        (folder / "annotations" / name).write_text(json.dumps([item for item, _ in entries]), encoding="utf-8")
    return Built(folder, [case for name in sorted(files) for _, case in files[name]])  # files in name order


def uivision(folder: Path) -> Built:
    """`annotations/element_grounding/element_grounding_{basic,spatial}.json`, images in `images/`; bbox
    x1, y1, x2, y2, one given with its corners reversed (the reference evaluator puts them in order)."""
    cases: list[Case] = []
    where = folder / "annotations" / "element_grounding"
    where.mkdir(parents=True, exist_ok=True)
    for split, bbox in (("basic", [200, 100, 260, 140]), ("spatial", [420, 250, 380, 210])):
        picture(folder / "images" / f"{split}.png", seed=3)
        x1, x2 = sorted((bbox[0], bbox[2]))
        y1, y2 = sorted((bbox[1], bbox[3]))
        items = []
        for k, point in enumerate(probes(x1, y1, x2, y2)):
            instruction = f"{split} probe {k}"
            items.append(
                {
                    "image_path": f"{split}.png",
                    "image_size": list(IMAGE_SIZE),
                    "bbox": bbox,
                    "prompt_to_evaluate": instruction,
                    "element_type": "button",
                    "platform": "GIMP",
                }
            )
            cases.append(Case(instruction, point, _inside_xyxy(point, x1, y1, x2, y2)))
        (where / f"element_grounding_{split}.json").write_text(json.dumps(items), encoding="utf-8")
    return Built(folder, cases)


def osworld_g(folder: Path) -> Built:
    """`benchmark/OSWorld-G.json`, images in `benchmark/images/`: a bbox (x, y, w, h), a triangle, a refusal."""
    bench = folder / "benchmark"
    picture(bench / "images" / "g.png", seed=5)
    x, y, w, h = 100.5, 60.5, 80.0, 40.0  # fractional, as OSWorld-G's are
    triangle = [300, 100, 400, 100, 300, 200]  # flat x1, y1, x2, y2, ...: the right angle at (300, 100)
    items: list[dict[str, Any]] = []
    cases: list[Case] = []

    def add(instruction: str, kind: str, coordinates: list[float], point: Point, hit: bool) -> None:
        items.append(
            {
                "id": f"G-{len(items)}",
                "image_path": "g.png",
                "image_size": list(IMAGE_SIZE),
                "instruction": instruction,
                "box_type": kind,
                "box_coordinates": coordinates,
                "GUI_types": ["Button"],
            }
        )
        cases.append(Case(instruction, point, hit))

    for k, point in enumerate([(100, 61), (101, 61), (180, 100), (181, 100), (140, 80)]):
        add(f"bbox probe {k}", "bbox", [x, y, w, h], point, x <= point[0] <= x + w and y <= point[1] <= y + h)
    # inside, on the hypotenuse, on a leg, just outside the hypotenuse, far away
    for k, (point, hit) in enumerate(
        [((320, 120), True), ((350, 150), True), ((300, 150), True), ((351, 151), False), ((450, 300), False)]
    ):
        add(f"polygon probe {k}", "polygon", [float(v) for v in triangle], point, hit)
    add("refusal probe 0", "refusal", [-1, -1, -1, -1], None, True)
    add("refusal probe 1", "refusal", [-1, -1, -1, -1], (5, 5), False)
    (bench / "OSWorld-G.json").write_text(json.dumps(items), encoding="utf-8")
    return Built(folder, cases)


def check_card(card: dict[str, Any], cases: list[Case]) -> None:
    """The scorecard of an eval over `cases`: every result where its case says, and the totals add up."""
    results = card["results"]
    assert [r["instruction"] for r in results] == [c.instruction for c in cases]
    assert [r["index"] for r in results] == list(range(len(cases)))
    for result, case in zip(results, cases):
        assert result["point"] == (None if case.point is None else list(case.point)), result
        assert result["hit"] is case.hit, (result, case)
        assert result["error"] is None
    assert card["samples"] == len(cases) and card["hits"] == sum(c.hit for c in cases)
    assert card["accuracy"] == card["hits"] / card["samples"]
    assert any(c.hit for c in cases) and not all(c.hit for c in cases)  # the probes make both
    groups = card["groups"]
    assert sum(g["samples"] for g in groups.values()) == card["samples"]
    assert sum(g["hits"] for g in groups.values()) == card["hits"]
    for name, group in groups.items():
        members = [r for r in results if r["group"] == name]
        assert group["samples"] == len(members) and group["hits"] == sum(r["hit"] for r in members)
        assert group["accuracy"] == group["hits"] / group["samples"]


def blank_png(path: Path, width: int, height: int) -> Path:
    """A valid greyscale PNG of `width` x `height` black pixels, written row by row (never held decoded): a
    165 Mpx one is ~160 KB on disk, a decompression bomb for whoever decodes it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer = zlib.compressobj(9)
    row = bytes(width + 1)  # the filter byte (none) and the pixels
    body = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8 bits, greyscale
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path

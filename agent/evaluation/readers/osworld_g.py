"""OSWorld-G (Jedi): `benchmark/OSWorld-G.json` (or `OSWorld-G_refined.json`), images in `benchmark/images/`.

Each sample: `id`, `image_path`, `image_size`, `instruction`, `box_type` and `box_coordinates`:
- `bbox`: [x, y, w, h] in pixels (x..x+w, y..y+h);
- `polygon`: the corners as a flat list [x1, y1, x2, y2, ...] (or a list of [x, y] pairs): a hit inside or on
  an edge; its bounding box is what is reported as `box`;
- `refusal`: the element is not there: a hit when the backend declines.
Boxes are in pixels of `image_size` (scaled to the image when it differs). Groups: `grounding`, `refusal`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from agent.evaluation.readers.common import (
    Images,
    Sample,
    box_target,
    check_inside,
    read_box,
    read_json,
    read_size,
    relative_name,
    sample_fields,
    sample_list,
    scaled,
)
from agent.evaluation.targets import PolygonTarget, RefusalTarget, Target
from sandbox.fields import Fields, shown

FORMAT = "osworld-g"
NAMES = ("OSWorld-G.json", "OSWorld-G_refined.json")


def files(folder: Path) -> list[Path]:
    for where in (folder, folder / "benchmark"):
        path = where / NAMES[0]
        if path.is_file():
            return [path]
    return []


def read(path: Path, root: Path) -> list[Sample]:
    items = sample_list(read_json(path), path)
    images = Images(root, [path.parent / "images", path.parent])
    samples = []
    for index, item in enumerate(items):
        fields = sample_fields(item, path, index)
        image, name, size = images.find(fields.text("image_path", nonempty=True), fields)
        declared = read_size(fields, "image_size")
        kind = fields.text("box_type", nonempty=True)
        target: Target
        if kind == "refusal":
            target = RefusalTarget()
        elif kind == "bbox":
            x, y, w, h = read_box(fields, "box_coordinates")
            if w < 0 or h < 0:
                fields.fail(f"bbox [x, y, w, h] has a negative width or height: {[x, y, w, h]}")
            target = box_target(scaled((x, y, x + w, y + h), declared, size), size, fields)
        elif kind == "polygon":
            target = _polygon(item.get("box_coordinates"), declared, size, fields)
        else:
            fields.fail(f"field 'box_type' must be bbox, polygon or refusal, got {shown(kind)}")
        group = "refusal" if kind == "refusal" else "grounding"
        samples.append(
            Sample(
                f"{relative_name(path, root)}#{index}",
                image,
                name,
                size,
                fields.text("instruction", nonempty=True),
                target,
                group,
            )
        )
    return samples


def _polygon(value: Any, declared: tuple[int, int] | None, size: tuple[int, int], fields: Fields) -> PolygonTarget:
    if isinstance(value, list) and value and all(isinstance(p, list) for p in value):
        raw = [v for p in value for v in (p if len(p) == 2 else [None])]
    else:
        raw = value if isinstance(value, list) else [None]
    flat = [float(v) for v in raw if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]
    if len(flat) != len(raw) or len(flat) < 6 or len(flat) % 2:
        fields.fail(f"field 'box_coordinates' of a polygon must be 3 or more x, y corners, got {shown(value)}")
    sx, sy = (1.0, 1.0) if declared is None else (size[0] / declared[0], size[1] / declared[1])
    target = PolygonTarget(tuple((flat[i] * sx, flat[i + 1] * sy) for i in range(0, len(flat), 2)))
    bounds = target.bounds
    assert bounds is not None
    check_inside(bounds, size, fields)
    return target

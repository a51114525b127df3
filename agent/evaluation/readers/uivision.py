"""UI-Vision element grounding: `annotations/element_grounding/element_grounding_{basic,functional,spatial}.json`.

Each sample: `image_path` (relative to the set's `images/`), `image_size` [width, height], `bbox` = [x1, y1,
x2, y2] in pixels of `image_size` (scaled to the image when its size differs, as the reference evaluator
normalises by it), `prompt_to_evaluate` (the instruction), `element_type`, `platform`. Reversed corners are
put in order, as `eval_uivision.py` does. Groups: the split (basic, functional, spatial).
"""

from __future__ import annotations

import re
from pathlib import Path

from agent.evaluation.readers.common import (
    Images,
    Sample,
    box_target,
    read_box,
    read_json,
    read_size,
    relative_name,
    sample_fields,
    sample_list,
    scaled,
)

FORMAT = "ui-vision"
_SPLIT = re.compile(r"element_grounding_(.+)\.json$", re.I)


def files(folder: Path) -> list[Path]:
    for where in (folder / "annotations" / "element_grounding", folder / "element_grounding", folder):
        found = sorted(p for p in where.glob("element_grounding_*.json") if p.is_file())
        if found:
            return found
    return []


def read(path: Path, root: Path) -> list[Sample]:
    items = sample_list(read_json(path), path)
    top = path.parent.parent.parent if path.parent.parent.name == "annotations" else path.parent
    images = Images(root, [top / "images", top, path.parent / "images", path.parent])
    match = _SPLIT.match(path.name)
    group = match.group(1) if match else path.stem
    samples = []
    for index, item in enumerate(items):
        fields = sample_fields(item, path, index)
        image, name, size = images.find(fields.text("image_path", nonempty=True), fields)
        box = scaled(read_box(fields, "bbox"), read_size(fields, "image_size"), size)
        target = box_target(box, size, fields, swap=True)
        instruction = fields.text("prompt_to_evaluate", nonempty=True)
        samples.append(Sample(f"{relative_name(path, root)}#{index}", image, name, size, instruction, target, group))
    return samples

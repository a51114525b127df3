"""ScreenSpot (SeeClick) and ScreenSpot-v2 (OS-Atlas): `screenspot_{desktop,mobile,web}[_v2].json`.

Each sample: `img_filename`, `bbox` = [left, top, width, height] in pixels (x, y, w, h: the box is
x..x+w, y..y+h), `instruction`, `data_type` (text | icon), `data_source` (the OS or site).
Images lie beside the JSON, in `images/`, or in the set's own image folder (`screenspotv2_image/` for v2,
`screenspot_imgs/` for v1), beside the JSON or one folder up. Groups: `<split>/<data_type>`, e.g. desktop/icon.
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
    relative_name,
    sample_fields,
    sample_list,
)

FORMAT = "screenspot"
PATTERN = "screenspot_*.json"
IMAGE_FOLDERS = ("images", "screenspotv2_image", "screenspot_imgs")
_SPLIT = re.compile(r"screenspot_(.+?)(?:_v2)?\.json$", re.I)


def files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob(PATTERN) if p.is_file())


def read(path: Path, root: Path) -> list[Sample]:
    items = sample_list(read_json(path), path)
    base = path.parent
    images = Images(root, [base, *(d / name for d in (base, base.parent) for name in IMAGE_FOLDERS)])
    match = _SPLIT.match(path.name)
    split = match.group(1) if match else path.stem
    samples = []
    for index, item in enumerate(items):
        fields = sample_fields(item, path, index)
        image, name, size = images.find(fields.text("img_filename", nonempty=True), fields)
        x, y, w, h = read_box(fields, "bbox")
        if w < 0 or h < 0:
            fields.fail(f"bbox [x, y, w, h] has a negative width or height: {[x, y, w, h]}")
        target = box_target((x, y, x + w, y + h), size, fields)
        group = f"{split}/{fields.text_or('data_type', 'unknown')}"
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

"""ScreenSpot-Pro: `annotations/<application>_<os>.json`, images under `images/`.

Each sample: `img_filename` (relative to `images/`), `bbox` = [x1, y1, x2, y2] in pixels of `img_size`
[width, height] (the reference evaluator divides the box by `img_size` and the point by the image's size:
a box whose image has another size is scaled to it), `instruction`, `ui_type` (text | icon), `group` (Dev,
Creative, CAD, Scientific, Office, OS), `platform`, `application`. A sample with `gt_type: negative` asks
for something that is not there: a hit when the backend declines. Groups: `<group>/<ui_type>`, and
`refusal` for negative samples. The built-in set is stored in this format.
"""

from __future__ import annotations

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
from agent.evaluation.targets import RefusalTarget, Target
from sandbox.fields import shown

FORMAT = "screenspot-pro"


def files(folder: Path) -> list[Path]:
    annotations = folder / "annotations" if (folder / "annotations").is_dir() else folder
    return sorted(p for p in annotations.glob("*.json") if p.is_file())


def read(path: Path, root: Path) -> list[Sample]:
    items = sample_list(read_json(path), path)
    base = path.parent.parent if path.parent.name == "annotations" else path.parent
    images = Images(root, [base / "images", path.parent / "images", base, path.parent])
    samples = []
    for index, item in enumerate(items):
        fields = sample_fields(item, path, index)
        image, name, size = images.find(fields.text("img_filename", nonempty=True), fields)
        gt_type = fields.text_or("gt_type", "positive")
        if gt_type not in ("positive", "negative"):
            fields.fail(f"field 'gt_type' must be positive or negative, got {shown(gt_type)}")
        target: Target
        if gt_type == "negative":
            target, group = RefusalTarget(), "refusal"
        else:
            declared = read_size(fields, "img_size")
            target = box_target(scaled(read_box(fields, "bbox"), declared, size), size, fields)
            kind = fields.text_or("group", fields.text_or("application", "other"))
            group = f"{kind}/{fields.text_or('ui_type', 'unknown')}"
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

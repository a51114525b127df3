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
    Fields,
    Images,
    Sample,
    box_target,
    read_json,
    relative_name,
    sample_list,
    scaled,
)
from agent.evaluation.targets import RefusalTarget, Target

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
        fields = Fields(item, path, index)
        image, name, size = images.find(fields.text("img_filename"), fields)
        gt_type = fields.optional_text("gt_type", "positive")
        if gt_type not in ("positive", "negative"):
            raise fields.fail(f"field 'gt_type' must be positive or negative, got {gt_type!r:.60}")
        target: Target
        if gt_type == "negative":
            target, group = RefusalTarget(), "refusal"
        else:
            declared = fields.size("img_size")
            target = box_target(scaled(fields.box("bbox"), declared, size), size, fields)
            kind = fields.optional_text("group", fields.optional_text("application", "other"))
            group = f"{kind}/{fields.optional_text('ui_type', 'unknown')}"
        samples.append(
            Sample(f"{relative_name(path, root)}#{index}", image, name, size, fields.text("instruction"), target, group)
        )
    return samples

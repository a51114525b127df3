"""The built-in set (`deskpilot eval builtin`): real Qt and Tk widgets with boxes from the toolkits' own geometry.

It loads without a display; the OCR backend finds the elements named by their words and declines the icons;
and its generator (tools/make_builtin_set.py) still runs on a private Xvfb and makes the set that is shipped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageStat

from agent.evaluation.datasets import BUILTIN_DIR, load_dataset
from agent.evaluation.targets import BoxTarget

ROOT = Path(__file__).resolve().parents[1]
DESKPILOT = Path(sys.executable).with_name("deskpilot")
OCR_SAMPLES = 5  # the first picture's: Save, Discard, Cancel (words) and the warning sign (an icon), then one more
FONT_DRIFT_PX = 8  # another machine's fonts may move a box this much; a wrong widget moves it far more
MIN_BOX_VARIANCE = 20.0  # grey levels squared: something is drawn inside every box


def _annotations(folder: Path) -> list[dict[str, object]]:
    data = json.loads((folder / "annotations" / "builtin.json").read_text(encoding="utf-8"))
    assert isinstance(data, list)
    return data


def test_the_builtin_set_loads_without_a_display() -> None:
    dataset = load_dataset("builtin")
    assert dataset.name == "builtin" and dataset.format == "screenspot-pro"
    groups = {s.group for s in dataset.samples}
    assert groups == {"qt/text", "qt/icon", "tk/text", "tk/icon", "gtk/text", "gtk/icon"}
    assert sum(s.group.endswith("/icon") for s in dataset.samples) >= 8  # the OCR cannot find these
    size = sum(p.stat().st_size for p in BUILTIN_DIR.rglob("*") if p.is_file())
    assert size < 1_500_000
    for sample in dataset.samples:
        assert isinstance(sample.target, BoxTarget)
        x1, y1, x2, y2 = sample.target.box
        with Image.open(sample.image) as image:
            assert image.size == sample.size and image.format == "PNG"
            assert 0 <= x1 <= x2 < image.width and 0 <= y1 <= y2 < image.height
            inside = image.convert("L").crop((int(x1), int(y1), int(x2) + 1, int(y2) + 1))
            assert ImageStat.Stat(inside).var[0] > MIN_BOX_VARIANCE, sample.instruction


def test_eval_builtin_with_the_ocr_backend(tmp_path: Path) -> None:
    predictions = tmp_path / "p.jsonl"
    out = subprocess.run(
        [
            str(DESKPILOT),
            "eval",
            "builtin",
            "--backend",
            "ocr",
            "--limit",
            str(OCR_SAMPLES),
            "--json",
            "--predictions",
            str(predictions),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    card = json.loads(out.stdout)
    assert card["dataset"] == "builtin" and card["backend"] == "ocr" and card["model"] is None
    assert card["family"] is None and card["samples"] == OCR_SAMPLES
    for result in card["results"]:
        box, point = result["box"], result["point"]
        inside = point is not None and box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]
        assert result["hit"] is inside and result["error"] is None
        if result["group"].endswith("/text"):
            assert result["hit"], result  # its words are on the picture
        else:
            assert result["point"] is None, result  # an icon: the OCR declines
    assert card["accuracy"] == card["hits"] / card["samples"]
    assert len(predictions.read_text().splitlines()) == OCR_SAMPLES


@pytest.mark.display
@pytest.mark.skipif(shutil.which("Xvfb") is None, reason="the generator renders on a private Xvfb")
def test_the_generator_still_makes_the_shipped_set(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "make_builtin_set.py"), str(tmp_path / "set")],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "QT_QPA_PLATFORM": "xcb"},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    made, shipped = _annotations(tmp_path / "set"), _annotations(BUILTIN_DIR)
    keys = ("img_filename", "instruction", "ui_type", "group", "application")
    assert [[s[k] for k in keys] for s in made] == [[s[k] for k in keys] for s in shipped]
    for new, old in zip(made, shipped):
        assert all(abs(a - b) <= FONT_DRIFT_PX for a, b in zip(new["bbox"], old["bbox"])), (new, old)
    generated = load_dataset(tmp_path / "set")  # the reader takes it, every box inside its picture
    assert len(generated.samples) == len(shipped)

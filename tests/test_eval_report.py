"""`deskpilot eval -o report.html`: a self-contained page rendered by headless Chromium, with the figures, the
table by group and one figure per miss (a crop with the target in blue and the point in red, decoded from the
page and looked at); data set text reaches it escaped."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from agent.evaluation.report import POINT, TARGET
from tests.helpers import eval_sets
from tests.helpers.chromium import CHROMIUM, HEADLESS

DESKPILOT = Path(sys.executable).with_name("deskpilot")
HOSTILE = "<img src=x onerror=alert(1)> the Save button"
_CROP = re.compile(r'<img class="crop" alt="target of sample (\d+)" src="data:image/png;base64,([^"]+)"')


def _chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, *HEADLESS, f"--user-data-dir={profile}", *args], capture_output=True, text=True, timeout=60
    )


def _has(image: Image.Image, colour: tuple[int, int, int]) -> bool:
    colours = image.convert("RGB").getcolors(1 << 24) or []
    return any(found == colour for _, found in colours)


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium for the HTML report (Debian: apt-get install chromium)")
def test_the_report_in_chromium(tmp_path: Path) -> None:
    built = eval_sets.screenspot_pro(tmp_path / "set")
    annotations = built.path / "annotations" / "vscode_linux.json"
    items = json.loads(annotations.read_text())
    items[2]["instruction"] = HOSTILE  # a miss (one pixel left of the box)
    annotations.write_text(json.dumps(items))
    cases = list(built.cases)
    cases[4] = dataclasses.replace(cases[4], point=None, hit=False)  # a positive sample the backend declines
    script = eval_sets.Built(built.path, cases).script(tmp_path)
    report = tmp_path / "report.html"
    out = subprocess.run(
        [
            str(DESKPILOT),
            "eval",
            str(built.path),
            "--backend",
            "scripted",
            "--script",
            str(script),
            "--json",
            "-o",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")},
    )
    assert out.returncode == 0 and report.is_file(), out.stderr
    card = json.loads(out.stdout)
    misses = [r for r in card["results"] if not r["hit"]]
    assert 0 < len(misses) < card["samples"]

    text = report.read_text(encoding="utf-8")
    assert "<script" not in text and "<img src=x" not in text
    assert all(src.startswith("data:image/") for src in re.findall(r'src="([^"]*)"', text))  # self-contained
    dom = _chromium("--dump-dom", report.as_uri(), profile=tmp_path / "profile")
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = dom.stdout
    assert f"<h1>{built.path}</h1>" in page and "&lt;img src=x onerror=alert(1)&gt; the Save button" in page
    accuracy = f"{100 * card['accuracy']:.1f}%"
    assert f"<dt>Accuracy</dt><dd>{accuracy}</dd>" in page and f"<dd>{card['hits']} of {card['samples']}</dd>" in page
    for name, group in card["groups"].items():
        row = f'<td>{name}</td><td class="n">{group["samples"]}</td><td class="n">{group["hits"]}</td>'
        assert row in page, name
    assert f"Misses ({len(misses)})" in page and page.count("<figure>") == len(misses)

    crops = {int(index): data for index, data in _CROP.findall(page)}
    assert sorted(crops) == [r["index"] for r in misses]
    for result in misses:
        crop = Image.open(io.BytesIO(base64.b64decode(crops[result["index"]])))
        assert _has(crop, TARGET) is (not result["refusal"])  # the box, where there is one
        assert _has(crop, POINT) is (result["point"] is not None)  # the point, where one was given
    declined = next(r for r in misses if r["point"] is None)
    assert "declined (no point)" in page.split(f"#{declined['index']} ", 1)[1].split("</figure>", 1)[0]

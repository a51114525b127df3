"""The README's quick start and picture stay true: the picture is of the window as it is now."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

from sandbox.display import IsolatedDisplay

ROOT = Path(__file__).resolve().parents[1]
PICTURES = ("run.png", "window.png")  # app/gui/snapshot.py takes both
MAX_MEAN_DIFFERENCE = 6.0  # grey levels over a 400 px wide thumbnail: clock digits and cursor blinks fit in


def test_readme_has_the_two_command_quick_start_and_the_picture() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make run" in readme and "make test" in readme
    for name in PICTURES:
        assert f"](assets/{name})" in readme and (ROOT / "assets" / name).exists()


@pytest.mark.display
def test_the_pictures_show_the_current_window(tmp_path: Path) -> None:
    with IsolatedDisplay(1920, 1080, nested=False) as display:
        out = subprocess.run(
            [sys.executable, "-m", "app.gui.snapshot", str(tmp_path)],
            cwd=ROOT,
            timeout=120,
            env={**os.environ, "DISPLAY": display.name, "QT_QPA_PLATFORM": "xcb"},
            capture_output=True,
            text=True,
        )
    for name in PICTURES:
        fresh = tmp_path / name
        assert out.returncode == 0 and fresh.exists(), out.stderr[-2000:]
        committed, now = Image.open(ROOT / "assets" / name).convert("L"), Image.open(fresh).convert("L")
        assert committed.size == now.size
        size = (400, round(400 * now.height / now.width))
        difference = ImageStat.Stat(ImageChops.difference(committed.resize(size), now.resize(size))).mean[0]
        assert difference < MAX_MEAN_DIFFERENCE, (
            f"assets/{name} is out of date (mean difference {difference:.1f}): refresh it with `make screenshot`"
        )

"""Grounding sets from the accessibility tree (issue 19, item 7): tools/grounding_from_tree.py on a real GTK3 app
on Xvfb with a private D-Bus session and AT-SPI bus (tests/helpers/atspi_bus.py) writes a set `deskpilot eval`
reads, with the app's controls at the boxes GTK itself gives them, an icon-only button as an icon; and the
built-in set carries GTK3 samples made so (tools/make_builtin_gtk.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.evaluation.datasets import load_dataset
from agent.evaluation.targets import BoxTarget
from tests.helpers.atspi_bus import AtspiSession, TreeApp
from tests.helpers.cli import DESKPILOT
from tests.helpers.entry_apps import AppUnavailable

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "grounding_from_tree.py"
GEOMETRY_PX = 2  # the tree's boxes against GTK's own


@pytest.fixture
def gtk(tmp_path: Path) -> Iterator[tuple[AtspiSession, TreeApp]]:
    try:
        with AtspiSession(os.environ["DISPLAY"], tmp_path) as session:
            app = session.app("gtk", x=120, y=90)
            session.wait_until_published(app.process.pid)
            yield session, app
    except AppUnavailable as exc:
        pytest.skip(str(exc))


def tool(session: AtspiSession, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(TOOL), *args], capture_output=True, text=True, timeout=120, env=session.env
    )


@pytest.mark.display
def test_a_running_gtk_app_becomes_a_grounding_set_deskpilot_eval_reads(
    gtk: tuple[AtspiSession, TreeApp], tmp_path: Path
) -> None:
    session, app = gtk
    out = tmp_path / "set"
    made = tool(session, str(out), "--window", "gtk form", "--name", "form")
    assert made.returncode == 0, made.stderr
    dataset = load_dataset(out)
    assert dataset.format == "screenspot-pro"
    samples = {s.instruction: s for s in dataset.samples}
    assert {"Save", "Delete", "Cancel", "Bold"} <= set(samples)
    assert samples["Bold"].group == "gtk/icon" and samples["Save"].group == "gtk/text"
    annotations = json.loads((out / "annotations" / "form_linux.json").read_text())
    width, height = annotations[0]["img_size"]
    # the window's origin: the Save button's box from the tree against GTK's own, both on the screen
    save = next(a for a in annotations if a["instruction"] == "Save")
    sx, sy, sw, sh = app.box("Save")
    left, top = sx - save["bbox"][0], sy - save["bbox"][1]
    for name in ("Bold", "Delete", "Cancel"):
        target = samples[name].target
        assert isinstance(target, BoxTarget)
        x, y, w, h = app.box(name)
        x1, y1, x2, y2 = target.box
        got = (x1 + left, y1 + top, x2 - x1 + 1, y2 - y1 + 1)
        assert all(abs(a - b) <= GEOMETRY_PX for a, b in zip(got, (x, y, w, h))), (name, got, (x, y, w, h))
        assert x2 < width and y2 < height
    scored = subprocess.run(
        [str(DESKPILOT), "eval", str(out), "--backend", "ocr", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert scored.returncode == 0, scored.stderr
    results = {r["instruction"]: r for r in json.loads(scored.stdout)["results"]}
    assert results["Save"]["hit"] and results["Cancel"]["hit"]  # their words are on the picture
    assert results["Bold"]["point"] is None  # an icon: the OCR declines


@pytest.mark.display
def test_no_matching_window_is_one_line_and_exit_2(gtk: tuple[AtspiSession, TreeApp], tmp_path: Path) -> None:
    session, _ = gtk
    missing = tool(session, str(tmp_path / "set"), "--window", "no such window")
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines()[-1] == (
        "grounding_from_tree: no showing window titled like 'no such window' has a named control in the "
        "accessibility tree"
    )
    assert not (tmp_path / "set").exists()


def test_the_builtin_set_has_gtk_samples_with_icons() -> None:
    dataset = load_dataset("builtin")
    gtk = [s for s in dataset.samples if s.group.startswith("gtk/")]
    groups = {s.group: sum(t.group == s.group for t in gtk) for s in gtk}
    assert groups == {"gtk/text": 3, "gtk/icon": 6}
    assert {s.instruction for s in gtk} >= {"Bold", "Undo", "Apply", "Close", "Wrap lines"}


@pytest.mark.display
def test_the_gtk_generator_still_makes_the_shipped_samples(tmp_path: Path) -> None:
    if not Path("/usr/bin/python3").exists() or not Path("/usr/libexec/at-spi-bus-launcher").exists():
        pytest.skip("needs python3-gi and at-spi2-core (make system)")
    made = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "make_builtin_gtk.py"), str(tmp_path / "set")],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert made.returncode == 0, made.stderr[-3000:]
    name = "annotations/builtin_gtk_linux.json"
    new = json.loads((tmp_path / "set" / name).read_text())
    old = json.loads((ROOT / "agent" / "evaluation" / "builtin" / name).read_text())
    assert [(s["instruction"], s["ui_type"]) for s in new] == [(s["instruction"], s["ui_type"]) for s in old]
    for a, b in zip(new, old):
        assert all(abs(x - y) <= 8 for x, y in zip(a["bbox"], b["bbox"])), (a, b)

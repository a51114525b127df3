"""`deskpilot eval` on small sets in each format (tests/helpers/eval_sets.py): a scripted backend points at each
box's edges, one pixel past them and its centre, and every reported hit must be what that format's own box
convention says (x, y, w, h for ScreenSpot and OSWorld-G, x1, y1, x2, y2 for ScreenSpot-Pro and UI-Vision,
edges included), with accuracy = hits / samples overall and per group. Session folders score executed clicks
within --radius. Bad input is one `error:` line naming the file, sample and field, exit 2."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agent.evaluation.datasets import load_dataset
from agent.events import Outcome
from app.cli import main
from sandbox.actions import Click, Type
from sandbox.geometry import ScreenGeometry
from tests.helpers import eval_sets
from tests.helpers.eval_sets import Built, check_card
from tests.helpers.sessions import edit_steps, record_session

DESKPILOT = Path(sys.executable).with_name("deskpilot")


def evaluate(path: Path, tmp_path: Path, *extra: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, Any, str]:
    """The command in this process (fast): exit code, its JSON (or None) and stderr."""
    code = main(["eval", str(path), "--json", "--predictions", str(tmp_path / "predictions.jsonl"), *extra])
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else None, err


def _box_hit(result: dict[str, Any]) -> bool:
    """Point-in-box on the reported box (x1, y1, x2, y2, edges included)."""
    point, box = result["point"], result["box"]
    return point is not None and box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]


@pytest.mark.parametrize(
    ("make", "fmt", "groups"),
    [
        (eval_sets.screenspot_v2, "screenspot", {"desktop/icon", "desktop/text", "web/text"}),
        (
            eval_sets.screenspot_pro,
            "screenspot-pro",
            {"Creative/icon", "Creative/text", "Dev/icon", "Dev/text", "refusal"},
        ),
        (eval_sets.uivision, "ui-vision", {"basic", "spatial"}),
        (eval_sets.osworld_g, "osworld-g", {"grounding", "refusal"}),
    ],
)
def test_hits_follow_each_formats_box_convention(
    make: Any, fmt: str, groups: set[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    built: Built = make(tmp_path / "set")
    code, card, err = evaluate(
        built.path, tmp_path, "--backend", "scripted", "--script", str(built.script(tmp_path)), capsys=capsys
    )
    assert code == 0, err
    assert card["format"] == fmt and card["backend"] == "scripted" and card["family"] == "qwen2.5-vl"
    check_card(card, built.cases)
    assert set(card["groups"]) == groups
    for result in card["results"]:
        if result["refusal"]:
            assert result["box"] is None and result["hit"] is (result["point"] is None)
        elif not result["instruction"].startswith("polygon"):
            assert result["hit"] is _box_hit(result)  # the reported box is the target, in image pixels


def test_a_json_file_is_read_on_its_own_and_limit_takes_the_first_samples(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    built = eval_sets.uivision(tmp_path / "uiv")
    one = built.path / "annotations" / "element_grounding" / "element_grounding_spatial.json"
    script = tmp_path / "script.jsonl"
    script.write_text(
        "".join(json.dumps({"raw": eval_sets.reply(c.point)}) + "\n" for c in built.cases[5:]), encoding="utf-8"
    )
    code, card, err = evaluate(
        one, tmp_path, "--backend", "scripted", "--script", str(script), "--limit", "3", capsys=capsys
    )
    assert code == 0, err
    assert card["format"] == "ui-vision" and card["samples"] == 3
    assert [r["hit"] for r in card["results"]] == [c.hit for c in built.cases[5:8]]
    assert [r["instruction"] for r in card["results"]] == [c.instruction for c in built.cases[5:8]]
    assert card["results"][0]["image"].endswith("images/spatial.png")


def test_declared_image_size_scales_the_box_as_the_reference_evaluator_does(tmp_path: Path) -> None:
    built = eval_sets.screenspot_pro(tmp_path / "pro")
    dataset = load_dataset(built.path)
    blender = [s for s in dataset.samples if s.id.startswith("annotations/blender")]
    assert blender and all(s.target.bounds == (300.0, 200.0, 400.0, 250.0) for s in blender)  # img_size is 2x


def _session_case(folder: Path, clicks: list[tuple[int, int]], *, outcome: Outcome = "success") -> Path:
    screen = ScreenGeometry.single(*eval_sets.IMAGE_SIZE)
    actions = [Click(x, y) for x, y in clicks] + [Type("done")]
    return record_session(folder, actions, task="open the <b>report</b>", screen=screen, outcome=outcome)


def test_a_sessions_folder_scores_executed_clicks_of_successful_runs_within_the_radius(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "sessions"
    clicks = [(100, 100), (300, 200)]
    _session_case(root / "2026-01-01_good", clicks)
    _session_case(root / "2026-01-02_failed", [(50, 50)], outcome="failure")
    broken = _session_case(root / "2026-01-03_broken", [(60, 60)])
    (broken / "steps.jsonl").write_text("{not json\n", encoding="utf-8")
    # within 14 px (the default radius): exactly 14 away hits, 15 away misses; then 10 px with --radius 9
    points = [(100 + 14, 100), (300, 200 + 15)]
    script = tmp_path / "script.jsonl"
    script.write_text("".join(json.dumps({"raw": eval_sets.reply(p)}) + "\n" for p in points), encoding="utf-8")
    code, card, err = evaluate(root, tmp_path, "--backend", "scripted", "--script", str(script), capsys=capsys)
    assert code == 0, err
    assert card["format"] == "session" and card["samples"] == 2  # only the successful run's two clicks
    assert [r["hit"] for r in card["results"]] == [True, False] and card["accuracy"] == 0.5
    first = card["results"][0]
    assert first["instruction"] == "open the <b>report</b>\nstep 1"  # the task, then the step's thought
    assert first["box"] == [86, 86, 114, 114] and first["image"].startswith("2026-01-01_good/images/")
    assert set(card["groups"]) == {"2026-01-01_good"}
    assert "did not finish with success left out" in err and "1 corrupt session(s) left out" in err
    for result in card["results"]:
        centre = ((result["box"][0] + result["box"][2]) / 2, (result["box"][1] + result["box"][3]) / 2)
        assert result["hit"] is (math.dist(result["point"], centre) <= 14)

    code, card, err = evaluate(
        root / "2026-01-01_good",
        tmp_path / "other",
        "--backend",
        "scripted",
        "--script",
        str(script),
        "--radius",
        "13",
        capsys=capsys,
    )
    assert code == 0, err
    assert [r["hit"] for r in card["results"]] == [False, False]  # 14 px away is past a 13 px radius


def test_a_session_given_by_name_that_is_corrupt_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _session_case(tmp_path / "s", [(10, 10)])
    edit_steps(folder, lambda records: records[0].update(step="one"))
    code, card, err = evaluate(
        folder, tmp_path, "--backend", "scripted", "--script", str(tmp_path / "x"), capsys=capsys
    )
    assert code == 2 and card is None
    assert err.startswith("error: ") and "steps.jsonl:1" in err and len(err.strip().splitlines()) == 1


def _write(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data) if not isinstance(data, str) else data, encoding="utf-8")
    return path


def _bad_sets(tmp_path: Path) -> dict[str, tuple[Path, list[str]]]:
    eval_sets.picture(tmp_path / "imgs" / "a.png")
    good = {"img_filename": "a.png", "bbox": [10, 10, 20, 20], "instruction": "Save", "data_type": "text"}
    return {
        "missing image": (
            _write(tmp_path / "imgs" / "screenspot_web_v2.json", [good, {**good, "img_filename": "gone.png"}]),
            ["screenspot_web_v2.json: sample 1", "'gone.png' not found"],
        ),
        "malformed json": (
            _write(tmp_path / "j" / "screenspot_web_v2.json", '[\n{"img_filename": "a.png",\n "bbox": [1, 2\n'),
            ["screenspot_web_v2.json:4", "not valid JSON"],
        ),
        "box outside the image": (
            _write(tmp_path / "imgs" / "screenspot_mobile_v2.json", [good, {**good, "bbox": [540, 10, 100, 20]}]),
            ["screenspot_mobile_v2.json: sample 1", "box [540, 10, 640, 30] lies outside the 560x336 image"],
        ),
        "a field of the wrong type": (
            _write(tmp_path / "imgs" / "screenspot_desktop_v2.json", [{**good, "bbox": [1, 2, "3", 4]}]),
            ["sample 0", "field 'bbox' must be 4 numbers"],
        ),
        "a path out of the data set": (
            _write(tmp_path / "imgs" / "screenspot_x_v2.json", [{**good, "img_filename": "../imgs/a.png"}]),
            ["sample 0", "must be a relative path inside the data set"],
        ),
        "unknown format": (
            _write(tmp_path / "u" / "mystery.json", [{"file": "a.png", "rect": [1, 2, 3, 4]}]),
            ["mystery.json: cannot tell its format", "--format"],
        ),
        "a folder without a data set": ((tmp_path / "imgs").parent / "empty", ["no data set found"]),
    }


def test_bad_input_is_one_error_line_naming_what_and_where(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sets = _bad_sets(tmp_path)
    (tmp_path / "empty").mkdir()
    for what, (path, needles) in sets.items():
        code, card, err = evaluate(path, tmp_path, "--backend", "ocr", capsys=capsys)
        lines = err.strip().splitlines()
        assert code == 2 and card is None, (what, err)
        assert len(lines) == 1 and lines[0].startswith("error: "), (what, lines)
        assert all(needle in lines[0] for needle in needles), (what, lines[0])
    # the command a person types: the same line, no traceback
    path, needles = sets["missing image"]
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    out = subprocess.run([str(DESKPILOT), "eval", str(path)], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 2 and out.stdout == "" and "Traceback" not in out.stderr
    assert out.stderr.startswith("error: ") and all(needle in out.stderr for needle in needles)


# -- the red team's N9 and N10 (round 3): images only from inside the data set, and never a bomb decoded --


def _one_sample_set(folder: Path, image: str = "a.png") -> Path:
    good = {"img_filename": image, "bbox": [10, 10, 20, 20], "instruction": "Save", "data_type": "text"}
    return _write(folder / "screenspot_web_v2.json", [good])


def test_images_are_read_only_inside_the_data_set(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outside = tmp_path / "outside"
    eval_sets.picture(outside / "private.png")
    # images/ is a symlink to a folder elsewhere
    linked_folder = _one_sample_set(tmp_path / "ds1", "private.png").parent
    (linked_folder / "images").symlink_to(outside)
    # images/ is real, the picture in it a symlink out
    linked_file = _one_sample_set(tmp_path / "ds2", "private.png").parent
    (linked_file / "images").mkdir()
    (linked_file / "images" / "private.png").symlink_to(outside / "private.png")
    for folder in (linked_folder, linked_file):
        code, card, err = evaluate(folder, tmp_path, "--backend", "ocr", "-o", str(tmp_path / "r.html"), capsys=capsys)
        lines = err.strip().splitlines()
        assert code == 2 and card is None and len(lines) == 1, err
        assert "screenspot_web_v2.json: sample 0: image 'private.png' resolves to" in lines[0]
        assert "outside the data set's folder" in lines[0] and str(outside / "private.png") in lines[0]
        assert not (tmp_path / "r.html").exists()
    # a symlink that stays in the folder is a picture of the set
    inside = _one_sample_set(tmp_path / "ds3", "alias.png").parent
    eval_sets.picture(inside / "images" / "a.png")
    (inside / "images" / "alias.png").symlink_to("a.png")
    assert load_dataset(inside).samples[0].size == eval_sets.IMAGE_SIZE


def test_an_image_of_too_many_pixels_is_refused_before_it_is_decoded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from agent.evaluation.readers.common import IMAGE_LIMIT_PX

    folder = _one_sample_set(tmp_path / "big").parent
    eval_sets.blank_png(folder / "images" / "a.png", 8000, 6000)  # 48 Mpx: below PIL's own warning
    assert IMAGE_LIMIT_PX < 8000 * 6000
    code, card, err = evaluate(folder, tmp_path, "--backend", "ocr", capsys=capsys)
    assert code == 2 and card is None
    assert err == (
        f"error: {folder / 'screenspot_web_v2.json'}: sample 0: image {folder / 'images' / 'a.png'}: 8000x6000 px "
        f"is more than {IMAGE_LIMIT_PX} pixels, the most an image may have\n"
    )

    # 165 Mpx in a 160 KB file: PIL warns (as a raw Python warning line) and would decode 500 MB
    bomb = _one_sample_set(tmp_path / "bomb").parent
    eval_sets.blank_png(bomb / "images" / "a.png", 15000, 11000)
    script = tmp_path / "script.jsonl"
    script.write_text(json.dumps({"raw": eval_sets.reply((15, 15))}) + "\n", encoding="utf-8")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    run = [str(DESKPILOT), "eval", str(bomb), "--backend", "scripted", "--script", str(script)]
    out = subprocess.run(run, capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 2 and out.stdout == "", out.stderr
    assert "Warning" not in out.stderr and "site-packages" not in out.stderr and len(out.stderr.splitlines()) == 1
    assert out.stderr.startswith(
        f"error: {bomb / 'screenspot_web_v2.json'}: sample 0: image {bomb / 'images' / 'a.png'}"
    )
    assert f"image {bomb / 'images' / 'a.png'}: 165000000 px is more than {IMAGE_LIMIT_PX} pixels" in out.stderr

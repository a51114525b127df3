"""Calibration analysis on synthetic clicks: the per-axis fit, and each diagnosis of a wrong preset."""

from __future__ import annotations

import json
import math
import re

import pytest

from agent.calibration import analyse, fit_axis
from agent.families import get_family, model_frame, model_input_size
from agent.pointing import read_point
from sandbox.geometry import Monitor, Rect

SCREEN = Monitor(0, 0, 1920, 1080, name="primary")
MODEL_25 = model_input_size(get_family("qwen2.5-vl"), 1920, 1080)  # (1932, 1092)
MODEL_3 = model_input_size(get_family("qwen3-vl"), 1920, 1080)  # (1920, 1088)


def grid(side: int = 20, origin: tuple[int, int] = (0, 0)) -> dict[str, Rect]:
    """Nine `side`-px targets spread over a 1920x1080 monitor at `origin`: corners, edge middles, centre."""
    targets = {}
    for row, cy in enumerate((150, 540, 930)):
        for col, cx in enumerate((200, 960, 1720)):
            label = f"{'ABC'[row]}{col + 1}"
            targets[label] = Rect(origin[0] + cx - side // 2, origin[1] + cy - side // 2, side, side, name=label)
    return targets


def centre(rect: Rect) -> tuple[float, float]:
    return rect.x + rect.width / 2, rect.y + rect.height / 2


def points(targets: dict[str, Rect], transform: object) -> dict[str, tuple[int, int] | None]:
    out: dict[str, tuple[int, int] | None] = {}
    for label, rect in targets.items():
        out[label] = transform(*centre(rect))  # type: ignore[operator]
    return out


def test_the_fit_recovers_slope_and_intercept() -> None:
    fit = fit_axis([100, 500, 900, 1300], [1.5 * c - 20 for c in (100, 500, 900, 1300)])
    assert fit is not None
    assert fit.a == pytest.approx(1.5) and fit.b == pytest.approx(-20) and fit.residual_px == pytest.approx(0, abs=1e-9)
    assert fit_axis([100, 100, 100], [1, 2, 3]) is None  # no spread: no slope
    assert fit_axis([100, 200], [100, 200]) is None  # too few points


def test_all_hits_have_no_diagnosis() -> None:
    targets = grid()
    report = analyse(targets, points(targets, lambda x, y: (round(x) + 1, round(y) - 1)), monitor=SCREEN)
    assert (report.hits, report.total, report.diagnosis, report.pattern) == (9, 9, None, None)
    assert report.mean_offset_px == pytest.approx(math.sqrt(2)) and report.worst_offset_px == pytest.approx(
        math.sqrt(2)
    )
    assert report.fit_x is not None and report.fit_x.a == pytest.approx(1.0)
    out = report.to_json()
    assert out["hits"] == 9 and out["diagnosis"] is None and out["executed"] is False
    json.dumps(out)


def test_a_constant_offset_names_the_shift() -> None:
    targets = grid()
    report = analyse(
        targets, points(targets, lambda x, y: (round(x) + 40, round(y) - 25)), monitor=SCREEN, model_size=MODEL_25
    )
    assert report.hits == 0 and report.pattern == "offset"
    assert report.diagnosis is not None
    assert "(+40, -25) px off" in report.diagnosis and "monitor origin" in report.diagnosis
    assert report.fit_x is not None and report.fit_x.b == pytest.approx(40, abs=0.5)
    assert report.mean_offset_px == pytest.approx(math.hypot(40, 25), abs=1)


def test_an_offset_with_scatter_is_still_an_offset() -> None:
    """Real models scatter a few pixels; the slope test widens with the fit's standard error."""
    targets = grid(side=60)
    noise = [(5, -3), (-6, 4), (2, 6), (-4, -5), (6, 1), (-2, -6), (3, 5), (-5, 2), (1, -4)]
    shifted = {
        label: (round(centre(rect)[0]) + 45 + dx, round(centre(rect)[1]) + 38 + dy)
        for (label, rect), (dx, dy) in zip(targets.items(), noise)
    }
    report = analyse(targets, shifted, monitor=SCREEN, model_size=MODEL_25)
    assert report.hits == 0 and report.pattern == "offset" and "(+45, +38) px off" in (report.diagnosis or "")


def test_the_offset_is_anchored_at_the_monitor_origin() -> None:
    left = Monitor(-1920, 0, 1920, 1080, name="left")
    targets = grid(origin=(-1920, 0))
    report = analyse(targets, points(targets, lambda x, y: (round(x) - 30, round(y) + 30)), monitor=left)
    assert report.pattern == "offset" and "(-30, +30) px off" in (report.diagnosis or "")


def test_clicks_scaled_by_the_resize_ratio() -> None:
    """The model saw 1932x1092 but its answer was read as if for 1920x1080 (or the reverse)."""
    rx, ry = MODEL_25[0] / 1920, MODEL_25[1] / 1080
    targets = grid()
    report = analyse(
        targets, points(targets, lambda x, y: (round(x * rx), round(y * ry))), monitor=SCREEN, model_size=MODEL_25
    )
    assert 0 < report.hits < 9 and report.pattern == "scaled"
    assert report.diagnosis is not None
    assert re.match(
        r"the clicks are scaled by ~1\.00\d/1\.01\d: the model saw a different image size", report.diagnosis
    )
    assert "--min-pixels/--max-pixels" in report.diagnosis and "1920x1080" in report.diagnosis
    assert report.fit_x is not None and report.fit_x.a == pytest.approx(rx, abs=1e-3)
    inverse = analyse(
        targets, points(targets, lambda x, y: (round(x / rx), round(y / ry))), monitor=SCREEN, model_size=MODEL_25
    )
    assert inverse.pattern == "scaled"
    named = re.search(r"scaled by ~([\d.]+)/([\d.]+)", inverse.diagnosis or "")
    assert (
        named
        and float(named[1]) == pytest.approx(1 / rx, abs=2e-3)
        and float(named[2]) == pytest.approx(1 / ry, abs=2e-3)
    )


def test_a_scale_of_two_also_names_hidpi() -> None:
    targets = grid()
    report = analyse(targets, points(targets, lambda x, y: (round(x / 2), round(y / 2))), monitor=SCREEN)
    assert (
        report.pattern == "scaled"
        and "~0.500/0.500" in (report.diagnosis or "")
        and "HiDPI" in (report.diagnosis or "")
    )


def test_relative_answers_read_as_pixels() -> None:
    """A model answering 0-1000 under the qwen2.5-vl preset (pixels of the 1932x1092 image), parsed for real."""
    family = get_family("qwen2.5-vl")
    frame = model_frame(family, 1920, 1080)

    def as_parsed(x: float, y: float) -> tuple[int, int] | None:
        raw = (
            '<tool_call>\n{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": '
            f"[{round(x / 1920 * 1000)}, {round(y / 1080 * 1000)}]}}}}\n</tool_call>"
        )
        return read_point(raw, family=family, frame=frame).point

    targets = grid()
    report = analyse(targets, points(targets, as_parsed), monitor=SCREEN, model_size=MODEL_25)
    assert report.pattern == "relative_read_as_pixels"
    assert report.diagnosis is not None and report.diagnosis.startswith(
        "the model answers in 0-1000 relative coordinates but the preset reads pixels: use a relative family "
        "(qwen3-vl, ui-tars, qwen2-vl)"
    )
    assert report.fit_x is not None and report.fit_x.a == pytest.approx(1000 / 1932, abs=2e-3)


def test_pixel_answers_read_as_relative() -> None:
    """A model answering in pixels of its 1920x1088 image under the qwen3-vl preset (0-1000): values past
    1000 do not parse, so those targets get no point; the rest still show the pattern."""
    family = get_family("qwen3-vl")
    frame = model_frame(family, 1920, 1080)

    def as_parsed(x: float, y: float) -> tuple[int, int] | None:
        raw = (
            '<tool_call>\n{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": '
            f"[{round(x * MODEL_3[0] / 1920)}, {round(y * MODEL_3[1] / 1080)}]}}}}\n</tool_call>"
        )
        return read_point(raw, family=family, frame=frame).point

    targets = grid()
    report = analyse(targets, points(targets, as_parsed), monitor=SCREEN, model_size=MODEL_3)
    assert report.pattern == "pixels_read_as_relative"
    assert report.diagnosis is not None and report.diagnosis.startswith(
        "the model answers in pixels but the preset reads 0-1000 relative coordinates: use an absolute family"
    )
    assert "3 of 9 replies gave no usable point" in report.diagnosis
    assert sum(t.point is None for t in report.per_target) == 3


def test_scattered_misses_have_no_pattern() -> None:
    targets = grid()
    jitter = [(35, -80), (-120, 15), (60, 90), (-45, -40), (150, -20), (-70, 110), (20, -130), (95, 55), (-30, 75)]
    scattered = {
        label: (round(centre(rect)[0]) + dx, round(centre(rect)[1]) + dy)
        for (label, rect), (dx, dy) in zip(targets.items(), jitter)
    }
    report = analyse(targets, scattered, monitor=SCREEN, model_size=MODEL_25)
    assert report.hits == 0 and report.pattern == "no_pattern"
    assert report.diagnosis is not None and "the misses follow no pattern" in report.diagnosis
    assert "larger model" in report.diagnosis and "max-pixels" in report.diagnosis


def test_malformed_replies_count_as_misses() -> None:
    targets = grid()
    good = points(targets, lambda x, y: (round(x), round(y)))
    good["B2"] = None
    report = analyse(targets, good, monitor=SCREEN, errors={"B2": "unusable reply: no action found"})
    assert (report.hits, report.total, report.pattern) == (8, 9, "unusable_replies")
    b2 = next(t for t in report.per_target if t.label == "B2")
    assert b2.point is None and not b2.hit and b2.offset_px is None and b2.error == "unusable reply: no action found"
    assert "1 of 9 replies gave no usable point" in (report.diagnosis or "")
    nothing = analyse(targets, {label: None for label in targets}, monitor=SCREEN)
    assert nothing.pattern == "no_points" and nothing.mean_offset_px is None and nothing.to_json()["fit"] is None


def test_first_point_takes_the_first_click_or_says_why_not() -> None:
    family = get_family("qwen2.5-vl")
    frame = model_frame(family, 1920, 1080)
    move_then_click = (
        '<tool_call>\n{"name": "computer_use", "arguments": {"action": "mouse_move", "coordinate": [966, 546]}}\n'
        '</tool_call>\n<tool_call>\n{"name": "computer_use", "arguments": {"action": "left_click", '
        '"coordinate": [10, 10]}}\n</tool_call>'
    )
    reading = read_point(move_then_click, family=family, frame=frame)
    assert (reading.point, reading.why_not) == ((960, 540), None)
    reading = read_point("I cannot see it.", family=family, frame=frame)
    point, why = reading.point, reading.why_not
    assert point is None and why is not None and why.startswith("unusable reply")
    terminate = (
        'Could not find it.\n<tool_call>\n{"name": "computer_use", "arguments": {"action": "terminate", '
        '"status": "failure"}}\n</tool_call>'
    )
    reading = read_point(terminate, family=family, frame=frame)
    point, why = reading.point, reading.why_not
    assert point is None and "no click" in (why or "") and "Could not find it." in (why or "")

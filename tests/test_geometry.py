"""smart_resize against transformers, per-axis conversion, tolerances and round trips."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.families import FAMILIES, get_family, model_frame, model_input_size
from sandbox.errors import GeometryError
from sandbox.geometry import ModelFrame, ModelSpace, Monitor, ScreenGeometry, smart_resize

BUDGETS = {(f.factor, f.min_pixels, f.max_pixels) for f in FAMILIES.values() if f.fixed_input is None}
BUDGETS |= {(28, 3136, 1280 * 28 * 28), (32, 65536, 1280 * 32 * 32), (28, 100 * 28 * 28, 2700 * 28 * 28)}


def test_smart_resize_matches_transformers_for_thousands_of_sizes() -> None:
    pytest.importorskip("transformers")
    try:  # the torchvision processor module; without torchvision, the PIL one (a copy of the same function)
        from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize as reference
    except ImportError:
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize as reference
    rng = random.Random(20261126)
    sizes = [(rng.randint(1, 9000), rng.randint(1, 9000)) for _ in range(4000)]
    sizes += [(1080, 1920), (1440, 2560), (2160, 3840), (768, 1366), (2400, 1080), (14, 14), (27, 5400)]
    compared = 0
    for factor, lo, hi in sorted(BUDGETS):
        for height, width in sizes:
            try:
                expected = reference(height, width, factor=factor, min_pixels=lo, max_pixels=hi)
            except ValueError:
                with pytest.raises(GeometryError):
                    smart_resize(height, width, factor=factor, min_pixels=lo, max_pixels=hi)
                continue
            assert smart_resize(height, width, factor=factor, min_pixels=lo, max_pixels=hi) == expected, (height, width)
            compared += 1
    assert compared > 20000


@pytest.mark.parametrize(
    ("family", "screen", "resized"),
    [  # docs/model-formats.md §4
        ("qwen2.5-vl", (1920, 1080), (1932, 1092)),
        ("qwen2.5-vl", (2560, 1440), (2548, 1428)),
        ("qwen2.5-vl", (3840, 2160), (3836, 2156)),
        ("qwen2.5-vl", (1080, 2400), (1092, 2408)),
        ("qwen3-vl", (1920, 1080), (1920, 1088)),
        ("qwen3-vl", (3840, 2160), (3840, 2176)),
        ("ui-tars-1.5", (1920, 1080), (1932, 1092)),
        ("qwen-vl", (1920, 1080), (448, 448)),
    ],
)
def test_model_input_size_matches_the_reference_table(
    family: str, screen: tuple[int, int], resized: tuple[int, int]
) -> None:
    assert model_input_size(get_family(family), *screen) == resized


def test_lower_budget_is_used_for_both_preparation_and_conversion() -> None:
    family = get_family("qwen2.5-vl")
    assert model_input_size(family, 1920, 1080, max_pixels=1280 * 28 * 28) == (1316, 728)
    frame = model_frame(family, 1920, 1080, max_pixels=1280 * 28 * 28)
    assert (frame.space.width, frame.space.height) == (1316, 728)
    assert frame.to_screen(658, 364) == (960, 540)


def test_axes_scale_separately() -> None:
    frame = model_frame(get_family("qwen2.5-vl"), 1920, 1080)  # 1932x1092: sx=0.9938, sy=0.9890
    assert frame.to_screen(1932 / 2, 1092 / 2) == (960, 540)
    assert frame.to_screen(1000, 1000) == (round(1000 * 1920 / 1932), round(1000 * 1080 / 1092))


def test_relative_edges_and_absolute_spill_tolerances() -> None:
    rel = ModelFrame(1920, 1080, ModelSpace.relative())
    assert rel.to_screen(1000, 1000) == (1919, 1079)  # exactly 1000 is tolerated (clamped onto the image)
    for bad in (-1, 1000.5, math.nan, math.inf):
        with pytest.raises(GeometryError):
            rel.to_screen(bad, 10)
    absolute = ModelFrame(1920, 1080, ModelSpace.absolute(1932, 1092))
    assert absolute.to_screen(1932 * 1.05, -1092 * 0.05) == (1919, 0)  # <= 5% spill: clamped
    with pytest.raises(GeometryError, match="more than 5%"):
        absolute.to_screen(1932 * 1.06, 10)


def test_origin_and_scale_negative_monitor() -> None:
    frame = ModelFrame(3840, 2160, ModelSpace.relative(), origin_x=-1920, origin_y=0, scale=2.0)
    assert frame.to_screen(0, 0) == (-1920, 0)
    assert frame.to_screen(500, 500) == (-960, 540)
    assert frame.to_screen(1000, 1000) == (-1, 1079)


def test_screen_geometry_monitor_lookup() -> None:
    geo = ScreenGeometry((Monitor(0, 0, 1920, 1080), Monitor(1920, 0, 1280, 1024, scale=1.25)))
    assert geo.index_at(2500, 500) == 1
    assert geo.monitor_at(2500, 1050) is None  # the strip below the shorter right monitor
    assert geo.bounds == (0, 0, 3200, 1080)
    assert ScreenGeometry.from_json(geo.to_json()) == geo


@settings(max_examples=600, deadline=None)
@given(
    family=st.sampled_from(sorted(FAMILIES)),
    width=st.integers(320, 7680),
    height=st.integers(240, 4320),
    scale=st.sampled_from([1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0]),
    origin_x=st.integers(-7680, 7680),
    origin_y=st.integers(-4320, 4320),
    fx=st.floats(0, 1, allow_nan=False),
    fy=st.floats(0, 1, allow_nan=False),
)
def test_screen_model_screen_round_trip(
    family: str, width: int, height: int, scale: float, origin_x: int, origin_y: int, fx: float, fy: float
) -> None:
    if max(width, height) / min(width, height) > 200:
        return
    frame = model_frame(get_family(family), width, height, origin=(origin_x, origin_y), scale=scale)
    logical_w, logical_h = math.floor((width - 1) / scale), math.floor((height - 1) / scale)
    sx, sy = origin_x + round(fx * logical_w), origin_y + round(fy * logical_h)
    mx, my = frame.from_screen(sx, sy)
    bx, by = frame.to_screen(mx, my)
    assert abs(bx - sx) <= 1 and abs(by - sy) <= 1

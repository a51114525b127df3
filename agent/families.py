"""Model families: the preset that says how a model reads images and writes coordinates.

One function, `model_input_size`, decides the image size the model gets; the image preparation and
the coordinate conversion both go through it (via `model_frame`), so they can never disagree.
Sources for every number: docs/model-formats.md §4 (processor configs of each family).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from agent.errors import ConfigError
from sandbox.geometry import ModelFrame, ModelSpace, smart_resize

Syntax = Literal["qwen-vl-ref", "qwen2-vl-box", "qwen-tool-call", "ui-tars", "point-json", "pyautogui"]

QWEN2_MIN_PIXELS = 3136  # 4 * 28 * 28, Qwen2-VL / Qwen2.5-VL preprocessor_config.json
QWEN2_MAX_PIXELS = 12845056  # 16384 * 28 * 28
UI_TARS_MIN_PIXELS = 100 * 28 * 28  # UI-TARS codes/ui_tars/action_parser.py
UI_TARS_MAX_PIXELS = 16384 * 28 * 28
QWEN3_MIN_PIXELS = 65536  # 64 * 32 * 32, Qwen3-VL preprocessor_config.json shortest_edge
QWEN3_MAX_PIXELS = 16777216  # 16384 * 32 * 32, longest_edge
QWEN_VL_INPUT = 448  # Qwen-VL v1 squashes every image to 448x448


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    syntax: Syntax
    coords: Literal["relative", "absolute"]
    factor: int
    min_pixels: int
    max_pixels: int
    relative_extent: int = 1000
    fixed_input: tuple[int, int] | None = None  # (w, h) when the processor ignores the aspect ratio
    hf_example: str = ""
    tools_in_template: bool = False  # the chat template presents the computer_use tool itself (qwen3.5)
    template_options: tuple[tuple[str, Any], ...] = ()  # given to the chat template (enable_thinking=False)
    base: str = ""  # the family a fine-tune is built on (its processor, chat template and loading)

    @property
    def patch_size(self) -> int:
        return self.factor // 2


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            "qwen-vl",
            "qwen-vl-ref",
            "relative",
            28,
            QWEN_VL_INPUT**2,
            QWEN_VL_INPUT**2,
            fixed_input=(QWEN_VL_INPUT, QWEN_VL_INPUT),
            hf_example="Qwen/Qwen-VL-Chat",
        ),
        Family(
            "qwen2-vl",
            "qwen2-vl-box",
            "relative",
            28,
            QWEN2_MIN_PIXELS,
            QWEN2_MAX_PIXELS,
            hf_example="Qwen/Qwen2-VL-7B-Instruct",
        ),
        Family(
            "qwen2.5-vl",
            "qwen-tool-call",
            "absolute",
            28,
            QWEN2_MIN_PIXELS,
            QWEN2_MAX_PIXELS,
            hf_example="Qwen/Qwen2.5-VL-7B-Instruct",
        ),
        Family(
            "qwen3-vl",
            "qwen-tool-call",
            "relative",
            32,
            QWEN3_MIN_PIXELS,
            QWEN3_MAX_PIXELS,
            hf_example="Qwen/Qwen3-VL-8B-Instruct",
        ),
        # UI-TARS v1.0 is a Qwen2-VL fine-tune: its processor config is Qwen2-VL's.
        Family(
            "ui-tars",
            "ui-tars",
            "relative",
            28,
            QWEN2_MIN_PIXELS,
            QWEN2_MAX_PIXELS,
            hf_example="bytedance-research/UI-TARS-7B-DPO",
        ),
        # Qwen3.5 (dense and MoE): Qwen3-VL's vision (patch 16 x merge 2) and budget, relative 0-1000; it
        # thinks by default (switched off for acting) and its template presents tools itself.
        Family(
            "qwen3.5",
            "qwen-tool-call",
            "relative",
            32,
            QWEN3_MIN_PIXELS,
            QWEN3_MAX_PIXELS,
            hf_example="Qwen/Qwen3.5-9B",
            tools_in_template=True,
            template_options=(("enable_thinking", False),),
        ),
        Family(
            "ui-tars-1.5",
            "ui-tars",
            "absolute",
            28,
            UI_TARS_MIN_PIXELS,
            UI_TARS_MAX_PIXELS,
            hf_example="ByteDance-Seed/UI-TARS-1.5-7B",
        ),
    )
}


def get_family(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        raise ConfigError(f"unknown family {name!r} (known: {', '.join(FAMILIES)})") from None


def model_input_size(
    family: Family, shot_width: int, shot_height: int, *, min_pixels: int | None = None, max_pixels: int | None = None
) -> tuple[int, int]:
    """(width, height) of the image the model is given for a screenshot: the one place this is decided."""
    if family.fixed_input is not None:
        return family.fixed_input
    lo = family.min_pixels if min_pixels is None else min_pixels
    hi = family.max_pixels if max_pixels is None else max_pixels
    if lo <= 0 or hi <= 0 or lo > hi:
        raise ConfigError(f"min_pixels ({lo}) and max_pixels ({hi}) must be positive with min <= max")
    height, width = smart_resize(shot_height, shot_width, factor=family.factor, min_pixels=lo, max_pixels=hi)
    return width, height


def model_frame(
    family: Family,
    shot_width: int,
    shot_height: int,
    *,
    origin: tuple[float, float] = (0, 0),
    scale: float = 1.0,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
) -> ModelFrame:
    """The frame that converts this family's numbers for this screenshot back to screen points."""
    if family.coords == "relative":
        space = ModelSpace.relative(family.relative_extent)
    else:
        width, height = model_input_size(family, shot_width, shot_height, min_pixels=min_pixels, max_pixels=max_pixels)
        space = ModelSpace.absolute(width, height)
    return ModelFrame(shot_width, shot_height, space, origin_x=origin[0], origin_y=origin[1], scale=scale)


@dataclass(frozen=True, slots=True)
class PixelBudget:
    """The pixel budget a screenshot is prepared with: the family's own, or one a backend lowered."""

    min_pixels: int
    max_pixels: int


def pixel_budget(family: Family, *, min_pixels: int | None = None, max_pixels: int | None = None) -> PixelBudget:
    """The family's budget with the given overrides (None: the family's own)."""
    return PixelBudget(
        family.min_pixels if min_pixels is None else min_pixels,
        family.max_pixels if max_pixels is None else max_pixels,
    )

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
GROUNDING_SYNTAXES = ("qwen-vl-ref", "qwen2-vl-box", "point-json")  # models that only point: one step, then done


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
    in_process: bool = True  # False: its own model code (trust_remote_code); run it behind a server

    @property
    def patch_size(self) -> int:
        return self.factor // 2

    @property
    def points_only(self) -> bool:
        """A grounding model: it points once, deskpilot clicks there and the run ends."""
        return self.syntax in GROUNDING_SYNTAXES


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
        # Fine-tunes people pick from leaderboards (docs/model-formats.md, "Fine-tunes"): each is its base's
        # processor and budget with its own reply syntax (loaded by its config.json's model_type, like any family:
        # agent/backends/transformers/loading.py).
        Family(  # Mobile-Agent-v3.5, on Qwen3-VL: "Action: ..." then a Qwen3-VL computer_use call, 0-1000
            "gui-owl-1.5",
            "qwen-tool-call",
            "relative",
            32,
            QWEN3_MIN_PIXELS,
            QWEN3_MAX_PIXELS,
            hf_example="mPLUG/GUI-Owl-1.5-8B-Instruct",
        ),
        Family(  # on Qwen3-VL, grounding only: {"x": .., "y": ..} in 0-1000
            "holo2",
            "point-json",
            "relative",
            32,
            QWEN3_MIN_PIXELS,
            QWEN3_MAX_PIXELS,
            hf_example="Hcompany/Holo2-8B",
        ),
        Family(  # on Qwen3-VL, grounding only: [x, y] in 0-1000, [-1, -1] when the element is not there
            "ui-venus-1.5",
            "point-json",
            "relative",
            32,
            QWEN3_MIN_PIXELS,
            QWEN3_MAX_PIXELS,
            hf_example="inclusionAI/UI-Venus-1.5-8B",
        ),
        # On Qwen2.5-VL: pyautogui code, pixels of the Qwen2.5-VL smart-resized image; its own tokenizer, chat template and
        # 1D RoPE ("do not use the default transformers and vllm classes"): served, never loaded in-process.
        Family(
            "opencua",
            "pyautogui",
            "absolute",
            28,
            QWEN2_MIN_PIXELS,
            QWEN2_MAX_PIXELS,
            hf_example="xlang-ai/OpenCUA-7B",
            in_process=False,
        ),
    )
}

# Names people try that are not presets: why, and the closest preset (docs/model-formats.md, "Fine-tunes").
NOT_PRESETS: dict[str, tuple[str, str]] = {
    "gui-owl": ("GUI-Owl 1.0 and 1.5 differ; the 1.5 models (Qwen3-VL based) have a preset", "gui-owl-1.5"),
    "ui-venus": ("UI-Venus 1.0 and 1.5 differ; the 1.5 models have a preset", "ui-venus-1.5"),
    "ui-venus-1.0": (
        "UI-Venus 1.0 answers boxes in pixels of an image resized with its own budget (2352x1344 for 1920x1080)",
        "qwen2.5-vl with that model's --min-pixels/--max-pixels",
    ),
    "holo": ("Holo1, Holo1.5 and Holo2 differ; Holo2 (Qwen3-VL based) has a preset", "holo2"),
    "holo1": ("Holo1 answers Click(x, y) in pixels of an image the client resized itself", "holo2"),
    "holo1.5": ("Holo1.5 answers through a structured-output schema of its own client", "holo2"),
    "ui-tars-2": ("UI-TARS-2's weights are not released", "ui-tars-1.5"),
    "seed": ("Seed's <seed:tool_call> syntax is a closed model's", "ui-tars-1.5"),
    "gui-actor": (
        "GUI-Actor points with special tokens its own model class decodes; its text has no coordinates",
        "qwen2.5-vl",
    ),
    "opencua-qwen2": ("OpenCUA-Qwen2-7B answers in 0-1 fractions, not pixels", "opencua"),
}


def get_family(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        pass
    if name.lower() in NOT_PRESETS:
        why, closest = NOT_PRESETS[name.lower()]
        raise ConfigError(f"family {name!r} is not supported: {why}; the closest preset is {closest}")
    raise ConfigError(f"unknown family {name!r} (known: {', '.join(FAMILIES)})")


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

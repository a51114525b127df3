"""The size probe and qwen3.5's request fields against a real server: `transformers serve` with tiny random models.

Random weights, real processors: the server's `usage.prompt_tokens` counts the image tokens its own processor
made, which is what the probe reads. A processor config with a lower max_pixels is a server that shrinks
screenshots, as a vLLM started with `--mm-processor-kwargs` is.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from agent.backends.base import ModelRequest
from agent.backends.openai.backend import OpenAIBackend
from agent.errors import BackendError
from agent.families import get_family, model_input_size, pixel_budget
from agent.imaging import prepare_image
from agent.prompts import build_messages, tool_definitions
from sandbox.geometry import smart_resize
from sandbox.stop import StopFlag
from tests.helpers.desktop_image import desktop_image
from tests.helpers.transformers_serve import SERVE, SKIP_REASON, transformers_serve

QWEN25 = get_family("qwen2.5-vl")
QWEN35 = get_family("qwen3.5")
SCREEN = (1920, 1080)
SERVER_MAX_PIXELS = 1280 * 28 * 28  # 1,003,520: what a memory-minded vLLM deployment sets

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not SERVE.exists(), reason=SKIP_REASON)]


def test_the_probe_keeps_or_lowers_the_budget_as_the_servers_processor_resizes(
    tiny_model_dir: Callable[[str], Path], tmp_path: Path
) -> None:
    budget = pixel_budget(QWEN25)
    for name in ("as-published", "capped"):
        (tmp_path / name).mkdir()
    with transformers_serve(tiny_model_dir("qwen2.5-vl"), tmp_path / "as-published") as url:
        model = OpenAIBackend(url)
        try:
            assert (
                model.fit(QWEN25, SCREEN, budget, stop=StopFlag()) == budget
            )  # 1932x1092 is within the processor's range
        finally:
            model.close()

    capped = tmp_path / "capped-model"
    shutil.copytree(tiny_model_dir("qwen2.5-vl"), capped)
    config_path = capped / "preprocessor_config.json"
    config = json.loads(config_path.read_text())
    config["max_pixels"] = SERVER_MAX_PIXELS
    config_path.write_text(json.dumps(config))
    with transformers_serve(capped, tmp_path / "capped") as url:
        model = OpenAIBackend(url)
        try:
            fitted = model.fit(QWEN25, SCREEN, budget, stop=StopFlag())
            assert fitted.max_pixels < budget.max_pixels
            width, height = model_input_size(QWEN25, *SCREEN, max_pixels=fitted.max_pixels)
            kept = smart_resize(height, width, factor=28, min_pixels=3136, max_pixels=SERVER_MAX_PIXELS)
            assert kept == (height, width)  # the server's own resize leaves it as it is
            with pytest.raises(BackendError, match=r"resized the 2548x1428 screenshot"):  # no budget above 2 Mpx
                model.fit(QWEN25, (2560, 1440), pixel_budget(QWEN25, min_pixels=2_000_000), stop=StopFlag())
        finally:
            model.close()


def test_qwen35_tools_and_template_options_reach_transformers_serve(
    tiny_model_dir: Callable[[str], Path], tmp_path: Path
) -> None:
    """The server's chat template got both: the tools lengthen the prompt, the thinking switch changes it."""
    image = prepare_image(desktop_image(*SCREEN), model_input_size(QWEN35, *SCREEN))
    request = ModelRequest(
        family=QWEN35,
        messages=build_messages(QWEN35, "Click OK", image),
        task="Click OK",
        image=image,
        step=1,
        max_new_tokens=4,
        tools=tool_definitions(QWEN35, image),
        template_options=QWEN35.template_options,
    )
    with transformers_serve(tiny_model_dir("qwen3.5"), tmp_path) as url:
        generic, named = OpenAIBackend(url), OpenAIBackend(url, server="vllm")
        try:
            sent = generic.generate(request, stop=StopFlag()).input_tokens
            bare = generic.generate(replace(request, tools=()), stop=StopFlag()).input_tokens
            thinking = replace(request, template_options=(("enable_thinking", True),))
            thought = generic.generate(thinking, stop=StopFlag()).input_tokens
            assert sent is not None and bare is not None and thought is not None
            assert sent > bare and thought != sent
            assert named.generate(request, stop=StopFlag()).input_tokens == sent  # tool_choice "none": ignored here
        finally:
            generic.close()
            named.close()

"""The model path users take (agent.backends.transformers.loading), run for real on tiny random Qwen-VL models offline.

The weights are random, so the replies are noise; what is checked is everything around them: the
directory loads offline like a download (from a folder or from the Hugging Face cache), the processor
resizes exactly as agent.families says (token counts (W/f)*(H/f)), the chat template puts one image where
the model expects it (and, for Qwen3.5, the tools and the empty think block), and generate runs.
Models: Qwen2.5-VL, Qwen3-VL, Qwen3.5 dense and Qwen3.5 MoE (read as family qwen3.5).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from agent.backends.transformers.loading import (  # noqa: E402
    expected_image_tokens,
    image_token_count,
    load_model,
    load_processor,
    processed_image_sizes,
)
from agent.errors import BackendError, ConfigError  # noqa: E402
from agent.families import Family, get_family, model_input_size  # noqa: E402
from tests.helpers.tinymodels import SPECS  # noqa: E402

FAMILIES = ("qwen2.5-vl", "qwen3-vl")
MODELS = ("qwen2.5-vl", "qwen3-vl", "qwen3.5", "qwen3.5-moe")  # tiny models; the last two are family qwen3.5
SHOTS = ((1280, 720), (1920, 1080))
LOW_BUDGET = {"qwen2.5-vl": 1280 * 28 * 28, "qwen3-vl": 1280 * 32 * 32, "qwen3.5": 1280 * 32 * 32}  # READMEs' max
PAD = "<|vision_start|><|image_pad|><|vision_end|>"

TinyDir = Callable[[str], Path]


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def family_of(model_name: str) -> Family:
    return get_family(SPECS[model_name].family)


def _screenshot(width: int, height: int) -> Any:
    from PIL import Image

    image = Image.new("RGB", (width, height), (40, 90, 160))
    image.paste((230, 230, 230), (width // 4, height // 4, width // 2, height // 2))
    return image


def _inputs(processor: Any, image: Any, text: str = "Click the OK button.", **kwargs: Any) -> Any:
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}]
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return processor(text=[prompt], images=[image], return_tensors="pt", **kwargs)


@pytest.mark.parametrize("model_name", MODELS)
@pytest.mark.parametrize("shot", SHOTS, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("budget", ["default", "low"])
def test_processor_resizes_as_the_family_says(
    tiny_model_dir: TinyDir, model_name: str, shot: tuple[int, int], budget: str
) -> None:
    family = family_of(model_name)
    max_pixels = family.max_pixels if budget == "default" else LOW_BUDGET[family.name]
    processor = load_processor(
        str(tiny_model_dir(model_name)), min_pixels=family.min_pixels, max_pixels=max_pixels, family=family
    )
    inputs = _inputs(processor, _screenshot(*shot))
    width, height = model_input_size(family, *shot, max_pixels=max_pixels)
    assert processed_image_sizes(inputs, processor) == [(width, height)]
    assert image_token_count(inputs, processor) == (width // family.factor) * (height // family.factor)
    assert image_token_count(inputs, processor) == expected_image_tokens(family, *shot, max_pixels=max_pixels)


def test_known_token_counts(tiny_model_dir: TinyDir) -> None:
    """The table of docs/model-formats.md §4, through the real processors."""
    cases = [
        ("qwen2.5-vl", None, 2691),
        ("qwen2.5-vl", LOW_BUDGET["qwen2.5-vl"], 1222),
        ("qwen3-vl", None, 2040),
        ("qwen3-vl", LOW_BUDGET["qwen3-vl"], 1222),
        ("qwen3.5", None, 2040),  # 1920x1088, as Qwen3-VL: the same vision geometry and budget
        ("qwen3.5", LOW_BUDGET["qwen3.5"], 1222),
        ("qwen3.5-moe", None, 2040),
    ]
    for model_name, max_pixels, tokens in cases:
        family = family_of(model_name)
        processor = load_processor(
            str(tiny_model_dir(model_name)),
            min_pixels=family.min_pixels,
            max_pixels=max_pixels or family.max_pixels,
            family=family,
        )
        assert image_token_count(_inputs(processor, _screenshot(1920, 1080)), processor) == tokens, model_name
        assert expected_image_tokens(family, 1920, 1080, max_pixels=max_pixels) == tokens, model_name


@pytest.mark.parametrize("family_name", FAMILIES)
def test_chat_template_is_the_familys(tiny_model_dir: TinyDir, family_name: str) -> None:
    family = get_family(family_name)
    processor = load_processor(
        str(tiny_model_dir(family_name)), min_pixels=family.min_pixels, max_pixels=family.max_pixels, family=family
    )
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Open 文件."}]}]
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    system = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n" if family_name == "qwen2.5-vl" else ""
    assert prompt == f"{system}<|im_start|>user\n{PAD}Open 文件.<|im_end|>\n<|im_start|>assistant\n"
    tokenizer = processor.tokenizer
    call = '<tool_call>\n{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [1, 2]}}'
    ids = tokenizer.encode(call + "\n</tool_call><|im_end|>", add_special_tokens=False)
    assert ids[0] == tokenizer.convert_tokens_to_ids("<tool_call>")
    assert ids[-1] == tokenizer.eos_token_id == tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert tokenizer.decode(ids, skip_special_tokens=True) == call + "\n</tool_call>"  # <tool_call> is not special


@pytest.mark.parametrize("model_name", ["qwen2.5-vl", "qwen3-vl", "qwen3.5"])
def test_pre_resized_image_without_resize_gives_the_same_tokens(tiny_model_dir: TinyDir, model_name: str) -> None:
    family = family_of(model_name)
    processor = load_processor(
        str(tiny_model_dir(model_name)),
        min_pixels=family.min_pixels,
        max_pixels=LOW_BUDGET[family.name],
        family=family,
    )
    shot = _screenshot(1920, 1080)
    size = model_input_size(family, 1920, 1080, max_pixels=LOW_BUDGET[family.name])
    resized = _inputs(processor, shot.resize(size), do_resize=False)
    assert processed_image_sizes(resized, processor) == [size]
    assert image_token_count(resized, processor) == image_token_count(_inputs(processor, shot), processor)


@pytest.mark.parametrize("model_name", MODELS)
def test_generate_runs_and_decodes(tiny_model_dir: TinyDir, model_name: str) -> None:
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    family = family_of(model_name)
    directory = str(tiny_model_dir(model_name))
    processor = load_processor(directory, min_pixels=family.min_pixels, max_pixels=family.max_pixels, family=family)
    model = load_model(directory)
    assert model.device.type == "cpu" and model.dtype == torch.float32 and not model.training
    assert model.config._attn_implementation == "sdpa"
    inputs = _inputs(processor, _screenshot(1280, 720))
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=8, do_sample=False)
    new = out[:, inputs["input_ids"].shape[1] :]
    assert 1 <= new.shape[1] <= 8
    assert isinstance(processor.batch_decode(new, skip_special_tokens=True)[0], str)

    class AfterTwo(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            done = input_ids.shape[1] - inputs["input_ids"].shape[1] >= 2
            return torch.full((input_ids.shape[0],), done, dtype=torch.bool)

    with torch.inference_mode():
        stopped = model.generate(
            **inputs, max_new_tokens=8, do_sample=False, stopping_criteria=StoppingCriteriaList([AfterTwo()])
        )
    assert stopped.shape[1] - inputs["input_ids"].shape[1] == 2
    assert torch.equal(stopped, out[:, : stopped.shape[1]])  # greedy: the same tokens, just fewer


def test_wrong_family_is_refused(tiny_model_dir: TinyDir) -> None:
    family = get_family("qwen3-vl")
    with pytest.raises(BackendError, match="multiples of 28.*expects 32"):
        load_processor(
            str(tiny_model_dir("qwen2.5-vl")), min_pixels=family.min_pixels, max_pixels=family.max_pixels, family=family
        )


def test_missing_models_are_one_line_errors(tmp_path: Path, tiny_model_dir: TinyDir) -> None:
    with pytest.raises(BackendError, match="not in the local Hugging Face cache and HF_HUB_OFFLINE is set"):
        load_model("deskpilot-tests/no-such-model")
    with pytest.raises(BackendError, match="does not exist"):
        load_processor(str(tmp_path / "nowhere"), min_pixels=3136, max_pixels=12845056)
    with pytest.raises(BackendError, match="no config.json"):
        load_model(str(tmp_path))
    broken = tmp_path / "broken"
    broken.mkdir()
    source = tiny_model_dir("qwen2.5-vl")
    for item in source.iterdir():
        if item.name != "model.safetensors":
            (broken / item.name).write_bytes(item.read_bytes())
    with pytest.raises(BackendError, match="no weights") as caught:
        load_model(str(broken))
    assert "\n" not in str(caught.value)
    (broken / "config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(BackendError, match="broken config"):
        load_model(str(broken))


def test_load_options_and_progress(tiny_model_dir: TinyDir) -> None:
    directory = str(tiny_model_dir("qwen3-vl"))
    seen: list[tuple[str, int, int | None]] = []
    model = load_model(directory, attn="eager", dtype="float32", on_progress=lambda *a: seen.append(a))
    assert model.config._attn_implementation == "eager"
    assert seen == [("load", 0, 1), ("load", 1, 1)]  # offline: nothing to download, nothing breaks
    with pytest.raises(ConfigError, match="dtype"):
        load_model(directory, dtype="fp8")
    with pytest.raises(ConfigError, match="attention"):
        load_model(directory, attn="flash")
    with pytest.raises(ConfigError, match="min_pixels"):
        load_processor(directory, min_pixels=0, max_pixels=10)


def test_refused_attention_falls_back_and_oom_is_one_line(
    tiny_model_dir: TinyDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch
    import transformers

    directory = str(tiny_model_dir("qwen2.5-vl"))
    real = transformers.AutoModelForImageTextToText.from_pretrained
    asked: list[str] = []

    def no_sdpa(path: str, **kwargs: Any) -> Any:
        asked.append(kwargs["attn_implementation"])
        if kwargs["attn_implementation"] == "sdpa":
            raise ValueError("This model does not support `attn_implementation='sdpa'` yet.")
        return real(path, **kwargs)

    monkeypatch.setattr(transformers.AutoModelForImageTextToText, "from_pretrained", no_sdpa)
    assert load_model(directory).config._attn_implementation == "eager"
    assert asked == ["sdpa", "eager"]
    with pytest.raises(BackendError, match="sdpa"):
        load_model(directory, attn="sdpa")  # asked for explicitly: no quiet fallback

    def oom(path: str, **kwargs: Any) -> Any:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB\nmore details")

    monkeypatch.setattr(transformers.AutoModelForImageTextToText, "from_pretrained", oom)
    with pytest.raises(BackendError, match="CUDA ran out of memory") as caught:
        load_model(directory)
    assert "\n" not in str(caught.value)


# --- Qwen3.5: laid out as published, its template, found and loaded like a download ---------------------------


@pytest.mark.parametrize("model_name", ["qwen3.5", "qwen3.5-moe"])
def test_qwen35_directory_is_laid_out_like_the_published_one(tiny_model_dir: TinyDir, model_name: str) -> None:
    import json

    directory = tiny_model_dir(model_name)
    config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    moe = model_name.endswith("moe")
    assert config["model_type"] == ("qwen3_5_moe" if moe else "qwen3_5")
    assert config["architectures"] == [f"Qwen3_5{'Moe' if moe else ''}ForConditionalGeneration"]
    text, vision = config["text_config"], config["vision_config"]
    assert set(text["layer_types"]) == {"linear_attention", "full_attention"}  # Gated DeltaNet and full attention
    assert text["attn_output_gate"] and text["rope_parameters"]["partial_rotary_factor"] == 0.25
    assert ("num_experts" in text) == moe
    assert (vision["patch_size"], vision["spatial_merge_size"], vision["temporal_patch_size"]) == (16, 2, 2)
    # the special tokens keep their real relative layout (real: <|endoftext|> 248044 ... <|image_pad|> 248056)
    base = text["pad_token_id"]
    assert (config["vision_start_token_id"] - base, config["image_token_id"] - base, text["eos_token_id"] - base) == (
        248053 - 248044,
        248056 - 248044,
        248046 - 248044,
    )
    assert json.loads((directory / "preprocessor_config.json").read_text(encoding="utf-8")) == {
        "size": {"longest_edge": 16777216, "shortest_edge": 65536},
        "patch_size": 16,
        "temporal_patch_size": 2,
        "merge_size": 2,
        "image_mean": [0.5, 0.5, 0.5],
        "image_std": [0.5, 0.5, 0.5],
        "processor_class": "Qwen3VLProcessor",
        "image_processor_type": "Qwen2VLImageProcessorFast",
    }
    assert (directory / "chat_template.jinja").is_file() and not (directory / "chat_template.json").exists()
    family = get_family("qwen3.5")
    processor = load_processor(
        str(directory), min_pixels=family.min_pixels, max_pixels=family.max_pixels, family=family
    )
    assert type(processor.tokenizer).__name__ == "Qwen3_5Tokenizer"
    think = processor.tokenizer.encode("<think></think>", add_special_tokens=False)
    assert [t - base for t in think] == [248068 - 248044, 248069 - 248044]


def test_qwen35_chat_template_presents_tools_and_switches_thinking_off(tiny_model_dir: TinyDir) -> None:
    family = get_family("qwen3.5")
    processor = load_processor(
        str(tiny_model_dir("qwen3.5")), min_pixels=family.min_pixels, max_pixels=family.max_pixels, family=family
    )
    tool = {"type": "function", "function": {"name": "computer_use", "parameters": {"type": "object"}}}
    system = {"role": "system", "content": [{"type": "text", "text": "You are a helpful assistant."}]}
    user = {"role": "user", "content": [{"type": "text", "text": "Open 文件."}, {"type": "image"}]}

    def render(messages: list[dict[str, Any]], **kwargs: Any) -> str:
        return str(processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False, **kwargs))

    prompt = render([system, user], tools=[tool], enable_thinking=False)
    head, rest = prompt.split("<|im_end|>\n", 1)
    assert head.startswith("<|im_start|>system\n# Tools\n") and head.endswith("\n\nYou are a helpful assistant.")
    assert '\n<tools>\n{"type": "function", "function": {"name": "computer_use"' in head
    assert "<tool_call>\n<function=NAME>\n<parameter=PARAMETER>\nVALUE\n</parameter>\n</function>\n</tool_call>" in head
    assert rest == f"<|im_start|>user\nOpen 文件.{PAD}<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
    assert render([system, user]) == (  # no tools, thinking on (the model's default)
        f"<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nOpen 文件.{PAD}<|im_end|>\n"
        "<|im_start|>assistant\n<think>\n"
    )
    # an earlier call is written back in the XML form; a thought after the last real query is kept
    call = {"function": {"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [5, 9]}}}
    turn = {"role": "assistant", "content": "<think>\nlook\n</think>\n\nClicking.", "tool_calls": [call]}
    answer = {"role": "user", "content": "<tool_response>\nok\n</tool_response>"}
    history = render([system, user, turn, answer], tools=[tool], enable_thinking=False)
    assert (
        "<|im_start|>assistant\n<think>\nlook\n</think>\n\nClicking.\n\n<tool_call>\n<function=computer_use>\n"
        "<parameter=action>\nleft_click\n</parameter>\n<parameter=coordinate>\n[5, 9]\n</parameter>\n"
        "</function>\n</tool_call><|im_end|>\n<|im_start|>user\n<tool_response>\nok\n</tool_response><|im_end|>\n"
    ) in history


def test_local_qwen35_models_are_found_and_load_from_the_hub_cache(
    tiny_model_dir: TinyDir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from huggingface_hub import constants

    from agent.backends.transformers.backend import TransformersBackend
    from agent.backends.transformers.discovery import find_local_models, model_at

    assert model_at(tiny_model_dir("qwen3.5")).family == "qwen3.5"  # type: ignore[union-attr]
    assert model_at(tiny_model_dir("qwen3.5-moe")).family == "qwen3.5"  # type: ignore[union-attr]
    # a download as huggingface_hub leaves it: models--org--name/{refs/main, snapshots/<commit>/...}
    cache = tmp_path / "hub"
    commit = "0123456789abcdef0123456789abcdef01234567"
    entry = cache / "models--deskpilot-tests--tiny-qwen3.5-moe"
    shutil.copytree(tiny_model_dir("qwen3.5-moe"), entry / "snapshots" / commit)
    (entry / "refs").mkdir()
    (entry / "refs" / "main").write_text(commit, encoding="utf-8")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    assert [(m.name, m.family) for m in find_local_models()] == [("deskpilot-tests/tiny-qwen3.5-moe", "qwen3.5")]
    backend = TransformersBackend("deskpilot-tests/tiny-qwen3.5-moe", family=get_family("qwen3.5"))
    backend.load()
    assert backend.device == "cpu"
    backend.close()


def test_a_model_type_transformers_does_not_know_is_named(tiny_model_dir: TinyDir, tmp_path: Path) -> None:
    import shutil

    import transformers

    directory = tmp_path / "future"
    shutil.copytree(tiny_model_dir("qwen3.5"), directory)
    config = (directory / "config.json").read_text(encoding="utf-8").replace('"qwen3_5"', '"qwen9_9"')
    (directory / "config.json").write_text(config, encoding="utf-8")
    with pytest.raises(BackendError) as caught:
        load_model(str(directory))
    assert str(caught.value) == (
        f"'{directory}' is a 'qwen9_9' model, which transformers {transformers.__version__} does not know: "
        "update it (pip install -U transformers)"
    )

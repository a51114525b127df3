"""The transformers backend on the real code path: tiny random-weight Qwen2.5-VL, Qwen3-VL and Qwen3.5 (dense
and MoE) models built offline, a real screenshot of the Xvfb screen (or a fake screen where no display is
needed), the real loop. Random weights reply noise: the run must end cleanly with the parse error reported,
after the screenshot reached the model at the family's resize. Qwen3.5's tools and enable_thinking=False must
reach its chat template; the opt-in stopping criteria are checked on token sequences and inside generate."""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from agent.backends.base import ModelRequest  # noqa: E402
from agent.backends.registry import BackendSettings, make_backend  # noqa: E402
from agent.backends.transformers.backend import (  # noqa: E402
    TransformersBackend,
    call_end_criteria,
    template_arguments,
    thought_cap_criteria,
    to_hf_messages,
)
from agent.backends.transformers.loading import expected_image_tokens, image_token_count, load_model, load_processor  # noqa: E402
from agent.errors import ConfigError  # noqa: E402
from agent.events import ModelLoading, ModelReplied, ParseFailed, RunFinished, ScreenCaptured  # noqa: E402
from agent.families import get_family, model_input_size  # noqa: E402
from agent.loop import RunOptions, run_task  # noqa: E402
from agent.prompts import build_messages, tool_definitions  # noqa: E402
from sandbox.capture import ScreenCapture  # noqa: E402
from sandbox.drivers import DryRunDriver  # noqa: E402
from sandbox.executor import Executor  # noqa: E402
from sandbox.policy import Policy, PolicyChecker  # noqa: E402
from sandbox.stop import StopFlag  # noqa: E402
from tests.helpers.fake_screen import FakeScreen, run_on_fake_screen  # noqa: E402

TinyDir = Callable[[str], Path]


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def run(family_name: str, model_dir: Path, stop: StopFlag, **options: object) -> list[object]:
    family = get_family(family_name)
    backend = make_backend(BackendSettings(name="transformers", model=str(model_dir)), family=family)
    with ScreenCapture() as capture:
        executor = Executor(checker=PolicyChecker(Policy()), driver=DryRunDriver(), screen=capture.geometry, stop=stop)
        opts = RunOptions(**{"max_new_tokens": 12, "max_failures": 1, "settle_cap_s": 0.2, **options})  # type: ignore[arg-type]
        try:
            return list(
                run_task(
                    "Click the Submit button.",
                    backend=backend,
                    family=family,
                    executor=executor,
                    capture=capture,
                    options=opts,
                )
            )
        finally:
            backend.close()


@pytest.mark.display
@pytest.mark.parametrize(
    ("family_name", "min_pixels", "max_pixels"),
    [("qwen2.5-vl", None, None), ("qwen3-vl", None, None), ("qwen2.5-vl", None, 1280 * 28 * 28)],
)
def test_screenshot_reaches_the_model_and_noise_ends_the_run_cleanly(
    tiny_model_dir: TinyDir, family_name: str, min_pixels: int | None, max_pixels: int | None
) -> None:
    model_dir = tiny_model_dir(family_name)
    events = run(family_name, model_dir, StopFlag(), min_pixels=min_pixels, max_pixels=max_pixels)
    family = get_family(family_name)
    shot = next(e for e in events if isinstance(e, ScreenCaptured))
    assert shot.screenshot.size == (1920, 1080)
    width, height = model_input_size(family, 1920, 1080, min_pixels=min_pixels, max_pixels=max_pixels)
    assert shot.model_image.size == (width, height)
    replied = next(e for e in events if isinstance(e, ModelReplied))
    expected = (width // family.factor) * (height // family.factor)  # 2691 for qwen2.5-vl, 2040 for qwen3-vl at 1080p
    assert replied.image_tokens == expected
    # independently: the processor, fed the same conversation, made exactly that many image tokens
    processor = load_processor(
        str(model_dir), min_pixels=min_pixels or family.min_pixels, max_pixels=max_pixels or family.max_pixels
    )
    messages, images = to_hf_messages(replied.messages)
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    inputs = processor(text=[prompt], images=images, return_tensors="pt")
    assert image_token_count(inputs, processor) == expected
    assert (
        replied.input_tokens == inputs["input_ids"].shape[1] and replied.output_tokens and replied.output_tokens <= 12
    )
    assert any(isinstance(e, ModelLoading) for e in events)
    failed = [e for e in events if isinstance(e, ParseFailed)]
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.outcome == "error"
    assert len(failed) == 1 and failed[0].error in finished.reason


@pytest.mark.display
def test_stop_during_generation_ends_the_run(tiny_model_dir: TinyDir) -> None:
    stop = StopFlag()
    threading.Timer(1.5, stop.stop, args=("stop key pressed",)).start()
    events = run("qwen3-vl", tiny_model_dir("qwen3-vl"), stop, max_new_tokens=100_000)
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.outcome == "stopped", finished
    assert not any(isinstance(e, ParseFailed) for e in events)  # the cut-off reply was not acted on


@pytest.mark.display
def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    events = run("qwen2.5-vl", tmp_path / "nowhere", StopFlag())
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.outcome == "error" and "nowhere" in finished.reason


# --- Qwen3.5 (dense and MoE) without a display -----------------------------------------------------------


def fake_run(model_dir: Path, family_name: str, **options: object) -> tuple[list[Any], DryRunDriver]:
    """One real run on a fake 1920x1080 screen with the dry-run driver: nothing is executed anywhere."""
    family = get_family(family_name)
    backend = make_backend(BackendSettings(name="transformers", model=str(model_dir)), family=family)
    opts = RunOptions(**{"max_new_tokens": 12, "max_failures": 1, "settle_cap_s": 0.1, **options})  # type: ignore[arg-type]
    try:
        return run_on_fake_screen("Click the Submit button.", backend, family, options=opts)
    finally:
        backend.close()


@pytest.mark.parametrize("model_name", ["qwen3.5", "qwen3.5-moe"])
def test_qwen35_step_runs_end_to_end_with_tools_and_thinking_off(tiny_model_dir: TinyDir, model_name: str) -> None:
    model_dir = tiny_model_dir(model_name)
    events, driver = fake_run(model_dir, "qwen3.5")
    family = get_family("qwen3.5")
    shot = next(e for e in events if isinstance(e, ScreenCaptured))
    assert shot.model_image.size == (1920, 1088) == model_input_size(family, 1920, 1080)
    replied = next(e for e in events if isinstance(e, ModelReplied))
    assert replied.image_tokens == 2040 == expected_image_tokens(family, 1920, 1080)
    # the prompt the template renders from the step's request: the tool, its XML call form, the empty think block
    request = ModelRequest(
        family=family,
        messages=replied.messages,
        task="Click the Submit button.",
        image=shot.model_image,
        step=1,
        tools=tool_definitions(family, shot.model_image),
        template_options=family.template_options,
    )
    processor = load_processor(str(model_dir), min_pixels=family.min_pixels, max_pixels=family.max_pixels)
    messages, images = to_hf_messages(replied.messages)
    render = partial(processor.apply_chat_template, messages, add_generation_prompt=True, tokenize=False)
    prompt = render(tools=list(request.tools), **dict(request.template_options))
    assert prompt.startswith("<|im_start|>system\n# Tools\n") and '"name": "computer_use"' in prompt
    assert "<function=NAME>\n<parameter=PARAMETER>" in prompt and "You are a helpful assistant." in prompt
    assert prompt.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert prompt.count("<|vision_start|><|image_pad|><|vision_end|>") == 1

    def tokens(text: str) -> int:
        return int(processor(text=[text], images=images, return_tensors="pt")["input_ids"].shape[1])

    # what the model was given is that prompt: not the one without tools, nor the one that opens a thought
    assert replied.input_tokens == tokens(prompt)
    assert tokens(render(enable_thinking=False)) < replied.input_tokens
    assert tokens(render(tools=request.tools)) != replied.input_tokens
    assert any(isinstance(e, ModelLoading) for e in events)
    failed = [e for e in events if isinstance(e, ParseFailed)]
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.outcome == "error"
    assert len(failed) == 1 and failed[0].error in finished.reason
    assert driver.calls == []


def test_families_without_template_options_send_the_template_nothing_new(tiny_model_dir: TinyDir) -> None:
    image = FakeScreen().image.resize((1316, 728))
    for name in ("qwen2.5-vl", "qwen3-vl"):
        family = get_family(name)
        request = ModelRequest(
            family=family, messages=build_messages(family, "Open it.", image), task="Open it.", image=image, step=1
        )
        assert template_arguments(request) == {}
    family = get_family("qwen3.5")
    request = ModelRequest(
        family=family,
        messages=(),
        task="Open it.",
        image=image,
        step=1,
        tools=tool_definitions(family, image),
        template_options=family.template_options,
    )
    arguments = template_arguments(request)
    assert arguments["enable_thinking"] is False and [t["function"]["name"] for t in arguments["tools"]] == [
        "computer_use"
    ]


def test_speed_ups_change_no_token(tiny_model_dir: TinyDir) -> None:
    """Greedy replies with each opt-in criterion are the plain reply (cut where the criterion ended it)."""
    family = get_family("qwen3.5")
    model_dir = str(tiny_model_dir("qwen3.5"))
    image = FakeScreen().image.resize(model_input_size(family, 1920, 1080, max_pixels=1280 * 32 * 32))
    request = ModelRequest(
        family=family,
        messages=build_messages(family, "Open it.", image),
        task="Open it.",
        image=image,
        step=1,
        max_new_tokens=16,
        tools=tool_definitions(family, image),
        template_options=family.template_options,
    )
    replies = {}
    for label, options in (("plain", {}), ("call end", {"stop_at_call_end": True}), ("cap", {"max_thought_tokens": 5})):
        backend = TransformersBackend(model_dir, family=family, max_pixels=1280 * 32 * 32, **options)
        reply = backend.generate(request, stop=StopFlag())
        assert backend.last_timing is not None and backend.last_timing.new_tokens == reply.output_tokens
        replies[label] = (backend.last_token_ids, backend.last_timing.stopped_by, reply.raw)
        backend.close()
    plain, _, raw = replies["plain"]
    assert len(plain) == 16 and "</tool_call>" not in raw  # noise: no call, so nothing to stop at
    assert replies["call end"] == replies["plain"]
    capped, stopped_by, _ = replies["cap"]
    assert capped == plain[:5] and stopped_by == "thought cap"
    with pytest.raises(ConfigError, match="max_thought_tokens"):
        TransformersBackend(model_dir, family=family, max_thought_tokens=0)


def _tokenizer(tiny_model_dir: TinyDir) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_model_dir("qwen3.5")))


def _ask(criteria: Any, rows: list[list[int]]) -> list[bool]:
    import torch

    return [bool(done) for done in criteria(torch.tensor(rows), None)]


def test_call_end_criterion_on_token_sequences(tiny_model_dir: TinyDir) -> None:
    tokenizer = _tokenizer(tiny_model_dir)

    def ids(text: str) -> list[int]:
        return list(tokenizer.encode(text, add_special_tokens=False))

    prompt = ids("<|im_start|>user\nan old call: <tool_call>{}</tool_call><|im_end|>\n<|im_start|>assistant\n")
    call = ids('<tool_call>\n{"name": "computer_use", "arguments": {"action": "wait", "time": 1}}\n')
    criteria = call_end_criteria(tokenizer, len(prompt), "</tool_call>")
    assert _ask(criteria, [prompt + call]) == [False]  # in the prompt only: not this reply's
    assert _ask(criteria, [prompt + call + ids("</tool_call>")]) == [True]  # the single added token
    pieces = ids("</tool") + ids("_call>")  # the same text written in ordinary pieces
    assert pieces != ids("</tool_call>") and tokenizer.decode(pieces) == "</tool_call>"
    grown = prompt + call + pieces
    seen = [_ask(criteria, [grown[:n]])[0] for n in range(len(prompt) + 1, len(grown) + 1)]
    assert seen == [False] * (len(grown) - len(prompt) - 1) + [True]  # exactly when its last piece arrives
    assert _ask(criteria, [prompt + call + ids("</tool_cal")]) == [False]
    close, other = ids("</tool_call>"), ids("<|im_end|>")  # one token each: a batch of two rows, one done
    assert _ask(criteria, [prompt + call + close, prompt + call + other]) == [True, False]


def test_thought_cap_criterion_on_token_sequences(tiny_model_dir: TinyDir) -> None:
    tokenizer = _tokenizer(tiny_model_dir)

    def ids(text: str) -> list[int]:
        return list(tokenizer.encode(text, add_special_tokens=False))

    prompt = ids("<|im_start|>user\n<tool_call> in the prompt<|im_end|>\n<|im_start|>assistant\n")
    thought = ids("I will click on the search box at the top of the window and then type hello world")
    assert len(thought) > 8

    def steps(reply: list[int], cap: int) -> list[bool]:
        criteria = thought_cap_criteria(tokenizer, len(prompt), ("<tool_call>",), cap)
        return [_ask(criteria, [prompt + reply[:n]])[0] for n in range(1, len(reply) + 1)]

    assert steps(thought, 6) == [False] * 5 + [True] * (len(thought) - 5)  # no call by token 6: stop there
    started = ids("Thought: ") + ids("<tool") + ids("_call>") + thought  # a call starts (in pieces) before the cap
    assert not any(steps(started, 6))
    assert not any(steps(thought, len(thought) + 1))


def test_call_end_stops_generate_right_after_the_call(tiny_model_dir: TinyDir) -> None:
    """Inside model.generate: a reply forced to write a call ends on its `</tool_call>`, not at max_new_tokens."""
    import torch
    from transformers import LogitsProcessor, LogitsProcessorList, StoppingCriteriaList

    model_dir = str(tiny_model_dir("qwen3.5"))
    tokenizer = _tokenizer(tiny_model_dir)
    model = load_model(model_dir)
    prompt = tokenizer("<|im_start|>user\nClick OK.<|im_end|>\n<|im_start|>assistant\n", return_tensors="pt")
    length = int(prompt["input_ids"].shape[1])
    forced = tokenizer.encode(
        '<tool_call>\n{"name": "computer_use", "arguments": {"action": "wait"}}\n</tool_call> then noise',
        add_special_tokens=False,
    )

    class Force(LogitsProcessor):
        def __call__(self, input_ids: Any, scores: Any) -> Any:
            n = int(input_ids.shape[1]) - length
            if n < len(forced):
                scores = torch.full_like(scores, float("-inf"))
                scores[:, forced[n]] = 0.0
            return scores

    def generate(**kwargs: Any) -> list[int]:
        with torch.inference_mode():
            out = model.generate(
                **prompt, max_new_tokens=40, do_sample=False, logits_processor=LogitsProcessorList([Force()]), **kwargs
            )
        return [int(t) for t in out[0, length:].tolist()]

    free = generate()
    end = forced.index(tokenizer.convert_tokens_to_ids("</tool_call>")) + 1
    stopped = generate(stopping_criteria=StoppingCriteriaList([call_end_criteria(tokenizer, length, "</tool_call>")]))
    assert len(free) == 40 and stopped == free[:end] == forced[:end]

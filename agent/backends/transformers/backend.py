"""The in-process backend: a Qwen-VL family model on the user's own GPU through transformers.

Loaded once (agent.backends.transformers.loading: bf16, device_map="auto", the best attention available) and reused
for every step. The screenshot arrives already at the family's input size, so the processor's own resize
is a no-op; that is checked on every step, because a mismatch would put every click in the wrong place.
Generation stops within one token of the stop flag being set (a StoppingCriteria).

Families whose chat template presents tools itself (qwen3.5) get the request's tools and template options
(`enable_thinking=False`) handed to `apply_chat_template`; the others send neither, so their templates see
exactly what they always did.

Opt-in speed-ups (off by default). The two stopping criteria only end the greedy reply early, never change
a token of it; the compiled path gave the same tokens on every tiny model (float32, tests/test_gpu_step.py),
but in bf16 on a GPU its attention sums in another order, so a near tie may flip (bench/gpu_step.py says):
- `compile`: a static KV cache (kept across steps; it at least doubles when a longer conversation outgrows
  it) and torch.compile of the decoding step, through transformers' own generate path. The first step
  compiles, and so does the first step after each growth: slow once, faster after;
- `stop_at_call_end`: generation ends once a tool call is complete (`</tool_call>`), instead of running on
  to `<|im_end|>`; a model that writes several calls in one reply keeps only the first;
- `max_thought_tokens`: generation ends when no call has started after that many tokens (the reply then
  fails to parse and the model is told so, as for any unusable reply).
`last_timing` says how long the last step's phases took and `last_token_ids` what it wrote (bench/gpu_step.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent.backends.base import BaseBackend, Capabilities, ModelReply, ModelRequest, ProgressFn
from agent.backends.transformers.loading import load_model, load_processor, processed_image_sizes
from agent.errors import BackendError, ConfigError
from agent.families import Family
from agent.prompts import ImagePart, Message, TextPart
from sandbox.stop import StopFlag

STATIC_CACHE_STEP_TOKENS = 1024  # the static cache's size is a multiple of this (and at least doubles when it grows)
# What ends a complete call, and what starts one, per reply syntax (docs/model-formats.md §1, §3)
CALL_END = {"qwen-tool-call": "</tool_call>"}
CALL_START = {"qwen-tool-call": ("<tool_call>",), "ui-tars": ("Action:", "Action：")}
OnStop = Callable[[str], None]  # told which criterion ended generation


@dataclass(frozen=True, slots=True)
class GenerationTiming:
    """Where one step's time went; on a GPU each phase ends with a synchronize, so the times are the device's."""

    prepare_s: float  # chat template, processor (image patches, tokens), copy to the device
    prefill_s: float  # vision encoder, the prompt's forward pass and the first new token
    decode_s: float  # every later token
    new_tokens: int
    stopped_by: str | None  # "call end" or "thought cap" when an opt-in criterion ended it; else None


def to_hf_messages(messages: tuple[Message, ...]) -> tuple[list[dict[str, Any]], list[Any]]:
    """transformers chat messages (images as placeholders) and the images in the order they appear."""
    converted: list[dict[str, Any]] = []
    images: list[Any] = []
    for message in messages:
        content: list[dict[str, Any]] = []
        for part in message.parts:
            if isinstance(part, ImagePart):
                content.append({"type": "image"})
                images.append(part.image)
            elif isinstance(part, TextPart):
                content.append({"type": "text", "text": part.text})
        converted.append({"role": message.role, "content": content})
    return converted, images


def template_arguments(request: ModelRequest) -> dict[str, Any]:
    """What the chat template gets besides the messages: the tools (when any) and the family's options."""
    arguments: dict[str, Any] = dict(request.template_options)
    if request.tools:
        arguments["tools"] = [dict(tool) for tool in request.tools]
    return arguments


class TransformersBackend(BaseBackend):
    name = "transformers"
    capabilities = Capabilities(target="model", named_model=True, speed_ups=True, label="Local model (GPU)")

    def __init__(
        self,
        model: str,
        *,
        family: Family,
        min_pixels: int | None = None,
        max_pixels: int | None = None,
        device_map: str = "auto",
        dtype: str = "auto",
        attn: str | None = None,
        compile: bool = False,
        stop_at_call_end: bool = False,
        max_thought_tokens: int | None = None,
    ) -> None:
        super().__init__()
        if max_thought_tokens is not None and max_thought_tokens <= 0:
            raise ConfigError(f"max_thought_tokens must be positive, not {max_thought_tokens}")
        self.model_name = model
        self._family = family
        self._min_pixels = family.min_pixels if min_pixels is None else min_pixels
        self._max_pixels = family.max_pixels if max_pixels is None else max_pixels
        self._device_map, self._dtype, self._attn = device_map, dtype, attn
        self._compile = compile
        self._call_end = CALL_END.get(family.syntax) if stop_at_call_end else None
        self._call_start = CALL_START.get(family.syntax, ()) if max_thought_tokens is not None else ()
        self._max_thought_tokens = max_thought_tokens
        self._model: Any = None
        self._processor: Any = None
        self._cache: Any = None  # the static cache of `compile`, reused by every step
        self._cache_tokens = 0  # how many tokens it holds
        self.last_timing: GenerationTiming | None = None
        self.last_token_ids: tuple[int, ...] = ()  # the last reply's tokens (the bench compares speed-ups by them)

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def _load(self, progress: ProgressFn | None) -> None:
        self._processor = load_processor(
            self.model_name,
            min_pixels=self._min_pixels,
            max_pixels=self._max_pixels,
            family=self._family,
            on_progress=progress,
        )
        self._model = load_model(
            self.model_name, device_map=self._device_map, dtype=self._dtype, attn=self._attn, on_progress=progress
        )

    def adopt(self, model: Any) -> None:
        """Generate with a model built elsewhere (bench/gpu_step.py: random weights in the published shapes, too
        big to save); the processor still loads from this backend's model directory, as a user's does."""
        self._processor = load_processor(
            self.model_name, min_pixels=self._min_pixels, max_pixels=self._max_pixels, family=self._family
        )
        self._model = model.eval()  # safe: torch's inference mode (dropout off), not Python's eval
        self._cache, self._cache_tokens = None, 0

    @property
    def device(self) -> str:
        return str(getattr(self._model, "device", "?"))

    def _generate(self, request: ModelRequest, stop: StopFlag) -> ModelReply:
        started = time.perf_counter()
        messages, images = to_hf_messages(request.messages)
        try:
            prompt = self._processor.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=False, **template_arguments(request)
            )
            inputs = self._processor(text=[prompt], images=images or None, return_tensors="pt")
        except Exception as exc:
            raise BackendError(f"the processor could not prepare the prompt: {exc}") from exc
        sizes = processed_image_sizes(inputs, self._processor) if images else []
        if sizes and sizes[-1] != request.image.size:
            raise BackendError(
                f"the processor resized the screenshot to {sizes[-1][0]}x{sizes[-1][1]}, not the "
                f"{request.image.size[0]}x{request.image.size[1]} deskpilot prepared: check min/max pixels"
            )
        device = self._model.device
        inputs = inputs.to(device)
        prompt_length = int(inputs["input_ids"].shape[1])
        clock = _Clock(device)
        criteria = self._criteria(stop, prompt_length, clock)
        options = self._compiled_options(prompt_length + request.max_new_tokens)
        generating = clock.now()
        try:
            output = self._model.generate(
                **inputs, max_new_tokens=request.max_new_tokens, do_sample=False, stopping_criteria=criteria, **options
            )
        except Exception as exc:
            raise BackendError(f"generation failed: {_oom_hint(exc)}") from exc
        finished = clock.now()
        stop.check_stopped()  # stopped mid-generation: the partial reply is not acted on
        new_tokens = output[0, prompt_length:]
        raw = self._processor.decode(new_tokens, skip_special_tokens=False)
        self.last_token_ids = tuple(int(token) for token in new_tokens.tolist())
        first = clock.first_token_at or finished
        self.last_timing = GenerationTiming(
            generating - started, first - generating, finished - first, int(new_tokens.shape[0]), clock.stopped_by
        )
        factor = self._family.factor
        image_tokens = (sizes[-1][0] // factor) * (sizes[-1][1] // factor) if sizes else None
        return ModelReply(
            raw=raw,
            input_tokens=prompt_length,
            output_tokens=int(new_tokens.shape[0]),
            image_tokens=image_tokens,
        )

    def close(self) -> None:
        self._model = None
        self._processor = None
        self._cache, self._cache_tokens = None, 0
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:  # pragma: no cover - torch is there whenever a model was loaded
            pass

    def _criteria(self, stop: StopFlag, prompt_length: int, clock: _Clock) -> Any:
        from transformers import StoppingCriteriaList

        tokenizer = self._processor.tokenizer
        criteria = [stop_flag_criteria(stop), clock.criteria()]
        if self._call_end is not None:
            criteria.append(call_end_criteria(tokenizer, prompt_length, self._call_end, on_stop=clock.stopped))
        if self._max_thought_tokens is not None and self._call_start:
            criteria.append(
                thought_cap_criteria(
                    tokenizer, prompt_length, self._call_start, self._max_thought_tokens, on_stop=clock.stopped
                )
            )
        return StoppingCriteriaList(criteria)

    def _compiled_options(self, needed_tokens: int) -> dict[str, Any]:
        """generate() arguments for `compile`: the kept static cache (reset, or grown to fit) and a compile config."""
        if not self._compile:
            return {}
        import inspect

        from transformers import CompileConfig, StaticCache

        if self._cache is None or self._cache_tokens < needed_tokens:
            size = -(-needed_tokens // STATIC_CACHE_STEP_TOKENS) * STATIC_CACHE_STEP_TOKENS
            self._cache_tokens = max(size, 2 * self._cache_tokens)  # each growth recompiles: double, grow seldom
            self._cache = StaticCache(config=self._model.config, max_cache_len=self._cache_tokens)
        else:
            self._cache.reset()
        config: Any = CompileConfig()
        # transformers compiles on its own only on GPUs; the option means the same on every device (CPU: tests)
        config._compile_all_devices = True
        prepare = inspect.signature(type(self._model).prepare_inputs_for_generation).parameters
        cache_argument = "cache" if "cache" in prepare else "past_key_values"  # renamed in transformers 5
        return {cache_argument: self._cache, "compile_config": config}


class _Clock:
    """When the first new token was there (the end of prefill) and which opt-in criterion ended generation."""

    def __init__(self, device: Any) -> None:
        self._cuda = getattr(device, "type", "") == "cuda"
        self.first_token_at: float | None = None
        self.stopped_by: str | None = None

    def now(self) -> float:
        if self._cuda:
            import torch

            torch.cuda.synchronize()
        return time.perf_counter()

    def stopped(self, reason: str) -> None:
        if self.stopped_by is None:
            self.stopped_by = reason

    def criteria(self) -> Any:
        from transformers import StoppingCriteria

        clock = self

        class FirstToken(StoppingCriteria):
            """Never stops; notes when it is first asked, right after the first new token (one synchronize)."""

            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                import torch

                if clock.first_token_at is None:
                    clock.first_token_at = clock.now()
                return torch.zeros((input_ids.shape[0],), dtype=torch.bool, device=input_ids.device)

        return FirstToken()


def stop_flag_criteria(stop: StopFlag) -> Any:
    from transformers import StoppingCriteria

    class StopFlagCriteria(StoppingCriteria):
        """Ends generation at the next token once the run is stopped or paused."""

        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            import torch

            done = stop.stopped
            return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)

    return StopFlagCriteria()


def call_end_criteria(tokenizer: Any, prompt_length: int, text: str, *, on_stop: OnStop | None = None) -> Any:
    """Ends a row once its new tokens (after `prompt_length`) spell `text`, however the tokenizer split it.

    Only the last tokens are decoded each step: every token holds at least one byte, so a `text` of n bytes
    completed by the newest token lies within the last n+1 of them."""
    from transformers import StoppingCriteria

    window = len(text.encode("utf-8")) + 1

    class CallEnd(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            import torch

            rows = _new_tails(input_ids, prompt_length, window)
            done = [text in tokenizer.decode(row, skip_special_tokens=False) for row in rows]
            if on_stop is not None and any(done):
                on_stop("call end")
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    return CallEnd()


def thought_cap_criteria(
    tokenizer: Any, prompt_length: int, markers: tuple[str, ...], max_tokens: int, *, on_stop: OnStop | None = None
) -> Any:
    """Ends a row that has written `max_tokens` new tokens without any of `markers` (a call's start) among them."""
    from transformers import StoppingCriteria

    window = max(len(marker.encode("utf-8")) for marker in markers) + 1

    class ThoughtCap(StoppingCriteria):
        def __init__(self) -> None:
            self.started: list[bool] = []

        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            import torch

            rows = _new_tails(input_ids, prompt_length, window)
            if len(self.started) != len(rows):
                self.started = [False] * len(rows)
            for n, row in enumerate(
                rows
            ):  # a marker is seen in the step that completes it, so checking the tail is enough
                if not self.started[n]:
                    tail = tokenizer.decode(row, skip_special_tokens=False)
                    self.started[n] = any(marker in tail for marker in markers)
            over = int(input_ids.shape[1]) - prompt_length >= max_tokens
            done = [over and not started for started in self.started]
            if on_stop is not None and any(done):
                on_stop("thought cap")
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    return ThoughtCap()


def _new_tails(input_ids: Any, prompt_length: int, window: int) -> list[list[int]]:
    """The last `window` generated tokens of each row (never a prompt token), on the host."""
    start = max(prompt_length, int(input_ids.shape[1]) - window)
    rows: list[list[int]] = input_ids[:, start:].tolist()
    return rows


def _oom_hint(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "out of memory" in text.lower():
        return f"{text} (try a smaller --max-pixels or a smaller model)"
    return text

"""The in-process backend: a Qwen-VL family model on the user's own GPU through transformers.

Loaded once (agent.backends.hf_loading: bf16, device_map="auto", the best attention available) and reused
for every step. The screenshot arrives already at the family's input size, so the processor's own resize
is a no-op; that is checked on every step, because a mismatch would put every click in the wrong place.
Generation stops within one token of the stop flag being set (a StoppingCriteria).
"""

from __future__ import annotations

import time
from typing import Any

from agent.backends.base import ModelReply, ModelRequest, ProgressFn
from agent.backends.hf_loading import load_model, load_processor, processed_image_sizes
from agent.errors import BackendError
from agent.families import Family, PixelBudget
from agent.prompts import ImagePart, Message, TextPart
from sandbox.stop import StopFlag


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


class TransformersBackend:
    name = "transformers"

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
    ) -> None:
        self.model_name = model
        self._family = family
        self._min_pixels = family.min_pixels if min_pixels is None else min_pixels
        self._max_pixels = family.max_pixels if max_pixels is None else max_pixels
        self._device_map, self._dtype, self._attn = device_map, dtype, attn
        self._model: Any = None
        self._processor: Any = None

    def load(self, *, progress: ProgressFn | None = None) -> None:
        if self._model is not None:
            return
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

    @property
    def device(self) -> str:
        return str(getattr(self._model, "device", "?"))

    def fit(self, family: Family, shot: tuple[int, int], budget: PixelBudget) -> PixelBudget:
        return budget  # what deskpilot prepares is what the model reads

    def generate(self, request: ModelRequest, *, stop: StopFlag) -> ModelReply:
        if self._model is None:
            self.load()
        stop.check_stopped()
        started = time.perf_counter()
        messages, images = to_hf_messages(request.messages)
        try:
            prompt = self._processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            inputs = self._processor(text=[prompt], images=images or None, return_tensors="pt")
        except Exception as exc:
            raise BackendError(f"the processor could not prepare the prompt: {exc}") from exc
        sizes = processed_image_sizes(inputs, self._processor) if images else []
        if sizes and sizes[-1] != request.image.size:
            raise BackendError(
                f"the processor resized the screenshot to {sizes[-1][0]}x{sizes[-1][1]}, not the "
                f"{request.image.size[0]}x{request.image.size[1]} deskpilot prepared: check min/max pixels"
            )
        inputs = inputs.to(self._model.device)
        prompt_length = int(inputs["input_ids"].shape[1])
        try:
            output = self._model.generate(
                **inputs, max_new_tokens=request.max_new_tokens, do_sample=False, stopping_criteria=_stopping(stop)
            )
        except Exception as exc:
            raise BackendError(f"generation failed: {_oom_hint(exc)}") from exc
        stop.check_stopped()  # stopped mid-generation: the partial reply is not acted on
        new_tokens = output[0, prompt_length:]
        raw = self._processor.decode(new_tokens, skip_special_tokens=False)
        factor = self._family.factor
        image_tokens = (sizes[-1][0] // factor) * (sizes[-1][1] // factor) if sizes else None
        return ModelReply(raw, time.perf_counter() - started, prompt_length, int(new_tokens.shape[0]), image_tokens)

    def close(self) -> None:
        self._model = None
        self._processor = None
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:  # pragma: no cover - torch is there whenever a model was loaded
            pass


def _stopping(stop: StopFlag) -> Any:
    from transformers import StoppingCriteria, StoppingCriteriaList

    class StopFlagCriteria(StoppingCriteria):
        """Ends generation at the next token once the run is stopped or paused."""

        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            import torch

            done = stop.stopped
            return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([StopFlagCriteria()])


def _oom_hint(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "out of memory" in text.lower():
        return f"{text} (try a smaller --max-pixels or a smaller model)"
    return text

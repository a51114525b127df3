"""The GPU step, measured: one agent step of the in-process backend, on random weights in the published shapes.

For Qwen2.5-VL-7B/3B, Qwen3-VL-8B/4B and Qwen3.5-9B/4B (the shapes of their published config.json: hidden
sizes, layers, heads, vision depth, full vocabularies) it builds the model from its config on the device in
bf16 with random weights (nothing downloaded, nothing big saved), writes a model directory without weights
(tokenizer, processor configs, chat template: tests/helpers/tinymodels.py) and runs the real
TransformersBackend on it: the real processor path, chat template (tools and enable_thinking=False for
qwen3.5) and generation settings (greedy). The screenshot is a desktop-like 1920x1080 picture
(tests/helpers/desktop_image.py) prepared as the loop prepares it, at the family's default pixel budget and
at LOW_BUDGET_TOKENS visual tokens (1280*28*28 or 1280*32*32 pixels).

Per model and budget, medians over --repeat runs after one warm-up:
  plain       model.generate on the same inputs, made once beforehand: the floor
  backend     TransformersBackend.generate (chat template, processor, checks, copy): overhead = backend - plain
  +call end   stop once a tool call is complete (random weights never write one: this is the criterion's cost)
  +cap N      stop when no call has started after N tokens (random weights never start one: ends at N tokens)
  +compile    static KV cache + torch.compile of the decoding step (--compile; its warm-up compiles)
Columns: prefill ms (vision encoder + prompt + first token), decode ms and tokens decoded, total ms, image and
prompt tokens, peak GPU memory, and whether the tokens are backend's (a speed-up must change no token; a cut
reply must be a prefix of backend's). Noise never ends early, so every uncut run decodes --max-new-tokens
tokens: decode ms / tokens is the cost of one token at this context length.

On a GPU machine (CUDA torch; a transformers 5 that has Qwen3.5, whose linear attention is fast only with
flash-linear-attention and causal-conv1d installed: the header says whether they are), about 5 minutes on an
H100/H200 without --compile:

    .venv/bin/python bench/gpu_step.py --json > gpu_step.json     (bench/gpu_step.sh)
    .venv/bin/python bench/gpu_step.py --compile --models qwen3.5-9b,qwen2.5-vl-7b

On CPU with the tiny models (tests/test_gpu_step.py runs it so):

    .venv/bin/python bench/gpu_step.py --tiny [--compile] [--models tiny-qwen3.5]
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.backends.base import ModelRequest  # noqa: E402
from agent.backends.transformers.backend import TransformersBackend, template_arguments, to_hf_messages  # noqa: E402
from agent.backends.transformers.loading import best_attention, load_processor  # noqa: E402
from agent.families import Family, get_family  # noqa: E402
from agent.picture import prepare_picture  # noqa: E402
from agent.prompts import build_messages, tool_definitions  # noqa: E402
from sandbox.stop import StopFlag  # noqa: E402
from tests.helpers.desktop_image import desktop_image  # noqa: E402
from tests.helpers.tinymodels import SPECS, model_config, tiny_shapes, write_model_files  # noqa: E402

SCREEN = (1920, 1080)
LOW_BUDGET_TOKENS = 1280  # the max_pixels the Qwen READMEs suggest: 1280 visual tokens
MAX_NEW_TOKENS = 64  # a computer_use call is 30-60 tokens
THOUGHT_CAP_TOKENS = 32
REPEAT = 2
TASK = "Open the File menu and click Save As."
GIB = 2**30
LINEAR_ATTENTION_KERNELS = ("fla", "causal_conv1d")  # Qwen3.5's Gated DeltaNet runs PyTorch code without them


@dataclass(frozen=True)
class Shape:
    """A model to measure: the tiny model whose tokenizer/processor/template it uses, and its text and vision
    shapes (None: the tiny model's own)."""

    name: str
    spec: str
    text: dict[str, Any] | None = None
    vision: dict[str, Any] | None = None

    @property
    def family(self) -> Family:
        return get_family(SPECS[self.spec].family)


def _qwen25_vision(out_hidden_size: int) -> dict[str, Any]:
    """Qwen2.5-VL's vision tower (the same for 3B, 7B, 72B): 32 blocks, window attention but in 4 of them."""
    return {
        "depth": 32,
        "hidden_size": 1280,
        "intermediate_size": 3420,
        "num_heads": 16,
        "out_hidden_size": out_hidden_size,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "window_size": 112,
        "fullatt_block_indexes": [7, 15, 23, 31],
        "tokens_per_second": 2,
        "hidden_act": "silu",
    }


def _qwen3_vision(depth: int, hidden: int, intermediate: int, out: int, deepstack: list[int]) -> dict[str, Any]:
    return {
        "depth": depth,
        "hidden_size": hidden,
        "intermediate_size": intermediate,
        "num_heads": 16,
        "out_hidden_size": out,
        "patch_size": 16,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "num_position_embeddings": 2304,
        "deepstack_visual_indexes": deepstack,
        "hidden_act": "gelu_pytorch_tanh",
    }


def _qwen25_text(hidden: int, intermediate: int, layers: int, heads: int, kv: int, vocab: int) -> dict[str, Any]:
    return {
        "vocab_size": vocab,
        "hidden_size": hidden,
        "intermediate_size": intermediate,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv,
        "max_position_embeddings": 128000,
        "rms_norm_eps": 1e-6,
        "rope_theta": 1000000.0,
        "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]},
        "tie_word_embeddings": vocab == 151936,  # the 3B ties its embeddings, the 7B does not
    }


def _qwen3_text(hidden: int, intermediate: int, tie: bool) -> dict[str, Any]:
    return {
        "vocab_size": 151936,
        "hidden_size": hidden,
        "intermediate_size": intermediate,
        "num_hidden_layers": 36,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "head_dim": 128,
        "max_position_embeddings": 262144,
        "rms_norm_eps": 1e-6,
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": 5000000.0,
            "mrope_section": [24, 20, 20],
            "mrope_interleaved": True,
        },
        "tie_word_embeddings": tie,
    }


def _qwen35_text(hidden: int, intermediate: int, tie: bool) -> dict[str, Any]:
    """Qwen3.5 dense: 32 layers, three Gated DeltaNet (linear attention) layers then one gated full attention."""
    return {
        "vocab_size": 248320,
        "hidden_size": hidden,
        "intermediate_size": intermediate,
        "num_hidden_layers": 32,
        "num_attention_heads": 16,
        "num_key_value_heads": 4,
        "head_dim": 256,
        "layer_types": ["linear_attention", "linear_attention", "linear_attention", "full_attention"] * 8,
        "full_attention_interval": 4,
        "attn_output_gate": True,
        "linear_conv_kernel_dim": 4,
        "linear_key_head_dim": 128,
        "linear_value_head_dim": 128,
        "linear_num_key_heads": 16,
        "linear_num_value_heads": 32,
        "max_position_embeddings": 262144,
        "rms_norm_eps": 1e-6,
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": 10000000.0,
            "mrope_section": [11, 11, 10],
            "mrope_interleaved": True,
            "partial_rotary_factor": 0.25,
        },
        "tie_word_embeddings": tie,
    }


# The published config.json of each (Qwen/Qwen2.5-VL-7B-Instruct, Qwen/Qwen3-VL-8B-Instruct, Qwen/Qwen3.5-9B, ...)
REAL = {
    shape.name: shape
    for shape in (
        Shape("qwen2.5-vl-7b", "qwen2.5-vl", _qwen25_text(3584, 18944, 28, 28, 4, 152064), _qwen25_vision(3584)),
        Shape("qwen2.5-vl-3b", "qwen2.5-vl", _qwen25_text(2048, 11008, 36, 16, 2, 151936), _qwen25_vision(2048)),
        Shape(
            "qwen3-vl-8b", "qwen3-vl", _qwen3_text(4096, 12288, False), _qwen3_vision(27, 1152, 4304, 4096, [8, 16, 24])
        ),
        Shape(
            "qwen3-vl-4b", "qwen3-vl", _qwen3_text(2560, 9728, True), _qwen3_vision(24, 1024, 4096, 2560, [5, 11, 17])
        ),
        Shape("qwen3.5-9b", "qwen3.5", _qwen35_text(4096, 12288, False), _qwen3_vision(27, 1152, 4304, 4096, [])),
        Shape("qwen3.5-4b", "qwen3.5", _qwen35_text(2560, 9216, True), _qwen3_vision(24, 1024, 4096, 2560, [])),
    )
}
TINY = {f"tiny-{name}": Shape(f"tiny-{name}", name) for name in SPECS}


@dataclass
class Runs:
    """One variant's measured runs."""

    prefill_s: list[float] = field(default_factory=list)
    decode_s: list[float] = field(default_factory=list)
    total_s: list[float] = field(default_factory=list)
    peak_bytes: list[int] = field(default_factory=list)
    decoded: int = 0
    tokens: tuple[int, ...] = ()
    stopped_by: str | None = None
    image_tokens: int | None = None
    prompt_tokens: int | None = None


def measure(
    names: list[str],
    *,
    budgets: tuple[str, ...] = ("default", "low"),
    max_new_tokens: int = MAX_NEW_TOKENS,
    thought_cap: int = THOUGHT_CAP_TOKENS,
    repeat: int = REPEAT,
    compile: bool = False,
    device: str | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the setup, one row per model x budget x variant)."""
    import torch

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    setup = _setup(device)
    rows: list[dict[str, Any]] = []
    shot = desktop_image(*SCREEN)
    with tempfile.TemporaryDirectory(prefix="deskpilot-gpu-step-") as scratch:
        for name in names:
            shape = {**REAL, **TINY}[name]
            directory = Path(scratch) / name
            model = _build(shape, directory, device)
            try:
                for budget in budgets:
                    rows += _measure_budget(
                        shape, directory, model, shot, budget, max_new_tokens, thought_cap, repeat, compile
                    )
            finally:
                del model
                gc.collect()
                if device.startswith("cuda"):
                    torch.cuda.empty_cache()
    return setup, rows


def _setup(device: str) -> dict[str, Any]:
    import torch
    import transformers

    cuda = device.startswith("cuda")
    return {
        "device": torch.cuda.get_device_name(device) if cuda else "cpu",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "attention": best_attention(cuda=cuda, half=cuda),
        "linear_attention_kernels": {
            name: importlib.util.find_spec(name) is not None for name in LINEAR_ATTENTION_KERNELS
        },
    }


def _build(shape: Shape, directory: Path, device: str) -> Any:
    """The model directory without weights, and the model built from its config on `device` (random weights)."""
    import torch
    import transformers

    ids = write_model_files(shape.spec, directory)
    if shape.text is None or shape.vision is None:
        text, vision = tiny_shapes(shape.spec, ids)
    else:
        text, vision = shape.text, shape.vision
    config = model_config(shape.spec, ids, text=text, vision=vision)
    config.save_pretrained(directory)
    cuda = device.startswith("cuda")
    dtype = torch.bfloat16 if cuda else torch.float32  # what agent.backends.transformers.loading.load_model picks
    torch.manual_seed(0)
    hf: Any = transformers  # untyped boundary
    with torch.device(device):
        model = hf.AutoModelForImageTextToText.from_config(
            config, dtype=dtype, attn_implementation=best_attention(cuda=cuda, half=cuda)
        )
    model.generation_config = transformers.GenerationConfig.from_pretrained(directory)  # as from_pretrained has it
    return model.eval()


def _measure_budget(
    shape: Shape,
    directory: Path,
    model: Any,
    shot: Any,
    budget: str,
    max_new_tokens: int,
    thought_cap: int,
    repeat: int,
    compile: bool,
) -> list[dict[str, Any]]:
    family = shape.family
    max_pixels = family.max_pixels if budget == "default" else LOW_BUDGET_TOKENS * family.factor**2
    variants: list[tuple[str, dict[str, Any]]] = [
        ("backend", {}),
        ("+call end", {"stop_at_call_end": True}),
        (f"+cap {thought_cap}", {"max_thought_tokens": thought_cap}),
    ]
    if compile:
        variants.append(("+compile", {"compile": True}))
    measured: list[tuple[str, Runs | str]] = []
    request: ModelRequest | None = None
    for label, options in variants:
        backend = TransformersBackend(str(directory), family=family, max_pixels=max_pixels, **options)
        try:
            backend.adopt(model)
            if request is None:
                image, _frame = prepare_picture(backend, family, shot, max_pixels=max_pixels, stop=StopFlag())
                request = ModelRequest(
                    family=family,
                    messages=build_messages(family, TASK, image),
                    task=TASK,
                    image=image,
                    step=1,
                    max_new_tokens=max_new_tokens,
                    tools=tool_definitions(family, image),
                    template_options=family.template_options,
                )
                measured.append(("plain", _plain(model, directory, family, max_pixels, request, repeat)))
            measured.append((label, _backend_runs(backend, request, repeat)))
        except Exception as exc:  # one variant failing (a compile error, out of memory) must not hide the others
            measured.append((label, _line(exc)))
        finally:
            backend.close()
    base = next((runs for label, runs in measured if label == "backend" and isinstance(runs, Runs)), None)
    return [_row(shape, budget, max_pixels, label, runs, base) for label, runs in measured]


def _backend_runs(backend: TransformersBackend, request: ModelRequest, repeat: int) -> Runs:
    runs = Runs()
    for n in range(repeat + 1):  # the first is the warm-up (and, with compile, the compilation)
        _reset_peak()
        started = time.perf_counter()
        reply = backend.generate(request, stop=StopFlag())
        total = time.perf_counter() - started
        timing = backend.last_timing
        assert timing is not None
        if n:
            runs.prefill_s.append(timing.prefill_s)
            runs.decode_s.append(timing.decode_s)
            runs.total_s.append(total)
            runs.peak_bytes.append(_peak())
        runs.decoded, runs.tokens, runs.stopped_by = timing.new_tokens - 1, backend.last_token_ids, timing.stopped_by
        runs.image_tokens, runs.prompt_tokens = reply.image_tokens, reply.input_tokens
    return runs


def _plain(model: Any, directory: Path, family: Family, max_pixels: int, request: ModelRequest, repeat: int) -> Runs:
    """model.generate on inputs made once beforehand: no template, processor, checks or copies in the time."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    processor = load_processor(str(directory), min_pixels=family.min_pixels, max_pixels=max_pixels, family=family)
    messages, images = to_hf_messages(request.messages)
    prompt = processor.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=False, **template_arguments(request)
    )
    inputs = processor(text=[prompt], images=images, return_tensors="pt").to(model.device)
    prompt_length = int(inputs["input_ids"].shape[1])
    cuda = model.device.type == "cuda"
    first: list[float] = []

    class FirstToken(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            if not first:
                first.append(_now(cuda))
            return torch.zeros((input_ids.shape[0],), dtype=torch.bool, device=input_ids.device)

    runs = Runs(prompt_tokens=prompt_length)
    for n in range(repeat + 1):
        first.clear()
        _reset_peak()
        started = _now(cuda)
        output = model.generate(
            **inputs,
            max_new_tokens=request.max_new_tokens,
            do_sample=False,
            stopping_criteria=StoppingCriteriaList([FirstToken()]),
        )
        finished = _now(cuda)
        if n:
            runs.prefill_s.append(first[0] - started)
            runs.decode_s.append(finished - first[0])
            runs.total_s.append(finished - started)
            runs.peak_bytes.append(_peak())
        runs.tokens = tuple(int(t) for t in output[0, prompt_length:].tolist())
        runs.decoded = len(runs.tokens) - 1
    return runs


def _row(shape: Shape, budget: str, max_pixels: int, label: str, runs: Runs | str, base: Runs | None) -> dict[str, Any]:
    row: dict[str, Any] = {"model": shape.name, "family": shape.family.name, "budget": budget}
    row.update(max_pixels=max_pixels, variant=label)
    if isinstance(runs, str):
        return {**row, "error": runs}
    same = None
    if base is not None:  # the same tokens, or a prefix of them where a criterion cut the reply
        prefix = runs.tokens == base.tokens[: len(runs.tokens)]
        same = prefix and (len(runs.tokens) == len(base.tokens) or runs.stopped_by is not None)
    peak = max(runs.peak_bytes, default=0)
    row["image_tokens"] = runs.image_tokens if runs.image_tokens is not None else (base and base.image_tokens)
    row["prompt_tokens"] = runs.prompt_tokens
    row["prefill_ms"] = _median_ms(runs.prefill_s)
    row["decode_ms"] = _median_ms(runs.decode_s)
    row["decoded"] = runs.decoded
    row["total_ms"] = _median_ms(runs.total_s)
    row["peak_gib"] = round(peak / GIB, 2) if peak else None  # None on CPU
    row["same_tokens"] = same
    row["stopped_by"] = runs.stopped_by
    return row


COLUMNS = (
    ("model", "model", 18),
    ("budget", "budget", 8),
    ("variant", "variant", 11),
    ("image_tokens", "img tok", 8),
    ("prompt_tokens", "prompt", 7),
    ("prefill_ms", "prefill ms", 11),
    ("decode_ms", "decode ms", 10),
    ("decoded", "decoded", 8),
    ("total_ms", "total ms", 9),
    ("peak_gib", "peak GiB", 9),
    ("same_tokens", "same tokens", 11),
)


def table(setup: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    kernels = ", ".join(
        f"{name} {'yes' if ok else 'MISSING'}" for name, ok in setup["linear_attention_kernels"].items()
    )
    lines = [
        f"device {setup['device']}, torch {setup['torch']}, transformers {setup['transformers']}, "
        f"attention {setup['attention']}, linear-attention kernels: {kernels}",
        "  ".join(title.rjust(width) if n > 2 else title.ljust(width) for n, (_, title, width) in enumerate(COLUMNS)),
    ]
    for row in rows:
        if "error" in row:
            lines.append(f"{row['model']:<18}  {row['budget']:<8}  {row['variant']:<11}  error: {row['error']}")
            continue
        cells = []
        for n, (key, _, width) in enumerate(COLUMNS):
            value = row.get(key)
            text = "-" if value is None else ("yes" if value is True else "NO" if value is False else str(value))
            cells.append(text.rjust(width) if n > 2 else text.ljust(width))
        lines.append("  ".join(cells))
    return "\n".join(lines)


def _median_ms(values: list[float]) -> float | None:
    return round(statistics.median(values) * 1000, 1) if values else None


def _now(cuda: bool) -> float:
    if cuda:
        import torch

        torch.cuda.synchronize()
    return time.perf_counter()


def _reset_peak() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def _peak() -> int:
    import torch

    return int(torch.cuda.max_memory_allocated()) if torch.cuda.is_available() else 0


def _line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"[:300]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tiny", action="store_true", help="the tiny models of tests/helpers/tinymodels.py (CPU)")
    parser.add_argument("--models", help=f"comma-separated; real: {', '.join(REAL)}; tiny: {', '.join(TINY)}")
    parser.add_argument("--budgets", default="default,low", help="default and/or low (1280 visual tokens)")
    parser.add_argument("--max-new-tokens", type=int, default=MAX_NEW_TOKENS)
    parser.add_argument("--thought-cap", type=int, default=THOUGHT_CAP_TOKENS)
    parser.add_argument("--repeat", type=int, default=REPEAT, help="measured runs after one warm-up")
    parser.add_argument("--compile", action="store_true", help="also measure the static cache + torch.compile")
    parser.add_argument("--device", help="cuda, cuda:1, cpu (default: cuda when there is one; --tiny: cpu)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = parser.parse_args(argv)
    names = args.models.split(",") if args.models else list(TINY if args.tiny else REAL)
    unknown = [name for name in names if name not in {**REAL, **TINY}]
    budgets = tuple(args.budgets.split(","))
    if unknown or not set(budgets) <= {"default", "low"}:
        parser.error(f"unknown models {unknown} or budgets {budgets}")
    setup, rows = measure(
        names,
        budgets=budgets,
        max_new_tokens=args.max_new_tokens,
        thought_cap=args.thought_cap,
        repeat=args.repeat,
        compile=args.compile,
        device=args.device or ("cpu" if args.tiny else None),
    )
    if args.json:
        print(json.dumps({"setup": setup, "rows": rows}, indent=2))
    else:
        print(table(setup, rows))


if __name__ == "__main__":
    main()

"""Loading a local Qwen-VL model and its processor through transformers, the way users point at one.

`model` is a directory or a Hugging Face model id. Ids are resolved through the Hugging Face cache
(downloading when allowed; `HF_HUB_OFFLINE` / `TRANSFORMERS_OFFLINE` are read at call time), then
everything is loaded from the resolved directory with `local_files_only=True`, so nothing else
touches the network. Every failure becomes a one-line `BackendError` (or `ConfigError` for a bad
option). torch and transformers are imported inside functions only (tests/test_boundaries.py).

Without torchvision, transformers cannot build the Qwen video processors, so `AutoProcessor` fails;
the processor is then built from the PIL image processor and the tokenizer, with no video support.

Every family loads through AutoModelForImageTextToText, which transformers maps by config.json's model_type
(qwen2_5_vl, qwen3_vl, qwen3_vl_moe, qwen3_5, qwen3_5_moe: Qwen3.5 keeps Qwen3-VL's Qwen3VLProcessor); a model
type the installed transformers does not know is reported with its name and the transformers version.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.errors import BackendError, ConfigError
from agent.families import Family, model_input_size
from sandbox.text import shorten

ProgressCallback = Callable[[str, int, int | None], None]
"""on_progress(stage, done, total): "download" (bytes), "files" (files fetched), "load" (0 then 1 of 1)."""

DTYPES = ("auto", "bfloat16", "float16", "float32")
ATTENTION = ("flash_attention_2", "sdpa", "eager")
FALLBACK_ATTENTION = {"flash_attention_2": "sdpa", "sdpa": "eager"}  # when an automatic choice is refused
DOWNLOAD_PATTERNS = ("*.json", "*.safetensors", "*.txt", "*.jinja", "*.model", "*.tiktoken")
IMAGE_PAD = "<|image_pad|>"
CHECK_SHOTS = ((1920, 1080), (1280, 800))  # screenshot sizes the processor's resize is checked against
MESSAGE_CHARS = 300


def load_processor(
    model: str,
    *,
    min_pixels: int,
    max_pixels: int,
    family: Family | None = None,
    on_progress: ProgressCallback | None = None,
) -> Any:
    """The model's processor with this pixel budget; with `family`, checked to resize as that family does."""
    if min_pixels <= 0 or max_pixels < min_pixels:
        raise ConfigError(f"min_pixels ({min_pixels}) and max_pixels ({max_pixels}) must be positive with min <= max")
    path = resolve_model_dir(model, on_progress=on_progress)
    import transformers

    hf: Any = transformers  # untyped boundary
    budget = {"min_pixels": min_pixels, "max_pixels": max_pixels}  # read by the Qwen image processors' __init__
    try:
        processor = hf.AutoProcessor.from_pretrained(str(path), local_files_only=True, **budget)
    except ImportError as exc:
        if "torchvision" not in str(exc).lower():
            raise BackendError(f"cannot load the processor of {model!r}: {_line(exc)}") from exc
        processor = _image_only_processor(model, path, budget)
    except Exception as exc:  # transformers raises OSError, ValueError, KeyError, JSONDecodeError...
        raise BackendError(f"cannot load the processor of {model!r}: {_line(exc)}") from exc
    _check_processor(processor, model, min_pixels, max_pixels, family)
    return processor


def load_model(
    model: str,
    *,
    device_map: str = "auto",
    dtype: str = "auto",
    attn: str | None = None,
    on_progress: ProgressCallback | None = None,
) -> Any:
    """The model in eval mode: bf16 with device_map="auto" on CUDA, float32 on CPU, the best attention available."""
    if dtype not in DTYPES:
        raise ConfigError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    if attn is not None and attn not in ATTENTION:
        raise ConfigError(f"attention must be one of {', '.join(ATTENTION)}, not {attn!r}")
    path = resolve_model_dir(model, on_progress=on_progress)
    import torch

    cuda = torch.cuda.is_available()
    torch_dtype = _torch_dtype(dtype, cuda)
    placement = _device_map(device_map, cuda)
    chosen = attn or best_attention(cuda=cuda, half=torch_dtype in (torch.float16, torch.bfloat16))
    if on_progress is not None:
        on_progress("load", 0, 1)
    loaded = _from_pretrained(model, path, torch_dtype, placement, chosen, fall_back=attn is None)
    loaded.eval()  # safe: torch inference mode, not Python's eval
    if on_progress is not None:
        on_progress("load", 1, 1)
    return loaded


def resolve_model_dir(model: str, *, on_progress: ProgressCallback | None = None) -> Path:
    """The local directory of `model`: the directory itself, or the Hugging Face cache snapshot of an id."""
    if not model.strip():
        raise ConfigError("no model given (a directory or a Hugging Face id such as Qwen/Qwen2.5-VL-7B-Instruct)")
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise BackendError(f"model directory {path} has no config.json (not a Hugging Face model directory)")
        return path
    if path.exists():
        raise BackendError(f"model {model!r} is a file, not a model directory")
    if model.startswith((".", "/", "~", "\\")) or model.count("/") > 1 or "\\" in model:
        raise BackendError(f"model directory {path} does not exist")
    return _snapshot(model, on_progress)


def hub_offline() -> bool:
    """Whether the Hugging Face hub must not be contacted (read now, not when huggingface_hub was imported)."""
    flags = (os.environ.get("HF_HUB_OFFLINE", ""), os.environ.get("TRANSFORMERS_OFFLINE", ""))
    if any(flag.strip().upper() in ("1", "ON", "YES", "TRUE") for flag in flags):
        return True
    from huggingface_hub import constants  # what huggingface_hub itself read at import

    return bool(constants.HF_HUB_OFFLINE)


def best_attention(*, cuda: bool, half: bool) -> str:
    """flash_attention_2 when CUDA, a half dtype and an importable flash_attn; else sdpa."""
    if cuda and half:
        try:
            import transformers.utils

            if getattr(transformers.utils, "is_flash_attn_2_available")():
                __import__("flash_attn")
                return "flash_attention_2"
        except Exception:  # a broken flash_attn build (ABI mismatch) is common: use sdpa instead
            pass
    return "sdpa"


def image_token_count(inputs: Any, processor: Any) -> int:
    """How many `<|image_pad|>` tokens the processed prompt holds (all images, all rows)."""
    token_id = getattr(processor, "image_token_id", None)
    if token_id is None:
        token_id = processor.tokenizer.convert_tokens_to_ids(IMAGE_PAD)
    ids = inputs["input_ids"]
    rows = ids.tolist() if hasattr(ids, "tolist") else ids
    if rows and not isinstance(rows[0], list):
        rows = [rows]
    return sum(row.count(token_id) for row in rows)


def processed_image_sizes(inputs: Any, processor: Any) -> list[tuple[int, int]]:
    """(width, height) each image was resized to, read back from `image_grid_thw` (patches x patch size)."""
    grid = inputs["image_grid_thw"]
    patch = int(processor.image_processor.patch_size)
    rows = grid.tolist() if hasattr(grid, "tolist") else grid
    return [(int(w) * patch, int(h) * patch) for _t, h, w in rows]


def expected_image_tokens(
    family: Family, width: int, height: int, *, min_pixels: int | None = None, max_pixels: int | None = None
) -> int:
    """Visual tokens for a width x height screenshot: (W/f)*(H/f) of the family's resized size."""
    w, h = model_input_size(family, width, height, min_pixels=min_pixels, max_pixels=max_pixels)
    return (w // family.factor) * (h // family.factor)


# --- resolving ids ------------------------------------------------------------------------------


def _snapshot(model: str, on_progress: ProgressCallback | None) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HFValidationError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    offline = hub_offline()
    tqdm_class = _progress_bar_class(on_progress) if on_progress is not None and not offline else None
    try:
        local = snapshot_download(
            model, local_files_only=offline, allow_patterns=list(DOWNLOAD_PATTERNS), tqdm_class=tqdm_class
        )
    except HFValidationError as exc:
        raise BackendError(f"model {model!r} is neither a directory nor a Hugging Face model id: {_line(exc)}") from exc
    except LocalEntryNotFoundError as exc:
        if offline:
            raise BackendError(
                f"model {model!r} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set"
            ) from exc
        raise BackendError(
            f"model {model!r} is not in the local Hugging Face cache and the hub cannot be reached"
        ) from exc
    except GatedRepoError as exc:  # before RepositoryNotFoundError, its base class
        raise BackendError(
            f"model {model!r} is gated: accept its terms on huggingface.co and log in (hf auth login)"
        ) from exc
    except RepositoryNotFoundError as exc:
        raise BackendError(
            f"no model {model!r} on the Hugging Face hub (or it is private: log in with hf auth login)"
        ) from exc
    except RevisionNotFoundError as exc:
        raise BackendError(f"model {model!r}: {_line(exc)}") from exc
    except Exception as exc:  # network errors, a full disk, a broken cache
        raise BackendError(f"could not download model {model!r}: {_line(exc)}") from exc
    path = Path(local)
    if not (path / "config.json").is_file():
        raise BackendError(f"model {model!r} in the Hugging Face cache ({path}) has no config.json")
    return path


def _progress_bar_class(on_progress: ProgressCallback) -> Any:
    """A huggingface_hub tqdm that reports to on_progress (byte bars as "download", file counts as "files")."""
    import huggingface_hub.utils

    hub_tqdm: Any = getattr(huggingface_hub.utils, "tqdm")

    class Progress(hub_tqdm):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._done = int(kwargs.get("initial", 0) or 0)

        def update(self, n: float | None = 1) -> Any:
            result = super().update(n)
            self._done += int(n or 0)
            unit = getattr(self, "unit", "it")
            desc = str(getattr(self, "desc", "") or "")
            stage = "files" if unit != "B" else "download" if desc.startswith("Downloading") else None
            if stage is not None:
                total = getattr(self, "total", None)
                on_progress(stage, self._done, int(total) if total else None)
            return result

    return Progress


# --- the processor ------------------------------------------------------------------------------


def _image_only_processor(model: str, path: Path, budget: dict[str, int]) -> Any:
    """The family's processor from the PIL image processor + tokenizer, without the torchvision video processor."""
    import transformers

    hf: Any = transformers  # untyped boundary
    name = _processor_class_name(path)
    base = getattr(hf, name, None) if name else None
    if base is None or list(base.get_attributes()) != ["image_processor", "tokenizer", "video_processor"]:
        raise BackendError(
            f"cannot build a processor for {model!r} ({name or 'unknown processor'}) without "
            "torchvision: install torchvision matching your torch"
        )

    class ImageOnlyProcessor(base):  # type: ignore[misc,valid-type]
        """`base` with no video processor: get_attributes() reads this signature, so video is left out."""

        def __init__(
            self, image_processor: Any = None, tokenizer: Any = None, chat_template: Any = None, **kwargs: Any
        ) -> None:
            super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)

    ImageOnlyProcessor.__name__ = ImageOnlyProcessor.__qualname__ = f"{name}ImageOnly"
    try:
        image_processor = hf.AutoImageProcessor.from_pretrained(str(path), local_files_only=True, **budget)
        tokenizer = hf.AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        return ImageOnlyProcessor(
            image_processor=image_processor, tokenizer=tokenizer, chat_template=_chat_template(path, tokenizer)
        )
    except Exception as exc:
        raise BackendError(f"cannot load the processor of {model!r}: {_line(exc)}") from exc


def _processor_class_name(path: Path) -> str | None:
    for file in ("processor_config.json", "preprocessor_config.json"):
        name = _read_json(path / file).get("processor_class")
        if isinstance(name, str):
            return name
    model_type = _read_json(path / "config.json").get("model_type")
    import transformers.models.auto.processing_auto as processing_auto

    names: dict[str, str] = getattr(processing_auto, "PROCESSOR_MAPPING_NAMES")
    name = names.get(model_type) if isinstance(model_type, str) else None
    return name if isinstance(name, str) else None


def _chat_template(path: Path, tokenizer: Any) -> Any:
    """Where ProcessorMixin.from_pretrained looks: chat_template.jinja, chat_template.json, then the tokenizer."""
    if (path / "chat_template.jinja").is_file():
        return (path / "chat_template.jinja").read_text(encoding="utf-8")
    for file in ("chat_template.json", "processor_config.json"):
        template = _read_json(path / file).get("chat_template")
        if template:
            return template
    return getattr(tokenizer, "chat_template", None)


def _check_processor(processor: Any, model: str, min_pixels: int, max_pixels: int, family: Family | None) -> None:
    """Fail now, not with misplaced clicks later, if the processor would resize differently than the family."""
    image = getattr(processor, "image_processor", None)
    if image is None:
        raise BackendError(f"the processor of {model!r} has no image processor (not a vision-language model)")
    size = getattr(image, "size", None)
    got = (_size_entry(size, "shortest_edge"), _size_entry(size, "longest_edge"))
    if got != (min_pixels, max_pixels):
        raise BackendError(
            f"the processor of {model!r} did not take the pixel budget: it has min/max "
            f"{got[0]}/{got[1]}, asked {min_pixels}/{max_pixels}"
        )
    if family is None or family.fixed_input is not None:
        return
    factor = int(getattr(image, "patch_size", 0)) * int(getattr(image, "merge_size", 0))
    if factor != family.factor:
        raise BackendError(
            f"{model!r} resizes images to multiples of {factor}, but family {family.name!r} expects "
            f"{family.factor}: is it a {family.name} model?"
        )
    count = getattr(image, "get_number_of_image_patches", None)
    if count is None:
        return
    patch = family.factor // 2
    for width, height in CHECK_SHOTS:
        w, h = model_input_size(family, width, height, min_pixels=min_pixels, max_pixels=max_pixels)
        if int(count(height, width, {})) != (w // patch) * (h // patch):
            raise BackendError(
                f"the processor of {model!r} does not resize a {width}x{height} screenshot to "
                f"{w}x{h} as family {family.name!r} does"
            )


def _size_entry(size: Any, key: str) -> int | None:
    value = size.get(key) if isinstance(size, dict) else getattr(size, key, None)
    return int(value) if value is not None else None


# --- the model ----------------------------------------------------------------------------------


def _from_pretrained(
    model: str, path: Path, torch_dtype: Any, placement: str | None, attention: str, *, fall_back: bool
) -> Any:
    """from_pretrained with one-line errors; a refused automatic attention falls back (flash, sdpa, eager)."""
    import torch
    import transformers

    kwargs: dict[str, Any] = {"dtype": torch_dtype, "attn_implementation": attention, "local_files_only": True}
    if placement is not None:
        kwargs["device_map"] = placement
    try:
        return transformers.AutoModelForImageTextToText.from_pretrained(str(path), **kwargs)
    except torch.cuda.OutOfMemoryError as exc:
        raise BackendError(
            f"CUDA ran out of memory loading {model!r} ({_gpu_memory()}): use a smaller model or "
            "close what else uses the GPU"
        ) from exc
    except Exception as exc:
        if fall_back and attention in FALLBACK_ATTENTION and _about_attention(attention, exc):
            return _from_pretrained(model, path, torch_dtype, placement, FALLBACK_ATTENTION[attention], fall_back=True)
        raise BackendError(_load_failure(model, path, attention, exc)) from exc


def _about_attention(attention: str, exc: Exception) -> bool:
    lowered = str(exc).lower()
    return attention in lowered or "attn" in lowered or "attention" in lowered


def _load_failure(model: str, path: Path, attention: str, exc: Exception) -> str:
    text = _line(exc)
    lowered = str(exc).lower()
    if isinstance(exc, MemoryError):
        return f"not enough memory (RAM) to load {model!r}: use a smaller model or a GPU"
    if "out of memory" in lowered:
        return f"ran out of memory loading {model!r} ({_gpu_memory()}): {text}"
    if isinstance(exc, OSError) and ("no file named" in lowered or "does not appear to have" in lowered):
        return f"model {model!r} has no weights in {path} (incomplete download?): {text}"
    if "safetensor" in type(exc).__name__.lower() or "deserializ" in lowered:
        return f"the weights of {model!r} in {path} are damaged (incomplete download?): {text}"
    if isinstance(exc, json.JSONDecodeError) or "not a valid json" in lowered:
        return f"model {model!r} has a broken config file in {path}: {text}"
    if "unrecognized configuration class" in lowered:
        return f"{model!r} is not an image-text-to-text model: {text}"
    if "does not recognize this architecture" in lowered:
        return _unknown_model_type(model, path, text)
    if _about_attention(attention, exc):
        return f"attention {attention!r} cannot be used for {model!r}: {text}"
    if "accelerate" in lowered:
        return f"loading {model!r} with a device_map needs accelerate (pip install accelerate): {text}"
    return f"cannot load model {model!r}: {type(exc).__name__}: {text}"


def _unknown_model_type(model: str, path: Path, text: str) -> str:
    """Which model type and which transformers, since the usual cause is a model newer than the install
    (qwen3_5 needs a transformers that has Qwen3_5ForConditionalGeneration)."""
    model_type = _read_json(path / "config.json").get("model_type")
    try:
        from transformers import __version__ as version
    except ImportError:  # pragma: no cover - transformers raised the error being explained
        version = "?"
    if isinstance(model_type, str):
        return (
            f"{model!r} is a {model_type!r} model, which transformers {version} does not know: "
            "update it (pip install -U transformers)"
        )
    return f"{model!r} is a model type transformers {version} does not know (update transformers?): {text}"


def _torch_dtype(dtype: str, cuda: bool) -> Any:
    import torch

    if dtype == "auto":
        if not cuda:
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return getattr(torch, dtype)


def _device_map(device_map: str, cuda: bool) -> str | None:
    """ "auto" spreads over the GPUs through accelerate when CUDA is there, else plain CPU loading (None)."""
    if device_map == "auto":
        if not cuda:
            return None
        import importlib.util

        return "auto" if importlib.util.find_spec("accelerate") is not None else "cuda"
    if device_map == "cpu":
        return None
    if device_map.startswith("cuda") and not cuda:
        raise BackendError(f"device_map {device_map!r} asks for CUDA but no CUDA GPU is available")
    return device_map


def _gpu_memory() -> str:
    try:
        import torch

        free, total = torch.cuda.mem_get_info()
        return f"{free / 2**30:.1f} of {total / 2**30:.1f} GiB free"
    except Exception:
        return "GPU memory unknown"


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BackendError(f"{path} is not valid JSON: {_line(exc)}") from exc
    return data if isinstance(data, dict) else {}


def _line(exc: BaseException) -> str:
    """The first non-empty line of an error, shortened: messages here stay one line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    return shorten(text, MESSAGE_CHARS)

"""Make a backend by name from user settings (the command line and the window both come through here).

The only place that knows backends by name: everything else asks a backend's `capabilities` (or
`capabilities_of(name)` before one is made) what it can do.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from agent.backends.base import Backend, Capabilities
from agent.backends.openai.servers import DEFAULT_SERVER, SERVERS
from agent.errors import ConfigError
from agent.families import Family, get_family
from agent.imaging import ImageFormat

# name -> the module and class that implement it (imported when asked: none of them loads a model at import)
_CLASSES = {
    "ocr": ("agent.backends.ocr.backend", "OcrBackend"),
    "transformers": ("agent.backends.transformers.backend", "TransformersBackend"),
    "openai": ("agent.backends.openai.backend", "OpenAIBackend"),
    "scripted": ("agent.backends.scripted", "ScriptedBackend"),
}
BACKENDS = tuple(_CLASSES)
DEFAULT_BACKEND = "ocr"  # needs no model: what a first run uses
__all__ = [
    "BACKENDS",
    "DEFAULT_BACKEND",
    "DEFAULT_SERVER",
    "SERVERS",
    "BackendSettings",
    "backend_family",
    "capabilities_of",
    "make_backend",
]
DEFAULT_FAMILY = "qwen2.5-vl"


def capabilities_of(name: str) -> Capabilities:
    """What the backend called `name` can do (ConfigError for an unknown name)."""
    if name not in _CLASSES:
        raise ConfigError(f"unknown backend {name!r} (known: {', '.join(BACKENDS)})")
    module, cls = _CLASSES[name]
    capabilities: Capabilities = getattr(importlib.import_module(module), cls).capabilities
    return capabilities


@dataclass(frozen=True, slots=True, kw_only=True)
class BackendSettings:
    name: str
    model: str | None = None  # transformers: a directory or hub id; openai: the served model name
    endpoint: str | None = None  # openai: http://host:8000/v1
    script: Path | None = None  # scripted: a JSONL file
    min_pixels: int | None = None
    max_pixels: int | None = None
    image_format: ImageFormat = "jpeg"  # openai: how screenshots travel (jpeg q95 4:4:4, or lossless png)
    server: str = DEFAULT_SERVER  # openai: which server it is (its known image limit), or generic: probed
    # transformers' opt-in speed-ups (agent.backends.transformers.backend; bench/gpu_step.py)
    compile: bool = False
    stop_at_call_end: bool = False
    max_thought_tokens: int | None = None


def backend_family(backend: str, requested: str | None, *, strict: bool = True) -> Family:
    """The family a backend's replies are read as: `requested` (default qwen2.5-vl), or the backend's own.

    `strict`: a requested family that the backend cannot write is an error (a command-line flag); without it
    the backend's own family wins (the window, whose family picker is off for such backends)."""
    fixed = capabilities_of(backend).fixed_family
    if strict and fixed is not None and requested not in (None, fixed):
        raise ConfigError(f"--backend {backend} answers as {fixed}; drop --family {requested}")
    return get_family(fixed or requested or DEFAULT_FAMILY)


def make_backend(settings: BackendSettings, *, family: Family) -> Backend:
    """A backend, not yet loaded (load() does the slow part). ConfigError for missing settings."""
    if settings.name == "ocr":
        from agent.backends.ocr.backend import OcrBackend

        return OcrBackend()
    if settings.name == "transformers":
        if not family.in_process:
            raise ConfigError(
                f"{family.name} runs on its own model code, not transformers' classes: serve it "
                f"(vLLM with --trust-remote-code, docs/serving.md) and use --backend openai --family {family.name}"
            )
        if not settings.model:
            raise ConfigError(
                "--backend transformers needs --model (a model directory or a Hugging Face id, "
                f"e.g. {family.hf_example})"
            )
        from agent.backends.transformers.backend import TransformersBackend

        return TransformersBackend(
            settings.model,
            family=family,
            min_pixels=settings.min_pixels,
            max_pixels=settings.max_pixels,
            compile=settings.compile,
            stop_at_call_end=settings.stop_at_call_end,
            max_thought_tokens=settings.max_thought_tokens,
        )
    if settings.name == "openai":
        if not settings.endpoint:
            raise ConfigError("--backend openai needs --endpoint (e.g. http://localhost:8000/v1)")
        from agent.backends.openai.backend import OpenAIBackend

        if settings.image_format not in ("jpeg", "png"):
            raise ConfigError(f"image format must be jpeg or png, not {settings.image_format!r}")
        return OpenAIBackend(
            settings.endpoint,
            model=settings.model,
            server=settings.server,
            max_pixels_given=settings.max_pixels is not None,
            image_format=settings.image_format,
        )
    if settings.name == "scripted":
        if settings.script is None:
            raise ConfigError('--backend scripted needs --script FILE (one {"raw": "..."} per line)')
        from agent.backends.scripted import ScriptedBackend

        return ScriptedBackend(settings.script)
    raise ConfigError(f"unknown backend {settings.name!r} (known: {', '.join(BACKENDS)})")

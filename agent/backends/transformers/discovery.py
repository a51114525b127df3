"""Local Qwen-VL-family models on this machine: Hugging Face cache snapshots and folders the user named.

Only config.json is read (no weights, no torch), so the window can list models at start-up.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

# config.json model_type -> family (names that say UI-TARS refine it below)
MODEL_TYPES = {
    "qwen2_vl": "qwen2-vl",
    "qwen2_5_vl": "qwen2.5-vl",
    "qwen3_vl": "qwen3-vl",
    "qwen3_vl_moe": "qwen3-vl",
    "qwen3_5": "qwen3.5",  # Qwen3.5 dense (Qwen/Qwen3.5-9B) and MoE (Qwen/Qwen3.5-35B-A3B)
    "qwen3_5_moe": "qwen3.5",
}


@dataclass(frozen=True, slots=True)
class LocalModel:
    name: str  # a hub id (org/name) for cache entries, else the folder path
    path: Path
    family: str


def hub_cache_dir() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface"))
    return home / "hub"


def guess_family(name: str, model_type: str) -> str | None:
    family = MODEL_TYPES.get(model_type)
    lowered = name.lower().replace("_", "-")
    if family is None:
        return None
    if "ui-tars" in lowered:
        return "ui-tars-1.5" if family == "qwen2.5-vl" or "1.5" in lowered else "ui-tars"
    return family


def model_at(folder: Path, name: str | None = None) -> LocalModel | None:
    """The model in `folder` when it holds a Qwen-VL-family config.json, else None."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    label = name or str(folder)
    family = guess_family(label, str(config.get("model_type", "")))
    return LocalModel(label, folder, family) if family else None


def find_local_models(extra_dirs: Iterable[Path] = ()) -> list[LocalModel]:
    """Cached hub snapshots (newest snapshot per model) and models directly inside `extra_dirs`."""
    found: list[LocalModel] = []
    cache = hub_cache_dir()
    for entry in sorted(cache.glob("models--*")) if cache.is_dir() else []:
        snapshots = sorted((entry / "snapshots").glob("*"), key=lambda p: p.stat().st_mtime, reverse=True)
        hub_id = entry.name.removeprefix("models--").replace("--", "/", 1)
        for snapshot in snapshots[:1]:
            model = model_at(snapshot, hub_id)
            if model:
                found.append(model)
    for folder in extra_dirs:
        for candidate in [folder, *sorted(p for p in folder.glob("*") if p.is_dir())] if folder.is_dir() else []:
            model = model_at(candidate)
            if model:
                found.append(model)
    return found

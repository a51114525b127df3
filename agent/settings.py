"""The user's settings: one TOML file in the platformdirs config folder, read at the edge, passed down.

The window edits them; the command line's flags override them for one run. Unknown or badly typed keys
in the file are an error naming the file and key (a typo never silently resets a setting).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import platformdirs
import tomli_w
import tomllib

from agent.errors import ConfigError
from agent.families import FAMILIES

MODES = ("approve", "auto", "dry-run")
BACKEND_NAMES = ("ocr", "transformers", "openai", "scripted")


@dataclass(frozen=True, slots=True)
class Settings:
    backend: str = "ocr"
    model: str = ""
    family: str = "qwen2.5-vl"
    endpoint: str = ""
    script: str = ""
    min_pixels: int = 0  # 0: the family's own
    max_pixels: int = 0
    mode: str = "approve"
    countdown_s: float = 2.0
    max_steps: int = 15
    stop_key: str = "ctrl+alt+x"
    recording_dir: str = ""  # "": the default sessions folder
    record: bool = True
    driver: str = "pyautogui"

    def __post_init__(self) -> None:
        if self.backend not in BACKEND_NAMES:
            raise ConfigError(f"backend must be one of {', '.join(BACKEND_NAMES)}, not {self.backend!r}")
        if self.family not in FAMILIES:
            raise ConfigError(f"family must be one of {', '.join(FAMILIES)}, not {self.family!r}")
        if self.mode not in MODES:
            raise ConfigError(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        if self.min_pixels < 0 or self.max_pixels < 0 or self.max_steps < 1 or self.countdown_s < 0:
            raise ConfigError("min/max pixels, max steps and the countdown must not be negative")

    def updated(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def settings_path() -> Path:
    return Path(platformdirs.user_config_dir("deskpilot")) / "settings.toml"


def load_settings(path: Path | None = None) -> Settings:
    """The saved settings, or the defaults when there is no file yet."""
    path = path or settings_path()
    if not path.exists():
        return Settings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    known = {f.name: f for f in fields(Settings)}
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            raise ConfigError(f"{path}: unknown key {key!r}")
        default = getattr(Settings(), key)
        wanted = (
            (int, float) if isinstance(default, float) else type(default)
        )  # a float setting takes a whole number too
        if isinstance(value, bool) != isinstance(default, bool) or not isinstance(value, wanted):
            raise ConfigError(f"{path}: {key} must be {type(default).__name__}, got {value!r}")
        values[key] = float(value) if isinstance(default, float) else value
    try:
        return Settings(**values)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Write atomically (a crash never leaves half a file)."""
    path = path or settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(tomli_w.dumps(asdict(settings)), encoding="utf-8")
    os.replace(tmp, path)
    return path

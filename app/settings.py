"""The window's settings: one TOML file in the platformdirs config folder, read at the edge, passed down.

Every value is checked when the file is read (a typo, a wrong type, a stop key that is no key, a countdown
that is not a number of seconds) and a problem is one error naming the file and the key: a typo never
silently resets a setting.

What is saved is only what the person chose: `SettingsStore` keeps the settings as saved apart from the
one-off command-line flags of this launch (`deskpilot gui --backend scripted --mode auto` holds for this
launch only), and writes the person's changes over the saved values. A file that could not be read is never
written over: on the first change it is kept beside, as `settings.toml.unreadable-<time>`.
"""

from __future__ import annotations

import math
import sys
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import platformdirs
import tomli_w

from agent.backends.registry import BACKENDS, DEFAULT_BACKEND, DEFAULT_SERVER, SERVERS
from agent.errors import ConfigError
from agent.families import FAMILIES
from agent.refine import REFINE_MODES
from agent.waits import CHANGE_CAP_S, MAX_CHANGE_WAIT_S
from sandbox.drivers import DRIVER_NAMES
from sandbox.errors import KeyNameError
from sandbox.files import read_regular, write_atomically
from sandbox.keys import normalize_combo, split_combo
from sandbox.stop import DEFAULT_STOP_KEY

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

MODES = ("approve", "auto", "dry-run")
INPUT_DRIVERS = tuple(d for d in DRIVER_NAMES if d != "dry-run")
MAX_COUNTDOWN_S = 60.0
MAX_STEPS = 1000
MAX_MCP_PREVIEW_MS = 5000
MAX_PIXELS_LIMIT = 100_000_000  # larger than any screen's pixel count
SETTINGS_FILE_LIMIT_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class Settings:
    backend: str = DEFAULT_BACKEND
    model: str = ""
    family: str = "qwen2.5-vl"
    endpoint: str = ""
    server: str = DEFAULT_SERVER  # openai: which server (its image limit), or generic: probed
    script: str = ""
    min_pixels: int = 0  # 0: the family's own
    max_pixels: int = 0
    mode: str = "approve"
    countdown_s: float = 2.0
    max_steps: int = 15
    stop_key: str = DEFAULT_STOP_KEY
    recording_dir: str = ""  # "": the default sessions folder
    record: bool = True
    driver: str = "pyautogui"
    refine: str = "off"  # "zoom": a second look at a magnified crop around each click
    change_wait_s: float = CHANGE_CAP_S  # after an action, how long the next look waits for the screen to change
    mcp_preview_ms: int = 400  # `deskpilot mcp`: how long the overlay draws a client's action before it happens

    def __post_init__(self) -> None:
        problem = _problem(self)
        if problem is not None:
            raise ConfigError(f"{problem[0]}: {problem[1]}")

    def updated(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def _one_of(value: str, allowed: tuple[str, ...] | list[str]) -> str | None:
    return None if value in allowed else f"must be one of {', '.join(allowed)}, not {value!r}"


def _problem(s: Settings) -> tuple[str, str] | None:
    """The first setting that cannot be used, as (key, why)."""
    checks: list[tuple[str, str | None]] = [
        ("backend", _one_of(s.backend, BACKENDS)),
        ("family", _one_of(s.family, list(FAMILIES))),
        ("server", _one_of(s.server, SERVERS)),
        ("refine", _one_of(s.refine, REFINE_MODES)),
        ("mode", _one_of(s.mode, MODES)),
        ("driver", _one_of(s.driver, INPUT_DRIVERS)),
        ("stop_key", _stop_key_problem(s.stop_key)),
        (
            "countdown_s",
            None
            if math.isfinite(s.countdown_s) and 0 <= s.countdown_s <= MAX_COUNTDOWN_S
            else f"must be between 0 and {MAX_COUNTDOWN_S:g} seconds, not {s.countdown_s!r}",
        ),
        (
            "change_wait_s",
            None
            if math.isfinite(s.change_wait_s) and 0 <= s.change_wait_s <= MAX_CHANGE_WAIT_S
            else f"must be between 0 and {MAX_CHANGE_WAIT_S:g} seconds, not {s.change_wait_s!r}",
        ),
        (
            "mcp_preview_ms",
            None
            if 0 <= s.mcp_preview_ms <= MAX_MCP_PREVIEW_MS
            else f"must be 0 to {MAX_MCP_PREVIEW_MS} milliseconds, not {s.mcp_preview_ms}",
        ),
        ("max_steps", None if 1 <= s.max_steps <= MAX_STEPS else f"must be 1 to {MAX_STEPS}, not {s.max_steps}"),
        ("min_pixels", _pixels_problem(s.min_pixels)),
        ("max_pixels", _pixels_problem(s.max_pixels)),
        (
            "min_pixels",
            f"({s.min_pixels}) must not be more than max_pixels ({s.max_pixels})"
            if s.min_pixels and s.max_pixels and s.min_pixels > s.max_pixels
            else None,
        ),
    ]
    return next(((key, why) for key, why in checks if why is not None), None)


def _stop_key_problem(combo: str) -> str | None:
    try:
        normalize_combo(split_combo(combo))
    except KeyNameError as exc:
        return f"is not a key combination ({exc})"
    return None


def _pixels_problem(value: int) -> str | None:
    if 0 <= value <= MAX_PIXELS_LIMIT:
        return None
    return f"must be 0 (the family's own) to {MAX_PIXELS_LIMIT}, not {value}"


def settings_path() -> Path:
    return Path(platformdirs.user_config_dir("deskpilot")) / "settings.toml"


def load_settings(path: Path | None = None) -> Settings:
    """The saved settings, or the defaults when there is no file yet. ConfigError names the file and key."""
    path = path or settings_path()
    if not path.exists():
        return Settings()
    try:
        data = tomllib.loads(read_regular(path, limit=SETTINGS_FILE_LIMIT_BYTES).decode("utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the settings file: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: the settings file is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: TOML syntax error: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to read") from None
    known = {f.name for f in fields(Settings)}
    defaults = Settings()
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            raise ConfigError(f"{path}: unknown key {key!r}")
        default = getattr(defaults, key)
        wanted = (int, float) if isinstance(default, float) else type(default)  # a float setting takes 2 too
        if isinstance(value, bool) != isinstance(default, bool) or not isinstance(value, wanted):
            raise ConfigError(f"{path}: {key} must be {type(default).__name__}, got {value!r}")
        values[key] = float(value) if isinstance(default, float) else value
    try:
        return Settings(**values)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


class SettingsStore:
    """The settings as saved, this launch's one-off overrides, and the saving of what the person changed."""

    def __init__(self, path: Path | None = None, *, overrides: dict[str, Any] | None = None) -> None:
        """Reads the file now; `error` says why it could not be (the defaults are used then)."""
        self.path = path or settings_path()
        self.error: str | None = None
        try:
            self.saved = load_settings(self.path)
        except ConfigError as exc:
            self.saved, self.error = Settings(), str(exc)
        self.effective = self.saved.updated(**(overrides or {}))  # this launch's (ConfigError for a bad flag)

    def change(self, settings: Settings) -> Path | None:
        """The person now wants `settings` (all of them, as the window shows them): what differs from what was
        shown is saved over the saved values, one-off flags kept out. Returns the file when it was written."""
        changes = {key: value for key, value in asdict(settings).items() if value != getattr(self.effective, key)}
        self.effective = settings
        if not changes:
            return None
        wanted = self.saved.updated(**changes)
        if wanted == self.saved and self.error is None:
            return None
        self._keep_unreadable()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(self.path, tomli_w.dumps(asdict(wanted)).encode("utf-8"))
        self.saved = wanted
        return self.path

    def _keep_unreadable(self) -> None:
        """A file that could not be read holds the person's own values (with a typo): move it aside, never lose it."""
        if self.error is None or not self.path.exists():
            self.error = None
            return
        kept = self.path.with_name(f"{self.path.name}.unreadable-{datetime.now():%Y%m%d-%H%M%S}")
        self.path.rename(kept)
        self.error = None

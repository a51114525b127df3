"""The policy as a TOML file: read strictly (every error names the file and the key), written back.

`load_policy` finds the file (--policy FILE, else the user's, else the bundled assets/policy.toml, whose values
equal `Policy()`); `parse_policy` reads one; `policy_to_toml` writes one (the window's policy editor saves the
user's file through it). parse_policy(policy_to_toml(p)) == p for every policy; a test keeps it so.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import platformdirs
import tomli_w

from sandbox.actions import ACTION_TYPES
from sandbox.errors import KeyNameError, PolicyError
from sandbox.files import read_regular
from sandbox.geometry import Rect
from sandbox.policy import Policy, combo_text, compile_patterns, parse_combo

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

POLICY_FILE_LIMIT_BYTES = 64 << 20
_T = TypeVar("_T")

_SCHEMA: dict[str, tuple[str, ...]] = {
    "screen": ("allowed_monitors", "forbidden_regions"),
    "actions": ("allowed", "max_per_minute", "max_drag_distance_px", "max_scroll_amount", "max_wait_s"),
    "keys": ("forbidden", "confirm"),
    "text": ("max_length", "case_sensitive", "deny", "confirm"),
}
_REGION_KEYS = ("x", "y", "width", "height", "name")


def default_policy_path() -> Path:
    """The bundled default: assets/policy.toml next to the sandbox package (in a checkout and installed)."""
    return Path(__file__).resolve().parents[1] / "assets" / "policy.toml"


def user_policy_path() -> Path:
    """The user's own policy file (it need not exist)."""
    return Path(platformdirs.user_config_dir("deskpilot")) / "policy.toml"


def load_policy(path: Path | None = None) -> Policy:
    """`path` (--policy FILE) if given, else the user's file if it exists, else the bundled default."""
    if path is None:
        user = user_policy_path()
        path = user if user.exists() else default_policy_path()
    try:
        text = read_regular(path, limit=POLICY_FILE_LIMIT_BYTES).decode("utf-8")
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read the policy file: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise PolicyError(f"{path}: the policy file is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    return parse_policy(text, source=str(path))


class _Reader:
    """Strict reading of one file's values; every error names the file and the key."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, message: str) -> NoReturn:
        raise PolicyError(f"{self.source}: {where}: {message}")

    def table(self, value: object, where: str, known: Sequence[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(where, f"must be a table, got {_type(value)}")
        for key in value:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
                hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(known)})"
                kind, name = ("key", f"{where}.{key}") if where else ("table", key)
                raise PolicyError(f"{self.source}: unknown {kind} {name!r}{hint}")
        return value

    def each(self, value: object, where: str, read: Callable[[object, str], _T]) -> tuple[_T, ...]:
        if not isinstance(value, list):
            self.fail(where, f"must be an array, got {_type(value)}")
        return tuple(read(item, f"{where}[{i}]") for i, item in enumerate(value))

    def integer(self, value: object, where: str, *, minimum: int | None = 0) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(where, f"must be an integer, got {_type(value)} {value!r}")
        if minimum is not None and value < minimum:
            self.fail(where, f"must be at least {minimum}, got {value}")
        return value

    def number(self, value: object, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(where, f"must be a number, got {_type(value)} {value!r}")
        if not math.isfinite(value) or value < 0:
            self.fail(where, f"must be a finite number of at least 0, got {value!r}")
        return float(value)

    def string(self, value: object, where: str) -> str:
        if not isinstance(value, str):
            self.fail(where, f"must be a string, got {_type(value)} {value!r}")
        return value

    def kind(self, value: object, where: str) -> str:
        if self.string(value, where) not in ACTION_TYPES:
            self.fail(where, f"unknown action kind {value!r} (known: {', '.join(ACTION_TYPES)})")
        return str(value)

    def combo(self, value: object, where: str) -> frozenset[str]:
        try:
            return parse_combo(self.string(value, where))
        except KeyNameError as exc:
            self.fail(where, f"{exc} in {value!r}")

    def pattern(self, value: object, where: str, *, case_sensitive: bool) -> re.Pattern[str]:
        try:
            return compile_patterns([self.string(value, where)], case_sensitive=case_sensitive)[0]
        except re.error as exc:
            self.fail(where, f"bad regex {value!r}: {exc}")

    def region(self, value: object, where: str) -> Rect:
        data = self.table(value, where, _REGION_KEYS)
        missing = [k for k in _REGION_KEYS[:4] if k not in data]
        if missing:
            self.fail(where, f"missing {', '.join(missing)}")
        x, y = (self.integer(data[k], f"{where}.{k}", minimum=None) for k in ("x", "y"))
        width, height = (self.integer(data[k], f"{where}.{k}", minimum=1) for k in ("width", "height"))
        return Rect(x=x, y=y, width=width, height=height, name=self.string(data.get("name", ""), f"{where}.name"))


def _type(value: object) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a float",
        str: "a string",
        list: "an array",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def parse_policy(text: str, *, source: str) -> Policy:
    """A Policy from TOML text; keys the text leaves out keep their defaults. Raises PolicyError."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{source}: TOML syntax error: {exc}") from None
    except RecursionError:
        raise PolicyError(f"{source}: tables or arrays nested too deeply to read") from None
    read = _Reader(source)
    read.table(data, "", tuple(_SCHEMA))
    tables = {name: read.table(data.get(name, {}), name, known) for name, known in _SCHEMA.items()}
    readers: dict[str, tuple[str, Callable[[object, str], Any]]] = {
        "screen.allowed_monitors": ("allowed_monitors", lambda v, w: read.each(v, w, read.integer)),
        "screen.forbidden_regions": ("forbidden_regions", lambda v, w: read.each(v, w, read.region)),
        "actions.allowed": ("allowed_kinds", lambda v, w: frozenset(read.each(v, w, read.kind))),
        "actions.max_per_minute": ("max_actions_per_minute", read.integer),
        "actions.max_drag_distance_px": ("max_drag_distance_px", read.integer),
        "actions.max_scroll_amount": ("max_scroll_amount", read.integer),
        "actions.max_wait_s": ("max_wait_s", read.number),
        "keys.forbidden": ("forbidden_hotkeys", lambda v, w: read.each(v, w, read.combo)),
        "keys.confirm": ("confirm_hotkeys", lambda v, w: read.each(v, w, read.combo)),
        "text.max_length": ("max_text_length", read.integer),
    }
    changes: dict[str, Any] = {"source": source}
    for where, (name, reader) in readers.items():
        table, key = where.split(".")
        if key in tables[table]:
            changes[name] = reader(tables[table][key], where)
    case_sensitive = tables["text"].get("case_sensitive", False)
    if not isinstance(case_sensitive, bool):
        read.fail("text.case_sensitive", f"must be true or false, got {_type(case_sensitive)}")
    base = Policy()
    for key, name in (("deny", "text_deny"), ("confirm", "text_confirm")):
        given = tables["text"].get(key, [p.pattern for p in getattr(base, name)])
        changes[name] = read.each(given, f"text.{key}", lambda v, w: read.pattern(v, w, case_sensitive=case_sensitive))
    return dataclasses.replace(base, **changes)


# -- writing ------------------------------------------------------------------------------------------

HEADER = (
    "# deskpilot policy, written by the settings window. The bundled, commented default\n"
    "# (assets/policy.toml) explains every key; edit here or in the window.\n\n"
)


def policy_to_toml(policy: Policy) -> str:
    case_sensitive = bool(policy.text_deny or policy.text_confirm) and not any(
        p.flags & re.IGNORECASE for p in (*policy.text_deny, *policy.text_confirm)
    )
    data: dict[str, Any] = {
        "screen": {
            "allowed_monitors": list(policy.allowed_monitors),
            "forbidden_regions": [
                {"x": r.x, "y": r.y, "width": r.width, "height": r.height, "name": r.name}
                for r in policy.forbidden_regions
            ],
        },
        "actions": {
            "allowed": sorted(policy.allowed_kinds),
            "max_per_minute": policy.max_actions_per_minute,
            "max_drag_distance_px": policy.max_drag_distance_px,
            "max_scroll_amount": policy.max_scroll_amount,
            "max_wait_s": float(policy.max_wait_s),
        },
        "keys": {
            "forbidden": [combo_text(k) for k in policy.forbidden_hotkeys],
            "confirm": [combo_text(k) for k in policy.confirm_hotkeys],
        },
        "text": {
            "max_length": policy.max_text_length,
            "case_sensitive": case_sensitive,
            "deny": [p.pattern for p in policy.text_deny],
            "confirm": [p.pattern for p in policy.text_confirm],
        },
    }
    return HEADER + tomli_w.dumps(data)

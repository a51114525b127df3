"""The policy as a TOML file: read strictly (every error names the file and the key), written back.

`load_policy` finds the file (--policy FILE, else the user's, else the bundled assets/policy.toml, whose values
equal `Policy()`); `parse_policy` reads one; `policy_to_toml` writes one (the window's policy editor saves the
user's file through it). parse_policy(policy_to_toml(p)) == p for every policy; a test keeps it so.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import platformdirs
import tomli_w

from sandbox.actions import ACTION_TYPES
from sandbox.element_rules import ELEMENT_VERDICTS, ElementRule, element_rule
from sandbox.errors import KeyNameError, PolicyError
from sandbox.fields import Fields
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
_ELEMENT_KEYS = ("roles", "name", "verdict", "case_sensitive")
ELEMENTS = "elements"  # the array of tables [[elements]]


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


def _count(table: Fields, name: str) -> int:
    return table.integer(name, minimum=0)


def _kind(items: Fields, name: str) -> str:
    value = items.text(name)
    if value not in ACTION_TYPES:
        items.fail(f"{items.path(name)}: unknown action kind {value!r} (known: {', '.join(ACTION_TYPES)})")
    return value


def _combo(items: Fields, name: str) -> frozenset[str]:
    value = items.text(name)
    try:
        return parse_combo(value)
    except KeyNameError as exc:
        items.fail(f"{items.path(name)}: {exc} in {value!r}")


def _pattern(items: Fields, name: str, *, case_sensitive: bool) -> re.Pattern[str]:
    value = items.text(name)
    try:
        return compile_patterns([value], case_sensitive=case_sensitive)[0]
    except re.error as exc:
        items.fail(f"{items.path(name)}: bad regex {value!r}: {exc}")


def _region(items: Fields, name: str) -> Rect:
    region = items.sub(name)
    region.only(_REGION_KEYS)
    missing = [k for k in _REGION_KEYS[:4] if k not in region.data]
    if missing:
        region.fail(f"{region.key}: missing {', '.join(missing)}")
    return Rect(
        x=region.integer("x"),
        y=region.integer("y"),
        width=region.integer("width", minimum=1),
        height=region.integer("height", minimum=1),
        name=region.text("name") if "name" in region.data else "",
    )


def _role(items: Fields, name: str) -> str:
    return items.text(name, nonempty=True)


def _element_rule(items: Fields, name: str) -> ElementRule:
    rule = items.sub(name)
    rule.only(_ELEMENT_KEYS)
    for key in ("name", "verdict"):
        if key not in rule.data:
            rule.fail(f"{rule.key}: missing {key}")
    written = rule.text("verdict")
    verdict = next((v for v in ELEMENT_VERDICTS if v == written), None)
    if verdict is None:
        rule.fail(f'{rule.path("verdict")}: must be "confirm" or "deny", got {written!r}')
    pattern = rule.text("name", nonempty=True)
    case_sensitive = rule.flag("case_sensitive") if "case_sensitive" in rule.data else False
    roles = _each(rule, "roles", _role) if "roles" in rule.data else ()
    try:
        return element_rule(roles=roles, name=pattern, verdict=verdict, case_sensitive=case_sensitive)
    except re.error as exc:
        rule.fail(f"{rule.path('name')}: bad regex {pattern!r}: {exc}")


def _each(table: Fields, name: str, read: Callable[[Fields, str], _T]) -> tuple[_T, ...]:
    items = table.items(name)
    return tuple(read(items, index) for index in items.data)


def parse_policy(text: str, *, source: str) -> Policy:
    """A Policy from TOML text; keys the text leaves out keep their defaults. Raises PolicyError."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{source}: TOML syntax error: {exc}") from None
    except RecursionError:
        raise PolicyError(f"{source}: tables or arrays nested too deeply to read") from None
    top = Fields(data, source, error=PolicyError, toml=True)
    top.only((*_SCHEMA, ELEMENTS))
    tables: dict[str, Fields] = {}
    for name, known in _SCHEMA.items():
        tables[name] = top.sub(name)
        tables[name].only(known)
    screen, actions, keys, text_table = tables["screen"], tables["actions"], tables["keys"], tables["text"]
    readers: dict[str, tuple[Fields, str, Callable[[Fields, str], Any]]] = {
        "allowed_monitors": (screen, "allowed_monitors", lambda t, k: _each(t, k, _count)),
        "forbidden_regions": (screen, "forbidden_regions", lambda t, k: _each(t, k, _region)),
        "allowed_kinds": (actions, "allowed", lambda t, k: frozenset(_each(t, k, _kind))),
        "max_actions_per_minute": (actions, "max_per_minute", _count),
        "max_drag_distance_px": (actions, "max_drag_distance_px", _count),
        "max_scroll_amount": (actions, "max_scroll_amount", _count),
        "max_wait_s": (actions, "max_wait_s", lambda t, k: float(t.number(k, minimum=0))),
        "forbidden_hotkeys": (keys, "forbidden", lambda t, k: _each(t, k, _combo)),
        "confirm_hotkeys": (keys, "confirm", lambda t, k: _each(t, k, _combo)),
        "max_text_length": (text_table, "max_length", _count),
    }
    changes: dict[str, Any] = {"source": source}
    for name, (table, key, read) in readers.items():
        if key in table.data:
            changes[name] = read(table, key)
    if ELEMENTS in top.data:
        changes["element_rules"] = _each(top, ELEMENTS, _element_rule)
    case_sensitive = text_table.flag("case_sensitive") if "case_sensitive" in text_table.data else False
    base = Policy()
    for key, name in (("deny", "text_deny"), ("confirm", "text_confirm")):
        if key in text_table.data:
            changes[name] = _each(text_table, key, lambda f, i: _pattern(f, i, case_sensitive=case_sensitive))
        else:  # the defaults, compiled with this file's case rule
            changes[name] = tuple(
                compile_patterns([p.pattern], case_sensitive=case_sensitive)[0] for p in getattr(base, name)
            )
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
        ELEMENTS: [
            {
                "roles": list(rule.roles),
                "name": rule.name.pattern,
                "verdict": rule.verdict,
                "case_sensitive": not rule.name.flags & re.IGNORECASE,
            }
            for rule in policy.element_rules
        ],
    }
    return HEADER + tomli_w.dumps(data)

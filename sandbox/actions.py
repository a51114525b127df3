"""The closed action vocabulary: the only things deskpilot can ever do to a desktop.

Every action here is in screen coordinates: integer logical pixels of the virtual desktop
(see sandbox/geometry.py). Model text is turned into these in exactly one place (agent/parsing).
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import MISSING, dataclass, fields
from typing import Any, Literal, NoReturn

from sandbox.errors import ActionError
from sandbox.keys import normalize_combo
from sandbox.text import shorten

if sys.version_info >= (3, 11):
    from typing import assert_never as assert_never  # re-exported: the one definition for every match
else:  # pragma: no cover - Python 3.10

    def assert_never(value: NoReturn) -> NoReturn:
        """mypy proves a `match` over action kinds exhaustive; at run time a forgotten kind fails loudly."""
        raise AssertionError(f"unhandled action {value!r}")


Button = Literal["left", "right", "middle"]
Direction = Literal["up", "down", "left", "right"]
Status = Literal["success", "failure"]

BUTTONS: tuple[str, ...] = ("left", "right", "middle")
DIRECTIONS: tuple[str, ...] = ("up", "down", "left", "right")
STATUSES: tuple[str, ...] = ("success", "failure")
MAX_CLICK_COUNT = 3
MAX_WAIT_S = 3600.0


def _check_int(name: str, value: object, *, nullable: bool = False) -> None:
    if value is None and nullable:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise ActionError(f"{name} must be an integer, got {value!r}")


@dataclass(frozen=True, slots=True)
class Click:
    x: int
    y: int
    button: Button = "left"
    count: int = 1
    kind: Literal["click"] = "click"

    def __post_init__(self) -> None:
        _check_int("x", self.x)
        _check_int("y", self.y)
        if self.button not in BUTTONS:
            raise ActionError(f"button must be one of {', '.join(BUTTONS)}, got {self.button!r}")
        _check_int("count", self.count)
        if not 1 <= self.count <= MAX_CLICK_COUNT:
            raise ActionError(f"count must be 1, 2 or 3, got {self.count!r}")


@dataclass(frozen=True, slots=True)
class Move:
    x: int
    y: int
    kind: Literal["move"] = "move"

    def __post_init__(self) -> None:
        _check_int("x", self.x)
        _check_int("y", self.y)


@dataclass(frozen=True, slots=True)
class Drag:
    """Press at (x, y), move to (to_x, to_y), release. x/y None: start where the pointer is."""

    x: int | None
    y: int | None
    to_x: int
    to_y: int
    kind: Literal["drag"] = "drag"

    def __post_init__(self) -> None:
        _check_int("x", self.x, nullable=True)
        _check_int("y", self.y, nullable=True)
        if (self.x is None) != (self.y is None):
            raise ActionError("drag start x and y must both be given or both be null")
        _check_int("to_x", self.to_x)
        _check_int("to_y", self.to_y)


@dataclass(frozen=True, slots=True)
class Scroll:
    """Turn the wheel `amount` notches towards `direction`, at (x, y) or where the pointer is."""

    x: int | None
    y: int | None
    direction: Direction
    amount: int = 3
    kind: Literal["scroll"] = "scroll"

    def __post_init__(self) -> None:
        _check_int("x", self.x, nullable=True)
        _check_int("y", self.y, nullable=True)
        if (self.x is None) != (self.y is None):
            raise ActionError("scroll x and y must both be given or both be null")
        if self.direction not in DIRECTIONS:
            raise ActionError(f"direction must be one of {', '.join(DIRECTIONS)}, got {self.direction!r}")
        _check_int("amount", self.amount)
        if self.amount < 1:
            raise ActionError(f"amount must be at least 1, got {self.amount!r}")


_LINE_BREAKS = re.compile(r"\r\n?")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # C0 but tab and newline, DEL, C1
_SURROGATE = re.compile("[\ud800-\udfff]")  # half of a UTF-16 pair: no character, and not valid UTF-8


@dataclass(frozen=True, slots=True)
class Type:
    """Text typed as it will land: a carriage return is a line break; other control characters are refused
    (a backspace inside typed text would undo what the policy saw, so `rmx\\b -rf` could type `rm -rf`), and
    so are lone surrogates (what a driver would type for one is anyone's guess, and no record could hold it;
    replies are made valid where they enter, so one reaching here is refused, not repaired)."""

    text: str
    kind: Literal["type"] = "type"

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or self.text == "":
            raise ActionError(f"text must be a non-empty string, got {self.text!r}")
        text = _LINE_BREAKS.sub("\n", self.text)
        control = _CONTROL.search(text)
        if control is not None:
            raise ActionError(
                f"text holds the control character {control.group(0)!r} at {control.start()}: only line breaks "
                "and tabs can be typed (press other keys with a hotkey)"
            )
        surrogate = _SURROGATE.search(text)
        if surrogate is not None:
            raise ActionError(
                f"text holds a lone surrogate {surrogate.group(0)!r} at {surrogate.start()}: half of a UTF-16 pair "
                "is not a character and cannot be typed"
            )
        object.__setattr__(self, "text", text)


@dataclass(frozen=True, slots=True)
class Hotkey:
    """Press keys in order (modifiers first), release in reverse. Names are normalised on creation."""

    keys: tuple[str, ...]
    kind: Literal["hotkey"] = "hotkey"

    def __post_init__(self) -> None:
        if isinstance(self.keys, str) or not isinstance(self.keys, (list, tuple)):
            raise ActionError(f"keys must be a list of key names, got {self.keys!r}")
        object.__setattr__(self, "keys", normalize_combo(tuple(self.keys)))


@dataclass(frozen=True, slots=True)
class Wait:
    seconds: float
    kind: Literal["wait"] = "wait"

    def __post_init__(self) -> None:
        if isinstance(self.seconds, bool) or not isinstance(self.seconds, (int, float)):
            raise ActionError(f"seconds must be a number, got {self.seconds!r}")
        if not math.isfinite(self.seconds) or not 0 <= self.seconds <= MAX_WAIT_S:
            raise ActionError(f"seconds must be between 0 and {MAX_WAIT_S:g}, got {self.seconds!r}")
        object.__setattr__(self, "seconds", float(self.seconds))


@dataclass(frozen=True, slots=True)
class Finish:
    status: Status = "success"
    answer: str | None = None
    kind: Literal["finish"] = "finish"

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ActionError(f"status must be success or failure, got {self.status!r}")
        if self.answer is not None and not isinstance(self.answer, str):
            raise ActionError(f"answer must be a string or null, got {self.answer!r}")


Action = Click | Move | Drag | Scroll | Type | Hotkey | Wait | Finish

ACTION_TYPES: dict[str, type[Any]] = {
    "click": Click,
    "move": Move,
    "drag": Drag,
    "scroll": Scroll,
    "type": Type,
    "hotkey": Hotkey,
    "wait": Wait,
    "finish": Finish,
}


def action_to_json(action: Action) -> dict[str, Any]:
    """The contract's JSON object for an action, `kind` first."""
    out: dict[str, Any] = {"kind": action.kind}
    for f in fields(action):
        if f.name != "kind":
            value = getattr(action, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def action_from_json(data: object) -> Action:
    """Build an action from its JSON object; unknown kinds or fields are an ActionError."""
    if not isinstance(data, dict):
        raise ActionError(f"an action must be a JSON object, got {type(data).__name__}")
    kind = data.get("kind")
    if kind not in ACTION_TYPES:
        raise ActionError(f"unknown action kind {kind!r} (known: {', '.join(ACTION_TYPES)})")
    cls = ACTION_TYPES[kind]
    names = {f.name for f in fields(cls)} - {"kind"}
    extra = sorted(set(data) - names - {"kind"})
    if extra:
        raise ActionError(f"{kind}: unknown field(s) {', '.join(extra)}")
    required = {f.name for f in fields(cls) if f.name != "kind" and f.default is MISSING}
    missing = sorted(n for n in required if n not in data)
    if missing:
        raise ActionError(f"{kind}: missing field(s) {', '.join(missing)}")
    kwargs = {k: v for k, v in data.items() if k != "kind"}
    if kind == "hotkey" and isinstance(kwargs.get("keys"), list):
        kwargs["keys"] = tuple(kwargs["keys"])
    try:
        return cls(**kwargs)  # type: ignore[no-any-return]
    except ActionError as exc:
        raise ActionError(f"{kind}: {exc}") from None


def action_points(action: Action) -> list[tuple[int, int]]:
    """Every screen point an action touches (for policy checks and previews); a drag or scroll "where the
    pointer is" has no point of its own here (the executor locates it at the pointer before checking)."""
    match action:
        case Click() | Move():
            return [(action.x, action.y)]
        case Drag():
            start = [] if action.x is None or action.y is None else [(action.x, action.y)]
            return start + [(action.to_x, action.to_y)]
        case Scroll():
            return [] if action.x is None or action.y is None else [(action.x, action.y)]
        case Type() | Hotkey() | Wait() | Finish():
            return []
        case _:
            assert_never(action)


def target_point(action: Action, pointer: tuple[int, int] | None = None) -> tuple[int, int] | None:
    """Where an action lands, the one point a preview marks: a click's or move's point, a drag's end, a scroll's
    point (or `pointer` for a scroll "where the pointer is"); None for an action with no point."""
    match action:
        case Click() | Move():
            return action.x, action.y
        case Drag():
            return action.to_x, action.to_y
        case Scroll():
            return (action.x, action.y) if action.x is not None and action.y is not None else pointer
        case Type() | Hotkey() | Wait() | Finish():
            return None
        case _:
            assert_never(action)


def named_points(action: Action) -> list[tuple[str, tuple[int, int]]]:
    """The screen points an action names, each with which end it is ("start"/"end" of a drag, "" when one)."""
    match action:
        case Drag():
            start = [] if action.x is None or action.y is None else [("start", (action.x, action.y))]
            return [*start, ("end", (action.to_x, action.to_y))]
        case _:
            return [("", point) for point in action_points(action)]


def describe(action: Action) -> str:
    """A short human line: `double-click left at (10, 20)`, `type 'hello'`."""
    match action:
        case Click():
            name = {1: "click", 2: "double-click", 3: "triple-click"}[action.count]
            button = "" if action.button == "left" else f" {action.button}"
            return f"{name}{button} at ({action.x}, {action.y})"
        case Move():
            return f"move to ({action.x}, {action.y})"
        case Drag():
            start = "the pointer" if action.x is None else f"({action.x}, {action.y})"
            return f"drag from {start} to ({action.to_x}, {action.to_y})"
        case Scroll():
            where = "" if action.x is None else f" at ({action.x}, {action.y})"
            return f"scroll {action.direction} {action.amount}{where}"
        case Type():
            return f"type {shorten(action.text, 60)!r}"
        case Hotkey():
            return "press " + "+".join(action.keys)
        case Wait():
            return f"wait {action.seconds:g} s"
        case Finish():
            return f"finish ({action.status})" + (f": {action.answer}" if action.answer else "")
        case _:
            assert_never(action)

"""One strict reader for the fields of untrusted JSON and TOML: a session's records (agent/session/fields.py),
a data set's samples (agent/evaluation/readers/common.py) and the policy file (sandbox/policy_file.py).

Each getter checks one field's type and returns it typed; anything else raises the caller's own error type
(SessionError, DatasetError, PolicyError) as one line naming where: the file, the line or sample, the field.
A JSON record names a field after where (`steps.jsonl:7: action 0: field 'x' must be an integer, got 'a'`);
a TOML table names it by its dotted key, as a person writes it in the file, with the value's TOML type
(`policy.toml: actions.max_per_minute: must be an integer, got a string '120'`). A value is quoted with
repr, cut (sandbox.text.shorten).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TypeGuard

from sandbox.text import shorten

SHOWN_VALUE_CHARS = 60  # a wrong value is quoted (repr) in the error, cut to this


def shown(value: object) -> str:
    """A value from an untrusted file, quoted and cut for an error message."""
    return shorten(repr(value), SHOWN_VALUE_CHARS)


def is_integer(value: object) -> TypeGuard[int]:
    """An int, and not a bool (JSON's true is no number)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> TypeGuard[int | float]:
    """A finite int or float, and not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def toml_type(value: object) -> str:
    """A value's type as TOML names it (`an integer`, `a table`), for the policy file's errors."""
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a float",
        str: "a string",
        list: "an array",
        dict: "a table",
    }.get(type(value), type(value).__name__)


class Fields:
    """Typed access to one object's fields; a wrong one raises `error` naming `where` and the field.

    `null_if_missing`: a missing field reads as null (data sets, whose optional fields are often left out);
    otherwise it is an error of its own. `toml`: fields are named by dotted key under `key` (the table's own
    key, "" at the top), the TOML way (see the top of this module).
    """

    def __init__(
        self,
        data: object,
        where: str,
        what: str = "record",
        *,
        error: Callable[[str], Exception],
        null_if_missing: bool = False,
        toml: bool = False,
        key: str = "",
    ) -> None:
        self.where, self.error, self.null_if_missing, self.toml, self.key = where, error, null_if_missing, toml, key
        if not isinstance(data, dict):
            if toml:
                self.fail(f"{key}: must be a table, got {toml_type(data)}")
            self.fail(f"the {what} must be a JSON object")
        self.data: dict[str, Any] = data

    def fail(self, message: str) -> NoReturn:
        raise self.error(f"{self.where}: {message}")

    def at(self, name: str) -> str:
        """Where a field's own object is: `where: name`."""
        return f"{self.where}: {name}"

    def path(self, name: str) -> str:
        """A field's dotted key in a TOML file (`actions.max_wait_s`, `keys.confirm[0]`)."""
        if name.startswith("[") or not self.key:
            return f"{self.key}{name}"
        return f"{self.key}.{name}"

    def inner(self, data: object, where: str, what: str) -> Fields:
        """An object found inside this one (an array's item, say), read by the same rules and error."""
        return Fields(data, where, what, error=self.error, null_if_missing=self.null_if_missing)

    def get(self, name: str) -> Any:
        if name not in self.data and not self.null_if_missing:
            self.fail(f"missing field {name!r}")
        return self.data.get(name)

    def wrong(self, name: str, expected: str, value: object) -> NoReturn:
        """The one message for a field that is not what it must be."""
        if self.toml:
            self.fail(f"{self.path(name)}: must be {expected}, got {toml_type(value)} {shown(value)}")
        self.fail(f"field {name!r} must be {expected}, got {shown(value)}")

    def text(self, name: str, *, nonempty: bool = False) -> str:
        """A string; `nonempty`: with something besides white space in it."""
        value = self.get(name)
        if not isinstance(value, str) or (nonempty and not value.strip()):
            self.wrong(name, "a non-empty string" if nonempty else "a string", value)
        return value

    def text_or_null(self, name: str, *, optional: bool = False) -> str | None:
        """A string or null; `optional`: a missing field is null too (a field added in a later version)."""
        if optional and name not in self.data:
            return None
        value = self.get(name)
        if not (value is None or isinstance(value, str)):
            self.wrong(name, "a string or null", value)
        return value

    def text_or(self, name: str, default: str) -> str:
        """The field when it is a non-empty string, else `default` (a label a data set may leave out)."""
        value = self.data.get(name)
        return value if isinstance(value, str) and value.strip() else default

    def integer(self, name: str, *, minimum: int | None = None) -> int:
        value = self.get(name)
        if self.toml:  # the type first, then the bound, as the policy file's comments describe them
            if not is_integer(value):
                self.wrong(name, "an integer", value)
            if minimum is not None and value < minimum:
                self.fail(f"{self.path(name)}: must be at least {minimum}, got {value}")
        elif not is_integer(value) or (minimum is not None and value < minimum):
            self.wrong(name, "an integer" + ("" if minimum is None else f" >= {minimum}"), value)
        return value

    def integer_or_null(self, name: str, *, minimum: int | None = None) -> int | None:
        return None if self.get(name) is None else self.integer(name, minimum=minimum)

    def number(self, name: str, *, minimum: float | None = None) -> float:
        """A finite number (of at least `minimum`), kept as written: an int stays an int, so writing it
        again gives the same text."""
        value = self.get(name)
        if not is_number(value) or (minimum is not None and value < minimum):
            if self.toml and isinstance(value, (int, float)) and not isinstance(value, bool):
                bound = "" if minimum is None else f" of at least {minimum:g}"
                self.fail(f"{self.path(name)}: must be a finite number{bound}, got {value!r}")
            self.wrong(name, "a number", value)
        return value

    def numbers(self, name: str, count: int | None = None) -> list[float]:
        """A list of finite numbers (exactly `count` of them when given), as floats."""
        value = self.get(name)
        if not isinstance(value, list) or (count is not None and len(value) != count) or not all(map(is_number, value)):
            self.wrong(name, f"{count} numbers" if count is not None else "a list of numbers", value)
        return [float(v) for v in value]

    def flag(self, name: str) -> bool:
        value = self.get(name)
        if not isinstance(value, bool):
            if self.toml:
                self.fail(f"{self.path(name)}: must be true or false, got {toml_type(value)}")
            self.wrong(name, "true or false", value)
        return value

    def obj(self, name: str) -> dict[str, Any]:
        value = self.get(name)
        if not isinstance(value, dict):
            self.fail(f"field {name!r} must be an object")
        return value

    def obj_or_null(self, name: str) -> dict[str, Any] | None:
        return None if self.get(name) is None else self.obj(name)

    def array(self, name: str) -> list[Any]:
        value = self.get(name)
        if not isinstance(value, list):
            if self.toml:
                self.fail(f"{self.path(name)}: must be an array, got {toml_type(value)}")
            self.fail(f"field {name!r} must be an array")
        return value

    def array_or_null(self, name: str) -> list[Any] | None:
        return None if self.get(name) is None else self.array(name)

    def sub(self, name: str) -> Fields:
        """A field that is an object, read by the same rules (in a TOML file a table left out is empty)."""
        if self.toml:
            return Fields(self.data.get(name, {}), self.where, error=self.error, toml=True, key=self.path(name))
        return self.inner(self.obj(name), self.at(name), name)

    def items(self, name: str) -> Fields:
        """An array's items as the fields `[0]`, `[1]`, ... of one object, read by the same rules (in a TOML
        file each is named by its key and index, `keys.confirm[0]`)."""
        values = self.array(name)
        indexed = {f"[{i}]": value for i, value in enumerate(values)}
        return Fields(indexed, self.where, error=self.error, toml=self.toml, key=self.path(name))

    def only(self, known: Sequence[str]) -> None:
        """Refuse a key that is not one of `known`, naming the closest known one (a TOML file's typo)."""
        for name in self.data:
            if name not in known:
                close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
                hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(known)})"
                self.fail(f"unknown {'key' if self.key else 'table'} {self.path(name)!r}{hint}")

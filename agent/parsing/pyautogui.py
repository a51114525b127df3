"""OpenCUA replies: pyautogui calls in a ```python block, read as data and never run.

OpenCUA writes `## Thought:` / `## Action:` / `## Code:` sections and puts its actions in a fenced Python
block (docs/model-formats.md, "Fine-tunes"): `pyautogui.click(x=1443, y=343)`, doubleClick, moveTo,
dragTo, write(message=..), press, hotkey, scroll, and its own `computer.triple_click(x=, y=)` and
`computer.terminate(status=..)`. The code is read with Python's own parser (`ast.parse`, which only builds a
tree) and every statement must be one of these calls with literal arguments; anything else (a name, an
expression, an import, a loop) is an error naming it. Nothing here is ever executed.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from typing import Any

from agent.errors import ParseError
from agent.parsing.common import (
    Proposal,
    ProposedClick,
    ProposedDrag,
    ProposedFinish,
    ProposedHotkey,
    ProposedMove,
    ProposedScroll,
    ProposedType,
    ProposedWait,
    quote,
    to_number,
)
from sandbox.actions import Button, Direction

_FENCE = re.compile(r"```(?:python|py)?[ \t]*\n?(.*?)```", re.S)
_SECTION = re.compile(r"^##\s*(Thought|Action|Observation|Code)\s*:?\s*$", re.M | re.I)
_CLICKS: dict[str, tuple[Button, int]] = {
    "click": ("left", 1),
    "leftClick": ("left", 1),
    "rightClick": ("right", 1),
    "middleClick": ("middle", 1),
    "doubleClick": ("left", 2),
    "tripleClick": ("left", 3),
    "triple_click": ("left", 3),
}
_BUTTONS: dict[str, Button] = {"left": "left", "right": "right", "middle": "middle"}


def parse(text: str) -> tuple[str | None, list[Proposal]]:
    """Prose (for the thought) and proposals in model space. Raises ParseError."""
    blocks = list(_FENCE.finditer(text))
    if blocks:
        code = "\n".join(m.group(1) for m in blocks)
        prose = _FENCE.sub("", text)
    elif re.search(r"^\s*(?:pyautogui|computer)\.", text, re.M):  # a bare call without a fence
        lines = text.splitlines()
        code = "\n".join(line for line in lines if re.match(r"\s*(?:pyautogui|computer)\.", line))
        prose = "\n".join(line for line in lines if not re.match(r"\s*(?:pyautogui|computer)\.", line))
    else:
        raise ParseError(f"no pyautogui code found in {quote(text)}")
    proposals = [p for statement in _statements(code) for p in _call_to_proposals(*statement)]
    if not proposals:
        raise ParseError(f"the code block holds no action in {quote(text)}")
    return _thought(prose), proposals


def _statements(code: str) -> list[tuple[str, list[Any], dict[str, Any], str]]:
    """(function, positional values, keyword values, source) for each statement, or ParseError."""
    try:
        tree = ast.parse(code.strip() + "\n", mode="exec")
    except (SyntaxError, ValueError, MemoryError) as exc:
        detail = exc.msg if isinstance(exc, SyntaxError) else str(exc) or type(exc).__name__
        raise ParseError(f"the code is not valid Python ({detail}): {quote(code)}") from None
    statements = []
    for node in tree.body:
        source = ast.get_source_segment(code.strip() + "\n", node) or ""
        if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)):
            raise ParseError(f"only pyautogui calls are read, not {quote(source)}")
        call = node.value
        func = call.func
        if not (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id in ("pyautogui", "computer")
        ):
            raise ParseError(f"only pyautogui.* and computer.* calls are read, not {quote(source)}")
        if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
            raise ParseError(f"*args and **kwargs are not read in {quote(source)}")
        positional = [_literal(a, source) for a in call.args]
        keywords: dict[str, Any] = {}
        for keyword in call.keywords:
            if keyword.arg in keywords:  # Python's compiler refuses this; its parser lets it through
                raise ParseError(f"the argument {keyword.arg!r} is given twice in {quote(source)}")
            keywords[str(keyword.arg)] = _literal(keyword.value, source)
        statements.append((f"{func.value.id}.{func.attr}", positional, keywords, source))
    return statements


def _literal(node: ast.expr, source: str) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError):
        raise ParseError(f"arguments must be literal values in {quote(source)}") from None


class _Arguments:
    """A call's arguments by name or position, each taken once."""

    def __init__(self, names: tuple[str, ...], positional: list[Any], keywords: dict[str, Any], source: str):
        if len(positional) > len(names):
            raise ParseError(f"too many arguments in {quote(source)}")
        self.values = dict(zip(names, positional))
        for key, value in keywords.items():
            if key not in names:
                raise ParseError(f"unknown argument {key!r} in {quote(source)}")
            if key in self.values:
                raise ParseError(f"the argument {key!r} is given twice in {quote(source)}")
            self.values[key] = value
        self.source = source

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)

    def point(self) -> tuple[float, float]:
        x, y = self.values.get("x"), self.values.get("y")
        if x is None or y is None:
            raise ParseError(f"x and y are needed in {quote(self.source)}")
        return to_number(x, "x", self.source), to_number(y, "y", self.source)

    def number(self, name: str, default: float | None = None) -> float:
        value = self.values.get(name, default)
        if value is None:
            raise ParseError(f"{name} is needed in {quote(self.source)}")
        return to_number(value, name, self.source)

    def whole(self, name: str, default: int | None = None) -> int:
        """A count (clicks, presses): a whole number, never a fraction rounded into one."""
        number = self.number(name, default)
        if not number.is_integer():
            raise ParseError(f"{name} must be a whole number, got {self.values[name]!r} in {quote(self.source)}")
        return int(number)


def _click(function: str, args: _Arguments) -> list[Proposal]:
    button, count = _CLICKS[function.split(".", 1)[1]]
    if function == "pyautogui.click":
        written = args.get("button", "left")
        if written not in _BUTTONS:
            raise ParseError(f"button must be left, right or middle, got {written!r} in {quote(args.source)}")
        button = _BUTTONS[written]
        count = args.whole("clicks", 1)
        if count not in (1, 2, 3):
            raise ParseError(f"clicks must be 1, 2 or 3 in {quote(args.source)}")
    return [ProposedClick(source=args.source, point=args.point(), button=button, count=count)]


def _scroll(function: str, args: _Arguments) -> list[Proposal]:
    clicks = args.whole("clicks")
    if clicks == 0:
        raise ParseError(f"scroll needs a non-zero clicks in {quote(args.source)}")
    direction: Direction
    if function == "pyautogui.hscroll":
        direction = "right" if clicks > 0 else "left"
    else:
        direction = "up" if clicks > 0 else "down"
    point = args.point() if args.get("x") is not None or args.get("y") is not None else None
    return [ProposedScroll(source=args.source, point=point, direction=direction, amount=abs(clicks))]


def _type(args: _Arguments) -> list[Proposal]:
    text = args.get("message")
    if not isinstance(text, str) or text == "":
        raise ParseError(f"write needs a non-empty message text in {quote(args.source)}")
    return [ProposedType(source=args.source, text=text)]


def _keys(value: Any, source: str) -> tuple[str, ...]:
    if isinstance(value, str) and value:  # one key name, as pyautogui takes it ("+" is the plus key)
        return (value,)
    if isinstance(value, (list, tuple)) and value and all(isinstance(k, str) and k for k in value):
        return tuple(value)
    raise ParseError(f"keys must be a key name or a list of key names in {quote(source)}")


def _press(args: _Arguments) -> list[Proposal]:
    presses = args.whole("presses", 1)
    if not 1 <= presses <= 20:
        raise ParseError(f"presses must be 1 to 20 in {quote(args.source)}")
    keys = _keys(args.get("keys"), args.source)
    # press(["tab", "tab"]) presses each key in turn; press("enter", presses=2) presses it twice
    return [ProposedHotkey(source=args.source, keys=(key,)) for key in keys for _ in range(presses)]


def _hotkey(positional: list[Any], keywords: dict[str, Any], source: str) -> list[Proposal]:
    if keywords and set(keywords) != {"keys"} or keywords and positional:
        raise ParseError(f"hotkey takes key names, or keys=[...], in {quote(source)}")
    keys = _keys(keywords["keys"], source) if keywords else _keys(positional, source)
    return [ProposedHotkey(source=source, keys=keys)]


def _terminate(args: _Arguments) -> list[Proposal]:
    status = args.get("status", "success")
    if status not in ("success", "failure"):
        raise ParseError(f"terminate status must be success or failure, got {status!r} in {quote(args.source)}")
    return [ProposedFinish(source=args.source, status=status, answer=args.get("answer"))]


_POINT_ARGS = ("x", "y")
_HANDLERS: dict[str, tuple[tuple[str, ...], Callable[[str, _Arguments], list[Proposal]]]] = {
    "pyautogui.click": (("x", "y", "clicks", "interval", "button", "duration"), _click),
    "pyautogui.leftClick": (_POINT_ARGS, _click),
    "pyautogui.rightClick": (_POINT_ARGS, _click),
    "pyautogui.middleClick": (_POINT_ARGS, _click),
    "pyautogui.doubleClick": (_POINT_ARGS, _click),
    "pyautogui.tripleClick": (_POINT_ARGS, _click),
    "computer.triple_click": (_POINT_ARGS, _click),
    "pyautogui.moveTo": (
        ("x", "y", "duration"),
        lambda f, a: [ProposedMove(source=a.source, point=a.point())],
    ),
    "pyautogui.dragTo": (  # from where the pointer is to (x, y)
        ("x", "y", "duration", "button"),
        lambda f, a: [ProposedDrag(source=a.source, start=None, end=a.point())],
    ),
    "pyautogui.scroll": (("clicks", "x", "y"), _scroll),
    "pyautogui.hscroll": (("clicks", "x", "y"), _scroll),
    "pyautogui.write": (("message", "interval"), lambda f, a: _type(a)),
    "pyautogui.typewrite": (("message", "interval"), lambda f, a: _type(a)),
    "pyautogui.press": (("keys", "presses", "interval"), lambda f, a: _press(a)),
    "computer.terminate": (("status", "answer"), lambda f, a: _terminate(a)),
    "computer.wait": (
        ("seconds",),
        lambda f, a: [ProposedWait(source=a.source, seconds=a.number("seconds", 1))],
    ),
}


def _call_to_proposals(function: str, positional: list[Any], keywords: dict[str, Any], source: str) -> list[Proposal]:
    if function == "pyautogui.hotkey":
        return _hotkey(positional, keywords, source)
    if function not in _HANDLERS:
        raise ParseError(f"unknown function {function!r} in {quote(source)}")
    names, handler = _HANDLERS[function]
    if function == "pyautogui.dragTo" and keywords.get("button", "left") != "left":
        raise ParseError(f"only left-button drags are made, in {quote(source)}")
    return handler(function, _Arguments(names, positional, keywords, source))


def _thought(prose: str) -> str | None:
    """The `## Thought:` section (else `## Action:`, else all prose), without the section headings."""
    sections: dict[str, str] = {}
    matches = list(_SECTION.finditer(prose))
    for n, match in enumerate(matches):
        end = matches[n + 1].start() if n + 1 < len(matches) else len(prose)
        sections[match.group(1).lower()] = prose[match.end() : end].strip()
    text = sections.get("thought") or sections.get("action") or _SECTION.sub("", prose).strip()
    return text or None

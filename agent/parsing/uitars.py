"""UI-TARS (v1.0 and 1.5) replies: `Thought: ...` then `Action: call(arg='...')`.

The calls are read by a small tokenizer, never by eval. Accepted variants (docs/model-formats.md §3, §6):
`Reflection:`/`Action_Summary:` headers, a full-width `Action：`, `Action:` on the thought's line, several
`Action:` sections or calls (each becomes an action, in order), box values as `(x,y)`, `[x,y]`,
`x, y, x, y`, `<|box_start|>(x,y)<|box_end|>`, `<bbox>x1 y1 x2 y2</bbox>`, `<point>x y</point>` (a box
clicks its centre), `point=`/`start_point=`/`end_point=` as names for `start_box`/`end_box`.
"""

from __future__ import annotations

import re

from agent.errors import ParseError
from agent.parsing.common import (
    NUMBER_RE,
    Point,
    Proposal,
    ProposedClick,
    ProposedDrag,
    ProposedFinish,
    ProposedHotkey,
    ProposedMove,
    ProposedScroll,
    ProposedWait,
    box_centre,
    quote,
    type_then_enter,
)
from sandbox.actions import Button, Direction
from sandbox.keys import split_combo

_ACTION_LABEL = re.compile(r"(?<![A-Za-z_])Action\s*[:：]")
_HEADERS = re.compile(r"(?:^|\n)\s*(Thought|Reflection|Action_Summary)\s*[:：]", re.S)
_BOX_TOKENS = re.compile(r"<\|box_start\|>|<\|box_end\|>|</?bbox>|</?point>")
_BOX_TEXT = re.compile(r"[\s()\[\],\d.+-]*")
_ARG_ALIASES = {"point": "start_box", "start_point": "start_box", "end_point": "end_box"}
SCROLL_NOTCHES = 5  # UI-TARS' reference executor scrolls 5 notches per scroll action
WAIT_S = 5.0  # UI-TARS' wait() means five seconds
_MOBILE = ("long_press", "open_app", "press_home", "press_back")
_DIRECTIONS: dict[str, Direction] = {"up": "up", "down": "down", "left": "left", "right": "right"}


def parse(text: str) -> tuple[str | None, list[Proposal]]:
    labels = list(_ACTION_LABEL.finditer(text))
    if labels:
        thought_text = text[: labels[0].start()]
        sections = [
            text[m.end() : (labels[i + 1].start() if i + 1 < len(labels) else len(text))] for i, m in enumerate(labels)
        ]
    elif re.match(r"\s*[A-Za-z_]\w*\s*\(", text):  # grounding prompts: a bare call, no "Action:" label
        thought_text, sections = "", [text]
    else:
        raise ParseError(f"no 'Action:' in {quote(text)}")
    proposals: list[Proposal] = []
    for section in sections:
        calls = _calls(section)
        if not calls:
            raise ParseError(f"no action call after 'Action:' in {quote(section or text)}")
        for name, args, source in calls:
            proposals.extend(_to_proposals(name, args, source))
    return _thought(thought_text), proposals


def _thought(text: str) -> str | None:
    parts = _HEADERS.split(text)
    if len(parts) == 1:
        return text.strip() or None
    pieces = [parts[0].strip()] + [parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)]
    return "\n".join(p for p in pieces if p) or None


def _calls(section: str) -> list[tuple[str, dict[str, str], str]]:
    """Every `name(key='value', ...)` in a section; anything else but whitespace is an error."""
    calls: list[tuple[str, dict[str, str], str]] = []
    text, i = section, 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return calls
        match = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(").match(text, i)
        if not match:
            raise ParseError(f"expected an action call like click(start_box='(x,y)') at {quote(text[i:])}")
        start, i = i, match.end()
        args: dict[str, str] = {}
        while True:
            while i < len(text) and text[i] in " \t\r\n,":
                i += 1
            if i < len(text) and text[i] == ")":
                i += 1
                break
            key = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*=\s*").match(text, i)
            if not key or key.end() >= len(text) or text[key.end()] not in "'\"":
                raise ParseError(f"malformed arguments in {quote(text[start:])}")
            value, i = _read_string(text, key.end(), start)
            name = _ARG_ALIASES.get(key.group(1), key.group(1))
            if name in args:
                raise ParseError(f"the argument {name!r} is given twice in {quote(text[start:i])}")
            args[name] = value
        calls.append((match.group(1), args, text[start:i]))


def _read_string(text: str, i: int, call_start: int) -> tuple[str, int]:
    """A Python-style quoted string starting at text[i]; returns (value, index after the quote)."""
    quote_char, i, out = text[i], i + 1, []
    escapes = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"'}
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt in escapes:
                out.append(escapes[nxt])
                i += 2
                continue
            if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", text[i + 2 : i + 6]):
                out.append(chr(int(text[i + 2 : i + 6], 16)))
                i += 6
                continue
        if char == quote_char:
            return "".join(out), i + 1
        out.append(char)
        i += 1
    raise ParseError(f"unterminated string in {quote(text[call_start:])}")


def _box(value: str, what: str, source: str) -> tuple[Point, tuple[float, float, float, float] | None]:
    inner = _BOX_TOKENS.sub(" ", value)
    numbers = NUMBER_RE.findall(inner)
    if not _BOX_TEXT.fullmatch(inner) or len(numbers) not in (2, 4):
        raise ParseError(f"{what} must hold a point (x,y) or a box (x1,y1,x2,y2), got {value!r} in {quote(source)}")
    values = [float(n) for n in numbers]
    if len(values) == 2:
        return (values[0], values[1]), None
    box = (values[0], values[1], values[2], values[3])
    return box_centre(box), box


def _to_proposals(name: str, args: dict[str, str], source: str) -> list[Proposal]:
    def need(key: str) -> str:
        if key not in args:
            raise ParseError(f"{name} needs {key} in {quote(source)}")
        return args[key]

    clicks: dict[str, tuple[Button, int]] = {
        "click": ("left", 1),
        "left_single": ("left", 1),
        "left_double": ("left", 2),
        "right_single": ("right", 1),
        "middle_single": ("middle", 1),
    }
    if name in clicks:
        point, box = _box(need("start_box"), "start_box", source)
        button, count = clicks[name]
        return [ProposedClick(source=source, point=point, button=button, count=count, box=box)]
    if name == "hover":
        point, box = _box(need("start_box"), "start_box", source)
        return [ProposedMove(source=source, point=point, box=box)]
    if name in ("drag", "select"):
        start, _ = _box(need("start_box"), "start_box", source)
        end, _ = _box(need("end_box"), "end_box", source)
        return [ProposedDrag(source=source, start=start, end=end)]
    if name in ("hotkey", "press"):
        keys = split_combo(need("key"))
        return [ProposedHotkey(source=source, keys=tuple(keys))]
    if name == "type":
        return type_then_enter(need("content"), source)
    if name == "scroll":
        written = need("direction").strip().lower()
        direction = _DIRECTIONS.get(written)
        if direction is None:
            raise ParseError(f"scroll direction must be up, down, left or right, got {written!r} in {quote(source)}")
        at = _box(args["start_box"], "start_box", source)[0] if "start_box" in args else None
        return [ProposedScroll(source=source, point=at, direction=direction, amount=SCROLL_NOTCHES)]
    if name == "wait":
        return [ProposedWait(source=source, seconds=WAIT_S)]
    if name == "finished":
        answer = args.get("content") or None
        return [ProposedFinish(source=source, status="success", answer=answer)]
    if name == "call_user":
        return [ProposedFinish(source=source, status="failure", answer="the model asked for the user's help")]
    if name in _MOBILE:
        raise ParseError(f"{name} is a phone action with no desktop equivalent in {quote(source)}")
    raise ParseError(f"unknown action {name!r} in {quote(source)}")

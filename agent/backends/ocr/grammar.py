"""Literal tasks for the OCR backend: "click Save then type hello into Name" -> a Plan of steps.

No OCR here, only text. The grammar is small on purpose: a task that is not literal gets `NeedsModel`,
a value saying which part could not be read, never a guess. Parts are joined by "then", "and then",
",", ";", a newline, "然后", "，" or "；" (outside quotes); " and " also joins when a verb follows it.

    click X | double-click X | right-click X | middle-click X | triple-click X   ("click on the X button")
        [in [the] TITLE [window]]   (in the window with that title: "click File in Mousepad")
    type TEXT [into|in FIELD] [and press enter] | enter/input TEXT into FIELD | fill FIELD with TEXT
    append TEXT to FIELD | add TEXT to the end of FIELD
    press KEYS (ctrl+s, enter, Ctrl+Shift+T) | scroll up|down|left|right [N] [on|in|over X] | wait [N [s]]
    点击X | 单击X | 双击X | 右击X | 右键点击X | 在Y(中)输入X | 输入X到Y | 输入X | 按(下)X | 向下滚动[N] | 等待N秒

"type TEXT into FIELD", "fill FIELD with TEXT" (and 在Y输入X) replace what the field holds: it shows exactly TEXT
afterwards. "append TEXT to FIELD" adds TEXT to the end of what it holds. "type TEXT" without a field types
where the keyboard focus is. The words say which, as a person would read them.

A click's target may end with the window it is in: "in the "Untitled 1" window" and a quoted title are surely a
window; a bare "in Y" may be part of the text ("click Log in to account"), so the whole text is kept to look for
when no window is titled Y. A field names its window only with the word: "type X into F in the Save As window"
("type X in Y" types into field Y).

Quotes ('…', "…", “…”, ‘…’, 「…」, 『…』) make a target or a text literal: no noise words are removed inside
them and they may hold separators. A trailing ".", "。" or "!" of an unquoted part is punctuation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Literal

from sandbox.actions import Button, Direction
from sandbox.errors import KeyNameError
from sandbox.keys import normalize_combo, split_combo

DEFAULT_SCROLL_NOTCHES = 5
DEFAULT_WAIT_S = 1.0
MAX_WAIT_S = 3600.0
EXAMPLES = (
    "click Save",
    'double-click "My Documents"',
    "type hello into Name and press enter",
    "append ' Jr.' to Name",
    "press ctrl+s",
    "scroll down 3",
    "wait 2 s",
    "点击 保存",
)


@dataclass(frozen=True, slots=True)
class ClickStep:
    target: str
    button: Button = "left"
    count: int = 1
    window: str | None = None  # in the window with this title ("click File in Mousepad"); None: any window
    # the target and the window as one text ("Log in to account"): looked for instead when no window has the title
    whole: str | None = None
    kind: Literal["click"] = "click"

    def describe(self) -> str:
        how = {1: "Click", 2: "Double-click", 3: "Triple-click"}[self.count]
        if self.button != "left":
            how = f"{self.button.capitalize()}-click"
        return f"{how} '{self.target}'{_in_window(self.window)}"


@dataclass(frozen=True, slots=True)
class TypeInto:
    text: str
    field: str | None = None  # None: type into whatever has the focus
    submit: bool = False  # press enter afterwards
    append: bool = False  # add to the end of what the field holds; False: replace it (a field only)
    window: str | None = None  # the field is in the window with this title ("... in the Save As window")
    kind: Literal["type"] = "type"

    def describe(self) -> str:
        enter = " and press enter" if self.submit else ""
        if self.append:
            where = f" to the end of '{self.field}'{_in_window(self.window)}" if self.field is not None else ""
            return f"Append {self.text!r}{where}{enter}"
        where = f" into '{self.field}'{_in_window(self.window)}" if self.field is not None else ""
        return f"Type {self.text!r}{where}{enter}"


def _in_window(title: str | None) -> str:
    return f" in the '{title}' window" if title is not None else ""


@dataclass(frozen=True, slots=True)
class Press:
    keys: tuple[str, ...]  # normalised (sandbox.keys), modifiers first
    kind: Literal["press"] = "press"

    def describe(self) -> str:
        return f"Press {'+'.join(self.keys)}"


@dataclass(frozen=True, slots=True)
class ScrollStep:
    direction: Direction
    amount: int = DEFAULT_SCROLL_NOTCHES  # wheel notches
    target: str | None = None  # scroll over this text; None: where the pointer is
    kind: Literal["scroll"] = "scroll"

    def describe(self) -> str:
        where = f" over '{self.target}'" if self.target is not None else ""
        return f"Scroll {self.direction} {self.amount}{where}"


@dataclass(frozen=True, slots=True)
class WaitStep:
    seconds: float
    kind: Literal["wait"] = "wait"

    def describe(self) -> str:
        return f"Wait {self.seconds:g} s"


Step = ClickStep | TypeInto | Press | ScrollStep | WaitStep


@dataclass(frozen=True, slots=True)
class Plan:
    steps: tuple[Step, ...]


@dataclass(frozen=True, slots=True)
class NeedsModel:
    """The task (or one part of it) is not a literal step: it needs a vision-language model."""

    reason: str
    part: str


_QUOTES = {'"': '"', "'": "'", "“": "”", "‘": "’", "「": "」", "『": "』", "＂": "＂"}
_VERBS = r"(?:(?:double|right|middle|triple|left)[- ]?)?click|type|press|hit|scroll|wait|fill|append"
_SEPARATOR = re.compile(  # a comma between digits (1,000) is not a separator
    r"\s*(?:(?:,\s*)?(?:\band\s+)?\bthen\b|(?<!\d),|,(?!\d)|;|\n|，\s*然后|；|，|然后)\s*"
    rf"|\s+and\s+(?=(?:{_VERBS})\b)",
    re.I,
)
_POLITE = re.compile(r"^(?:please\s+|pls\s+|请)", re.I)
_END_PUNCT = ".。!！"
_CLICK = re.compile(r"^(?:(double|right|middle|triple|left)[- ]?)?click\s+(.+)$", re.I | re.S)
_CLICK_COUNT = {"double": 2, "triple": 3}
_TYPE = re.compile(r"^(?:type|enter|input)\s+(.+)$", re.I | re.S)
_FILL_HEAD = re.compile(r"^fill(?:\s+in|\s+out)?\s+", re.I)
_FILL = re.compile(r"^(.+?)\s+with\s+(.+)$", re.I | re.S)
_APPEND = re.compile(r"^(?:append|add)\s+(.+)$", re.I | re.S)
_TO_END = re.compile(r"\s+to\s+(?:the\s+end\s+of\s+)", re.I)
_TO = re.compile(r"\s+to\s+(?:the\s+end\s+of\s+)?", re.I)
_SUBMIT = re.compile(r"\s+(?:and\s+)?(?:press|hit)\s+(?:the\s+)?(?:enter|return)(?:\s+key)?$", re.I)
_PRESS = re.compile(r"^(?:press|hit)\s+(?:the\s+)?(.+?)(?:\s+keys?)?$", re.I | re.S)
_SCROLL = re.compile(
    r"^scroll\s+(up|down|left|right)(?:\s+by)?(?:\s+(\d+))?"
    r"(?:\s+(?:notches|notch|times|clicks|steps|lines))?(?:\s+(?:the\s+)?page)?"
    r"(?:\s+(?:on|in|over|at)\s+(.+))?$",
    re.I | re.S,
)
_WAIT = re.compile(r"^wait(?:\s+for)?(?:\s+(\d+(?:\.\d+)?)\s*(?:s|secs?|seconds?)?)?$", re.I)
_ZH_CLICK = re.compile(r"^(双击|右键点击|右键单击|右击|左键点击|左键单击|点击|单击)\s*(.+)$", re.S)
_ZH_TYPE_IN = re.compile(r"^在\s*(.+?)\s*(?:中|里|内)?\s*输入\s*(.+)$", re.S)
_ZH_TYPE_TO = re.compile(r"^输入\s*(.+?)\s*到\s*(.+?)\s*(?:中|里|内)?$", re.S)
_ZH_TYPE = re.compile(r"^输入\s*(.+)$", re.S)
_ZH_PRESS = re.compile(r"^按下?\s*(.+?)\s*键?$", re.S)
_ZH_SCROLL = re.compile(r"^向(上|下|左|右)滚动\s*(?:(\d+)\s*(?:次|格|下)?)?$")
_ZH_WAIT = re.compile(r"^等待?\s*(\d+(?:\.\d+)?)\s*秒钟?$")
_ZH_DIRECTIONS: dict[str, Direction] = {"上": "up", "下": "down", "左": "left", "右": "right"}
_ZH_KEYS = {
    "回车": "enter",
    "回车键": "enter",
    "空格": "space",
    "空格键": "space",
    "退格": "backspace",
    "退格键": "backspace",
    "删除": "delete",
    "删除键": "delete",
    "制表": "tab",
    "制表键": "tab",
    "退出": "esc",
    "退出键": "esc",
}


def parse_task(task: str) -> Plan | NeedsModel:
    """The plan for a literal task, or NeedsModel naming the part that is not literal."""
    parts = split_parts(task)
    if not parts:
        return NeedsModel(_reason("the task is empty"), task)
    steps: list[Step] = []
    for part in parts:
        step = parse_step(part)
        if isinstance(step, NeedsModel):
            return step
        if (
            isinstance(step, Press)
            and step.keys == ("enter",)
            and steps
            and isinstance(steps[-1], TypeInto)
            and not steps[-1].submit
        ):
            steps[-1] = replace(steps[-1], submit=True)
            continue
        steps.append(step)
    return Plan(tuple(steps))


def split_parts(task: str) -> list[str]:
    """The parts of a task, split at separators outside quotes; empty parts dropped."""
    parts, current, index = [], [], 0
    text = task.strip()
    while index < len(text):
        end = _quote_end(text, index)
        if end is not None:
            current.append(text[index : end + 1])
            index = end + 1
            continue
        separator = _SEPARATOR.match(text, index)
        if separator and separator.end() > index:
            parts.append("".join(current))
            current, index = [], separator.end()
            continue
        current.append(text[index])
        index += 1
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def parse_step(part: str) -> Step | NeedsModel:
    """One part of a task as a step, or NeedsModel."""
    text = _POLITE.sub("", part.strip()).strip()
    if text and text[-1] in _END_PUNCT and _unquote(text) is None:
        text = text.rstrip(_END_PUNCT).rstrip()
    readers = (_read_click, _read_fill, _read_type, _read_append, _read_press, _read_scroll, _read_wait, _read_chinese)
    for reader in readers:
        step = reader(text)
        if step is not None:
            return step
    return NeedsModel(_reason(f"'{part.strip()}' is not a literal step"), part)


def _reason(what: str) -> str:
    return (
        f"{what}. Without a vision-language model deskpilot only follows literal instructions, e.g. "
        + "; ".join(EXAMPLES)
        + " ('type X into F' and 'fill F with X' replace what F holds, 'append X to F' adds to its end)"
        + ". Use --backend transformers or openai for this task."
    )


def _read_click(text: str) -> Step | NeedsModel | None:
    match = _CLICK.match(text)
    if not match:
        return None
    kind = (match.group(1) or "left").lower()
    named, window, definite = _window_suffix(match.group(2))
    target = _target(named, suffixes=("button",))
    if not target:
        return NeedsModel(_reason(f"'{text}' names nothing to click"), text)
    button: Button = "right" if kind == "right" else "middle" if kind == "middle" else "left"
    whole = _target(match.group(2), suffixes=("button",)) if window is not None and not definite else None
    return ClickStep(target, button, _CLICK_COUNT.get(kind, 1), window, whole)


_IN = re.compile(r"\s+in\s+", re.I)
_TITLE = re.compile(r"^(?:the\s+)?(.+?)(\s+window)?$", re.I | re.S)


def _window_suffix(raw: str, *, worded: bool = False) -> tuple[str, str | None, bool]:
    """(what is left, the window's title or None, whether the title is surely one) of a target or field ending
    in `in [the] TITLE [window]` (the last ' in ' outside quotes). The title is sure when the word 'window'
    follows it or it is quoted; `worded`: only then is it taken ("type X in Y" names field Y)."""
    spots = [m for m in _IN.finditer(raw) if not _inside_quotes(raw, m.start())]
    if not spots:
        return raw, None, False
    head, tail = raw[: spots[-1].start()].strip(), raw[spots[-1].end() :].strip()
    named = _TITLE.match(tail)
    if not head or named is None:
        return raw, None, False
    title, has_word = named.group(1).strip(), named.group(2) is not None
    quoted = _unquote(title)
    sure = has_word or quoted is not None
    title = quoted if quoted is not None else title
    if not title or (worded and not has_word):
        return raw, None, False
    return head, title, sure


def _read_fill(text: str) -> Step | None:
    head = _FILL_HEAD.match(text)
    if not head:
        return None
    rest = text[head.end() :]
    end = _quote_end(rest, 0) if rest else None  # a quoted field may hold " with "
    if end is not None and (match := re.match(r"\s+with\s+(.+)$", rest[end + 1 :], re.I | re.S)):
        field, value = rest[1:end], _literal(match.group(1))
    elif match := _FILL.match(rest):
        named, window, _ = _window_suffix(match.group(1), worded=True)  # "fill F in the Y window with X"
        field, value = _target(named, suffixes=_FIELD_NOISE), _literal(match.group(2))
        return TypeInto(value, field, window=window) if field and value else None
    else:
        return None
    return TypeInto(value, field) if field and value else None


_FIELD_NOISE = ("field", "box", "text box", "textbox", "input", "text field")


def _read_type(text: str) -> Step | NeedsModel | None:
    match = _TYPE.match(text)
    if not match:
        return None
    rest, submit = match.group(1).strip(), False
    submitted = _SUBMIT.search(rest)
    if submitted and not _inside_quotes(rest, submitted.start()):
        rest, submit = rest[: submitted.start()].strip(), True
    value, field = _split_into(rest)
    named, window, _ = _window_suffix(rest, worded=True)  # "type X into F in the Y window"
    if window is not None and field is not None and _split_into(named)[1]:
        value, field = _split_into(named)
    else:
        window = None
    verb = text.split(None, 1)[0].lower()
    if verb != "type" and field is None:
        return None  # "enter your name": not literal enough without a field
    if not value:
        return NeedsModel(_reason(f"'{text}' has no text to type"), text)
    if field is not None and not field:
        return NeedsModel(_reason(f"'{text}' names no field to type into"), text)
    return TypeInto(value, field, submit, window=window)


def _read_append(text: str) -> Step | NeedsModel | None:
    """'append TEXT to FIELD' or 'add TEXT to the end of FIELD' (a bare 'add X to Y' may mean anything)."""
    match = _APPEND.match(text)
    if not match:
        return None
    verb = text.split(None, 1)[0].lower()
    rest, submit = match.group(1).strip(), False
    submitted = _SUBMIT.search(rest)
    if submitted and not _inside_quotes(rest, submitted.start()):
        rest, submit = rest[: submitted.start()].strip(), True
    rest, window, _ = _window_suffix(rest, worded=True)  # "append X to F in the Y window"
    value, field = _split_to(rest, _TO if verb == "append" else _TO_END)
    if field is None:
        return None if verb == "add" else NeedsModel(_reason(f"'{text}' names no field to append to"), text)
    if not value:
        return NeedsModel(_reason(f"'{text}' has no text to append"), text)
    if not field:
        return NeedsModel(_reason(f"'{text}' names no field to append to"), text)
    return TypeInto(value, field, submit, append=True, window=window)


def _split_to(rest: str, to: re.Pattern[str]) -> tuple[str, str | None]:
    """(text, field) of 'TEXT to [the end of] FIELD': a quoted TEXT is taken literally, else the last ' to '."""
    end = _quote_end(rest, 0) if rest else None
    if end is not None:
        tail = to.match(rest, end + 1)
        if tail:
            return rest[1:end], _target(rest[tail.end() :], suffixes=_FIELD_NOISE)
    spots = [m for m in to.finditer(rest) if not _inside_quotes(rest, m.start())]
    if not spots:
        return rest, None
    return _literal(rest[: spots[-1].start()]), _target(rest[spots[-1].end() :], suffixes=_FIELD_NOISE)


def _split_into(rest: str) -> tuple[str, str | None]:
    """(text, field) of 'TEXT into FIELD' / 'TEXT in FIELD'; a quoted TEXT is taken literally."""
    end = _quote_end(rest, 0) if rest else None
    if end is not None:
        after = rest[end + 1 :].strip()
        tail = re.match(r"^(?:into|in|to)\s+(.+)$", after, re.I | re.S)
        if tail:
            return rest[1:end], _target(tail.group(1), suffixes=_FIELD_NOISE)
        if not after:
            return rest[1:end], None
    into = re.search(r"\s+into\s+", rest, re.I)
    if into is None:
        spots = list(re.finditer(r"\s+in\s+", rest, re.I))
        into = spots[-1] if spots else None
    if into is None:
        return rest, None
    return _literal(rest[: into.start()]), _target(rest[into.end() :], suffixes=_FIELD_NOISE)


def _read_press(text: str) -> Step | NeedsModel | None:
    match = _PRESS.match(text)
    if not match:
        return None
    keys = _keys(match.group(1))
    if keys is not None:
        return Press(keys)
    if re.search(r"\s+button$", match.group(1), re.I):  # "press the Save button" is a click
        target = _target(match.group(1), suffixes=("button",))
        if target:
            return ClickStep(target)
    what = f"'{match.group(1)}' in '{text}' is not a key (e.g. enter, ctrl+s, alt+f4)"
    return NeedsModel(_reason(what), text)


def _keys(combo: str) -> tuple[str, ...] | None:
    try:
        return normalize_combo(split_combo(_ZH_KEYS.get(combo.strip(), combo.strip())))
    except KeyNameError:
        return None


def _read_scroll(text: str) -> Step | None:
    match = _SCROLL.match(text)
    if not match:
        return None
    direction = match.group(1).lower()
    amount = int(match.group(2)) if match.group(2) else DEFAULT_SCROLL_NOTCHES
    target = _target(match.group(3), suffixes=()) if match.group(3) else None
    if amount < 1 or (match.group(3) and not target):
        return None
    return ScrollStep(_DIRECTIONS[direction], amount, target)


_DIRECTIONS: dict[str, Direction] = {"up": "up", "down": "down", "left": "left", "right": "right"}


def _read_wait(text: str) -> Step | NeedsModel | None:
    match = _WAIT.match(text) or _ZH_WAIT.match(text)
    if not match:
        return None
    seconds = float(match.group(1)) if match.group(1) else DEFAULT_WAIT_S
    if not 0 < seconds <= MAX_WAIT_S:
        return NeedsModel(_reason(f"a wait of {seconds:g} s is not between 0 and {MAX_WAIT_S:g} s"), text)
    return WaitStep(seconds)


def _read_chinese(text: str) -> Step | NeedsModel | None:
    if match := _ZH_CLICK.match(text):
        verb, target = match.group(1), _target(match.group(2), suffixes=("按钮", "button"))
        if not target:
            return None
        if verb == "双击":
            return ClickStep(target, "left", 2)
        return ClickStep(target, "right" if verb.startswith("右") else "left", 1)
    if match := (_ZH_TYPE_IN.match(text)):
        value, field = _literal(match.group(2)), _target(match.group(1), suffixes=("输入框", "文本框", "框"))
        return TypeInto(value, field) if value and field else None
    if match := _ZH_TYPE_TO.match(text):
        value, field = _literal(match.group(1)), _target(match.group(2), suffixes=("输入框", "文本框", "框"))
        return TypeInto(value, field) if value and field else None
    if match := _ZH_TYPE.match(text):
        value = _literal(match.group(1))
        return TypeInto(value) if value else None
    if match := _ZH_SCROLL.match(text):
        amount = int(match.group(2)) if match.group(2) else DEFAULT_SCROLL_NOTCHES
        return ScrollStep(_ZH_DIRECTIONS[match.group(1)], amount) if amount >= 1 else None
    if (match := _ZH_PRESS.match(text)) and not text.startswith("按钮"):
        keys = _keys(match.group(1))
        if keys is None:
            return NeedsModel(_reason(f"'{match.group(1)}' in '{text}' is not a key (e.g. 回车, ctrl+s)"), text)
        return Press(keys)
    return None


def _target(raw: str, *, suffixes: tuple[str, ...]) -> str:
    """A click target or a field: leading 'on'/'the' and a trailing noise word go, unless quoted."""
    text = raw.strip()
    text = re.sub(r"^(?:on\s+)?(?:the\s+)?", "", text, flags=re.I).strip()
    for suffix in suffixes:
        # "the Save button" -> "Save"; a target that is only the noise word stays as it is
        stripped = re.sub(
            rf"\s*\b{re.escape(suffix)}$" if suffix.isascii() else rf"\s*{re.escape(suffix)}$", "", text, flags=re.I
        ).strip()
        if stripped and stripped != text:
            text = stripped
            break
    quoted = _unquote(text)
    return quoted if quoted is not None else text


def _literal(raw: str) -> str:
    """A text to type: the inside of quotes when the whole of it is quoted, else as written (trimmed)."""
    text = raw.strip()
    quoted = _unquote(text)
    return quoted if quoted is not None else text


def _unquote(text: str) -> str | None:
    """The inside of `text` when it is one quoted string, else None."""
    if len(text) >= 2 and _quote_end(text, 0) == len(text) - 1:
        return text[1:-1]
    return None


def _quote_end(text: str, index: int) -> int | None:
    """Index of the quote that closes the one opening at text[index], else None.

    An ASCII quote right after a letter or digit is an apostrophe (don't), and so is one right before
    a letter or digit when it would close: 'Don't Save' is one quoted string.
    """
    char = text[index]
    if char not in _QUOTES or (char in "'\"" and index > 0 and _word_char(text[index - 1])):
        return None
    closing = _QUOTES[char]
    end = text.find(closing, index + 1)
    while end != -1 and closing in "'\"" and end + 1 < len(text) and _word_char(text[end + 1]):
        end = text.find(closing, end + 1)
    return end if end > index else None


def _word_char(char: str) -> bool:
    return char.isascii() and char.isalnum()


def _inside_quotes(text: str, position: int) -> bool:
    index = 0
    while index < position:
        end = _quote_end(text, index)
        if end is not None:
            if end >= position:
                return True
            index = end + 1
            continue
        index += 1
    return False

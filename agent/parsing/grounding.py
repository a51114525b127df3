"""Qwen2.5-VL / Qwen3-VL grounding answers: a reply that only points is a left click there.

Accepted (docs/model-formats.md §1): JSON `bbox_2d`/`point_2d` objects or lists (in a ```json fence or
not, prose after it allowed; `bbox`/`point` keys too, as prompts rename them), a JSON object whose point is
under `coordinate` or `result` (a common custom schema, with an optional `thought`), a bare `[x, y]` or
`[x1, y1, x2, y2]`, `<points x1=".." y1=".." alt="..">text</points>`, and plain `x1,y1,x2,y2 label` lines.
An object with numeric `x` and `y` is a point too (Holo2's `{"x": 552, "y": 404}`).
`parse_point` reads the grounding-only fine-tunes (syntax "point-json": Holo2, UI-Venus-1.5): the above, plus
UI-Venus' `[x1,y1],[x2,y2]` box and its `[-1,-1]`, which means the model found no such element (the run
ends as a failure saying so, nothing is clicked); more points than that are an error, not the first one taken.
`parse_answer` reads a tool-call family's reply that has no `<tool_call>` (agent/parsing/toolcall.py), where
prose, or an action written without its wrapper, may hold an `[x, y]` that is no place to click: only a pure
grounding answer is taken (a JSON value at the start of the reply or in a fence, whose objects have no
`action`; a bare list, `<points>` or box lines with nothing around them).
Repairs (documented and tested): when the JSON is broken (a stray `{`), the `"bbox_2d": [..]` entries are
read one by one; stray spaces inside `< points ... >` tags are allowed.
"""

from __future__ import annotations

import json
import re
from typing import Any

from agent.errors import ParseError
from agent.parsing.common import (
    NUMBER_RE,
    STRICT_JSON,
    DuplicateKeyError,
    Proposal,
    ProposedClick,
    ProposedFinish,
    click_at,
    click_at_box,
    quote,
    to_number,
)

BOX_KEYS = ("bbox_2d", "bbox")
POINT_KEYS = ("point_2d", "point", "coordinate", "result")
_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.S)
_KEYED_LIST = re.compile(r'"(bbox_2d|bbox|point_2d|point)"\s*:\s*\[([^\[\]]*)\]')
_XML_POINTS = re.compile(r"<\s*points\b([^>]*)>(.*?)<\s*/\s*points\s*>", re.S)
_XML_ATTR = re.compile(r'([xy])(\d+)\s*=\s*"\s*(' + NUMBER_RE.pattern + r')\s*"')
_PLAIN_BOX = re.compile(r"^\s*(" + "\\s*,\\s*".join([NUMBER_RE.pattern] * 4) + r")(?:\s+(.*))?$", re.M)


_TWO_POINTS = re.compile(r"\[\s*(" + NUMBER_RE.pattern + r")\s*,\s*(" + NUMBER_RE.pattern + r")\s*\]")
_NOT_FOUND = re.compile(r"\[\s*-1(?:\.0*)?\s*,\s*-1(?:\.0*)?\s*\]")
NOT_FOUND_ANSWER = "the model found no such element on the screen"


def parse_point(text: str) -> tuple[str | None, list[Proposal]]:
    """A grounding-only reply: one point or box, or UI-Venus' [-1,-1] for "not there"."""
    stripped = text.strip()
    if _NOT_FOUND.fullmatch(stripped):
        return None, [ProposedFinish(source=stripped, status="failure", answer=NOT_FOUND_ANSWER)]
    pairs = list(_TWO_POINTS.finditer(stripped))
    if (
        len(pairs) == 2
        and re.fullmatch(r"\s*,?\s*", stripped[pairs[0].end() : pairs[1].start()])
        and (stripped[: pairs[0].start()].strip() == "" and stripped[pairs[1].end() :].strip() == "")
    ):  # UI-Venus' [x1,y1],[x2,y2]: a box given as two corners
        x1, y1 = (float(n) for n in pairs[0].groups())
        x2, y2 = (float(n) for n in pairs[1].groups())
        return None, [click_at_box((x1, y1, x2, y2), stripped)]
    if len(pairs) >= 2:  # more points than one answer holds: which one was meant is a guess
        raise ParseError(
            f"{len(pairs)} points where one point or one box [x1,y1],[x2,y2] was expected in {quote(stripped)}"
        )
    return parse(text)


def parse_answer(text: str) -> tuple[str | None, list[Proposal]]:
    """A reply of a tool-call family without `<tool_call>`: accepted only as a pure grounding answer (see the
    top; docs/CONTRACT.md), never as a click guessed from a reply that meant something else. A JSON value at
    the start of the reply or in a fence whose objects carry a point or box and no `action`; a bare list only
    on its own; `<points>` tags or `x1,y1,x2,y2 label` lines with nothing else around them."""
    stripped = text.strip()
    if not stripped:
        raise ParseError("empty reply")
    if "<function=" in stripped:
        raise ParseError(f"a tool call without <tool_call>: {quote(stripped)}")
    fenced = _FENCE.search(stripped)
    candidate = fenced.group(1).strip() if fenced else stripped
    around = (stripped[: fenced.start()] + stripped[fenced.end() :]).strip() if fenced else ""
    if candidate.startswith(("[", "{")):
        return _answer_json(candidate, alone=not around, whole=stripped)
    if fenced is None and _only(_XML_POINTS, stripped):
        return None, [p for m in _XML_POINTS.finditer(stripped) for p in _from_xml(m)]
    if fenced is None and _only(_PLAIN_BOX, stripped):
        return parse(stripped)
    if _TWO_POINTS.search(stripped) or _first_json(stripped) is not None:
        raise ParseError(
            "a point in prose is no answer (a tool call goes in <tool_call>...</tool_call>; a grounding answer "
            f"is a JSON value with bbox_2d or point_2d at the start of the reply): {quote(stripped)}"
        )
    raise ParseError(f"no tool call or grounding found in {quote(stripped)}")


def _answer_json(candidate: str, *, alone: bool, whole: str) -> tuple[str | None, list[Proposal]]:
    """`candidate` (the reply, or its fence's content) starts with a JSON value; `alone`: no prose outside the
    fence; `whole`: the reply, as error messages quote it."""
    try:
        value, end = STRICT_JSON.raw_decode(candidate)
    except DuplicateKeyError as exc:
        raise ParseError(f"the grounding JSON is not usable ({exc}): {quote(candidate)}") from None
    except json.JSONDecodeError:
        if re.search(r'"action"\s*:', candidate):
            raise ParseError(f"a tool call without <tool_call>: {quote(candidate)}") from None
        keyed = list(_KEYED_LIST.finditer(candidate))
        if not keyed:
            raise ParseError(f"the grounding JSON is not valid: {quote(candidate)}") from None
        return None, [_from_keyed(m.group(1), m.group(2), m.group(0)) for m in keyed]  # repair: see the top
    objects = value if isinstance(value, list) else [value]
    if any(isinstance(o, dict) and ("action" in o or {"name", "arguments"} <= o.keys()) for o in objects):
        raise ParseError(f"a tool call without <tool_call>: {quote(candidate)}")
    after = candidate[end:].strip()
    if isinstance(value, list) and not any(isinstance(o, dict) for o in objects):  # a bare [x, y]: only alone
        if after or not alone:
            raise ParseError(f"a bare list with text around it is no answer: {quote(whole)}")
    elif re.search(r"[\[{]", after):
        raise ParseError(f"more after the grounding answer: {quote(after)}")
    thought = value.get("thought") if isinstance(value, dict) and isinstance(value.get("thought"), str) else None
    return thought, _from_json(value, candidate[:end])


def _only(pattern: re.Pattern[str], text: str) -> bool:
    """Whether `text` is nothing but matches of `pattern` (and whitespace), at least one."""
    return bool(pattern.search(text)) and not pattern.sub("", text).strip()


def parse(text: str) -> tuple[str | None, list[Proposal]]:
    stripped = text.strip()
    if not stripped:
        raise ParseError("empty reply")
    fenced = _FENCE.search(stripped)
    candidate = fenced.group(1) if fenced else stripped
    value = _first_json(candidate)
    if value is not None:
        thought = value.get("thought") if isinstance(value, dict) and isinstance(value.get("thought"), str) else None
        return thought, _from_json(value, candidate)
    keyed = list(_KEYED_LIST.finditer(candidate))
    if keyed:  # repair: broken JSON, read each "bbox_2d": [..] on its own
        return None, [_from_keyed(m.group(1), m.group(2), m.group(0)) for m in keyed]
    points = list(_XML_POINTS.finditer(stripped))
    if points:
        return None, [p for m in points for p in _from_xml(m)]
    boxes = list(_PLAIN_BOX.finditer(stripped))
    if boxes:
        return None, [
            click_at_box(tuple(float(n) for n in NUMBER_RE.findall(m.group(1))), m.group(0))  # type: ignore[arg-type]
            for m in boxes
        ]
    raise ParseError(f"no tool call or grounding found in {quote(stripped)}")


def _first_json(text: str) -> Any:
    """The JSON value that starts at the first `[` or `{`, or None when there is none that parses."""
    starts = [i for i in (text.find("["), text.find("{")) if i >= 0]
    if not starts:
        return None
    try:
        value, _ = STRICT_JSON.raw_decode(text, min(starts))
    except DuplicateKeyError as exc:
        raise ParseError(f"the grounding JSON is not usable ({exc}): {quote(text)}") from None
    except json.JSONDecodeError:
        return None
    return value


def _from_json(value: Any, source: str) -> list[Proposal]:
    if isinstance(value, list) and value and all(isinstance(v, (int, float, str)) for v in value):
        return [_from_numbers(value, source)]
    items = value if isinstance(value, list) else [value]
    if not items:
        raise ParseError(f"empty grounding list in {quote(source)}")
    proposals: list[Proposal] = []
    for item in items:
        if not isinstance(item, dict):
            raise ParseError(f"grounding entry must be an object, got {quote(json.dumps(item, ensure_ascii=False))}")
        proposals.append(_from_object(item))
    return proposals


def _from_object(item: dict[str, Any]) -> ProposedClick:
    source = json.dumps(item, ensure_ascii=False)
    for key in BOX_KEYS:
        if key in item:
            return _box(item[key], key, source)
    for key in POINT_KEYS:
        if key in item:
            return _point(item[key], key, source)
    if "x" in item and "y" in item:
        return _point([item["x"], item["y"]], "x and y", source)
    raise ParseError(f"grounding entry has none of {', '.join(BOX_KEYS + POINT_KEYS)}, or x and y: {quote(source)}")


def _from_numbers(values: list[Any], source: str) -> ProposedClick:
    if len(values) == 4:
        return _box(values, "box", source)
    if len(values) == 2:
        return _point(values, "point", source)
    raise ParseError(f"a bare list must be [x, y] or [x1, y1, x2, y2], got {quote(source)}")


def _from_keyed(key: str, body: str, source: str) -> ProposedClick:
    values = [v.strip() for v in body.split(",")]
    return _box(values, key, source) if key in BOX_KEYS else _point(values, key, source)


def _box(value: Any, key: str, source: str) -> ProposedClick:
    if not isinstance(value, (list, tuple)) or len(value) != 4:
        raise ParseError(f"{key} must be [x1, y1, x2, y2], got {value!r} in {quote(source)}")
    x1, y1, x2, y2 = (to_number(v, key, source) for v in value)
    return click_at_box((x1, y1, x2, y2), source)


def _point(value: Any, key: str, source: str) -> ProposedClick:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ParseError(f"{key} must be [x, y], got {value!r} in {quote(source)}")
    return click_at((to_number(value[0], key, source), to_number(value[1], key, source)), source)


def _from_xml(match: re.Match[str]) -> list[Proposal]:
    attrs: dict[str, dict[str, float]] = {}
    for axis, index, number in _XML_ATTR.findall(match.group(1)):
        attrs.setdefault(index, {})[axis] = float(number)
    points = [(v["x"], v["y"]) for _, v in sorted(attrs.items()) if "x" in v and "y" in v]
    if not points:
        raise ParseError(f"<points> without x1/y1 in {quote(match.group(0))}")
    return [click_at(p, match.group(0)) for p in points]

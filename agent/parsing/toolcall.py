"""Qwen2.5-VL / Qwen3-VL / Qwen3.5 replies: `<tool_call>` computer_use/mobile_use calls, else a pure grounding answer.

A call is JSON (`{"name": .., "arguments": {..}}`) or the XML form Qwen3.5's chat template writes:
`<function=computer_use>` then one `<parameter=NAME>\nVALUE\n</parameter>` per argument. An XML value is
read as JSON when it parses as JSON (`[500, 300]`, `-5`), else as text; the parameters the tool declares
as strings (action, text, status, button) are always their text, so `<parameter=text>\n123\n</parameter>`
types "123". A parameter named twice is an error, as a repeated JSON key is, and so is an argument the
action does not take (`coordinate2` or `text` on a left_click).
A reply without `<tool_call>` is read only as a grounding answer (grounding.parse_answer): an action object or
a `<function=...>` block without the wrapper, or a point in prose, is an error, never a left click there.
"""

from __future__ import annotations

import json
import re
from typing import Any

from agent.errors import ParseError
from agent.parsing import grounding
from agent.parsing.common import (
    STRICT_JSON,
    DuplicateKeyError,
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
    to_point,
)
from sandbox.actions import Button, Direction
from sandbox.keys import split_combo

TOOLS = ("computer_use", "mobile_use")
_BLOCK = re.compile(r"<tool_call>(.*?)</tool_call>", re.S)
_XML_FUNCTION = re.compile(r"<function=([^>\s]*)>(.*?)</function>", re.S)
_XML_PARAMETER = re.compile(r"<parameter=([^>\s]*)>(.*?)</parameter>", re.S)
STRING_PARAMETERS = frozenset({"action", "text", "status", "button"})  # typed "string" in the tool schema
# Qwen-Agent's rendering of a call: "[TOOL_CALL] name\n{json}" (optionally followed by a response marker)
_RENDERED = re.compile(r"\[TOOL_CALL\]\s*([\w.-]+)\s*\n(.*?)(?=\[TOOL_RESPONSE\]|\[TOOL_CALL\]|\Z)", re.S)
_CLICKS: dict[str, tuple[Button, int]] = {
    "left_click": ("left", 1),
    "click": ("left", 1),
    "right_click": ("right", 1),
    "middle_click": ("middle", 1),
    "double_click": ("left", 2),
    "triple_click": ("left", 3),
}
_MOBILE_ONLY = ("long_press", "open", "system_button")
# The arguments each action takes besides `action` (the computer_use / mobile_use tool schemas): any other is an
# error naming it, since what the model meant by it is unknown (a `text` on a left_click is not typed).
_TAKES: dict[str, frozenset[str]] = {
    **{click: frozenset({"coordinate"}) for click in _CLICKS},
    "mouse_move": frozenset({"coordinate"}),
    "left_click_drag": frozenset({"coordinate"}),
    "swipe": frozenset({"coordinate", "coordinate2"}),
    "scroll": frozenset({"coordinate", "pixels"}),
    "hscroll": frozenset({"coordinate", "pixels"}),
    "type": frozenset({"text"}),
    "key": frozenset({"keys", "text"}),  # computer_use: keys; mobile_use: text
    "wait": frozenset({"time", "seconds"}),
    "terminate": frozenset({"status"}),
    "answer": frozenset({"text"}),
    "system_button": frozenset({"button"}),
}
_ONE_OF = (frozenset({"keys", "text"}), frozenset({"time", "seconds"}))  # two names for one argument


def parse(text: str) -> tuple[str | None, list[Proposal]]:
    """Prose (for the thought) and proposals in model space. Raises ParseError."""
    calls, prose = _extract_calls(text)
    if calls:
        proposals: list[Proposal] = []
        for name, arguments, source in calls:
            proposals.extend(_call_to_proposals(name, arguments, source))
        return _thought_from_prose(prose), proposals
    if "<tool_call>" in text or "</tool_call>" in text:
        raise ParseError(f"unbalanced <tool_call> tags in {quote(text)}")
    return grounding.parse_answer(text)


def _extract_calls(text: str) -> tuple[list[tuple[str, dict[str, Any], str]], str]:
    calls: list[tuple[str, dict[str, Any], str]] = []
    prose_parts: list[str] = []
    position = 0
    for match in _BLOCK.finditer(text):
        prose_parts.append(text[position : match.start()])
        calls.extend(_decode_block(match.group(1), match.group(0)))
        position = match.end()
    rest = text[position:]
    if "<tool_call>" in rest:  # tolerated: a missing </tool_call> when the JSON before it is complete
        head, _, tail = rest.partition("<tool_call>")
        prose_parts.append(head)
        calls.extend(_decode_block(tail, "<tool_call>" + tail))
    else:
        prose_parts.append(rest)
    prose = "".join(prose_parts)
    if not calls:
        for match in _RENDERED.finditer(prose):
            arguments = _decode_json_values(match.group(2), match.group(0))
            if len(arguments) != 1 or not isinstance(arguments[0], dict):
                raise ParseError(
                    f"tool call {match.group(1)!r} needs one JSON object of arguments in {quote(match.group(0))}"
                )
            calls.append((match.group(1), arguments[0], match.group(0)))
        if calls:
            prose = _RENDERED.sub("", prose)
    return calls, prose


def _decode_json_values(body: str, source: str) -> list[Any]:
    """One or more JSON values written one after another (vLLM has seen two objects in one block)."""
    decoder = STRICT_JSON
    values: list[Any] = []
    index, body = 0, body.strip()
    while index < len(body):
        try:
            value, end = decoder.raw_decode(body, index)
        except DuplicateKeyError as exc:
            raise ParseError(f"invalid JSON in tool call ({exc}): {quote(source)}") from None
        except json.JSONDecodeError as exc:
            raise ParseError(f"invalid JSON in tool call ({exc.msg} at char {exc.pos}): {quote(source)}") from None
        values.append(value)
        index = end
        while index < len(body) and body[index] in " \t\r\n,":
            index += 1
    if not values:
        raise ParseError(f"empty tool call {quote(source)}")
    return values


def _decode_block(body: str, source: str) -> list[tuple[str, dict[str, Any], str]]:
    if body.lstrip().startswith("<function="):
        return _decode_xml_block(body, source)
    calls = []
    for value in _decode_json_values(body, source):
        if not isinstance(value, dict) or "name" not in value:
            raise ParseError(f"a tool call must be an object with name and arguments: {quote(source)}")
        arguments = value.get("arguments", {})
        if isinstance(arguments, str):  # OpenAI-style: arguments as a JSON string
            try:
                arguments = STRICT_JSON.decode(arguments)
            except DuplicateKeyError as exc:
                raise ParseError(f"tool call arguments are not usable JSON ({exc}): {quote(source)}") from None
            except json.JSONDecodeError:
                raise ParseError(f"tool call arguments are not valid JSON: {quote(source)}") from None
        if not isinstance(arguments, dict):
            raise ParseError(f"tool call arguments must be an object: {quote(source)}")
        calls.append((str(value["name"]), arguments, source))
    return calls


def _decode_xml_block(body: str, source: str) -> list[tuple[str, dict[str, Any], str]]:
    """The XML form: one or more <function=NAME> elements, nothing else but whitespace between them."""
    calls = []
    position = 0
    for function in _XML_FUNCTION.finditer(body):
        if body[position : function.start()].strip():
            raise ParseError(f"text between tool-call functions in {quote(source)}")
        name, inner = function.group(1), function.group(2)
        if not name:
            raise ParseError(f"a <function=...> without a name in {quote(source)}")
        calls.append((name, _xml_parameters(inner, source), source))
        position = function.end()
    if body[position:].strip():
        raise ParseError(f"an unfinished <function=...> (no </function>) in {quote(source)}")
    if not calls:  # pragma: no cover - only called when the body starts with <function=
        raise ParseError(f"empty tool call {quote(source)}")
    return calls


def _xml_parameters(inner: str, source: str) -> dict[str, Any]:
    arguments: dict[str, Any] = {}
    position = 0
    for parameter in _XML_PARAMETER.finditer(inner):
        if inner[position : parameter.start()].strip():
            raise ParseError(f"text outside <parameter=...> in {quote(source)}")
        name = parameter.group(1)
        if not name:
            raise ParseError(f"a <parameter=...> without a name in {quote(source)}")
        if name in arguments:
            raise ParseError(f"the parameter {name!r} appears twice in {quote(source)}")
        arguments[name] = _xml_value(name, parameter.group(2), source)
        position = parameter.end()
    if inner[position:].strip():
        raise ParseError(f"an unfinished <parameter=...> (no </parameter>) in {quote(source)}")
    return arguments


def _xml_value(name: str, raw: str, source: str) -> Any:
    """The template writes "\nVALUE\n": one newline on each side is layout, the rest is the value."""
    text = raw.removeprefix("\n").removesuffix("\n")
    if name == "text":  # typed as written: its spaces and inner newlines are the model's
        return text
    if name in STRING_PARAMETERS:
        return text.strip()
    try:
        return STRICT_JSON.decode(text.strip())
    except DuplicateKeyError as exc:
        raise ParseError(f"the parameter {name!r} is not usable JSON ({exc}) in {quote(source)}") from None
    except json.JSONDecodeError:
        return text


def _call_to_proposals(name: str, args: dict[str, Any], source: str) -> list[Proposal]:
    if name not in TOOLS:
        raise ParseError(f"unknown tool {name!r} (known: {', '.join(TOOLS)}) in {quote(source)}")
    action = args.get("action")
    if not isinstance(action, str):
        raise ParseError(f"tool call has no action in {quote(source)}")
    if action in _TAKES:
        unknown = sorted(set(args) - _TAKES[action] - {"action"})
        if unknown:
            raise ParseError(f"{action} does not take {', '.join(unknown)} in {quote(source)}")
        for names in _ONE_OF:
            if names <= args.keys():
                raise ParseError(f"{action} takes {' or '.join(sorted(names))}, not both, in {quote(source)}")

    def point(key: str = "coordinate") -> tuple[float, float]:
        if key not in args:
            raise ParseError(f"{action} needs {key} in {quote(source)}")
        return to_point(args[key], key, source)

    if action in _CLICKS:
        button, count = _CLICKS[action]
        return [ProposedClick(source=source, point=point(), button=button, count=count)]
    if action == "mouse_move":
        return [ProposedMove(source=source, point=point())]
    if action == "left_click_drag":  # only the end point: the drag starts where the pointer is
        return [ProposedDrag(source=source, start=None, end=point())]
    if action == "swipe":  # mobile_use: from coordinate to coordinate2
        return [ProposedDrag(source=source, start=point(), end=point("coordinate2"))]
    if action in ("scroll", "hscroll"):
        return [_scroll(action, args, source)]
    if action == "type":
        text = args.get("text")
        if not isinstance(text, str) or text == "":
            raise ParseError(f"type needs a non-empty text in {quote(source)}")
        return [ProposedType(source=source, text=text)]
    if action == "key":
        return [ProposedHotkey(source=source, keys=_keys(args, source))]
    if action == "wait":
        seconds = to_number(args.get("time", args.get("seconds", 1)), "time", source)
        return [ProposedWait(source=source, seconds=seconds)]
    if action == "terminate":
        status = args.get("status", "success")
        if status not in ("success", "failure"):
            raise ParseError(f"terminate status must be success or failure, got {status!r} in {quote(source)}")
        return [ProposedFinish(source=source, status=status, answer=None)]
    if action == "answer":
        text = args.get("text")
        if not isinstance(text, str):
            raise ParseError(f"answer needs a text in {quote(source)}")
        return [ProposedFinish(source=source, status="success", answer=text)]
    if action == "system_button" and str(args.get("button", "")).lower() == "enter":
        return [ProposedHotkey(source=source, keys=("enter",))]
    if action in _MOBILE_ONLY:
        raise ParseError(f"{action} is a phone action with no desktop equivalent in {quote(source)}")
    raise ParseError(f"unknown action {action!r} in {quote(source)}")


def _scroll(action: str, args: dict[str, Any], source: str) -> ProposedScroll:
    # One `pixels` unit is one wheel notch, as the official executors pass it to pyautogui.scroll.
    pixels = to_number(args.get("pixels"), "pixels", source) if "pixels" in args else None
    if pixels is None or pixels == 0:
        raise ParseError(f"{action} needs a non-zero pixels in {quote(source)}")
    direction: Direction
    if action == "scroll":
        direction = "up" if pixels > 0 else "down"
    else:
        direction = "right" if pixels > 0 else "left"
    where = to_point(args["coordinate"], "coordinate", source) if "coordinate" in args else None
    return ProposedScroll(source=source, point=where, direction=direction, amount=max(1, round(abs(pixels))))


def _keys(args: dict[str, Any], source: str) -> tuple[str, ...]:
    raw = args.get("keys", args.get("text"))  # computer_use: keys (array); mobile_use: text
    if isinstance(raw, str):
        parts = split_combo(raw)
    elif isinstance(raw, list) and raw and all(isinstance(k, str) for k in raw):
        parts = list(raw)
    else:
        raise ParseError(f"key needs keys as a list of names in {quote(source)}")
    return tuple(parts)


def _thought_from_prose(prose: str) -> str | None:
    text = prose.strip()
    labelled = re.search(r"(?:^|\n)\s*Thought\s*[:：]\s*(.*?)(?=\n\s*Action\s*[:：]|\Z)", text, re.S)
    if labelled:
        return labelled.group(1).strip() or None
    text = re.sub(r"^\s*Action\s*[:：]\s*", "", text)
    return text.strip() or None

"""The four tools as a client lists them, and the reading of what a client sends them.

Names, titles and descriptions are written for the calling model: every point is in screen pixels (the virtual
desktop's logical pixels, the space `deskpilot act` takes), and `screenshot` says how its image's pixels map to
them. Annotations say which tools only look (`readOnlyHint`) and which act (`destructiveHint`).

Arguments are read strictly here, never by the SDK's schema validation alone: anything wrong (an unknown tool,
a missing or misspelt field, a wrong type, an action that is not one, arguments too large) is one line that says
what and where, returned as the tool's error result.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import mcp_types as types

from sandbox.actions import ACTION_TYPES, Action, action_from_json
from sandbox.errors import ActionError
from sandbox.fields import is_integer, shown
from sandbox.text import shorten

MAX_ARGUMENTS_CHARS = 16_384  # a call's arguments as JSON: far above any real action (a type's text is 2000 at most)
MAX_INSTRUCTION_CHARS = 1_000
MAX_TASK_CHARS = 4_000
ERROR_CHARS = 400  # an error result's one line, at most

COORDINATES = (
    "Coordinates are screen pixels: the virtual desktop's logical pixels, the same for every monitor, with (0, 0) "
    "at the top-left of the first monitor (see `screenshot` for each monitor's place, size and scale)."
)

SCREENSHOT = types.Tool(
    name="screenshot",
    title="Screenshot of a monitor",
    description=(
        "A PNG of one monitor (default 0) and its geometry as JSON: x, y, width, height (screen pixels), scale "
        "(image pixels per screen pixel) and every monitor. Image pixel (px, py) is the screen point "
        "(x + px / scale, y + py / scale). " + COORDINATES
    ),
    input_schema={
        "type": "object",
        "properties": {"monitor": {"type": "integer", "minimum": 0, "description": "which monitor (0 = first)"}},
        "additionalProperties": False,
    },
    annotations=types.ToolAnnotations(title="Screenshot", read_only_hint=True, open_world_hint=False),
)
LOCATE = types.Tool(
    name="locate",
    title="Locate something on the screen",
    description=(
        "Where deskpilot's configured backend would click for an instruction (OCR by default: give the words on "
        "the screen, such as `Submit`). Returns {x, y, monitor, box?} in screen pixels, box as [x, y, width, "
        "height]; an error when it is not found. Nothing is clicked. " + COORDINATES
    ),
    input_schema={
        "type": "object",
        "properties": {
            "instruction": {"type": "string", "description": "what to find, e.g. the label of a button"},
            "monitor": {"type": "integer", "minimum": 0, "description": "which monitor to look at (default 0)"},
        },
        "required": ["instruction"],
        "additionalProperties": False,
    },
    annotations=types.ToolAnnotations(title="Locate", read_only_hint=True, open_world_hint=False),
)
ACT = types.Tool(
    name="act",
    title="Perform one checked action",
    description=(
        "One mouse or keyboard action, checked by deskpilot's policy and shown to the person before it happens. "
        'The action is the JSON `deskpilot act` takes: {"kind": "click", "x": 640, "y": 360} (button, count), '
        '"move", "drag" (x, y, to_x, to_y), "scroll" (direction, amount, x?, y?), "type" (text), "hotkey" '
        '(keys, e.g. ["ctrl", "s"]), "wait" (seconds). Returns {verdict, rule, reason, executed, effect}. A '
        "denied action is an error naming the policy's rule; so is one that needs the person's confirmation when "
        "no one can confirm it. After the person's stop key every call is refused. " + COORDINATES
    ),
    input_schema={
        "type": "object",
        "properties": {
            "action": {
                "type": "object",
                "description": "one action: kind " + ", ".join(ACTION_TYPES) + "; fields as in `deskpilot act`",
                "properties": {"kind": {"type": "string", "enum": list(ACTION_TYPES)}},
                "required": ["kind"],
            }
        },
        "required": ["action"],
        "additionalProperties": False,
    },
    annotations=types.ToolAnnotations(
        title="Act", read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=False
    ),
)
RUN_TASK = types.Tool(
    name="run_task",
    title="Run a whole task with deskpilot's own model",
    description=(
        "Hand a task in plain language to deskpilot's configured backend, which looks, acts and checks step by "
        "step (e.g. `click Submit then click Cancel` with the OCR backend). Every action passes the same policy. "
        "Returns {outcome, reason, steps, answer, session}: session is the folder it was recorded in."
    ),
    input_schema={
        "type": "object",
        "properties": {
            "task": {"type": "string", "description": "what to do"},
            "max_steps": {"type": "integer", "minimum": 1, "maximum": 100, "description": "default 15"},
        },
        "required": ["task"],
        "additionalProperties": False,
    },
    annotations=types.ToolAnnotations(
        title="Run a task", read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=False
    ),
)
TOOLS = (SCREENSHOT, LOCATE, ACT, RUN_TASK)
TOOL_NAMES = tuple(tool.name for tool in TOOLS)


class ArgumentError(ValueError):
    """What a client sent a tool cannot be used: the message is the one line it gets back."""


def one_line(text: str) -> str:
    """Any message as one line of at most ERROR_CHARS: the only shape an error result takes."""
    return shorten(" ".join(text.split()), ERROR_CHARS)


def error_result(message: str, details: dict[str, Any] | None = None) -> types.CallToolResult:
    line = one_line(message)
    return types.CallToolResult(
        content=[types.TextContent(text=line)],
        structured_content={**(details or {}), "error": line},
        is_error=True,
    )


def json_result(data: dict[str, Any], *, is_error: bool = False) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(text=json.dumps(data, ensure_ascii=False))],
        structured_content=data,
        is_error=is_error,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Arguments:
    """One call's arguments as a tool reads them: only the fields it knows, each of its type."""

    tool: str
    data: dict[str, Any]

    @classmethod
    def read(cls, tool: str, arguments: object) -> Arguments:
        if tool not in TOOL_NAMES:
            raise ArgumentError(f"unknown tool {shorten(tool, 60)!r}: deskpilot has {', '.join(TOOL_NAMES)}")
        if arguments is None:
            arguments = {}
        if not isinstance(arguments, dict):
            raise ArgumentError(f"{tool}: arguments must be a JSON object, got {type(arguments).__name__}")
        size = len(json.dumps(arguments, ensure_ascii=False, default=str))
        if size > MAX_ARGUMENTS_CHARS:
            raise ArgumentError(f"{tool}: the arguments are {size} characters of JSON; at most {MAX_ARGUMENTS_CHARS}")
        known = next(t for t in TOOLS if t.name == tool).input_schema["properties"]
        extra = sorted(str(name) for name in arguments if name not in known)
        if extra:
            raise ArgumentError(
                f"{tool}: unknown argument(s) {', '.join(shorten(n, 40) for n in extra)} (known: {', '.join(known)})"
            )
        return cls(tool=tool, data=arguments)

    def integer(self, name: str, default: int, *, minimum: int, maximum: int | None = None) -> int:
        value = self.data.get(name, default)
        if not is_integer(value) or value < minimum or (maximum is not None and value > maximum):
            upper = f" to {maximum}" if maximum is not None else " or more"
            raise ArgumentError(f"{self.tool}: {name} must be a whole number {minimum}{upper}, got {shown(value)}")
        return value

    def text(self, name: str, *, limit: int) -> str:
        if name not in self.data:
            raise ArgumentError(f"{self.tool}: missing argument {name!r}")
        value = self.data[name]
        if not isinstance(value, str) or not value.strip():
            raise ArgumentError(f"{self.tool}: {name} must be a non-empty string, got {shown(value)}")
        if len(value) > limit:
            raise ArgumentError(f"{self.tool}: {name} is {len(value)} characters; at most {limit}")
        return value

    def action(self) -> tuple[Action, str]:
        """The action and the client's words for it (one line of JSON). A JSON string is read as `act` reads it."""
        if "action" not in self.data:
            raise ArgumentError('act: missing argument \'action\' (an object such as {"kind": "click", ...})')
        data = self.data["action"]
        raw = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except json.JSONDecodeError as exc:
                raise ArgumentError(f"act: action is not valid JSON: {exc.msg} at column {exc.colno}") from None
        try:
            return action_from_json(data), raw
        except ActionError as exc:
            raise ArgumentError(f"act: {exc}") from None

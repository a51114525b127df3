"""Prompts per family, as the models were trained (docs/model-formats.md §2, §3).

- qwen2.5-vl: the Qwen-Agent computer_use tool (11 actions) in a Nous/Hermes tool system prompt, with the
  display size set to the smart-resized image size (its coordinates are pixels of that image).
- qwen3-vl: the same frame with the 14-action tool and "The screen's resolution is 1000x1000."
- qwen3.5: the same 14-action tool, handed to the model's own chat template (which presents tools in its own
  way and writes calls as JSON or as `<function=...><parameter=...>` XML), thinking switched off.
- ui-tars, ui-tars-1.5: the UI-TARS computer prompt and action grammar.
- gui-owl-1.5: qwen3-vl's (it was trained on the same computer_use tool).
- opencua: its own system prompt for pyautogui actions, with Thought/Action/Code sections.
- qwen-vl, qwen2-vl, holo2, ui-venus-1.5: grounding-only models: asked to point at the element the task
  names, each in the form it was trained to answer in.
A conversation is a tuple of `Message`s in a neutral form; each backend turns it into its own format.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from PIL import Image

from agent.families import Family

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class TextPart:
    text: str


@dataclass(frozen=True, slots=True)
class ImagePart:
    image: Image.Image  # already prepared at the family's model input size


Part = TextPart | ImagePart


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    parts: tuple[Part, ...]

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))


@dataclass(frozen=True, slots=True)
class Turn:
    """One earlier step: the screenshot the model saw (or None once dropped), its reply, and feedback."""

    image: Image.Image | None
    reply: str
    feedback: str | None = None


_COMPUTER_INTRO = (
    "Use a mouse and keyboard to interact with a computer, and take screenshots.\n"
    "* This is an interface to a desktop GUI. You do not have access to a terminal or applications menu. "
    "You must click on desktop icons to start applications.\n"
    "* Some applications may take time to start or process actions, so you may need to wait and take successive "
    "screenshots to see the results of your actions. E.g. if you click on Firefox and a window doesn't open, "
    "try wait and taking another screenshot.\n"
    "* The screen's resolution is {width}x{height}.\n"
    "* Whenever you intend to move the cursor to click on an element like an icon, you should consult a screenshot "
    "to determine the coordinates of the element before moving the cursor.\n"
    "* If you tried clicking on a program or link but it failed to load, even after waiting, try adjusting your "
    "cursor position so that the tip of the cursor visually falls on the element that you want to click.\n"
    "* Make sure to click any buttons, links, icons, etc with the cursor tip in the center of the element. "
    "Don't click boxes on their edges unless asked."
)
_ACTIONS_25 = [
    ("key", "Performs key down presses on the arguments passed in order, then performs key releases in reverse order."),
    ("type", "Type a string of text on the keyboard."),
    ("mouse_move", "Move the cursor to a specified (x, y) pixel coordinate on the screen."),
    ("left_click", "Click the left mouse button."),
    ("left_click_drag", "Click and drag the cursor to a specified (x, y) pixel coordinate on the screen."),
    ("right_click", "Click the right mouse button."),
    ("middle_click", "Click the middle mouse button."),
    ("double_click", "Double-click the left mouse button."),
    ("scroll", "Performs a scroll of the mouse scroll wheel."),
    ("wait", "Wait specified seconds for the change to happen."),
    ("terminate", "Terminate the current task and report its completion status."),
]
_ACTIONS_3 = [
    ("key", "Performs key down presses on the arguments passed in order, then performs key releases in reverse order."),
    ("type", "Type a string of text on the keyboard."),
    ("mouse_move", "Move the cursor to a specified (x, y) pixel coordinate on the screen."),
    ("left_click", "Click the left mouse button at a specified (x, y) pixel coordinate on the screen."),
    ("left_click_drag", "Click and drag the cursor to a specified (x, y) pixel coordinate on the screen."),
    ("right_click", "Click the right mouse button at a specified (x, y) pixel coordinate on the screen."),
    ("middle_click", "Click the middle mouse button at a specified (x, y) pixel coordinate on the screen."),
    ("double_click", "Double-click the left mouse button at a specified (x, y) pixel coordinate on the screen."),
    (
        "triple_click",
        "Triple-click the left mouse button at a specified (x, y) pixel coordinate on the screen "
        "(simulated as double-click since it's the closest action).",
    ),
    ("scroll", "Performs a scroll of the mouse scroll wheel."),
    ("hscroll", "Performs a horizontal scroll (mapped to regular scroll)."),
    ("wait", "Wait specified seconds for the change to happen."),
    ("terminate", "Terminate the current task and report its completion status."),
    ("answer", "Answer a question."),
]


def computer_use_tool(family: Family, width: int, height: int) -> dict[str, Any]:
    """The computer_use function definition for qwen2.5-vl (pixels of the resized image) or qwen3-vl (1000x1000)."""
    qwen3 = family.coords == "relative"
    actions = _ACTIONS_3 if qwen3 else _ACTIONS_25
    if qwen3:
        width = height = family.relative_extent
    only = "" if qwen3 else " Required only by `action=mouse_move` and `action=left_click_drag`."
    properties: dict[str, Any] = {
        "action": {
            "description": "The action to perform. The available actions are:\n"
            + "\n".join(f"* `{name}`: {text}" for name, text in actions),
            "enum": [name for name, _ in actions],
            "type": "string",
        },
        "keys": {"description": "Required only by `action=key`.", "type": "array"},
        "text": {
            "description": "Required only by `action=type`" + (" and `action=answer`." if qwen3 else "."),
            "type": "string",
        },
        "coordinate": {
            "description": "(x, y): The x (distance from the left edge) and y (distance from the top edge) "
            "coordinates to move the mouse to." + only,
            "type": "array",
        },
        "pixels": {
            "description": "The amount of scrolling to perform. Positive values scroll up, negative values "
            "scroll down. Required only by `action=scroll`" + (" and `action=hscroll`." if qwen3 else "."),
            "type": "number",
        },
        "time": {"description": "The seconds to wait. Required only by `action=wait`.", "type": "number"},
        "status": {
            "description": "The status of the task. Required only by `action=terminate`.",
            "type": "string",
            "enum": ["success", "failure"],
        },
    }
    return {
        "type": "function",
        "function": {
            "name": "computer_use",
            "description": _COMPUTER_INTRO.format(width=width, height=height),
            "parameters": {"properties": properties, "required": ["action"], "type": "object"},
        },
    }


SYSTEM_PROMPT = "You are a helpful assistant."


def tool_definitions(family: Family, image: Image.Image) -> tuple[dict[str, Any], ...]:
    """The tools to hand to a chat template that presents them itself (qwen3.5); () for the others."""
    if not family.tools_in_template:
        return ()
    return (computer_use_tool(family, *image.size),)


def tool_system_prompt(tool: dict[str, Any]) -> str:
    """Qwen-Agent's Nous function-calling system prompt around one tool."""
    return (
        "You are a helpful assistant.\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
        "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n"
        + json.dumps(tool, ensure_ascii=False)
        + "\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
        "<tool_call></tool_call> XML tags:\n<tool_call>\n"
        '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
    )


UI_TARS_ACTION_SPACE = """click(start_box='<|box_start|>(x1,y1)<|box_end|>')
left_double(start_box='<|box_start|>(x1,y1)<|box_end|>')
right_single(start_box='<|box_start|>(x1,y1)<|box_end|>')
drag(start_box='<|box_start|>(x1,y1)<|box_end|>', end_box='<|box_start|>(x3,y3)<|box_end|>')
hotkey(key='')
type(content='') #If you want to submit your input, use "\\n" at the end of `content`.
scroll(start_box='<|box_start|>(x1,y1)<|box_end|>', direction='down or up or right or left')
wait() #Sleep for 5s and take a screenshot to check for any changes.
finished(content='xxx') # Use escape characters \\', \\", and \\n in content part to ensure we can parse the content in normal python string format."""

UI_TARS_PROMPT = """You are a GUI agent. You are given a task and your action history, with screenshots. You need to perform the next action to complete the task.

## Output Format
```
Thought: ...
Action: ...
```

## Action Space
{action_space}

## Note
- Use {language} in `Thought` part.
- Write a small plan and finally summarize your next action (with its target element) in one sentence in `Thought` part.

## User Instruction
{instruction}
"""

GROUNDING_PROMPTS = {  # by family
    "qwen-vl": "Find the element to act on for this task and give its box: {task}",
    "qwen2-vl": "Find the element to act on for this task and output its bounding box: {task}",
    "holo2": (
        "Localize an element on the GUI image according to my instructions and output a click position as "
        'JSON {{"x": X, "y": Y}}, where X and Y are integers from 0 to 1000: the distance from the left and '
        "from the top edge in thousandths of the image width and height.\nInstruction: {task}"
    ),
    "ui-venus-1.5": (
        "Output the center point of the position corresponding to the instruction: {task}. The output should "
        "just be the coordinates of a point, in the format [x,y], each from 0 to 1000. If the task is "
        "infeasible, output [-1,-1]."
    ),
}

OPENCUA_SYSTEM_PROMPT = """You are a GUI agent. You are given a task and a screenshot of the screen. You need to perform a series of pyautogui actions to complete the task.

For each step, provide your response in this format:

## Thought:
Think step by step about what you see and what to do next.

## Action:
The next action, in one sentence.

## Code:
```python
One pyautogui call: pyautogui.click(x=, y=), pyautogui.doubleClick(x=, y=), pyautogui.rightClick(x=, y=),
pyautogui.moveTo(x=, y=), pyautogui.dragTo(x=, y=), pyautogui.write(message=''), pyautogui.press(''),
pyautogui.hotkey(keys=[]), pyautogui.scroll(clicks, x=, y=), computer.triple_click(x=, y=), or
computer.terminate(status='success') when the task is done (status='failure' when it cannot be done).
```

x and y are pixels of the screenshot as you see it ({width}x{height})."""

OPENCUA_STEP = "# Task Instruction:\n{task}\n\nPlease generate the next move according to the screenshot, task instruction and previous steps (if provided)."


def task_language(task: str) -> str:
    """UI-TARS is told which language to think in: Chinese for tasks written in Chinese, else English."""
    return "Chinese" if any("\u4e00" <= ch <= "\u9fff" for ch in task) else "English"


def build_messages(
    family: Family, task: str, image: Image.Image, *, history: tuple[Turn, ...] = ()
) -> tuple[Message, ...]:
    """The conversation for one step: the task, earlier turns (older screenshots already dropped), now.

    The feedback of a turn (a parse error, a refusal, the user's note) goes with the screenshot after it.
    """
    width, height = image.size
    images = [turn.image for turn in history] + [image]
    notes = [None] + [turn.feedback for turn in history]
    if family.syntax == "qwen-tool-call":
        # a template that presents tools itself gets them apart (tool_definitions); the others in the system text
        instructions = (
            SYSTEM_PROMPT if family.tools_in_template else tool_system_prompt(computer_use_tool(family, width, height))
        )
        system = Message("system", (TextPart(instructions),))
        messages = [system, Message("user", (TextPart(task), *_screen(images[0], None)))]
        for n, turn in enumerate(history, start=1):
            messages.append(Message("assistant", (TextPart(turn.reply),)))
            messages.append(
                Message(
                    "user",
                    (TextPart("<tool_response>\n"), *_screen(images[n], notes[n]), TextPart("\n</tool_response>")),
                )
            )
        return tuple(messages)
    if family.syntax == "ui-tars":
        prompt = UI_TARS_PROMPT.format(
            action_space=UI_TARS_ACTION_SPACE, language=task_language(task), instruction=task
        )
        messages = [
            Message("system", (TextPart("You are a helpful assistant."),)),
            Message("user", (TextPart(prompt),)),
        ]
        for n, turn in enumerate(history):
            messages.append(Message("user", _screen(images[n], notes[n])))
            messages.append(Message("assistant", (TextPart(turn.reply),)))
        messages.append(Message("user", _screen(images[-1], notes[-1])))
        return tuple(messages)
    if family.syntax == "pyautogui":
        messages = [
            Message("system", (TextPart(OPENCUA_SYSTEM_PROMPT.format(width=width, height=height)),)),
            Message("user", (*_screen(images[0], None), TextPart("\n" + OPENCUA_STEP.format(task=task)))),
        ]
        for n, turn in enumerate(history, start=1):
            messages.append(Message("assistant", (TextPart(turn.reply),)))
            messages.append(Message("user", _screen(images[n], notes[n])))
        return tuple(messages)
    prompt = GROUNDING_PROMPTS[family.name].format(task=task)
    return (Message("user", (ImagePart(image), TextPart(prompt))),)


def _screen(image: Image.Image | None, note: str | None) -> tuple[Part, ...]:
    parts: list[Part] = [
        ImagePart(image) if image is not None else TextPart("(an earlier screenshot, no longer shown)")
    ]
    if note:
        parts.append(TextPart(f"\nNote: {note}"))
    return tuple(parts)


# -- grounding: one step asking a model to point at one element (deskpilot eval) ------------------------------

# UI-TARS' grounding prompt, verbatim from bytedance/UI-TARS codes/ui_tars/prompt.py (GROUNDING_DOUBAO, the
# doubled quote after </point> included: it is the text the models were evaluated with). Its only action is a click.
UI_TARS_GROUNDING_PROMPT = (
    "You are a GUI agent. You are given a task and your action history, with screenshots. You need to perform "
    "the next action to complete the task. \n\n## Output Format\n\nAction: ...\n\n\n## Action Space\n"
    "click(point='<point>x1 y1</point>'')\n\n## User Instruction\n{instruction}"
)
GROUNDING_TASK = "Click on the element described here: {instruction}"


def grounding_task(instruction: str) -> str:
    """The task a computer-use model (tool call, opencua) is given to point at the described element."""
    return GROUNDING_TASK.format(instruction=instruction)


def build_grounding_messages(family: Family, instruction: str, image: Image.Image) -> tuple[Message, ...]:
    """One step asking the model to point at the element `instruction` describes, in its family's trained form.

    - points-only families (qwen-vl, qwen2-vl, holo2, ui-venus-1.5): their grounding prompt, as in a run;
    - ui-tars, ui-tars-1.5: UI-TARS' grounding prompt (click only), text then screenshot in one user turn, as
      UI-TARS' own examples send it;
    - computer_use tool families (qwen2.5-vl, qwen3-vl, qwen3.5, gui-owl-1.5) and opencua: the first step of
      a run (the same system prompt and tool) whose task asks to click the element (grounding_task).
    """
    if family.points_only:
        return build_messages(family, instruction, image)
    if family.syntax == "ui-tars":
        prompt = UI_TARS_GROUNDING_PROMPT.format(instruction=instruction)
        return (Message("user", (TextPart(prompt), ImagePart(image))),)
    return build_messages(family, grounding_task(instruction), image)

"""Model replies as each family writes them, for scripted backends and fake servers (one place for the tests).

`tool_call` is the qwen computer_use form (qwen2.5-vl, qwen3-vl, gui-owl); `click_reply`, `type_reply` and
`finish_reply` write any family's syntax, with the point given in screen pixels of a 1920x1080 screen and
converted to what that family's model writes (its resized image's pixels, or 0-1000 relative).
"""

from __future__ import annotations

import json

from agent.families import get_family, model_input_size

SCREEN = (1920, 1080)


def tool_call(action: str, **arguments: object) -> str:
    """A qwen computer_use tool call, as the model writes it."""
    body = json.dumps({"name": "computer_use", "arguments": {"action": action, **arguments}}, ensure_ascii=False)
    return f"<tool_call>\n{body}\n</tool_call>"


FINISH = tool_call("terminate", status="success")


def model_point(family: str, x: float, y: float, screen: tuple[int, int] = SCREEN) -> tuple[int, int]:
    """Where a model of `family` would write screen point (x, y) of a `screen`-sized monitor at scale 1."""
    fam = get_family(family)
    if fam.coords == "relative":
        return round(x / screen[0] * 1000), round(y / screen[1] * 1000)
    w, h = model_input_size(fam, *screen)
    return round(x * w / screen[0]), round(y * h / screen[1])


def qwen_click(x: float, y: float, screen: tuple[int, int] = SCREEN, *, action: str = "left_click") -> str:
    """A qwen2.5-vl click at screen point (x, y)."""
    mx, my = model_point("qwen2.5-vl", x, y, screen)
    return tool_call(action, coordinate=[mx, my])


def click_reply(family: str, x: int, y: int) -> str:
    """A left click at screen point (x, y) in `family`'s own syntax."""
    mx, my = model_point(family, x, y)
    if family == "qwen3.5":  # the XML form its chat template writes
        return (
            "<tool_call>\n<function=computer_use>\n<parameter=action>\nleft_click\n</parameter>\n"
            f"<parameter=coordinate>\n[{mx}, {my}]\n</parameter>\n</function>\n</tool_call>"
        )
    if family in ("qwen2.5-vl", "qwen3-vl", "gui-owl-1.5"):
        prose = "Action: click Submit.\n" if family == "gui-owl-1.5" else ""  # GUI-Owl says what it does first
        return prose + tool_call("left_click", coordinate=[mx, my])
    if family == "opencua":
        return f"## Thought:\nSubmit is there.\n\n## Code:\n```python\npyautogui.click(x={mx}, y={my})\n```"
    if family == "holo2":
        return json.dumps({"x": mx, "y": my})
    if family == "ui-venus-1.5":
        return f"[{mx},{my}]"
    if family in ("ui-tars", "ui-tars-1.5"):
        return f"Thought: the Submit button.\nAction: click(start_box='<|box_start|>({mx},{my})<|box_end|>')"
    if family == "qwen2-vl":
        return f"<|object_ref_start|>Submit<|object_ref_end|><|box_start|>({mx},{my}),({mx},{my})<|box_end|>"
    return f"<ref>Submit</ref><box>({mx},{my}),({mx},{my})</box>"


def type_reply(family: str, text: str) -> str:
    """Typing `text` in `family`'s own syntax."""
    if family in ("ui-tars", "ui-tars-1.5"):
        return f"Thought: type it.\nAction: type(content={json.dumps(text, ensure_ascii=False)})"
    if family == "opencua":
        return f"```python\npyautogui.write(message={text!r})\n```"
    return tool_call("type", text=text)


def finish_reply(family: str) -> str:
    """The task done, in `family`'s own syntax."""
    if family in ("ui-tars", "ui-tars-1.5"):
        return "Thought: done.\nAction: finished(content='done')"
    if family == "opencua":
        return "```python\ncomputer.terminate(status='success')\n```"
    return FINISH

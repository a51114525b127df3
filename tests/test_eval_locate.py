"""The seam of an eval (agent.evaluation.locate): each family is asked in its trained grounding form, and its
reply, in its own numbers, comes back as a point in the image's own pixels; a refusal declines, garbage is an
error on the sample, never a crash. The OCR backend is asked `click "<instruction>"`, taken literally."""

from __future__ import annotations

import json
import math

import pytest
from PIL import Image

from agent.backends.ocr.grammar import ClickStep, Plan, parse_task
from agent.backends.scripted import ScriptedBackend
from agent.evaluation.locate import locate, ocr_task
from agent.families import FAMILIES, get_family, model_input_size
from agent.prompts import (
    UI_TARS_GROUNDING_PROMPT,
    ImagePart,
    TextPart,
    build_grounding_messages,
    build_messages,
    grounding_task,
)
from sandbox.stop import StopFlag

IMAGE = Image.new("RGB", (1000, 600), (230, 232, 235))  # not a multiple of 28 or 32: absolute families resize it
TARGET = (731, 217)  # an image pixel
INSTRUCTION = 'the "Export" button'


def _model(family: str) -> tuple[int, int]:
    """TARGET in the family's own numbers: pixels of its resized image, or 0-1000 of the image."""
    preset = get_family(family)
    if preset.coords == "relative":
        return round(TARGET[0] / IMAGE.width * 1000), round(TARGET[1] / IMAGE.height * 1000)
    width, height = model_input_size(preset, *IMAGE.size)
    return round(TARGET[0] * width / IMAGE.width), round(TARGET[1] * height / IMAGE.height)


def _call(action: str, **arguments: object) -> str:
    return f"<tool_call>\n{json.dumps({'name': 'computer_use', 'arguments': {'action': action, **arguments}})}\n</tool_call>"


def _reply(family: str) -> str:
    x, y = _model(family)
    syntax = get_family(family).syntax
    if syntax == "qwen-tool-call":
        return "Action: click it.\n" + _call("left_click", coordinate=[x, y])
    if syntax == "ui-tars":
        return f"Action: click(point='<point>{x} {y}</point>')"
    if syntax == "pyautogui":
        return f"## Thought:\nThere.\n## Action:\nClick.\n## Code:\n```python\npyautogui.click(x={x}, y={y})\n```"
    if family == "holo2":
        return json.dumps({"x": x, "y": y})
    if family == "ui-venus-1.5":
        return f"[{x},{y}]"
    if family == "qwen-vl":
        return f"<ref>Export</ref><box>({x - 2},{y - 2}),({x + 2},{y + 2})</box>"
    return f"<|object_ref_start|>Export<|object_ref_end|><|box_start|>({x - 2},{y - 2}),({x + 2},{y + 2})<|box_end|>"


@pytest.mark.parametrize("family", list(FAMILIES))
def test_each_family_reply_comes_back_in_image_pixels(family: str) -> None:
    preset = get_family(family)
    found = locate(ScriptedBackend([_reply(family)]), preset, IMAGE, INSTRUCTION, stop=StopFlag())
    assert found.error is None and found.point is not None and not found.declined
    # one model unit is at most 1000/448 image px wide (qwen-vl squashes to 448), 1000/1000 for 0-1000 answers
    tolerance = IMAGE.width / 448 if family == "qwen-vl" else 1.5
    assert math.dist(found.point, TARGET) <= tolerance, (family, found.point)
    assert found.seconds >= 0 and found.raw == _reply(family)


@pytest.mark.parametrize(
    ("family", "raw"),
    [
        ("ui-venus-1.5", "[-1,-1]"),
        ("qwen2.5-vl", "It is not on the screen.\n" + _call("terminate", status="failure")),
        ("qwen3-vl", _call("answer", text="there is no such button")),
    ],
)
def test_a_refusal_declines(family: str, raw: str) -> None:
    found = locate(ScriptedBackend([raw]), get_family(family), IMAGE, INSTRUCTION, stop=StopFlag())
    assert found.point is None and found.error is None and found.declined


def test_the_first_action_with_a_point_counts_and_garbage_is_an_error() -> None:
    family = get_family("qwen2.5-vl")
    x, y = _model("qwen2.5-vl")
    two = (
        _call("key", keys=["tab"])
        + "\n"
        + _call("left_click", coordinate=[x, y])
        + "\n"
        + _call("left_click", coordinate=[1, 1])
    )
    found = locate(ScriptedBackend([two]), family, IMAGE, INSTRUCTION, stop=StopFlag())
    assert found.point is not None and math.dist(found.point, TARGET) <= 1.5
    stop_first = _call("terminate", status="success") + "\n" + _call("left_click", coordinate=[x, y])
    assert locate(ScriptedBackend([stop_first]), family, IMAGE, INSTRUCTION, stop=StopFlag()).declined
    garbage = locate(ScriptedBackend(["I would click the Export button."]), family, IMAGE, INSTRUCTION, stop=StopFlag())
    assert garbage.point is None and not garbage.declined
    assert garbage.error is not None and garbage.error.startswith("unusable reply: ")


def test_grounding_conversations_per_family() -> None:
    image = IMAGE.resize((504, 308))
    for name, family in FAMILIES.items():
        messages = build_grounding_messages(family, INSTRUCTION, image)
        images = [p.image for m in messages for p in m.parts if isinstance(p, ImagePart)]
        assert images == [image], name  # the screenshot once, as prepared
        text = "\n".join(m.text for m in messages)
        if family.points_only:
            assert messages == build_messages(family, INSTRUCTION, image), name
        elif family.syntax == "ui-tars":
            assert len(messages) == 1 and messages[0].role == "user"
            assert messages[0].parts[0] == TextPart(UI_TARS_GROUNDING_PROMPT.format(instruction=INSTRUCTION))
            assert "click(point='<point>x1 y1</point>'')" in text and text.endswith(INSTRUCTION)
        else:  # the run's first step, asked to click the element
            assert messages == build_messages(family, grounding_task(INSTRUCTION), image), name
            assert grounding_task(INSTRUCTION) in text
    qwen25 = build_grounding_messages(get_family("qwen2.5-vl"), INSTRUCTION, image)
    assert qwen25[0].role == "system" and "The screen's resolution is 504x308." in qwen25[0].text


@pytest.mark.parametrize(
    "instruction",
    [
        "Save",
        "the Save button",  # taken as it is: the OCR looks for these words, not for "Save"
        "Save, then close",
        'the "Export" button',
        "open 'My Documents' and press enter",
        "two\nlines",
    ],
)
def test_the_ocr_task_takes_the_instruction_literally(instruction: str) -> None:
    plan = parse_task(ocr_task(instruction))
    assert isinstance(plan, Plan) and len(plan.steps) == 1
    step = plan.steps[0]
    assert isinstance(step, ClickStep) and step.target == " ".join(instruction.split())
    assert (step.button, step.count) == ("left", 1)


@pytest.mark.parametrize("family", ["qwen2.5-vl", "qwen3-vl", "ui-tars-1.5", "holo2"])
def test_zoom_maps_the_second_point_through_the_crop_exactly(family: str) -> None:
    """First answer at TARGET; the crop (half the image, centred there, kept inside) is magnified 2x; the second
    answer, at 1/4 and 3/4 of the magnified crop, must come back at crop corner + (1/4 w, 3/4 h) of the crop."""
    from agent.evaluation.locate import locate_with_zoom

    preset = get_family(family)
    crop_w, crop_h = 500, 300
    crop_x = min(max(round(TARGET[0] - crop_w / 2), 0), IMAGE.width - crop_w)  # 481 -> 481, kept inside: 500
    crop_y = min(max(round(TARGET[1] - crop_h / 2), 0), IMAGE.height - crop_h)
    if preset.coords == "relative":
        second = (250, 750)
    else:
        w, h = model_input_size(preset, crop_w * 2, crop_h * 2)
        second = (w / 4, h * 3 / 4)
    first_reply = _reply(family)
    second_reply = first_reply.replace(str(_model(family)[0]), str(second[0])).replace(
        str(_model(family)[1]), str(second[1])
    )
    backend = ScriptedBackend([first_reply, second_reply])
    found = locate_with_zoom(backend, preset, IMAGE, INSTRUCTION, stop=StopFlag())
    expected = (math.floor(crop_x + crop_w / 4 + 0.5), math.floor(crop_y + crop_h * 3 / 4 + 0.5))
    assert found.error is None and found.point == expected, (found, crop_x, crop_y)


def test_zoom_keeps_the_first_point_when_the_second_look_declines() -> None:
    from agent.evaluation.locate import locate_with_zoom

    first = _reply("ui-venus-1.5")
    found = locate_with_zoom(
        ScriptedBackend([first, "[-1,-1]"]), get_family("ui-venus-1.5"), IMAGE, INSTRUCTION, stop=StopFlag()
    )
    assert found.point is not None and abs(found.point[0] - TARGET[0]) <= 1 and abs(found.point[1] - TARGET[1]) <= 1
    declined = locate_with_zoom(
        ScriptedBackend(["[-1,-1]"]), get_family("ui-venus-1.5"), IMAGE, INSTRUCTION, stop=StopFlag()
    )
    assert declined.declined  # no first point: no second look (the script holds one reply)

"""No guessed action (the red team's N2 and N12, docs/CONTRACT.md "Reading model replies").

A tool-call family's reply without `<tool_call>` is taken only as a pure grounding answer: an action object
or a `<function=...>` block written without its wrapper, or a point mentioned in prose, used to become a left
click there (a maximised window's close box, for one). Counts that are not whole, arguments an action does not
take and points past the one a grounding answer holds are errors too, never the nearest reading.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agent.errors import ParseError
from agent.families import get_family, model_frame
from agent.parsing import ParsedReply, parse_reply
from sandbox.actions import Click, Finish

SCREEN = (1920, 1080)
DESKPILOT = Path(sys.executable).with_name("deskpilot")
WITHOUT_WRAPPER = "a tool call without <tool_call>"
XML_SCROLL = (
    "<function=computer_use>\n<parameter=action>\nscroll\n</parameter>\n"
    "<parameter=coordinate>\n[500, 500]\n</parameter>\n</function>"
)


def parse(raw: str, family: str = "qwen3.5") -> ParsedReply:
    fam = get_family(family)
    return parse_reply(raw, family=fam, frame=model_frame(fam, *SCREEN))


# Each reproduction line of N2 in the red team's report (redteam-2026-12.md), and what it now says.
N2_LINES = [
    ('{"action": "scroll", "coordinate": [500, 500], "pixels": -5}', "qwen3.5", WITHOUT_WRAPPER),
    ('{"action": "right_click", "coordinate": [500, 500]}', "qwen3.5", WITHOUT_WRAPPER),
    ('{"action": "left_click_drag", "coordinate": [900, 900]}', "qwen3.5", WITHOUT_WRAPPER),
    ('{"action": "type", "text": "hello", "coordinate": [500, 500]}', "qwen3.5", WITHOUT_WRAPPER),
    ('{"action": "key", "keys": ["ctrl","w"], "point": [990, 10]}', "qwen3.5", WITHOUT_WRAPPER),
    ('{"action": "terminate", "status": "failure", "result": [0, 0]}', "qwen3.5", WITHOUT_WRAPPER),
    ("The Close button is not at [990, 15]; I will scroll down instead.", "qwen3.5", "a point in prose is no answer"),
    (XML_SCROLL, "qwen3.5", WITHOUT_WRAPPER),
    ('{"action": "scroll", "coordinate": [500, 500], "pixels": -5}', "qwen2.5-vl", WITHOUT_WRAPPER),
    ('{"action": "right_click", "coordinate": [500, 500]}', "gui-owl-1.5", WITHOUT_WRAPPER),
]


@pytest.mark.parametrize(("raw", "family", "says"), N2_LINES)
def test_the_red_teams_replies_without_tool_call_are_errors(raw: str, family: str, says: str) -> None:
    with pytest.raises(ParseError, match=says):
        parse(raw, family)


@pytest.mark.parametrize("family", ["qwen2.5-vl", "qwen3-vl", "qwen3.5", "gui-owl-1.5"])
@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ('```json\n{"action": "right_click", "coordinate": [500, 500]}\n```', WITHOUT_WRAPPER),  # in a fence
        ('[{"point_2d": [500, 500]}, {"action": "key", "keys": ["ctrl", "w"]}]', WITHOUT_WRAPPER),
        ('{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [5, 5]}}', WITHOUT_WRAPPER),
        ('{"action": "right_click", "coordinate": [500, 500]', WITHOUT_WRAPPER),  # broken JSON, no repair
        ("Click [100, 200] now", "a point in prose is no answer"),
        ("[100, 200] is where I would click", "a bare list with text around it"),
        ("I would click here:\n```json\n[100, 200]\n```", "a bare list with text around it"),
        ('{"point_2d": [100, 200]} then {"point_2d": [300, 400]}', "more after the grounding answer"),
        ("I could not find it.", "no tool call or grounding found"),
    ],
)
def test_a_reply_without_tool_call_that_is_not_a_pure_grounding_answer_is_an_error(
    family: str, raw: str, says: str
) -> None:
    with pytest.raises(ParseError, match=says):
        parse(raw, family)


@pytest.mark.parametrize(
    "raw",
    [
        '{"point_2d": [500, 500]}',
        '```json\n[\n\t{"bbox_2d": [400, 400, 600, 600], "label": "OK"}\n]\n```',
        'Here it is:\n```json\n{"point_2d": [500, 500], "label": "OK"}\n```\nThat is the button.',
        '{"point_2d": [500, 500]} is the OK button.',
        '{"thought": "the OK button", "result": [500, 500]}',
        "[500, 500]",
        "[400, 400, 600, 600]",
        '<points x1="500" y1="500" alt="OK">OK</points>',
        "400,400,600,600 OK",
    ],
)
def test_a_pure_grounding_answer_is_still_a_click(raw: str) -> None:
    # qwen3-vl answers in 0-1000 of the screen: (500, 500) is its centre
    [parsed] = parse(raw, "qwen3-vl").actions
    assert parsed.action == Click(x=960, y=540)


def test_the_grounding_only_families_read_as_before() -> None:
    """holo2 and UI-Venus only point: a point in their prose is their answer, as before."""
    assert parse('{"x": 500, "y": 500}', "holo2").actions[0].action == Click(x=960, y=540)
    assert parse("The element is at [500, 500]", "holo2").actions[0].action == Click(x=960, y=540)
    assert parse("[-1,-1]", "ui-venus-1.5").actions[0].action == Finish(
        status="failure", answer="the model found no such element on the screen"
    )


def test_deskpilot_parse_refuses_an_unwrapped_call() -> None:
    raw = '{"action": "key", "keys": ["ctrl","w"], "point": [990, 10]}'
    out = subprocess.run(
        [str(DESKPILOT), "parse", "--family", "qwen3.5", "--screen", "1920x1080", raw],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert WITHOUT_WRAPPER in json.loads(out.stdout)["error"]
    assert out.stderr.count("\n") == 1 and WITHOUT_WRAPPER in out.stderr


# -- N12: no guesses ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "says"),
    [
        ("pyautogui.click(x=100, y=200, clicks=2.9)", "clicks must be a whole number, got 2.9"),
        ("pyautogui.click(x=100, y=200, clicks=3.5)", "clicks must be a whole number, got 3.5"),
        ("pyautogui.press('tab', presses=1.5)", "presses must be a whole number, got 1.5"),
        ("pyautogui.scroll(2.5)", "clicks must be a whole number, got 2.5"),
    ],
)
def test_opencua_counts_must_be_whole(code: str, says: str) -> None:
    with pytest.raises(ParseError, match=says):
        parse(f"```python\n{code}\n```", "opencua")


def test_opencua_whole_counts_still_count() -> None:
    [parsed] = parse("```python\npyautogui.click(x=100, y=200, clicks=2.0)\n```", "opencua").actions
    assert isinstance(parsed.action, Click) and parsed.action.count == 2


XML_EXTRA = (
    "<tool_call>\n<function=computer_use>\n<parameter=action>\nleft_click\n</parameter>\n"
    "<parameter=coordinate>\n[500, 500]\n</parameter>\n<parameter=coordinate2>\n[999, 999]\n</parameter>\n"
    "<parameter=text>\nrm -rf ~\n</parameter>\n</function>\n</tool_call>"
)
JSON_EXTRA = (
    '<tool_call>\n{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [500, 500], '
    '"coordinate2": [999, 999], "text": "rm -rf ~"}}\n</tool_call>'
)


@pytest.mark.parametrize("raw", [XML_EXTRA, JSON_EXTRA], ids=["xml", "json"])
def test_arguments_an_action_does_not_take_are_named(raw: str) -> None:
    with pytest.raises(ParseError, match="left_click does not take coordinate2, text"):
        parse(raw, "qwen3.5")


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        ({"action": "type", "text": "hi", "coordinate": [5, 5]}, "type does not take coordinate"),
        ({"action": "terminate", "status": "success", "answer": "x"}, "terminate does not take answer"),
        ({"action": "key", "keys": ["ctrl", "w"], "text": "enter"}, "key takes keys or text, not both"),
        ({"action": "wait", "time": 1, "seconds": 9}, "wait takes seconds or time, not both"),
    ],
)
def test_each_action_takes_only_its_own_arguments(arguments: dict[str, object], says: str) -> None:
    call = json.dumps({"name": "computer_use", "arguments": arguments})
    with pytest.raises(ParseError, match=says):
        parse(f"<tool_call>\n{call}\n</tool_call>", "qwen2.5-vl")


@pytest.mark.parametrize(
    "raw", ["[100,200],[300,400] and [500,600]", "[100,200],[300,400],[500,600]", "[100,200] and [300,400]"]
)
def test_ui_venus_points_past_its_answer_are_an_error(raw: str) -> None:
    with pytest.raises(ParseError, match="points where one point or one box"):
        parse(raw, "ui-venus-1.5")


def test_ui_venus_box_and_point_still_read() -> None:
    family = get_family("ui-venus-1.5")
    frame = model_frame(family, *SCREEN)
    box = parse_reply("[100,200],[300,400]", family=family, frame=frame).actions[0]
    point = parse_reply("[200,300]", family=family, frame=frame).actions[0]
    assert box.action == point.action

"""Parsers per syntax: every computer_use action of both tool versions, UI-TARS calls, boxes, thinking,
and the fail-closed rules. Property tests: nothing but ParseError ever escapes, whatever the text."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.errors import ParseError
from agent.families import FAMILIES, get_family, model_frame
from agent.parsing import parse_reply
from sandbox.actions import Click, Drag, Finish, Hotkey, Move, Scroll, Type, Wait


def parse(raw: str, family: str = "qwen2.5-vl", screen: tuple[int, int] = (1932, 1092)):  # type: ignore[no-untyped-def]
    fam = get_family(family)
    return parse_reply(raw, family=fam, frame=model_frame(fam, *screen))


def call(action: str, **arguments: object) -> str:
    body = json.dumps({"name": "computer_use", "arguments": {"action": action, **arguments}})
    return f"<tool_call>\n{body}\n</tool_call>"


@pytest.mark.parametrize("family", ["qwen2.5-vl", "qwen3-vl"])
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (call("left_click", coordinate=[100, 200]), Click(100, 200)),
        (call("right_click", coordinate=[100, 200]), Click(100, 200, "right")),
        (call("middle_click", coordinate=[100, 200]), Click(100, 200, "middle")),
        (call("double_click", coordinate=[100, 200]), Click(100, 200, "left", 2)),
        (call("triple_click", coordinate=[100, 200]), Click(100, 200, "left", 3)),
        (call("mouse_move", coordinate=[100, 200]), Move(100, 200)),
        (call("left_click_drag", coordinate=[100, 200]), Drag(None, None, 100, 200)),
        (call("scroll", pixels=5), Scroll(None, None, "up", 5)),
        (call("scroll", pixels=-3, coordinate=[100, 200]), Scroll(100, 200, "down", 3)),
        (call("hscroll", pixels=-2), Scroll(None, None, "left", 2)),
        (call("type", text="héllo wörld 你好 🙂"), Type("héllo wörld 你好 🙂")),
        (call("key", keys=["ctrl", "a"]), Hotkey(("ctrl", "a"))),
        (call("key", keys=["Return"]), Hotkey(("enter",))),
        (call("key", keys="ctrl+shift+t"), Hotkey(("ctrl", "shift", "t"))),
        (call("wait", time=2), Wait(2)),
        (call("wait", time="3"), Wait(3)),
        (call("left_click", coordinate="[100, 200]"), Click(100, 200)),
        (call("left_click", coordinate="(100,200)"), Click(100, 200)),
        (call("left_click", coordinate="100 200"), Click(100, 200)),
        (call("terminate", status="success"), Finish("success")),
        (call("terminate", status="failure"), Finish("failure")),
        (call("answer", text="42"), Finish("success", "42")),
    ],
)
def test_computer_use_actions(family: str, raw: str, expected: object) -> None:
    # screen 1932x1092 = qwen2.5-vl's model space (identity); for qwen3-vl use a 1000x1000 screen
    screen = (1932, 1092) if family == "qwen2.5-vl" else (1000, 1000)
    assert [p.action for p in parse(raw, family, screen).actions] == [expected]


def test_several_tool_calls_give_several_actions_and_prose_is_the_thought() -> None:
    raw = "I will select all, then type.\n" + call("key", keys=["ctrl", "a"]) + "\n" + call("type", text="hi")
    reply = parse(raw)
    assert [p.action for p in reply.actions] == [Hotkey(("ctrl", "a")), Type("hi")]
    assert reply.thought == "I will select all, then type."


def test_missing_closing_tag_is_tolerated_only_when_the_json_is_complete() -> None:
    raw = '<tool_call>\n{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [5, 6]}}'
    assert parse(raw).actions[0].action == Click(5, 6)
    with pytest.raises(ParseError, match="invalid JSON"):
        parse('<tool_call>\n{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [5')


def test_thinking_is_the_thought_and_never_parsed() -> None:
    decoy = call("left_click", coordinate=[1, 1])
    reply = parse(f"<think>maybe {decoy}</think>\n" + call("left_click", coordinate=[7, 8]))
    assert [p.action for p in reply.actions] == [Click(7, 8)]
    assert reply.thought is not None and reply.thought.startswith("maybe")
    only_close = parse(f"I think {decoy} is wrong</think>" + call("left_click", coordinate=[9, 9]))
    assert [p.action for p in only_close.actions] == [Click(9, 9)]
    with pytest.raises(ParseError, match="no answer"):
        parse(f"<think>{decoy}")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "empty reply"),
        ("   \n", "empty reply"),
        ("I am done, everything looks good.", "no tool call or grounding"),
        (call("left_click"), "needs coordinate"),
        (call("left_click", coordinate=[1, 2, 3]), "coordinate must be"),
        (call("left_click", coordinate=["NaN", 3]), "must be a number"),
        (call("left_click", coordinate=[1e309, 3]), "not finite"),
        (call("left_click", coordinate=[5000, 3]), "outside the model image"),
        (call("fly", coordinate=[1, 2]), "unknown action 'fly'"),
        (call("long_press", coordinate=[1, 2]), "phone action"),
        (call("terminate", status="maybe"), "success or failure"),
        (call("key", keys=["ctrl", "warp"]), "unknown key 'warp'"),
        (call("scroll", pixels=0), "non-zero pixels"),
        (call("type", text=""), "non-empty text"),
        ('<tool_call>{"name": "shell", "arguments": {"cmd": "rm -rf ~"}}</tool_call>', "unknown tool 'shell'"),
        ("<tool_call>not json</tool_call>", "invalid JSON"),
        ('</tool_call>{"bbox_2d": [1,2,3,4]}', "unbalanced"),
        # redteam #19: coordinate strings that were guessed at, and repeated keys where the last one won
        (call("left_click", coordinate="12-34"), "coordinate must be"),
        (call("left_click", coordinate="1.2.3"), "coordinate must be"),
        (call("left_click", coordinate="--1,5"), "coordinate must be"),
        (call("left_click", coordinate="]]100[[ 200"), "coordinate must be"),
        (call("left_click", coordinate="[100, 200"), "coordinate must be"),
        (
            '<tool_call>{"name": "computer_use", "arguments": {"action": "left_click", "action": "key", '
            '"coordinate": [1, 2], "keys": ["ctrl", "alt", "delete"]}}</tool_call>',
            "'action' appears twice",
        ),
        ('<tool_call>{"name": "computer_use", "name": "x", "arguments": {}}</tool_call>', "'name' appears twice"),
        ('{"bbox_2d": [1, 2, 3, 4], "bbox_2d": [5, 6, 7, 8]}', "'bbox_2d' appears twice"),
        ("<tool_call>" + "[" * 100_000 + "</tool_call>", "nested too deeply"),  # redteam #14
    ],
)
def test_malformed_replies_fail_closed_with_a_quote(raw: str, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse(raw)


def test_relative_families_reject_values_past_1000() -> None:
    with pytest.raises(ParseError, match="outside the relative space"):
        parse(call("left_click", coordinate=[1001, 5]), "qwen3-vl")
    assert parse(call("left_click", coordinate=[1000, 1000]), "qwen3-vl", (1920, 1080)).actions[0].action == Click(
        1919, 1079
    )


def test_grounding_replies_click_box_centres() -> None:
    reply = parse('```json\n[{"bbox_2d": [10, 20, 30, 40], "label": "Save"}, {"point_2d": [50, 60]}]\n```\nDone.')
    assert [p.action for p in reply.actions] == [Click(20, 30), Click(50, 60)]
    assert reply.actions[0].box == (10, 20, 30, 40)
    assert reply.actions[0].model["box"] == [10, 20, 30, 40]
    assert [p.action for p in parse('<points x1="11" y1="12" x2="13" y2="14" alt="a">a</points>').actions] == [
        Click(11, 12),
        Click(13, 14),
    ]
    assert [p.action for p in parse("10,20,30,40 the button").actions] == [Click(20, 30)]
    with pytest.raises(ParseError, match="grounding entry has none"):
        parse('[{"label": "no coordinates"}]')


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Thought: go\nAction: click(start_box='<|box_start|>(500,500)<|box_end|>')", [Click(960, 540)]),
        ("Action: left_double(start_box='(500,500)')", [Click(960, 540, "left", 2)]),
        ("Action: right_single(start_box='(500,500)')", [Click(960, 540, "right")]),
        ("Action: hover(start_box='(500,500)')", [Move(960, 540)]),
        ("Action: drag(start_box='(0,0)', end_box='(500,500)')", [Drag(0, 0, 960, 540)]),
        (
            "Action: select(start_point='<point>0 0</point>', end_point='<point>500 500</point>')",
            [Drag(0, 0, 960, 540)],
        ),
        ("Action: hotkey(key='ctrl c')", [Hotkey(("ctrl", "c"))]),
        ("Action: hotkey(key='arrowleft')", [Hotkey(("left",))]),
        ("Action: type(content='it\\'s ok\\n')", [Type("it's ok"), Hotkey(("enter",))]),
        ("Action: type(content='\\n')", [Hotkey(("enter",))]),
        ("Action: scroll(start_box='(500,500)', direction='down')", [Scroll(960, 540, "down", 5)]),
        ("Action: wait()", [Wait(5)]),
        ("Action: finished(content='all done')", [Finish("success", "all done")]),
        ("Action: finished()", [Finish("success", None)]),
        ("Action: call_user()", [Finish("failure", "the model asked for the user's help")]),
        ("Action: click(start_box='(0,0)')\n\nclick(start_box='(1000,1000)')", [Click(0, 0), Click(1919, 1079)]),
    ],
)
def test_ui_tars_calls(raw: str, expected: list[object]) -> None:
    assert [p.action for p in parse(raw, "ui-tars", (1920, 1080)).actions] == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("Thought: nothing to do", "no 'Action:'"),
        ("Action: ", "no action call"),
        ("Action: click(start_box='(1,2)'", "malformed arguments"),
        ("Action: click(start_box='(1,2)", "unterminated string"),
        ("Action: click(start_box=(1,2))", "malformed arguments"),
        ("Action: click(start_box='(1,2,3)')", "must hold a point"),
        ("Action: click(start_box='(a,b)')", "must hold a point"),
        ("Action: click()", "needs start_box"),
        ("Action: open_app(app_name='x')", "phone action"),
        ("Action: teleport(start_box='(1,1)')", "unknown action 'teleport'"),
        ("Action: scroll(direction='sideways')", "scroll direction"),
        ("Action: click(start_box='(1,2)') rm -rf", "expected an action call"),
        ("Action: click(start_box='(1,2)', start_box='(9,9)')", "'start_box' is given twice"),  # redteam #19
        ("Action: click(point='(1,2)', start_box='(9,9)')", "'start_box' is given twice"),
        ("Action: hotkey(key='ctrl alt \\u0008')", "control character"),  # redteam #1
    ],
)
def test_ui_tars_malformed(raw: str, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse(raw, "ui-tars", (1920, 1080))


def test_ui_tars_1_5_is_absolute_in_the_resized_image() -> None:
    reply = parse("Action: click(start_box='(966,546)')", "ui-tars-1.5", (1920, 1080))  # 1932x1092 -> centre
    assert reply.actions[0].action == Click(960, 540)
    assert reply.actions[0].model == {"kind": "click", "x": 966.0, "y": 546.0, "button": "left", "count": 1}


def test_qwen_vl_and_qwen2_vl_boxes() -> None:
    v1 = parse("<ref>Save</ref><box>(100,100),(300,300)</box>", "qwen-vl", (1000, 1000))
    assert [p.action for p in v1.actions] == [Click(200, 200)] and v1.thought == "Save"
    v2 = parse(
        "<|object_ref_start|>OK<|object_ref_end|><|box_start|>(100,100),(300,300)<|box_end|>", "qwen2-vl", (1000, 1000)
    )
    assert [p.action for p in v2.actions] == [Click(200, 200)]
    stripped = parse("OK(100,100),(300,300)", "qwen2-vl", (1000, 1000))
    assert [p.action for p in stripped.actions] == [Click(200, 200)]
    point = parse("<|box_start|>(250,750)<|box_end|>", "qwen2-vl", (1000, 1000))
    assert [p.action for p in point.actions] == [Click(250, 750)]
    aliases = parse("<|extra_0|>OK<|extra_1|><|extra_2|>(100,100),(300,300)<|extra_3|>", "qwen2-vl", (1000, 1000))
    assert [p.action for p in aliases.actions] == [Click(200, 200)]
    with pytest.raises(ParseError, match="no <box>"):
        parse("<ref>Save</ref>", "qwen-vl")
    with pytest.raises(ParseError, match="a box must read"):
        parse("<|box_start|>(1,2),(3)<|box_end|>", "qwen2-vl")


SYNTAX_BITS = st.sampled_from(
    [
        "<tool_call>",
        "</tool_call>",
        "<think>",
        "</think>",
        "Action:",
        "Thought:",
        "click(",
        "start_box=",
        "'",
        '"',
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        ",",
        "\n",
        "<|box_start|>",
        "<|box_end|>",
        "<ref>",
        "</ref>",
        "<box>",
        "</box>",
        '"bbox_2d":',
        '"point_2d":',
        '"name": "computer_use"',
        '"arguments":',
        '"action": "left_click"',
        '"coordinate":',
        "1e999",
        "NaN",
        "-5",
        "500",
        "1000",
        "99999",
        "0.5",
        '<points x1="3" y1="4">',
        "</points>",
        "```json",
        "```",
        "type(content='",
        "<function=computer_use>",
        "</function>",
        "<parameter=action>",
        "<parameter=coordinate>",
        "</parameter>",
        "\n",
        "left_click",
        '{"x": 5, "y": 7}',
        "[-1,-1]",
        "```python\n",
        "pyautogui.click(",
        "x=3, y=4)",
        "computer.terminate(status='success')",
        "\\",
        "hotkey(key='",
        "ctrl",
        "scroll(",
        "direction='up'",
    ]
)


@settings(max_examples=800, deadline=None)
@given(
    family=st.sampled_from(sorted(FAMILIES)),
    text=st.one_of(st.text(), st.lists(st.one_of(SYNTAX_BITS, st.text(max_size=5)), max_size=30).map("".join)),
)
def test_parsers_only_ever_raise_parse_error(family: str, text: str) -> None:
    try:
        reply = parse(text, family, (1920, 1080))
    except ParseError:
        return
    for parsed in reply.actions:  # whatever was accepted is a real, on-screen action
        for value in (getattr(parsed.action, name, None) for name in ("x", "y", "to_x", "to_y")):
            assert value is None or (isinstance(value, int) and 0 <= value < 1920)

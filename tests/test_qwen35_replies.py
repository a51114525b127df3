"""Qwen3.5 replies: both tool-call forms its chat template writes (JSON and `<function=...>` XML), with and
without thinking, on screens with negative origins, through the parser and through `deskpilot parse`."""

from __future__ import annotations

import json

import pytest

from agent.errors import ParseError
from agent.families import get_family, model_frame
from agent.parsing import parse_reply
from sandbox.actions import Click, Drag, Finish, Hotkey, Move, Scroll, Type, Wait
from tests.helpers.cli import deskpilot

LEFT_MONITOR = {"screen": (1920, 1080), "origin": (-1920, -200)}  # a monitor left of and above the primary


def xml_call(action: str, **parameters: object) -> str:
    """A call as Qwen3.5's chat template renders one: strings as they are, everything else as JSON."""
    lines = ["<tool_call>", "<function=computer_use>", "<parameter=action>", action, "</parameter>"]
    for name, value in parameters.items():
        rendered = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        lines += [f"<parameter={name}>", str(rendered), "</parameter>"]
    return "\n".join([*lines, "</function>", "</tool_call>"])


def json_call(action: str, **arguments: object) -> str:
    body = json.dumps({"name": "computer_use", "arguments": {"action": action, **arguments}}, ensure_ascii=False)
    return f"<tool_call>\n{body}\n</tool_call>"


def parse(raw: str, family: str = "qwen3.5", screen: tuple[int, int] = (1920, 1080), origin=(0, 0)):  # type: ignore[no-untyped-def]
    fam = get_family(family)
    return parse_reply(raw, family=fam, frame=model_frame(fam, *screen, origin=origin))


CASES = [
    (("left_click",), {"coordinate": [500, 300]}, Click(-960, 124)),
    (("double_click",), {"coordinate": [0, 0]}, Click(-1920, -200, count=2)),
    (("right_click",), {"coordinate": [1000, 1000]}, Click(-1, 879, button="right")),
    (("mouse_move",), {"coordinate": [250, 500]}, Move(-1440, 340)),
    (("left_click_drag",), {"coordinate": [750, 500]}, Drag(None, None, -480, 340)),
    (("scroll",), {"pixels": -5, "coordinate": [500, 500]}, Scroll(-960, 340, direction="down", amount=5)),
    (("type",), {"text": "Grüße, 世界\nzweite Zeile"}, Type("Grüße, 世界\nzweite Zeile")),
    (("type",), {"text": "123"}, Type("123")),  # a string parameter stays text even where it reads as JSON
    (("key",), {"keys": ["ctrl", "s"]}, Hotkey(("ctrl", "s"))),
    (("wait",), {"time": 2}, Wait(2)),
    (("terminate",), {"status": "failure"}, Finish("failure")),
    (("answer",), {"text": "42"}, Finish("success", "42")),
]


@pytest.mark.parametrize("form", ["xml", "json"])
@pytest.mark.parametrize(("action", "parameters", "expected"), CASES, ids=lambda c: str(c)[:30])
def test_both_forms_on_a_monitor_with_a_negative_origin(
    form: str, action: tuple[str], parameters: dict, expected: object
) -> None:
    raw = (xml_call if form == "xml" else json_call)(action[0], **parameters)
    reply = parse(raw, **LEFT_MONITOR)
    assert [p.action for p in reply.actions] == [expected]
    assert reply.thought is None


@pytest.mark.parametrize("form", ["xml", "json"])
def test_thinking_becomes_the_thought_and_is_never_parsed(form: str) -> None:
    call = (xml_call if form == "xml" else json_call)("left_click", coordinate=[500, 500])
    decoy = xml_call("right_click", coordinate=[10, 10])  # a call inside the thinking is not an action
    raw = f"<think>\nThe Save button is in the middle. Maybe {decoy}?\n</think>\n\n{call}"
    reply = parse(raw)
    assert [p.action for p in reply.actions] == [Click(960, 540)]
    assert reply.thought is not None and reply.thought.startswith("The Save button is in the middle.")
    # the chat template opened <think> itself: the reply starts inside it
    reply = parse(f"I should click Save.\n</think>\n\n{call}")
    assert reply.thought == "I should click Save." and [p.action for p in reply.actions] == [Click(960, 540)]
    # thinking switched off: the template wrote an empty block, the reply may repeat it
    assert parse(f"<think>\n\n</think>\n\n{call}").thought is None


def test_xml_values_keep_their_layout_only_inside_text() -> None:
    raw = "<tool_call>\n<function=computer_use>\n<parameter=action>\n  type \n</parameter>\n<parameter=text>\n  two  spaces \n</parameter>\n</function>\n</tool_call>"
    assert [p.action for p in parse(raw).actions] == [Type("  two  spaces ")]
    # coordinate written as text the JSON reader refuses, in the forms to_point accepts
    raw = xml_call("left_click", coordinate="(500, 500)")
    assert [p.action for p in parse(raw).actions] == [Click(960, 540)]


def test_several_calls_and_prose_in_one_reply() -> None:
    raw = (
        "Thought: the field is empty.\n"
        + xml_call("left_click", coordinate=[500, 100])
        + "\n"
        + json_call("type", text="hello")
        + "\n<tool_call>\n<function=computer_use>\n<parameter=action>\nkey\n</parameter>\n<parameter=keys>\n"
        '["enter"]\n</parameter>\n</function>\n<function=computer_use>\n<parameter=action>\nterminate\n'
        "</parameter>\n<parameter=status>\nsuccess\n</parameter>\n</function>\n</tool_call>"
    )
    reply = parse(raw)
    assert [p.action for p in reply.actions] == [Click(960, 108), Type("hello"), Hotkey(("enter",)), Finish("success")]
    assert reply.thought == "the field is empty."


MALFORMED = [
    (
        xml_call("left_click", coordinate=[500, 300]).replace("<parameter=coordinate>", "<parameter=action>"),
        "appears twice",
    ),
    (xml_call("left_click", coordinate=[500, 300]).replace("</function>\n", ""), "no </function>"),
    (
        xml_call("left_click", coordinate=[500, 300]).replace("[500, 300]\n</parameter>", "[500, 300]"),
        "no </parameter>",
    ),
    (
        xml_call("left_click", coordinate=[500, 300]).replace("<function=computer_use>", "<function=shell>"),
        "unknown tool 'shell'",
    ),
    (xml_call("left_click", coordinate=[500, 300]).replace("<function=computer_use>", "<function=>"), "without a name"),
    (
        xml_call("left_click", coordinate=[500, 300]).replace(
            "</parameter>\n<parameter=coordinate>", "</parameter>\nstray\n<parameter=coordinate>"
        ),
        "text outside",
    ),
    (xml_call("left_click", coordinate=[1500, 300]), "outside"),
    (xml_call("left_click", coordinate=[500, "NaN"]), "coordinate must be"),
    (xml_call("left_click"), "left_click needs coordinate"),
    (xml_call("launch_rockets", coordinate=[5, 5]), "unknown action 'launch_rockets'"),
    (xml_call("key", keys='{"a": 1, "a": 2}'), "appears twice"),
    ("<think>\nI will click the OK button at", "thinking but no answer"),
    (json_call("left_click", coordinate=[500, 300]).replace("}}", "}"), "invalid JSON"),
]


@pytest.mark.parametrize(("raw", "message"), MALFORMED, ids=lambda v: str(v)[-24:])
def test_malformed_replies_are_refused_with_what_and_where(raw: str, message: str) -> None:
    with pytest.raises(ParseError, match=None) as info:
        parse(raw)
    assert message in str(info.value)


@pytest.mark.parametrize("form", ["xml", "json"])
@pytest.mark.parametrize("thinking", [False, True])
def test_deskpilot_parse_reads_both_forms(form: str, thinking: bool) -> None:
    call = (xml_call if form == "xml" else json_call)("left_click", coordinate=[500, 300])
    raw = f"<think>\nThe OK button.\n</think>\n\n{call}" if thinking else call
    out = deskpilot("parse", "--family", "qwen3.5", "--screen", "1920x1080", "--origin=-1920,-200", raw)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {
        "thought": "The OK button." if thinking else None,
        "actions": [{"kind": "click", "x": -960, "y": 124, "button": "left", "count": 1}],
    }


@pytest.mark.parametrize(("raw", "message"), MALFORMED[:4], ids=lambda v: str(v)[-24:])
def test_deskpilot_parse_refuses_malformed_with_exit_2(raw: str, message: str) -> None:
    out = deskpilot("parse", "--family", "qwen3.5", "--screen", "1920x1080", stdin=raw)
    assert out.returncode == 2
    assert message in json.loads(out.stdout)["error"]
    assert out.stderr.count("\n") == 1 and message in out.stderr

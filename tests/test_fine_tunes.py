"""Fine-tunes people pick from leaderboards: GUI-Owl-1.5, Holo2, UI-Venus-1.5 (grounding on Qwen3-VL) and
OpenCUA (pyautogui code on Qwen2.5-VL); the names that are not presets are refused naming the closest one.
The real replies of each are in test_samples.py; here the forms around them and the fail-closed rules."""

from __future__ import annotations

import pytest

from agent.backends.scripted import ScriptedBackend
from agent.errors import ConfigError, ParseError
from agent.events import ActionExecuted, RunFinished
from agent.families import FAMILIES, NOT_PRESETS, get_family, model_frame, model_input_size
from agent.parsing import parse_reply
from agent.prompts import GROUNDING_PROMPTS, build_messages
from sandbox.actions import Click, Drag, Finish, Hotkey, Move, Scroll, Type
from tests.helpers.fake_screen import run_on_fake_screen


def parse(raw: str, family: str, screen: tuple[int, int] = (1920, 1080), origin=(0, 0)):  # type: ignore[no-untyped-def]
    fam = get_family(family)
    return parse_reply(raw, family=fam, frame=model_frame(fam, *screen, origin=origin))


def actions(raw: str, family: str, **kwargs: object) -> list[object]:
    return [p.action for p in parse(raw, family, **kwargs).actions]  # type: ignore[arg-type]


def test_fine_tunes_are_their_base_with_their_own_syntax() -> None:
    for name in ("gui-owl-1.5", "holo2", "ui-venus-1.5"):
        fam, base = get_family(name), get_family("qwen3-vl")
        assert (fam.coords, fam.factor, fam.min_pixels, fam.max_pixels) == (
            base.coords,
            base.factor,
            base.min_pixels,
            base.max_pixels,
        )
    opencua = get_family("opencua")
    assert opencua.coords == "absolute" and not opencua.in_process
    assert [f.name for f in FAMILIES.values() if f.points_only] == ["qwen-vl", "qwen2-vl", "holo2", "ui-venus-1.5"]
    assert {f.name for f in FAMILIES.values() if f.points_only} == set(GROUNDING_PROMPTS)


# --- Holo2 and UI-Venus-1.5: one point in 0-1000 ------------------------------------------------------------


@pytest.mark.parametrize(
    ("family", "raw", "expected"),
    [
        ("holo2", '{"x": 552, "y": 404}', Click(-1920 + 1060, 436)),
        ("holo2", '```json\n{"x": 552, "y": 404}\n```', Click(-1920 + 1060, 436)),
        ("holo2", '{"x": "552", "y": 404.0}', Click(-1920 + 1060, 436)),
        ("ui-venus-1.5", "[552,404]", Click(-1920 + 1060, 436)),
        ("ui-venus-1.5", "[500,400,604,408]", Click(-1920 + 1060, 436)),  # a box: its centre
        ("ui-venus-1.5", "[500,400],[604,408]", Click(-1920 + 1060, 436)),  # a box as two corners
    ],
)
def test_grounding_fine_tunes_point_in_thousandths(family: str, raw: str, expected: Click) -> None:
    assert actions(raw, family, origin=(-1920, 0)) == [expected]


def test_not_found_ends_the_run_as_a_failure_without_a_click() -> None:
    assert actions("[-1,-1]", "ui-venus-1.5") == [Finish("failure", "the model found no such element on the screen")]
    events, driver = run_on_fake_screen("Click Save", ScriptedBackend(["[-1, -1]"]), get_family("ui-venus-1.5"))
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.outcome == "failure"
    assert finished.answer is not None and "no such element" in finished.answer
    assert driver.calls == []


def test_a_grounding_fine_tune_clicks_once_and_the_run_ends() -> None:
    events, driver = run_on_fake_screen("Click Save", ScriptedBackend(['{"x": 250, "y": 500}']), get_family("holo2"))
    assert isinstance(events[-1], RunFinished) and events[-1].outcome == "success"
    assert [e.action for e in events if isinstance(e, ActionExecuted)] == [Click(480, 540)]
    assert ("click", "left") in driver.calls


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ('{"x": 1001, "y": 5}', "outside"),
        ('{"x": 5}', "none of"),
        ('{"x": true, "y": 5}', "must be a number"),
        ('{"x": 5, "x": 6, "y": 5}', "appears twice"),
        ("[-1,-2]", "outside"),
        ("I cannot see it.", "no tool call or grounding"),
    ],
)
def test_grounding_fine_tunes_refuse_what_they_cannot_read(raw: str, message: str) -> None:
    with pytest.raises(ParseError) as info:
        parse(raw, "holo2" if raw.startswith("{") else "ui-venus-1.5")
    assert message in str(info.value)


# --- OpenCUA: pyautogui code, read and never run -------------------------------------------------------------

SIZE = model_input_size(get_family("opencua"), 1920, 1080)  # 1932x1092: pixels of the smart-resized image


def px(x: int, y: int) -> tuple[int, int]:
    """Where OpenCUA writes screen point (x, y) of a 1920x1080 screen."""
    return round(x * SIZE[0] / 1920), round(y * SIZE[1] / 1080)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("pyautogui.click(x={x}, y={y})", [Click(960, 540)]),
        ("pyautogui.click({x}, {y})", [Click(960, 540)]),
        ("pyautogui.click(x={x}, y={y}, clicks=2)", [Click(960, 540, count=2)]),
        ("pyautogui.click(x={x}, y={y}, button='right')", [Click(960, 540, button="right")]),
        ("pyautogui.doubleClick(x={x}, y={y})", [Click(960, 540, count=2)]),
        ("pyautogui.rightClick(x={x}, y={y})", [Click(960, 540, button="right")]),
        ("computer.triple_click(x={x}, y={y})", [Click(960, 540, count=3)]),
        ("pyautogui.moveTo(x={x}, y={y})", [Move(960, 540)]),
        ("pyautogui.dragTo(x={x}, y={y}, button='left')", [Drag(None, None, 960, 540)]),
        ("pyautogui.scroll(-3)", [Scroll(None, None, direction="down", amount=3)]),
        ("pyautogui.scroll(5, x={x}, y={y})", [Scroll(960, 540, direction="up", amount=5)]),
        ("pyautogui.write(message='Grüße, 世界')", [Type("Grüße, 世界")]),
        ("pyautogui.press('enter')", [Hotkey(("enter",))]),
        ("pyautogui.press(['tab', 'tab'])", [Hotkey(("tab",)), Hotkey(("tab",))]),
        ("pyautogui.press('down', presses=2)", [Hotkey(("down",)), Hotkey(("down",))]),
        ("pyautogui.hotkey('ctrl', 's')", [Hotkey(("ctrl", "s"))]),
        ("pyautogui.hotkey(keys=['ctrl', 's'])", [Hotkey(("ctrl", "s"))]),
        ("computer.terminate(status='failure')", [Finish("failure")]),
    ],
)
def test_opencua_calls(code: str, expected: list[object]) -> None:
    x, y = px(960, 540)
    raw = f"## Thought:\nThe field.\n\n## Action:\nDo it.\n\n## Code:\n```python\n{code.format(x=x, y=y)}\n```"
    reply = parse(raw, "opencua")
    assert [p.action for p in reply.actions] == expected
    assert reply.thought == "The field."


def test_opencua_several_lines_and_a_bare_call() -> None:
    x, y = px(100, 200)
    code = f"```python\npyautogui.click(x={x}, y={y})\npyautogui.write(message='hi')\npyautogui.press('enter')\n```"
    assert actions(code, "opencua") == [Click(100, 200), Type("hi"), Hotkey(("enter",))]
    reply = parse(f"I will click it.\npyautogui.click(x={x}, y={y})", "opencua")
    assert [p.action for p in reply.actions] == [Click(100, 200)] and reply.thought == "I will click it."


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("import os", "only pyautogui calls are read"),
        ("os.system('rm -rf ~')", "only pyautogui.* and computer.* calls"),
        ("pyautogui.click(x=__import__('os'), y=3)", "literal values"),
        ("pyautogui.click(x=1+1, y=3)", "literal values"),
        ("x = 5\npyautogui.click(x=x, y=3)", "only pyautogui calls are read"),
        ("for i in range(9): pyautogui.click(x=1, y=1)", "only pyautogui calls are read"),
        ("pyautogui.click(*[1, 2])", "*args"),
        ("pyautogui.click(**{'x': 1})", "*args"),
        ("pyautogui.click()", "x and y are needed"),
        ("pyautogui.click(x=1, y=2, x=3)", "'x' is given twice"),
        ("pyautogui.click(1, 2, x=3)", "given twice"),
        ("pyautogui.click(x=1, y=2, bogus=3)", "unknown argument 'bogus'"),
        ("pyautogui.click(x=1, y=2, clicks=7)", "clicks must be"),
        ("pyautogui.click(x=1e999, y=2)", "not finite"),
        ("pyautogui.click(x=99999, y=2)", "outside"),
        ("pyautogui.dragTo(x=1, y=2, button='right')", "left-button drags"),
        ("pyautogui.scroll(0)", "non-zero"),
        ("pyautogui.write(message='')", "non-empty"),
        ("pyautogui.press('enter', presses=1000)", "presses must be"),
        ("pyautogui.hotkey()", "key names"),
        ("pyautogui.screenshot()", "unknown function 'pyautogui.screenshot'"),
        ("computer.terminate(status='maybe')", "success or failure"),
        ("pyautogui.click(x=1, y=2", "not valid Python"),
        ("pyautogui.click(x=1, y=2)\0", "not valid Python"),
    ],
)
def test_opencua_code_that_is_not_a_plain_call_is_refused(code: str, message: str) -> None:
    with pytest.raises(ParseError) as info:
        parse(f"```python\n{code}\n```", "opencua")
    assert message in str(info.value)


def test_opencua_without_code_is_refused() -> None:
    with pytest.raises(ParseError, match="no pyautogui code"):
        parse("## Thought:\nI am not sure what to do.", "opencua")


def test_opencua_prompt_names_the_pixels_it_sees() -> None:
    from PIL import Image

    image = Image.new("RGB", SIZE)
    system, user = build_messages(get_family("opencua"), "Save the file", image)
    assert "pyautogui" in system.text and f"{SIZE[0]}x{SIZE[1]}" in system.text
    assert "Save the file" in user.text


# --- names that are not presets ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(NOT_PRESETS))
def test_not_presets_name_the_closest(name: str) -> None:
    with pytest.raises(ConfigError) as info:
        get_family(name)
    message = str(info.value)
    closest = NOT_PRESETS[name][1].split()[0]
    assert f"family {name!r} is not supported" in message and f"the closest preset is {closest}" in message
    assert closest in FAMILIES


def test_an_unknown_name_lists_the_presets() -> None:
    with pytest.raises(ConfigError, match="unknown family 'qwen9'.*holo2.*opencua"):
        get_family("qwen9")


def test_the_command_line_refuses_a_name_that_is_not_a_preset_with_the_closest() -> None:
    from tests.helpers.cli import deskpilot

    out = deskpilot("parse", "--family", "holo1", "--screen", "1920x1080", '{"x": 1, "y": 2}')
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "the closest preset is holo2" in out.stderr


def test_opencua_is_not_loaded_in_process() -> None:
    from agent.backends.registry import BackendSettings, make_backend

    with pytest.raises(ConfigError, match="serve it .* --backend openai --family opencua"):
        make_backend(BackendSettings(name="transformers", model="xlang-ai/OpenCUA-7B"), family=get_family("opencua"))

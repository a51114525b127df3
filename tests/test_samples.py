"""Every real model reply in tests/data/format_samples.jsonl, table-driven.

Well-formed replies of our families parse to their expected action and point; malformed ones give a
ParseError or a documented repair (listed here with the repair it gets). Screen size: the sample's
image_size where it gives one, else 2000x2000.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.errors import ParseError
from agent.families import get_family, model_frame, model_input_size
from agent.parsing import parse_reply

SAMPLES = Path(__file__).with_name("data") / "format_samples.jsonl"
DEFAULT_SCREEN = (2000, 2000)

FAMILY_OF: dict[int, str] = {
    **{i: "qwen-vl" for i in range(0, 5)},
    **{i: "qwen2-vl" for i in range(5, 8)},
    **{i: "ui-tars" for i in range(8, 24)},
    **{i: "ui-tars-1.5" for i in range(24, 30)},
    30: "ui-tars",  # UI-TARS/Doubao <point> syntax, relative 0-1000
    **{i: "qwen2.5-vl" for i in range(32, 44)},
    **{i: "qwen3-vl" for i in range(44, 50)},
    **{i: "gui-owl-1.5" for i in range(50, 56)},  # Qwen3-VL fine-tune: "Action: ..." then a computer_use call
    56: "opencua",  # pyautogui code in a ```python block
    61: "holo2",  # {"x", "y"} in 0-1000
}
NOT_OURS: dict[int, str] = {  # each refused by name with the closest preset (test_not_presets_name_the_closest)
    31: "Seed XML tool call: a closed model's syntax",
    57: "UI-Venus: its own resize (2352x1344 for 1920x1080)",
    58: "Holo1: pixels of a client-resized image",
    59: "Holo1: rendered pydantic object",
    60: "Holo1.5: rendered pydantic object",
}
# Malformed samples: "error: <text the message contains>" or "repair: <what is done>"
MALFORMED: dict[int, str] = {
    9: "repair: 'Action:' found mid-line",
    10: "repair: [x,y] read like (x,y)",
    11: "repair: four bare numbers are a box; its centre is clicked",
    14: "repair: the call leaked into Thought is thought; the Action is the scroll",
    15: "error: no 'Action:'",
    16: "repair: two Action sections give two actions, in order",
    18: "error: start_box must hold a point",
    19: "repair: <bbox>x1 y1 x2 y2</bbox> is a box",
    20: "repair: full-width colon; <bbox> box",
    41: "error: outside the model image",
    43: "repair: stray spaces inside < points > tags",
    47: 'repair: broken JSON, each "bbox_2d" read on its own',
    53: 'repair: "time": "3" read as a number',
}
ERRORS: dict[int, str] = {48: "unknown tool 'image_zoom_in_tool'"}  # well-formed, but not our tool: fail closed


def load() -> list[dict]:
    return [json.loads(line) for line in SAMPLES.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_every_sample_is_classified() -> None:
    samples = load()
    assert len(samples) == 62
    assert set(FAMILY_OF) | set(NOT_OURS) == set(range(len(samples)))
    assert not set(FAMILY_OF) & set(NOT_OURS)
    marked = {i for i, s in enumerate(samples) if s["expected"].get("malformed") and i in FAMILY_OF}
    assert marked == set(MALFORMED)


def _screen(sample: dict) -> tuple[int, int]:
    return tuple(sample["image_size"]) if sample["image_size"] else DEFAULT_SCREEN  # type: ignore[return-value]


def _to_screen(family_name: str, sample: dict, point: list[float]) -> tuple[float, float]:
    """The expected screen point, computed from the sample alone (not through ModelFrame)."""
    family = get_family(family_name)
    width, height = _screen(sample)
    if family.coords == "relative":
        return point[0] / 1000 * width, point[1] / 1000 * height
    size = sample["expected"].get("model_input_size") or model_input_size(family, width, height)
    return point[0] / size[0] * width, point[1] / size[1] * height


def _centre(box: list[float]) -> list[float]:
    return [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2]


def _expected_points(sample: dict) -> list[list[float]] | None:
    exp = sample["expected"]
    if "boxes" in exp:
        return [_centre(b["box"]) for b in exp["boxes"]]
    if exp.get("box") is not None:
        return [_centre(exp["box"])]
    if exp.get("point") is not None:
        return [exp["point"]]
    return None


def _close(actual: tuple[int, int], expected: tuple[float, float]) -> bool:
    return abs(actual[0] - expected[0]) <= 1 and abs(actual[1] - expected[1]) <= 1


@pytest.mark.parametrize("index", sorted(FAMILY_OF))
def test_sample(index: int) -> None:
    sample = load()[index]
    family = get_family(FAMILY_OF[index])
    width, height = _screen(sample)
    frame = model_frame(family, width, height)
    outcome = MALFORMED.get(index, "")
    if outcome.startswith("error:") or index in ERRORS:
        with pytest.raises(ParseError, match=None) as info:
            parse_reply(sample["raw"], family=family, frame=frame)
        assert (ERRORS.get(index) or outcome.removeprefix("error: ")) in str(info.value)
        return
    reply = parse_reply(sample["raw"], family=family, frame=frame)
    actions = [p.action for p in reply.actions]
    exp = sample["expected"]

    if index == 16:  # two Action sections: click then type
        assert [a.kind for a in actions] == ["click", "type"]
        assert _close((actions[0].x, actions[0].y), _to_screen("ui-tars", sample, [100, 100]))
        assert actions[1].text == "doubao.com"
        return
    if "thought" in exp:
        assert reply.thought == exp["thought"]
    kind = exp.get("action")
    if kind in ("click", "double_click") or exp["kind"] == "grounding":
        points = _expected_points(sample)
        assert all(a.kind == "click" for a in actions)
        if points is not None:
            assert len(actions) == len(points)
        else:  # n_boxes / first_box / boxes_first_last
            assert len(actions) == exp["n_boxes"]
            first = exp.get("first_box") or exp.get("boxes_first_last", [{}])[0].get("box")
            points = [_centre(first)] if first else []
            if "boxes_first_last" in exp:
                points_last = _centre(exp["boxes_first_last"][-1]["box"])
                assert _close((actions[-1].x, actions[-1].y), _to_screen(FAMILY_OF[index], sample, points_last))
        for action, point in zip(actions, points):
            assert _close((action.x, action.y), _to_screen(FAMILY_OF[index], sample, point))
            assert action.count == (2 if kind == "double_click" else 1)
        if "screen_point" in exp:
            assert _close((actions[0].x, actions[0].y), tuple(exp["screen_point"]))
    elif kind == "type":
        assert actions[0].kind == "type" and actions[0].text == exp["text"]
        assert [a.kind for a in actions[1:]] == (["hotkey"] if exp.get("submit") else [])
    elif kind in ("hotkey", "key"):
        assert [a.kind for a in actions] == ["hotkey"] and list(actions[0].keys) == exp["keys"]
    elif kind == "scroll":
        assert [a.kind for a in actions] == ["scroll"]
        assert actions[0].direction == exp["direction"] and actions[0].x is None
    elif kind == "wait":
        assert [a.kind for a in actions] == ["wait"] and actions[0].seconds == exp["seconds"]
    elif kind == "terminate":
        assert [a.kind for a in actions] == ["finish"] and actions[0].status == exp["status"]
    else:  # pragma: no cover - every sample kind is handled above
        pytest.fail(f"sample {index}: unhandled expected kind {kind!r}")

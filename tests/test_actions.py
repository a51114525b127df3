"""The closed action vocabulary: typed, frozen, JSON round trip, strict on bad input; key names."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox.actions import (
    Click,
    Drag,
    Finish,
    Hotkey,
    Move,
    Scroll,
    Type,
    Wait,
    action_from_json,
    action_to_json,
    describe,
)
from sandbox.errors import ActionError, KeyNameError
from sandbox.keys import normalize_combo, normalize_key, split_combo

coord = st.integers(-100_000, 100_000)
maybe_point = st.one_of(st.tuples(coord, coord), st.none())
actions = st.one_of(
    st.builds(Click, coord, coord, st.sampled_from(["left", "right", "middle"]), st.integers(1, 3)),
    st.builds(Move, coord, coord),
    maybe_point.flatmap(lambda p: st.builds(Drag, st.just(p and p[0]), st.just(p and p[1]), coord, coord)),
    maybe_point.flatmap(
        lambda p: st.builds(
            Scroll,
            st.just(p and p[0]),
            st.just(p and p[1]),
            st.sampled_from(["up", "down", "left", "right"]),
            st.integers(1, 50),
        )
    ),
    st.builds(Type, st.text(st.characters(blacklist_categories=("Cc", "Cs")) | st.sampled_from("\n\t"), min_size=1)),
    st.builds(Hotkey, st.sampled_from([("ctrl", "s"), ("alt", "f4"), ("enter",), ("super",), ("ctrl", "shift", "t")])),
    st.builds(Wait, st.floats(0, 3600)),
    st.builds(Finish, st.sampled_from(["success", "failure"]), st.one_of(st.none(), st.text())),
)


@given(actions)
def test_json_round_trip(action) -> None:  # type: ignore[no-untyped-def]
    data = action_to_json(action)
    assert data["kind"] == action.kind and list(data)[0] == "kind"
    assert action_from_json(data) == action


def test_actions_are_frozen() -> None:
    click = Click(1, 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        click.x = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"kind": "explode"}, "unknown action kind"),
        ([1, 2], "JSON object"),
        ({"kind": "click", "x": 1}, "missing field"),
        ({"kind": "click", "x": 1, "y": 2, "z": 3}, "unknown field"),
        ({"kind": "click", "x": 1.5, "y": 2}, "x must be an integer"),
        ({"kind": "click", "x": True, "y": 2}, "x must be an integer"),
        ({"kind": "click", "x": 1, "y": 2, "count": 4}, "count"),
        ({"kind": "click", "x": 1, "y": 2, "button": "thumb"}, "button"),
        ({"kind": "drag", "x": 1, "y": None, "to_x": 2, "to_y": 3}, "both"),
        ({"kind": "scroll", "x": 1, "y": 2, "direction": "sideways", "amount": 1}, "direction"),
        ({"kind": "scroll", "x": None, "y": None, "direction": "up", "amount": 0}, "amount"),
        ({"kind": "type", "text": ""}, "text"),
        ({"kind": "hotkey", "keys": "ctrl+s"}, "list"),
        ({"kind": "hotkey", "keys": []}, "at least one"),
        ({"kind": "hotkey", "keys": ["ctrl", "hyperdrive"]}, "unknown key"),
        ({"kind": "wait", "seconds": -1}, "seconds"),
        ({"kind": "wait", "seconds": float("nan")}, "seconds"),
        ({"kind": "finish", "status": "maybe"}, "status"),
    ],
)
def test_bad_json_is_an_error_naming_the_field(data: object, message: str) -> None:
    with pytest.raises(ActionError, match=message):
        action_from_json(data)


def test_hotkey_normalises_and_orders_modifiers() -> None:
    assert Hotkey(("S", "Control_L")).keys == ("ctrl", "s")
    assert Hotkey(["Return"]).keys == ("enter",)  # type: ignore[arg-type]
    assert action_to_json(Hotkey(("cmd", "Shift", "t"))) == {"kind": "hotkey", "keys": ["super", "shift", "t"]}


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("Control_L", "ctrl"),
        ("control", "ctrl"),
        ("Alt_R", "alt"),
        ("cmd", "super"),
        ("win", "super"),
        ("meta", "super"),
        ("Super_L", "super"),
        ("Return", "enter"),
        ("escape", "esc"),
        ("Del", "delete"),
        ("BackSpace", "backspace"),
        ("Prior", "pageup"),
        ("page_down", "pagedown"),
        ("arrowleft", "left"),
        ("F12", "f12"),
        ("f24", "f24"),
        ("Print", "printscreen"),
        ("Caps_Lock", "capslock"),
        (" ", "space"),
        ("A", "a"),
        ("+", "+"),
        ("é", "é"),
    ],
)
def test_key_aliases(raw: str, name: str) -> None:
    assert normalize_key(raw) == name


def test_unknown_keys_and_combos() -> None:
    with pytest.raises(KeyNameError):
        normalize_key("f25")
    with pytest.raises(KeyNameError):
        normalize_combo(["ctrl", "Control_R"])  # the same key twice
    assert split_combo("Control_L+Alt+Del") == ["Control_L", "Alt", "Del"]
    assert split_combo("ctrl shift t") == ["ctrl", "shift", "t"]
    assert split_combo("ctrl++") == ["ctrl", "+"]
    assert normalize_combo(split_combo("Control_L+Alt+Del")) == ("ctrl", "alt", "delete")


@pytest.mark.parametrize("char", ["\b", "\t", "\n", "\r", "\x1b", "\x7f", "\x00", "\x9b", "\xa0"])
def test_control_characters_are_never_key_names(char: str) -> None:
    """redteam #1: ["ctrl", "alt", "\\b"] pressed ctrl+alt+BackSpace while the policy saw a harmless key."""
    with pytest.raises(KeyNameError, match="not a key name"):
        normalize_key(char)
    with pytest.raises(KeyNameError):
        Hotkey(("ctrl", "alt", char))
    if not char.isspace():  # whitespace separates keys in a combination string; it is never a key there
        with pytest.raises(KeyNameError):
            normalize_combo(split_combo(f"ctrl+alt+{char}"))
    with pytest.raises(ActionError):
        action_from_json({"kind": "hotkey", "keys": ["ctrl", f"a{char}"]})


def test_text_is_what_will_land() -> None:
    """redteam #2: a backspace inside typed text undid what the policy saw ("rmx\\b -rf" typed "rm -rf")."""
    for text in ("rmx\b -rf ~/important", "a\x1b[2Kb", "x\x00", "\x7f", "\x85next"):
        with pytest.raises(ActionError, match="control character"):
            Type(text)
    assert Type("echo hi\rshutdown now\r\n").text == "echo hi\nshutdown now\n"  # \r lands as a line break
    assert Type("tab\there\nnext").text == "tab\there\nnext"


@pytest.mark.parametrize("text", ["ab\ud800cd", "\udfff", "half an emoji \ud83d", "\ude00 the other half"])
def test_a_lone_surrogate_is_refused(text: str) -> None:
    """redteam N4: Type("ab\\ud800cd") was allowed and typed; Tk received 'ab\\udced\\udca0\\udc80cd'."""
    with pytest.raises(ActionError, match="lone surrogate") as caught:
        Type(text)
    assert "cannot be typed" in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(ActionError, match=r"^type: text holds a lone surrogate"):
        action_from_json({"kind": "type", "text": text})
    assert Type("an emoji \U0001f642 whole").text == "an emoji \U0001f642 whole"  # a pair, as one character


def test_describe_is_readable() -> None:
    assert describe(Click(3, 4, "right", 2)) == "double-click right at (3, 4)"
    assert describe(Drag(None, None, 5, 6)) == "drag from the pointer to (5, 6)"
    assert describe(Hotkey(("ctrl", "s"))) == "press ctrl+s"

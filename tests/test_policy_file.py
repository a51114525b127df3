"""The policy editor's writer: what it writes reads back as the same policy."""

from __future__ import annotations

import re

from sandbox.geometry import Rect
from sandbox.policy import Policy, parse_combo
from sandbox.policy_file import parse_policy, policy_to_toml


def test_default_policy_round_trips() -> None:
    assert parse_policy(policy_to_toml(Policy()), source="t") == Policy()


def test_edited_policy_round_trips() -> None:
    policy = Policy(
        allowed_monitors=(0, 2),
        forbidden_regions=(Rect(10, 20, 300, 40, name="taskbar"),),
        allowed_kinds=frozenset({"click", "type", "finish"}),
        forbidden_hotkeys=(parse_combo("Control_L+Alt+Del"),),
        confirm_hotkeys=(),
        max_text_length=99,
        text_deny=(re.compile("secret", re.IGNORECASE),),
        text_confirm=(),
        max_actions_per_minute=7,
        max_drag_distance_px=100,
        max_scroll_amount=3,
        max_wait_s=2.5,
    )
    again = parse_policy(policy_to_toml(policy), source="t")
    assert again == policy and again.digest() == policy.digest()

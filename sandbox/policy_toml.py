"""Writing a Policy back as TOML (the window's policy editor saves the user's file through this).

parse_policy(policy_to_toml(p)) == p for every policy; a test keeps it so.
"""

from __future__ import annotations

import re
from typing import Any

import tomli_w

from sandbox.policy import Policy, combo_text

HEADER = (
    "# deskpilot policy, written by the settings window. The bundled, commented default\n"
    "# (assets/policy.toml) explains every key; edit here or in the window.\n\n"
)


def policy_to_toml(policy: Policy) -> str:
    case_sensitive = bool(policy.text_deny or policy.text_confirm) and not any(
        p.flags & re.IGNORECASE for p in (*policy.text_deny, *policy.text_confirm)
    )
    data: dict[str, Any] = {
        "screen": {
            "allowed_monitors": list(policy.allowed_monitors),
            "forbidden_regions": [
                {"x": r.x, "y": r.y, "width": r.width, "height": r.height, "name": r.name}
                for r in policy.forbidden_regions
            ],
        },
        "actions": {
            "allowed": sorted(policy.allowed_kinds),
            "max_per_minute": policy.max_actions_per_minute,
            "max_drag_distance_px": policy.max_drag_distance_px,
            "max_scroll_amount": policy.max_scroll_amount,
            "max_wait_s": float(policy.max_wait_s),
        },
        "keys": {
            "forbidden": [combo_text(k) for k in policy.forbidden_hotkeys],
            "confirm": [combo_text(k) for k in policy.confirm_hotkeys],
        },
        "text": {
            "max_length": policy.max_text_length,
            "case_sensitive": case_sensitive,
            "deny": [p.pattern for p in policy.text_deny],
            "confirm": [p.pattern for p in policy.text_confirm],
        },
    }
    return HEADER + tomli_w.dumps(data)

"""AT-SPI's numbers as names: states (a bit set of two 32-bit words) and relation types.

The numbers are AT-SPI's ABI (AtspiStateType and AtspiRelationType in at-spi2-core's atspi-constants.h); roles
need no table, as `Accessible.GetRoleName` answers with the role's own (untranslated) name.
"""

from __future__ import annotations

from collections.abc import Sequence

STATE_NAMES = (
    "invalid", "active", "armed", "busy", "checked", "collapsed", "defunct", "editable", "enabled",
    "expandable", "expanded", "focusable", "focused", "has tooltip", "horizontal", "iconified", "modal",
    "multi line", "multiselectable", "opaque", "pressed", "resizable", "selectable", "selected", "sensitive",
    "showing", "single line", "stale", "transient", "vertical", "visible", "manages descendants",
    "indeterminate", "required", "truncated", "animated", "invalid entry", "supports autocompletion",
    "selectable text", "is default", "visited", "checkable", "has popup", "read only",
)  # fmt: skip

RELATION_LABEL_FOR = 1
RELATION_LABELLED_BY = 2

NULL_PATH = "/org/a11y/atspi/null"  # the path AT-SPI answers with for "no object"
ROOT_PATH = "/org/a11y/atspi/accessible/root"  # each application's root, and the registry's desktop
REGISTRY = "org.a11y.atspi.Registry"

COORDS_SCREEN = 0  # AtspiCoordType: screen, window, parent
COORDS_WINDOW = 1


def state_names(words: Sequence[int]) -> tuple[str, ...]:
    """The names of the states set in `GetState`'s bit set (unknown bits are skipped)."""
    names = []
    for index, word in enumerate(words[:2]):
        for bit in range(32):
            number = index * 32 + bit
            if word & (1 << bit) and number < len(STATE_NAMES):
                names.append(STATE_NAMES[number])
    return tuple(names)

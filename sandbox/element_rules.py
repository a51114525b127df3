"""Policy rules on what a click hits: the accessible element at its point (a role and a name), beside the pixels.

A rule (`[[elements]]` in policy.toml) names roles and a name pattern and says "confirm" or "deny": the bundled
policy asks before clicking a push button or menu item named like delete, remove, send, pay, ... . The executor
looks up the element at a click's point (sandbox/accessibility, within its time budget) and the checker judges
the click with it. Where no element answers (an app that publishes no tree, like Tk or xterm; no accessibility
bus; a lookup past its budget) there is nothing to judge: pixels alone decide, and nothing is blocked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from sandbox.actions import Action, Click
from sandbox.text import shorten

ElementVerdict = Literal["confirm", "deny"]
ELEMENT_VERDICTS: tuple[ElementVerdict, ...] = ("confirm", "deny")
SHOWN_ELEMENT_CHARS = 80
# The bundled rule (assets/policy.toml spells out the same, with the reasons; a test keeps them equal).
DEFAULT_ELEMENT_ROLES = ("push button", "menu item")
DEFAULT_ELEMENT_NAME = r"\b(?:delete|remove|send|pay|purchase|buy|transfer|erase|format|uninstall)\b"


class Named(Protocol):
    """What a rule reads of an element: its role and name (sandbox/accessibility's Element has both)."""

    @property
    def role(self) -> str: ...
    @property
    def name(self) -> str: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ElementRule:
    """Clicks on an element with one of `roles` (any role when empty) whose accessible name `name` finds."""

    roles: tuple[str, ...]
    name: re.Pattern[str]
    verdict: ElementVerdict

    def __post_init__(self) -> None:
        # roles compare as AT-SPI spells them (lower case, words apart), whatever case the file used
        object.__setattr__(self, "roles", tuple(" ".join(r.lower().split()) for r in self.roles))

    def matches(self, element: Named) -> bool:
        role = " ".join(element.role.lower().split())
        return (not self.roles or role in self.roles) and self.name.search(element.name) is not None

    def to_json(self) -> list[object]:
        """The rule as the policy digest reads it."""
        return [sorted(set(self.roles)), self.name.pattern, not self.name.flags & re.IGNORECASE, self.verdict]


def element_rule(
    *, roles: Iterable[str], name: str, verdict: ElementVerdict, case_sensitive: bool = False
) -> ElementRule:
    """A rule from its parts; the name pattern ignores case unless asked. Raises re.error for a bad pattern."""
    return ElementRule(
        roles=tuple(roles), name=re.compile(name, 0 if case_sensitive else re.IGNORECASE), verdict=verdict
    )


DEFAULT_ELEMENT_RULES: tuple[ElementRule, ...] = (
    element_rule(roles=DEFAULT_ELEMENT_ROLES, name=DEFAULT_ELEMENT_NAME, verdict="confirm"),
)


def element_text(role: str, name: str) -> str:
    """How a person says it, one line and bounded: push button 'Save' (a role alone when it has no name)."""
    role = "".join(c if c.isprintable() else "?" for c in role)  # an app says its own role: never a line break
    return shorten(f"{role} {name!r}" if name else role, SHOWN_ELEMENT_CHARS)


def judged_element(
    action: Action, element: Named | None, rules: Sequence[ElementRule], verdict: ElementVerdict
) -> tuple[str, str] | None:
    """(rule, reason) of the first rule with this verdict that the clicked element matches, else None. Only
    clicks are judged; no element (no tree there) matches nothing."""
    if element is None or not isinstance(action, Click):
        return None
    for index, rule in enumerate(rules):
        if rule.verdict == verdict and rule.matches(element):
            what = "is forbidden" if verdict == "deny" else "needs confirmation"
            return (
                f"element_{verdict}",
                f"click on {element_text(element.role, element.name)} {what} (elements[{index}])",
            )
    return None

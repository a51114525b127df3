"""The policy: what the agent may do on this desktop, decided as values (Allow, Deny, Confirm).

A `Policy` is immutable configuration, loaded once at the edge (--policy FILE, else the user's file, else
the bundled assets/policy.toml, whose values equal `Policy()`). A `PolicyChecker` holds the only state:
the rate limit's memory of executed actions. Deny rules are checked first (the first deny wins), then
confirm rules. Points inside deskpilot's own windows are always denied, whatever the policy says.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from sandbox.actions import ACTION_TYPES, Action, Drag, Finish, Hotkey, Scroll, Type, Wait, action_points
from sandbox.errors import KeyNameError, PolicyError
from sandbox.geometry import Rect, ScreenGeometry
from sandbox.keys import MODIFIERS, normalize_combo, pressed_keys, split_combo
from sandbox.text import shorten

if sys.version_info >= (3, 11):
    pass
else:  # pragma: no cover
    pass

RATE_WINDOW_S = 60.0
UNMETERED_KINDS = frozenset({"wait", "finish"})  # not input: neither counted nor limited by the rate
ALL_KINDS: frozenset[str] = frozenset(ACTION_TYPES)
_SHOWN_MATCH_CHARS = 60
_T = TypeVar("_T")

# The defaults; assets/policy.toml spells out the same values with the reasons (a test keeps them equal).
DEFAULT_FORBIDDEN_HOTKEYS: tuple[str, ...] = (
    "ctrl+alt+delete",
    "ctrl+alt+end",
    "ctrl+alt+backspace",
    *(f"ctrl+alt+f{n}" for n in range(1, 13)),
    "super+l",
    "ctrl+alt+l",
    "ctrl+super+q",
    "alt+printscreen",
    "ctrl+alt+escape",
)
DEFAULT_CONFIRM_HOTKEYS: tuple[str, ...] = ("alt+f4", "ctrl+w", "ctrl+q", "shift+delete", "ctrl+shift+escape")
DEFAULT_TEXT_DENY: tuple[str, ...] = (r"-----BEGIN [A-Z ]*PRIVATE KEY(?: BLOCK)?-----",)
_RUNNERS = r"(?:(?:ba|da|z|k|fi)?sh|python[0-9.]*|perl|ruby|node)"  # programs that run what they are given
_PREFIXES = r"(?:(?:sudo|env|exec|command|nohup|time)\b(?:\s+-\S+)*\s+)*"  # sudo -E bash, env sh, exec ...
DEFAULT_TEXT_CONFIRM: tuple[str, ...] = (
    r"\brm[ \t]+(?:[^\s;&|]+[ \t]+){0,16}?-(?:[a-z]*[rf]|-recursive\b|-force\b)",
    rf"\b(?:curl|wget|fetch)\b[^\n;]*\|\s*{_PREFIXES}(?:[\w.~-]*/)*{_RUNNERS}\b",
    rf"\b(?:curl|wget)\b[^\n;&|]*[;&|\n]\s*{_PREFIXES}(?:[\w.~-]*/)*{_RUNNERS}\s+\S",
    rf"\b{_RUNNERS}\b[^\n]*(?:\$\(|<\(|`)\s*(?:curl|wget)\b",
    r"\b(?:iwr|irm|curl|wget|Invoke-WebRequest|Invoke-RestMethod)\b[^\n]*\|\s*(?:iex|Invoke-Expression)\b",
    r"\b(?:iex|Invoke-Expression)\b[^\n]*\b(?:DownloadString|iwr|irm|Invoke-WebRequest|Invoke-RestMethod)\b",
    r"\b(?:mkfs|wipefs)\b",
    r"\bdd\b[^\n]*\b(?:if|of)=",
    r">\s*/dev/(?:sd|hd|vd|xvd|nvme|mmcblk|disk)",
    r"\bfind\b[^\n]*\s-delete\b",
    r"\bch(?:mod|own|grp)\b[^\n]*\s(?:-[a-z]*R|--recursive)\b",
    r"(?<![\w:])([\w:]+)\s*\(\)\s*\{\s*\1\s*\|\s*\1\s*&",
    rf"(?:^|[\n;&|(`]|\$\()[ \t]*{_PREFIXES}(?:[\w.~-]*/)*(?:shutdown|poweroff|reboot|halt)"
    r"(?:\s+[-/]|\s+now\b|\s*(?:$|[\n;&|)`]))",
    r"\bsystemctl\s+(?:-\S+\s+)*(?:poweroff|reboot|halt|kexec)\b",
    rf"(?:^|[\n;&|(`]|\$\()[ \t]*{_PREFIXES}(?:[\w.~-]*/)*(?:tel)?init\s+[06]\b",
    r"\bgit\s+(?:reset\s+(?:\S+\s+)*?--hard|clean\s+(?:\S+\s+)*?-[a-z]*f|push\s+(?:\S+\s+)*?(?:-f\b|--force|\+\S))",
    r"\b(?:drop\s+(?:table|database|schema)|truncate\s+table)\b",
    r"\b(?:del|erase|rd|rmdir)\b[^\n]*\s/[sfq]\b",
    r"\bformat(?:\.com)?\s+[a-z]:",
    r"\bRemove-Item\b[^\n]*\s-(?:Recurse|Force)\b",
    r"\b(?:Stop-Computer|Restart-Computer|diskpart|bcdedit|vssadmin)\b|\breg(?:\.exe)?\s+delete\b",
)
# Text rules are also tried on the text with shell quoting taken off ('rm', r\m, rm${IFS}-rf, a backslash-newline),
# and on the end of what was typed before joined to the new text (a command split over two `type` actions).
_LINE_CONTINUATION = re.compile(r"\\\n")
_IFS = re.compile(r"\$\{IFS[^}]*\}|\$IFS\b")
TYPED_TAIL_CHARS = 256


def parse_combo(text: str) -> frozenset[str]:
    """`Control_L+Alt+Del` -> {ctrl, alt, delete}: a hotkey rule, order-insensitive. Raises KeyNameError."""
    return frozenset(normalize_combo(split_combo(text)))


def combo_text(keys: Iterable[str]) -> str:
    """A key set in a canonical spelling: modifiers in their usual order, then the other keys sorted."""
    keys = set(keys)
    return "+".join([m for m in MODIFIERS if m in keys] + sorted(keys - set(MODIFIERS)))


def compile_patterns(patterns: Iterable[str], *, case_sensitive: bool = False) -> tuple[re.Pattern[str], ...]:
    """Text rules as compiled regexes; case is ignored unless asked."""
    return tuple(re.compile(p, 0 if case_sensitive else re.IGNORECASE) for p in patterns)


@dataclass(frozen=True, slots=True)
class Allow:
    verdict: Literal["allow"] = "allow"
    rule: None = None
    reason: None = None


@dataclass(frozen=True, slots=True)
class Deny:
    rule: str
    reason: str
    verdict: Literal["deny"] = "deny"


@dataclass(frozen=True, slots=True)
class Confirm:
    rule: str
    reason: str
    verdict: Literal["confirm"] = "confirm"


Verdict = Allow | Deny | Confirm
ALLOW = Allow()


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """Immutable rules. Defaults equal assets/policy.toml; `source` names the file (not compared)."""

    allowed_monitors: tuple[int, ...] = ()  # indices into ScreenGeometry.monitors; () = every monitor
    forbidden_regions: tuple[Rect, ...] = ()  # screen (logical) pixels
    allowed_kinds: frozenset[str] = ALL_KINDS
    forbidden_hotkeys: tuple[frozenset[str], ...] = tuple(parse_combo(c) for c in DEFAULT_FORBIDDEN_HOTKEYS)
    confirm_hotkeys: tuple[frozenset[str], ...] = tuple(parse_combo(c) for c in DEFAULT_CONFIRM_HOTKEYS)
    max_text_length: int = 2000
    text_deny: tuple[re.Pattern[str], ...] = compile_patterns(DEFAULT_TEXT_DENY)
    text_confirm: tuple[re.Pattern[str], ...] = compile_patterns(DEFAULT_TEXT_CONFIRM)
    max_actions_per_minute: int = 120
    max_drag_distance_px: int = 5000
    max_scroll_amount: int = 50
    max_wait_s: float = 120.0
    source: str = field(default="<defaults>", compare=False)

    def __post_init__(self) -> None:
        # Rules built in code get the same normalisation as rules from a file, so they cannot silently miss.
        try:
            for name in ("forbidden_hotkeys", "confirm_hotkeys"):
                rules = tuple(frozenset(normalize_combo(tuple(k))) for k in getattr(self, name))
                object.__setattr__(self, name, rules)
        except KeyNameError as exc:
            raise PolicyError(f"{self.source}: {exc}") from None

    def with_forbidden_hotkey(self, combo: str) -> Policy:
        """This policy with one more forbidden hotkey (e.g. the stop key, which the agent must never press)."""
        try:
            keys = parse_combo(combo)
        except KeyNameError as exc:
            raise PolicyError(f"bad hotkey {combo!r}: {exc}") from None
        if keys in self.forbidden_hotkeys:
            return self
        return dataclasses.replace(self, forbidden_hotkeys=(*self.forbidden_hotkeys, keys))

    def digest(self) -> str:
        """sha256 hex of the effective rules: independent of `source`, of set order and of hash seeds."""
        rules = {
            "version": 1,
            "allowed_monitors": sorted(set(self.allowed_monitors)),
            "forbidden_regions": [r.to_json() for r in self.forbidden_regions],
            "allowed_kinds": sorted(self.allowed_kinds),
            "forbidden_hotkeys": sorted({combo_text(k) for k in self.forbidden_hotkeys}),
            "confirm_hotkeys": sorted({combo_text(k) for k in self.confirm_hotkeys}),
            "max_text_length": self.max_text_length,
            "text_deny": [[p.pattern, not p.flags & re.IGNORECASE] for p in self.text_deny],
            "text_confirm": [[p.pattern, not p.flags & re.IGNORECASE] for p in self.text_confirm],
            "max_actions_per_minute": self.max_actions_per_minute,
            "max_drag_distance_px": self.max_drag_distance_px,
            "max_scroll_amount": self.max_scroll_amount,
            "max_wait_s": float(self.max_wait_s),
        }
        blob = json.dumps(rules, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return hashlib.sha256(blob.encode("ascii")).hexdigest()


def _first_subset(keys: frozenset[str], rules: Sequence[frozenset[str]]) -> frozenset[str] | None:
    """The first rule whose keys are all pressed: extra keys do not stop an OS shortcut from firing."""
    return next((rule for rule in rules if rule <= keys), None)


def _hotkey_reason(pressed: tuple[str, ...], rule: frozenset[str], what: str) -> str:
    shown = "+".join(pressed)
    inner = "" if frozenset(pressed) == rule else f" (it contains {combo_text(rule)})"
    return f"hotkey {shown} {what}{inner}"


def _unquoted(text: str) -> str:
    """The text as a shell would run it, roughly: quotes and backslashes gone, $IFS a space, lines joined."""
    text = _IFS.sub(" ", _LINE_CONTINUATION.sub("", text))
    return text.replace("\\", "").replace("'", "").replace('"', "")


def _matched(text: str, patterns: Sequence[re.Pattern[str]], where: str, *, typed_before: str = "") -> str | None:
    """`'rm -rf' (text.confirm[0])`: what the first matching pattern found, and which pattern it was.

    Each pattern is tried on the text, on its unquoted reading, and on what was typed just before joined to
    it (a match there must reach into the new text: what was typed before was judged when it was typed).
    """
    joined = typed_before + text
    for i, pattern in enumerate(patterns):
        found = pattern.search(text) or pattern.search(_unquoted(text))
        if found is None and typed_before:
            found = next((m for m in pattern.finditer(joined) if m.end() > len(typed_before)), None)
            found = found or next(
                (m for m in pattern.finditer(_unquoted(joined)) if m.end() > len(_unquoted(typed_before))), None
            )
        if found:
            shown = found.group(0).strip() or found.group(0)
            return f"{shorten(shown, _SHOWN_MATCH_CHARS)!r} ({where}[{i}])"
    return None


def _named(rect: Rect) -> str:
    return f" {rect.name!r}" if rect.name else ""


class PolicyChecker:
    """Checks actions against a policy; remembers executed actions for the rate limit (thread-safe)."""

    def __init__(self, policy: Policy, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self._clock = clock
        self._times: deque[float] = deque()
        self._typed = ""  # the end of the text typed so far (text rules look across two `type` actions)
        self._lock = threading.Lock()

    def record(self, action: Action) -> None:
        """Count an executed action toward the rate limit (waits and finishes are not input; not counted),
        and remember the end of what was typed."""
        if action.kind in UNMETERED_KINDS:
            return
        with self._lock:
            now = self._clock()
            self._forget(now)
            self._times.append(now)
            if isinstance(action, Type):
                self._typed = (self._typed + action.text)[-TYPED_TAIL_CHARS:]

    def _typed_before(self) -> str:
        with self._lock:
            return self._typed

    def recent_count(self) -> int:
        """Actions recorded in the last RATE_WINDOW_S seconds."""
        with self._lock:
            return self._forget(self._clock())

    def _forget(self, now: float) -> int:
        while self._times and self._times[0] <= now - RATE_WINDOW_S:
            self._times.popleft()
        return len(self._times)

    def check(self, action: Action, screen: ScreenGeometry, *, own_windows: Sequence[Rect] = ()) -> Verdict:
        """The verdict for `action` on `screen` now: the first deny, else the first confirm, else allow."""
        return self._deny(action, screen, own_windows) or self._confirm(action) or ALLOW

    def _deny(self, action: Action, screen: ScreenGeometry, own_windows: Sequence[Rect]) -> Deny | None:
        p = self.policy
        if action.kind not in p.allowed_kinds:
            allowed = ", ".join(k for k in ACTION_TYPES if k in p.allowed_kinds) or "none"
            return Deny("action_kind", f"{action.kind} actions are not allowed (allowed: {allowed})")
        if isinstance(action, Finish):
            return None
        denial = self._deny_points(action_points(action), screen, own_windows)
        if denial:
            return denial
        if isinstance(action, Hotkey):
            rule = _first_subset(pressed_keys(action.keys), p.forbidden_hotkeys)
            if rule is not None:
                return Deny("forbidden_hotkey", _hotkey_reason(action.keys, rule, "is forbidden"))
        if isinstance(action, Type):
            if len(action.text) > p.max_text_length:
                return Deny("text_length", f"text is {len(action.text)} characters, more than {p.max_text_length}")
            hit = _matched(action.text, p.text_deny, "text.deny", typed_before=self._typed_before())
            if hit:
                return Deny("text_deny", f"text contains {hit}, which is forbidden")
        if isinstance(action, Drag) and action.x is not None and action.y is not None:
            distance = math.dist((action.x, action.y), (action.to_x, action.to_y))
            if distance > p.max_drag_distance_px:
                return Deny("drag_distance", f"drag of {distance:.0f} px is longer than {p.max_drag_distance_px} px")
        if isinstance(action, Scroll) and action.amount > p.max_scroll_amount:
            return Deny("scroll_amount", f"scroll of {action.amount} notches is more than {p.max_scroll_amount}")
        if isinstance(action, Wait) and action.seconds > p.max_wait_s:
            return Deny("wait_length", f"wait of {action.seconds:g} s is longer than {p.max_wait_s:g} s")
        if action.kind not in UNMETERED_KINDS:
            count = self.recent_count()
            if count >= p.max_actions_per_minute:
                return Deny(
                    "rate_limit",
                    f"{count} actions in the last {RATE_WINDOW_S:g} s; "
                    f"the limit is {p.max_actions_per_minute} a minute",
                )
        return None

    def _deny_points(
        self, points: list[tuple[int, int]], screen: ScreenGeometry, own_windows: Sequence[Rect]
    ) -> Deny | None:
        """Rule by rule over every point of the action (off_screen for any point comes first)."""
        p = self.policy
        located = [(x, y, screen.index_at(x, y)) for x, y in points]
        for x, y, index in located:
            if index is None:
                return Deny("off_screen", f"point ({x}, {y}) lies on no monitor")
        for x, y, index in located:
            if p.allowed_monitors and index not in p.allowed_monitors:
                allowed = ", ".join(str(i) for i in p.allowed_monitors)
                return Deny(
                    "monitor_not_allowed",
                    f"point ({x}, {y}) is on monitor {index}, which is not allowed (allowed: {allowed})",
                )
        for x, y, _ in located:
            window = next((w for w in own_windows if w.contains(x, y)), None)
            if window is not None:
                return Deny("own_window", f"point ({x}, {y}) is inside deskpilot's own window{_named(window)}")
        for x, y, _ in located:
            region = next((r for r in p.forbidden_regions if r.contains(x, y)), None)
            if region is not None:
                return Deny(
                    "forbidden_region",
                    f"point ({x}, {y}) lies in the forbidden region{_named(region)} "
                    f"({region.x}, {region.y}, {region.width}x{region.height})",
                )
        return None

    def _confirm(self, action: Action) -> Confirm | None:
        if isinstance(action, Hotkey):
            rule = _first_subset(pressed_keys(action.keys), self.policy.confirm_hotkeys)
            if rule is not None:
                return Confirm("confirm_hotkey", _hotkey_reason(action.keys, rule, "needs confirmation"))
        if isinstance(action, Type):
            hit = _matched(action.text, self.policy.text_confirm, "text.confirm", typed_before=self._typed_before())
            if hit:
                return Confirm("text_confirm", f"text contains {hit}, which needs confirmation")
        return None

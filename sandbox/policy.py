"""The policy: what the agent may do on this desktop, decided as values (Allow, Deny, Confirm).

A `Policy` is immutable configuration, loaded once at the edge (--policy FILE, else the user's file, else
the bundled assets/policy.toml, whose values equal `Policy()`). A `PolicyChecker` holds the only state,
its memory of executed actions: for the rate limit, the end of the text typed so far (by `type` and by keys
that type one character, which the text rules read as one text), and how many such keys came in a row.
Deny rules are checked first (the first deny wins), then confirm rules. Points inside deskpilot's own
windows are always denied, whatever the policy says. A click is also judged by the accessible element at its
point when the caller found one (sandbox/element_rules.py); without one, pixels alone decide.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from sandbox.actions import ACTION_TYPES, Action, Drag, Finish, Hotkey, Scroll, Type, Wait, action_points
from sandbox.element_rules import DEFAULT_ELEMENT_RULES, ElementRule, Named, judged_element
from sandbox.errors import KeyNameError, PolicyError
from sandbox.geometry import Rect, ScreenGeometry
from sandbox.keys import MODIFIERS, normalize_combo, pressed_keys, split_combo
from sandbox.text import shorten

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
# A private key's BEGIN line, however its dashes and words are spaced (----- BEGIN RSA PRIVATE KEY -----).
DEFAULT_TEXT_DENY: tuple[str, ...] = (r"(?:-[ \t]*){3,}BEGIN\s+(?:[A-Z0-9]+\s+)*?PRIVATE\s+KEY\b",)
_SHELLS = r"(?:(?:ba|da|z|k|fi)?sh)"
_RUNNERS = r"(?:(?:ba|da|z|k|fi)?sh|python[0-9.]*|perl|ruby|node)"  # programs that run what they are given
_PREFIXES = r"(?:(?:sudo|env|exec|command|nohup|time)\b(?:\s+-\S+)*\s+)*"  # sudo -E bash, env sh, exec ...
_PATH = r"(?:[\w.~-]*/)*"  # /bin/, ./, ~/.local/bin/ before a program's name
_COMMAND_START = r"(?:^|[\n;&|(`]|\$\()[ \t]*"  # the start of the text, or after ; & | ( ` $(
_RECURSIVE_OR_FORCE = r"-(?:[a-z]*[rf]|-recursive\b|-force\b)"  # an option that makes rm delete everything
_ARGUMENTS = r"(?:[^\s;&|]+[ \t]+){0,16}?"  # up to 16 arguments before the one that matters
_HOME = r"(?:~|\$\{?HOME\}?|/home/[^/\s]+|/root)"
_QUOTE = "[\"']?"  # an optional quote: 'rm', "$x"
# Windows commands (cmd, PowerShell, SQL) ignore case, so their rules ignore it too: (?i:...) holds even with
# `case_sensitive = true`, and unlike a leading (?i) it leaves the pattern's own flags (what a file records) alone.
DEFAULT_TEXT_CONFIRM: tuple[str, ...] = (
    rf"\brm[ \t]+{_ARGUMENTS}{_RECURSIVE_OR_FORCE}",
    rf"\brm[ \t]+{_ARGUMENTS}{_QUOTE}\$",  # rm $R ~: an argument from a variable may be -rf
    rf"\b(?:curl|wget|fetch)\b[^\n;]*\|\s*{_PREFIXES}{_PATH}{_RUNNERS}\b",
    # anything piped into a shell: base64 -d | sh, xxd -r | bash, | busybox sh, | xargs sh -c
    rf"\|\s*{_PREFIXES}(?:{_PATH}{_SHELLS}\b|busybox\s+{_SHELLS}\b|xargs\b[^\n;&|]*\b{_SHELLS}\s+-[a-z]*c)",
    rf"\b(?:curl|wget)\b[^\n;&|]*(?:&&|\|\||[;&|\n])\s*{_PREFIXES}(?:{_PATH}{_RUNNERS}|source|\.)\s+\S",
    rf"(?:\b(?:{_RUNNERS}|source|eval)\b|(?:^|[\s;&|(])\.\s)[^\n]*(?:\$\(|<\(|`)\s*(?:curl|wget|fetch)\b",
    rf"{_COMMAND_START}{_PREFIXES}{_QUOTE}(?:\$\(|`)\s*(?:curl|wget|fetch)\b",  # $(curl x): its output runs
    rf"{_COMMAND_START}{_PREFIXES}{_QUOTE}\$\{{?\w+\}}?{_QUOTE}[ \t]+{_ARGUMENTS}{_RECURSIVE_OR_FORCE}",  # $x -rf ~
    rf"(?:^|[\s;&|(])[a-z_]\w*={_QUOTE}(?:rm|shred|mkfs[\w.]*|dd|wipefs|{_SHELLS}){_QUOTE}(?=$|[\s;&|)])",  # x=rm
    r"\b(?:nc|ncat|netcat)\b[^\n;&|]*\s(?:-[a-z]*[ec]|--(?:sh-)?exec\b)",  # nc -e /bin/sh: a reverse shell
    r"/dev/(?:tcp|udp)/",
    r"\bsocat\b[^\n]*\b(?:exec|system):",
    r"(?i:\b(?:iwr|irm|curl|wget|Invoke-WebRequest|Invoke-RestMethod)\b[^\n]*\|\s*(?:iex|Invoke-Expression)\b)",
    r"(?i:\b(?:iex|Invoke-Expression)\b[^\n]*\b(?:DownloadString|iwr|irm|Invoke-WebRequest|Invoke-RestMethod)\b)",
    r"\b(?:mkfs|wipefs)\b",
    r"\bdd\b[^\n]*\b(?:if|of)=",
    r">\s*/dev/(?:sd|hd|vd|xvd|nvme|mmcblk|disk)",
    r"\bfind\b[^\n]*\s-delete\b",
    rf"\bfind\b[^\n]*\s-(?:exec|execdir|ok|okdir)\s+{_PATH}(?:rm|rmdir|shred|unlink|{_SHELLS})\b",
    rf"\|\s*xargs\b(?:\s+-\S+)*\s+{_PATH}(?:rm|shred|unlink)\b",
    r"\b(?:python[0-9.]*|perl|ruby|node|php)\b[^\n]*?\s-[a-z]*[ce]\b[^\n]*\b(?:rmtree|removedirs|remove|unlink|rmdir"
    r"|rm_rf|rm_r|rimraf|rmSync|rmdirSync|system|popen|subprocess|spawn\w*|exec\w*)\b",  # python3 -c '...rmtree...'
    r"\bmv\b[^\n;&|]*\s/dev/null\b",
    rf"\bmv\s+(?:-\S+\s+)*(?:{_HOME}|/)/?\*?(?=\s)",  # mv ~ elsewhere
    rf">\s*{_HOME}/\.(?:bash\w*|zsh\w*|z?profile|z?login|cshrc|tcshrc|ssh\b|config/autostart\b|xinitrc|xprofile"
    r"|xsession\w*)",  # > ~/.bashrc, >> ~/.profile: emptied, or a command that runs at every login
    r">\s*/(?:etc|boot)/",
    r"\bkill\s+(?:-\S+\s+)*(?:--\s+)?-1(?=\s*(?:$|[\n;&|)]))",  # kill -9 -1: every process
    r"\bcrontab\s+(?:-\S+\s+)*-[a-z]*r\b",
    r"\bch(?:mod|own|grp)\b[^\n]*\s(?:-[a-z]*R|--recursive)\b",
    r"(?<![\w:])([\w:]+)\s*\(\)\s*\{\s*\1\s*\|\s*\1\s*&",
    rf"{_COMMAND_START}{_PREFIXES}{_PATH}(?:shutdown|poweroff|reboot|halt)"
    r"(?:\s+[-/]|\s+now\b|\s*(?:$|[\n;&|)`]))",
    r"\bsystemctl\s+(?:-\S+\s+)*(?:poweroff|reboot|halt|kexec)\b",
    rf"{_COMMAND_START}{_PREFIXES}{_PATH}(?:tel)?init\s+[06]\b",
    r"\bgit\s+(?:reset\s+(?:\S+\s+)*?--hard|clean\s+(?:\S+\s+)*?-[a-z]*f|push\s+(?:\S+\s+)*?(?:-f\b|--force|\+\S))",
    r"(?i:\b(?:drop\s+(?:table|database|schema)|truncate\s+table)\b)",
    r"(?i:\b(?:del|erase|rd|rmdir)\b[^\n]*\s/[sfq]\b)",
    r"(?i:\bformat(?:\.com)?\s+[a-z]:)",
    r"(?i:\bRemove-Item\b[^\n]*\s-(?:Recurse|Force)\b)",
    r"(?i:\b(?:Stop-Computer|Restart-Computer|diskpart|bcdedit|vssadmin)\b|\breg(?:\.exe)?\s+delete\b)",
)
# Text rules are also tried on the text with shell quoting taken off ('rm', r\m, rm${IFS}-rf, a backslash-newline),
# and on the end of what was typed before joined to the new text (a command split over several actions).
# A key press that types one character (r, shift+a, |, space, enter, tab) is text too: it is checked like a
# `type` of that character and joins the same tail, and backspace takes the tail's last character back off.
_LINE_CONTINUATION = re.compile(r"\\\n")
_IFS = re.compile(r"\$\{IFS[^}]*\}|\$IFS\b")
TYPED_TAIL_CHARS = 256
# Keys in a row that type (or backspace) one character each: the 9th and every later one of a run needs
# confirmation (a model spelling text key by key; `type` is the way to type). Waits and other hotkeys do not
# end a run; a `type`, click, move, drag or scroll does. The loop does not tell the checker where a step
# ends, so a run is counted over executed actions and may span steps (it holds at least one step's run).
MAX_KEYS_IN_A_ROW = 8
_NAMED_CHARACTERS = {"space": " ", "enter": "\n", "tab": "\t"}
# The policy's view of Shift on a character key: a US layout (shift+1 types !).
_SHIFTED = dict(zip("`1234567890-=[]\\;',./", '~!@#$%^&*()_+{}|:"<>?', strict=True))


def typed_character(keys: Sequence[str]) -> str | None:
    """The character a hotkey types, if it types one: a character key alone or with Shift (shift+a -> "A",
    shift+1 -> "!"), space, enter ("\\n") or tab ("\\t") alone; None for anything else (ctrl+c, shift+tab, f5)."""
    shift = "shift" in keys
    rest = [k for k in keys if k != "shift"]
    if len(rest) != 1 or (shift and len(keys) != 2):
        return None
    key = rest[0]
    if key in _NAMED_CHARACTERS:
        return None if shift and key == "tab" else _NAMED_CHARACTERS[key]
    if len(key) != 1 or key in MODIFIERS:
        return None
    if not shift:
        return key
    shifted = _SHIFTED.get(key, key.upper())
    return shifted if len(shifted) == 1 else key  # "ß".upper() is "SS": not what one key types


def _edits_typed_text(action: Action) -> bool:
    """A key press that types one character or takes one back (backspace): a key of a run."""
    return isinstance(action, Hotkey) and (action.keys == ("backspace",) or typed_character(action.keys) is not None)


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
    element_rules: tuple[ElementRule, ...] = DEFAULT_ELEMENT_RULES  # [[elements]]: clicks judged by what they hit
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
            "elements": [rule.to_json() for rule in self.element_rules],
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


def _text_of(action: Action) -> str | None:
    """The text an action types, for the text rules: a `type`'s text, or a key press's one character."""
    if isinstance(action, Type):
        return action.text
    if isinstance(action, Hotkey):
        return typed_character(action.keys)
    return None


def _named(rect: Rect) -> str:
    return f" {rect.name!r}" if rect.name else ""


class PolicyChecker:
    """Checks actions against a policy; remembers executed actions for the rate limit (thread-safe)."""

    def __init__(self, policy: Policy, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self._clock = clock
        self._times: deque[float] = deque()
        self._typed = ""  # the end of the text typed so far (text rules look across actions)
        self._keys_in_a_row = 0  # key presses in a row that typed or took back one character each
        self._lock = threading.Lock()

    def record(self, action: Action) -> None:
        """Count an executed action toward the rate limit (waits and finishes are not input; not counted),
        remember the end of what was typed (by `type` and by one-character key presses), and count the keys
        typed in a row."""
        if action.kind in UNMETERED_KINDS:
            return
        with self._lock:
            now = self._clock()
            self._forget(now)
            self._times.append(now)
            if isinstance(action, Hotkey):
                character = typed_character(action.keys)
                if character is not None:
                    self._typed = (self._typed + character)[-TYPED_TAIL_CHARS:]
                elif action.keys == ("backspace",):
                    self._typed = self._typed[:-1]
                self._keys_in_a_row += 1 if _edits_typed_text(action) else 0
                return
            if isinstance(action, Type):
                self._typed = (self._typed + action.text)[-TYPED_TAIL_CHARS:]
            self._keys_in_a_row = 0

    def _typed_before(self) -> str:
        with self._lock:
            return self._typed

    def _keys_before(self) -> int:
        with self._lock:
            return self._keys_in_a_row

    def recent_count(self) -> int:
        """Actions recorded in the last RATE_WINDOW_S seconds."""
        with self._lock:
            return self._forget(self._clock())

    def _forget(self, now: float) -> int:
        while self._times and self._times[0] <= now - RATE_WINDOW_S:
            self._times.popleft()
        return len(self._times)

    def check(
        self,
        action: Action,
        screen: ScreenGeometry,
        *,
        own_windows: Sequence[Rect] = (),
        element: Named | None = None,
    ) -> Verdict:
        """The verdict for `action` on `screen` now: the first deny, else the first confirm, else allow.
        `element`: what the action's point hits in the accessibility tree (None: none answered there)."""
        return self._deny(action, screen, own_windows, element) or self._confirm(action, element) or ALLOW

    def _deny(
        self, action: Action, screen: ScreenGeometry, own_windows: Sequence[Rect], element: Named | None
    ) -> Deny | None:
        p = self.policy
        if action.kind not in p.allowed_kinds:
            allowed = ", ".join(k for k in ACTION_TYPES if k in p.allowed_kinds) or "none"
            return Deny("action_kind", f"{action.kind} actions are not allowed (allowed: {allowed})")
        if isinstance(action, Finish):
            return None
        denial = self._deny_points(action_points(action), screen, own_windows)
        if denial:
            return denial
        judged = judged_element(action, element, p.element_rules, "deny")
        if judged is not None:
            return Deny(*judged)
        if isinstance(action, Hotkey):
            rule = _first_subset(pressed_keys(action.keys), p.forbidden_hotkeys)
            if rule is not None:
                return Deny("forbidden_hotkey", _hotkey_reason(action.keys, rule, "is forbidden"))
        if isinstance(action, Type) and len(action.text) > p.max_text_length:
            return Deny("text_length", f"text is {len(action.text)} characters, more than {p.max_text_length}")
        text = _text_of(action)
        if text is not None:
            hit = _matched(text, p.text_deny, "text.deny", typed_before=self._typed_before())
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

    def _confirm(self, action: Action, element: Named | None) -> Confirm | None:
        judged = judged_element(action, element, self.policy.element_rules, "confirm")
        if judged is not None:
            return Confirm(*judged)
        if isinstance(action, Hotkey):
            rule = _first_subset(pressed_keys(action.keys), self.policy.confirm_hotkeys)
            if rule is not None:
                return Confirm("confirm_hotkey", _hotkey_reason(action.keys, rule, "needs confirmation"))
        text = _text_of(action)
        if text is not None:
            hit = _matched(text, self.policy.text_confirm, "text.confirm", typed_before=self._typed_before())
            if hit:
                return Confirm("text_confirm", f"text contains {hit}, which needs confirmation")
        if _edits_typed_text(action):
            count = self._keys_before() + 1
            if count > MAX_KEYS_IN_A_ROW:
                typed = (self._typed_before() + (text or ""))[-_SHOWN_MATCH_CHARS:]
                return Confirm(
                    "text_confirm",
                    f"{count} key presses in a row each type one character (the text ends {typed!r}); "
                    f"more than {MAX_KEYS_IN_A_ROW} in a row need confirmation (type text with a type action)",
                )
        return None

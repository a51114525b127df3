"""The standalone Python script that `deskpilot export --format python` writes.

A session is untrusted input, and this is the one export that is run as code. So the script is fixed text:
nothing from the session is ever put into it except as a Python literal made by `repr()` (the SESSION
constant, each action's arguments and description, the rule and reason of what was left out, even in
comments), and its docstring is static.

The script runs outside the sandbox, so the sandbox's policy is applied here, once: every action is checked
against the CURRENT policy on the recorded screen, as replay checks it, at the recording's pace (rate limit,
text typed before); what the policy denies or wants confirmed is left out, as a comment naming the rule.

It types through the executor's own code: on X11 the script carries a copy of sandbox/desktops/x11_input.py,
made from that file when the script is written, and every key and character goes through it (XTest, the
levels of the live keymap, spare keycodes for what the layout lacks), as sandbox/drivers.py sends them;
elsewhere pyautogui for plain ASCII text and for hotkeys, pynput for other text, as the pyautogui driver does.
The pointer goes through pyautogui (XTest on X11) for its corner fail-safe.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

from agent.session.records import Session
from agent.session.replay import MAX_PAUSE_S, PlannedAction, plan
from sandbox.actions import Action, Click, Drag, Hotkey, Move, Scroll, Type, Wait, describe
from sandbox.desktops import x11_input
from sandbox.drivers import PYAUTOGUI_KEYS  # the pyautogui driver's key table: press what it presses
from sandbox.policy import Allow, Deny, Policy, PolicyChecker, Verdict

_HEAD = r'''#!/usr/bin/env python3
"""Performs the actions of a recorded deskpilot session again (written by `deskpilot export`).

This script runs OUTSIDE deskpilot's sandbox. Nothing checks an action against a policy while it runs, and
there is no stop key: the only way to stop it is pyautogui's fail-safe, moving the pointer into a corner of
the screen (exit 3). deskpilot's policy was applied once, when the script was exported: every action it
denied or wanted confirmed is left out, with a comment naming the rule. SESSION says which recording this is.

    python3 SCRIPT [--speed X] [--dry-run]

It first checks that the monitors are laid out as when the session was recorded and refuses otherwise (the
coordinates would land elsewhere); it does not compare what is on the screen (`deskpilot replay` does).
It types as deskpilot does, through a copy of deskpilot's own X11 input code below: on Linux (X11) every
key and character through XTest, with the Shift and AltGr levels of the live keymap, and a character the
layout lacks through a spare keycode mapped to it; elsewhere pyautogui types plain ASCII and presses hotkeys,
pynput types the rest. Needs pyautogui (with python-xlib on Linux; pynput elsewhere), and mss to check
every monitor (without it only the size of the whole screen is checked).
"""

from __future__ import annotations

import argparse
import sys
import time

import pyautogui

pyautogui.FAILSAFE = True  # keep: the pointer in a screen corner raises FailSafeException, the way to abort
pyautogui.PAUSE = 0.0  # no pause after every call: the waits below are explicit
'''

_BODY = r'''MOVE_SETTLE_S = 0.02  # after moving onto a target, before pressing: apps see the hover first
CLICK_INTERVAL_S = 0.04
DRAG_DURATION_S = 0.3
KEY_GAP_S = 0.01  # between the keys of a hotkey
LINUX = sys.platform.startswith("linux")
options = argparse.Namespace(speed=1.0, dry_run=False)
devices = {}  # pynput's keyboard off Linux, made on first use


def screen_monitors():
    """(x, y, width, height) of each monitor now (mss), or None when mss is missing."""
    try:
        import mss
    except ImportError:
        return None
    factory = getattr(mss, "MSS", None) or mss.mss
    with factory() as sct:
        monitors = sct.monitors[1:] or sct.monitors[:1]
        return [(m["left"], m["top"], m["width"], m["height"]) for m in monitors]


def check_screen():
    monitors = screen_monitors()
    if monitors is not None:
        if sorted(monitors) != sorted(RECORDED_MONITORS):
            refuse(f"the monitors are {monitors}, the session was recorded on {RECORDED_MONITORS}")
        return
    left = min(m[0] for m in RECORDED_MONITORS)
    top = min(m[1] for m in RECORDED_MONITORS)
    width = max(m[0] + m[2] for m in RECORDED_MONITORS) - left
    height = max(m[1] + m[3] for m in RECORDED_MONITORS) - top
    size = tuple(pyautogui.size())
    if size != (width, height):
        refuse(f"the screen is {size[0]}x{size[1]}, the session was recorded on {width}x{height}")


def refuse(message):
    print(f"error: {message}; nothing was done", file=sys.stderr)
    sys.exit(1)


def step(number, what):
    """Print the step; True when it is to be performed."""
    print(f"step {number}: {'would ' if options.dry_run else ''}{what}", flush=True)
    return not options.dry_run


def pause(seconds):
    """A pause as recorded between two actions, divided by --speed (0: none)."""
    if not options.dry_run and options.speed > 0:
        time.sleep(min(seconds, MAX_PAUSE_S) / options.speed)


def click(x, y, button, count):
    pyautogui.moveTo(x, y)
    time.sleep(MOVE_SETTLE_S)
    pyautogui.click(button=button, clicks=count, interval=CLICK_INTERVAL_S)


def keyboard():
    """pynput's keyboard off Linux, for text that is not plain ASCII (made on first use: it needs the display)."""
    if "keyboard" not in devices:
        from pynput.keyboard import Controller

        devices["keyboard"] = Controller()
    return devices["keyboard"]


def type_text(text):
    """Types `text` exactly, the way deskpilot's drivers do."""
    if LINUX:
        xtest_input().type_text(text)
    elif text.isascii():
        pyautogui.write(text, interval=0)
    else:
        keyboard().type(text)


def hotkey(*names):
    """Presses the keys in order and releases them in reverse (always, even when interrupted)."""
    if not LINUX:
        pyautogui.hotkey(*(PYAUTOGUI_KEYS.get(name, name) for name in names), interval=KEY_GAP_S)
        return
    held = []
    try:
        for name in names:
            xtest_input().key_down(name)
            held.append(name)
            time.sleep(KEY_GAP_S)
    finally:
        for name in reversed(held):
            xtest_input().key_up(name)


def main():
    parser = argparse.ArgumentParser(description="Perform a recorded deskpilot session again.")
    parser.add_argument("--speed", type=float, default=1.0, help="divide the recorded pauses by this; 0 = no pauses")
    parser.add_argument("--dry-run", action="store_true", help="print the steps, perform nothing")
    parser.parse_args(namespace=options)
    check_screen()
'''

_TAIL = r"""    print("done", flush=True)


if __name__ == "__main__":
    try:
        main()
    except pyautogui.FailSafeException:
        print("error: stopped: the pointer was moved into a screen corner (pyautogui fail-safe)", file=sys.stderr)
        sys.exit(3)
"""


@dataclass(frozen=True, slots=True)
class ScriptPlan:
    source: str
    steps: int  # steps with at least one action in the script
    actions: int  # actions that executed in the recording (finish aside)
    left_out: int  # of those, what the current policy denies or wants confirmed


def _statements(action: Action) -> list[str]:
    """The calls for one action (screen coordinates are pyautogui's logical pixels); every value repr'd."""
    if isinstance(action, Click):
        return [f"click({action.x!r}, {action.y!r}, {action.button!r}, {action.count!r})"]
    if isinstance(action, Move):
        return [f"pyautogui.moveTo({action.x!r}, {action.y!r})"]
    if isinstance(action, Drag):
        start = []
        if action.x is not None:
            start = [f"pyautogui.moveTo({action.x!r}, {action.y!r})", "time.sleep(MOVE_SETTLE_S)"]
        return [*start, f"pyautogui.dragTo({action.to_x!r}, {action.to_y!r}, duration=DRAG_DURATION_S, button='left')"]
    if isinstance(action, Scroll):
        where = "" if action.x is None else f", x={action.x!r}, y={action.y!r}"
        sign = 1 if action.direction in ("up", "right") else -1
        function = "scroll" if action.direction in ("up", "down") else "hscroll"
        return [f"pyautogui.{function}({sign * action.amount!r}{where})"]
    if isinstance(action, Type):
        return [f"type_text({action.text!r})"]
    if isinstance(action, Hotkey):
        return [f"hotkey({', '.join(repr(k) for k in action.keys)})"]
    if isinstance(action, Wait):
        return [f"time.sleep({action.seconds!r})"]
    return []


def _checked(session: Session, policy: Policy) -> list[tuple[PlannedAction, Verdict]]:
    """Each action that executed in the recording, with the current policy's verdict on the recorded screen.

    Checked in order as a replay at the recorded pace would be: the checker's clock is the recording's, and
    what goes into the script is counted as performed (rate limit, text typed before); what is left out is not.
    """
    now = [0.0]
    checker = PolicyChecker(policy, clock=lambda: now[0])
    checked = []
    for planned in plan(session):
        for item in planned.actions:
            now[0] = item.started
            verdict = checker.check(item.action, session.header.screen)
            if isinstance(verdict, Allow):
                checker.record(item.action)
            checked.append((item, verdict))
    return checked


def _constants(session: Session) -> list[str]:
    header = session.header
    facts = {
        "folder": session.folder.name,
        "task": header.task,
        "started": header.started,
        "outcome": session.outcome,
        "steps": len(session.steps),
        "deskpilot_version": header.deskpilot_version,
    }
    monitors = [(m.x, m.y, m.width, m.height) for m in header.screen.monitors]
    return [
        "SESSION = {  # the recording this script performs",
        *(f"    {key!r}: {value!r}," for key, value in facts.items()),
        "}",
        f"RECORDED_MONITORS = {monitors!r}  # (x, y, width, height) of each monitor, logical pixels",
        f"MAX_PAUSE_S = {MAX_PAUSE_S!r}  # a longer recorded pause is cut to this",
        f"PYAUTOGUI_KEYS = {PYAUTOGUI_KEYS!r}  # deskpilot key name -> pyautogui key name (the pyautogui driver's)",
    ]


def _x11_input_source() -> str:
    """sandbox/desktops/x11_input.py as the script carries it: its future import is the script's own, at the top."""
    source = inspect.getsource(x11_input).replace("from __future__ import annotations\n", "")
    return f"# --- deskpilot's X11 input (sandbox/desktops/x11_input.py), copied as is ---\n\n{source.strip()}\n\n"


def script_plan(session: Session, *, policy: Policy) -> ScriptPlan:
    """The script's source, and what went into it."""
    lines = [_HEAD, *_constants(session), _x11_input_source(), _BODY.rstrip("\n")]
    previous_end: float | None = None
    steps: set[int] = set()
    checked = _checked(session, policy)
    for item, verdict in checked:
        if previous_end is not None:
            lines.append(f"    pause({round(max(0.0, item.started - previous_end), 3)!r})")
        previous_end = item.ended
        if not isinstance(verdict, Allow):
            wants = "denies it" if isinstance(verdict, Deny) else "wants it confirmed"
            lines.append(
                f"    # step {item.step!r}: left out, the current policy {wants}: {describe(item.action)!r} "
                f"(rule {verdict.rule!r}: {verdict.reason!r})"
            )
            continue
        steps.add(item.step)
        lines.append(f"    if step({item.step!r}, {describe(item.action)!r}):")
        lines += [f"        {statement}" for statement in _statements(item.action)]
    lines.append(_TAIL)
    left_out = sum(1 for _, verdict in checked if not isinstance(verdict, Allow))
    return ScriptPlan("\n".join(lines), len(steps), len(checked), left_out)


def python_script(session: Session, *, policy: Policy) -> str:
    """The standalone script's source: what executed in `session` and `policy` allows."""
    return script_plan(session, policy=policy).source

"""`deskpilot act` as the contract says, on real X displays: the session's Xvfb and a real two-monitor
Xorg desktop (clicks and text on the second monitor; a point on no monitor is refused)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers.target import TargetWindow

pytestmark = pytest.mark.display
DESKPILOT = Path(sys.executable).with_name("deskpilot")
Factory = Callable[..., TargetWindow]


def act(action: dict | str, *args: str, display: str | None = None) -> tuple[int, dict | None, str]:
    env = {**os.environ, **({"DISPLAY": display} if display else {})}
    payload = action if isinstance(action, str) else json.dumps(action, ensure_ascii=False)
    out = subprocess.run([str(DESKPILOT), "act", payload, *args], capture_output=True, text=True, env=env, timeout=60)
    report = json.loads(out.stdout) if out.stdout.strip() else None
    return out.returncode, report, out.stderr


def test_allowed_click_runs_and_reports(target_window: Factory) -> None:
    target = target_window(x=120, y=120)
    x, y = target.centre("Submit")
    code, report, _ = act({"kind": "click", "x": x, "y": y})
    assert code == 0 and report is not None
    effect = report.pop("effect")  # what the click visibly did: Qt's button lit up and pressed under it
    assert report == {"verdict": "allow", "rule": None, "reason": None, "executed": True}
    assert effect["screen"] == "near" and effect["focus_moved"] in (True, False)
    target.wait_for(lambda e: e["event"] == "clicked" and e["clicked"] == "Submit")


def test_dry_run_and_refusals_perform_nothing(target_window: Factory) -> None:
    target = target_window(x=120, y=120)
    x, y = target.centre("Submit")
    started = time.time()
    code, report, _ = act({"kind": "click", "x": x, "y": y}, "--dry-run")
    assert code == 0 and report == {
        "verdict": "allow",
        "rule": None,
        "reason": None,
        "executed": False,
        "effect": None,  # nothing was performed: nothing to look for
    }
    code, report, _ = act({"kind": "click", "x": 5000, "y": 10})
    assert code == 3 and report is not None and report["rule"] == "off_screen" and not report["executed"]
    code, report, _ = act({"kind": "hotkey", "keys": ["Control_L", "Alt", "Del"]})
    assert code == 3 and report is not None and report["rule"] == "forbidden_hotkey"
    code, report, _ = act({"kind": "type", "text": "x" * 2001})
    assert code == 3 and report is not None and report["rule"] == "text_length"
    code, report, _ = act({"kind": "hotkey", "keys": ["ctrl", "alt", "x"]})  # the stop key itself
    assert code == 3 and report is not None and report["rule"] == "forbidden_hotkey"
    time.sleep(0.3)
    assert [e for e in target.events() if e["t"] >= started and e["event"] != "move"] == []


def test_confirm_needs_yes(target_window: Factory) -> None:
    target = target_window(x=120, y=120)
    target.wait_for(lambda e: e["event"] == "focus" and e["widget"] == "Name")
    code, report, _ = act({"kind": "type", "text": "rm -rf /tmp/x"})
    assert code == 3 and report is not None and report["verdict"] == "confirm" and not report["executed"]
    code, report, _ = act({"kind": "type", "text": "rm -rf /tmp/x"}, "--yes")
    assert code == 0 and report is not None and report["verdict"] == "confirm" and report["executed"]
    target.wait_for(lambda e: e["event"] == "text" and e["text"] == "rm -rf /tmp/x")


def test_bad_input_exits_2(tmp_path: Path) -> None:
    for payload, message in [
        ("{not json", "not valid JSON"),
        ('{"kind": "explode"}', "unknown action kind"),
        ('{"kind": "click", "x": 1}', "missing field"),
    ]:
        code, report, err = act(payload)
        assert code == 2 and report is None and err.startswith("error: ") and message in err, err
    policy = tmp_path / "policy.toml"
    policy.write_text("[actions]\nmax_per_minut = 3\n")
    code, _, err = act({"kind": "wait", "seconds": 0}, "--policy", str(policy))
    assert code == 2 and "max_per_minut" in err and str(policy) in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("driver", ["pyautogui", "pynput"])
def test_second_monitor_of_a_real_two_monitor_desktop(driver: str, two_monitor_display: str) -> None:
    with TargetWindow(display=two_monitor_display, x=2000, y=100, width=1000, height=700) as target:
        x, y = target.centre("Submit")
        assert x > 1920
        code, report, err = act({"kind": "click", "x": x, "y": y}, "--driver", driver, display=two_monitor_display)
        assert code == 0 and report is not None and report["executed"], err
        target.wait_for(lambda e: e["event"] == "clicked" and e["clicked"] == "Submit")
        press = target.wait_for(lambda e: e["event"] == "press")
        assert (press["x"], press["y"]) == (x, y)
        nx, ny = target.centre("Name")
        act({"kind": "click", "x": nx, "y": ny}, "--driver", driver, display=two_monitor_display)
        code, report, err = act(
            {"kind": "type", "text": "héllo wörld 你好 🙂"}, "--driver", driver, display=two_monitor_display
        )
        assert code == 0, err
        target.wait_for(lambda e: e["event"] == "text" and e["text"] == "héllo wörld 你好 🙂")
        code, _, err = act({"kind": "hotkey", "keys": ["ctrl", "a"]}, "--driver", driver, display=two_monitor_display)
        assert code == 0, err
        press = target.wait_for(lambda e: e["event"] == "key_press" and e["key"] == "Key_A")
        assert press["modifiers"] == ["ctrl"]
        canvas = target.widgets["Canvas"]
        cx, cy = target.centre("Canvas")
        code, _, err = act(
            {"kind": "scroll", "x": cx, "y": cy, "direction": "down", "amount": 2},
            "--driver",
            driver,
            display=two_monitor_display,
        )
        assert code == 0, err
        wheel = target.wait_for(lambda e: e["event"] == "wheel")
        assert wheel["dy"] < 0 and (wheel["x"], wheel["y"]) == (cx, cy)
        start, end = [canvas.x + 20, canvas.y + 20], [canvas.x + canvas.width - 30, canvas.y + canvas.height - 30]
        code, _, err = act(
            {"kind": "drag", "x": start[0], "y": start[1], "to_x": end[0], "to_y": end[1]},
            "--driver",
            driver,
            display=two_monitor_display,
        )
        assert code == 0, err
        drag = target.wait_for(lambda e: e["event"] == "drag")
        assert (drag["from"], drag["to"]) == (start, end) and start[0] > 1920
        started = time.time()
        code, report, _ = act({"kind": "click", "x": 2500, "y": 1050}, "--driver", driver, display=two_monitor_display)
        assert code == 3 and report is not None and report["rule"] == "off_screen" and not report["executed"]
        time.sleep(0.3)
        assert not [e for e in target.events() if e["t"] >= started and e["event"] in ("press", "release")]


@pytest.mark.parametrize(
    "action",
    [
        {"kind": "scroll", "x": None, "y": None, "direction": "down", "amount": 3},
        {"kind": "drag", "x": None, "y": None, "to_x": 1500, "to_y": 900},
    ],
)
def test_pointer_relative_actions_are_checked_where_the_pointer_really_is(
    action: dict, target_window: Factory, tmp_path: Path
) -> None:
    """redteam #9: with the pointer inside a forbidden region, a scroll or drag "at the pointer" was allowed."""
    target = target_window(x=100, y=100, width=900, height=650)
    policy = tmp_path / "region.toml"
    policy.write_text(
        '[screen]\nforbidden_regions = [{x = 100, y = 100, width = 800, height = 600, name = "secret"}]\n'
    )
    subprocess.run(["xdotool", "mousemove", "400", "400"], check=True, timeout=10)
    started = time.time()
    code, report, _ = act(action, "--policy", str(policy))
    assert code == 3 and report is not None and report["rule"] == "forbidden_region", report
    assert "(400, 400)" in report["reason"] and not report["executed"]
    time.sleep(0.3)
    assert not [e for e in target.events() if e["t"] >= started and e["event"] in ("wheel", "press")]
    subprocess.run(["xdotool", "mousemove", "950", "800"], check=True, timeout=10)  # outside the region: allowed
    code, report, _ = act(action, "--policy", str(policy), "--dry-run")
    assert code == 0 and report is not None and report["verdict"] == "allow"


def test_control_characters_in_keys_and_text_are_refused_as_input(target_window: Factory) -> None:
    """redteam #1, #2: ctrl+alt+"\\b" pressed ctrl+alt+BackSpace; "rmx\\b -rf" typed "rm -rf"."""
    target = target_window(x=120, y=120)
    started = time.time()
    for action in (
        {"kind": "hotkey", "keys": ["ctrl", "alt", "\b"]},
        {"kind": "type", "text": "rmx\b -rf ~/important"},
    ):
        code, report, stderr = act(action)
        assert code == 2 and report is None and "control character" in stderr, stderr
    time.sleep(0.3)
    assert not target.events("key_press") or all(e["t"] < started for e in target.events("key_press"))

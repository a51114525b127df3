"""What the person sees while an MCP client acts (issue 21, item 3): `deskpilot mcp` on the test session's Xvfb
shows the run panel (naming the client) and draws each action with the overlay before it happens; a "confirm"
verdict is put to the person in the panel (Approve / Reject, clicked here with xdotool as a person clicks); the
stop key and the panel's Stop refuse every call until the person presses Resume in the panel.

The panel's buttons are found through its state on stderr (DESKPILOT_MCP_PANEL_LOG=1, app/gui/mcp_view.py); the
overlay's window through xdotool; the clicks, the typing and their times through the log of the Tk target app
(tests/helpers/tk_target.py)."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest

from tests.helpers.mcp_client import json_of, server_env, stdio_session, text_of
from tests.helpers.target import TargetWindow

Factory = Callable[..., TargetWindow]
display = pytest.mark.display
PANEL_WAIT_S = 30.0
PREFIX = "mcp-panel: "


def panel_env(tmp_path: Path) -> dict[str, str]:
    return server_env(tmp_path, DESKPILOT_MCP_PANEL_LOG="1")


def panel_state(log: Path) -> dict[str, Any] | None:
    """The panel's latest state as the server wrote it on stderr."""
    lines = [line for line in log.read_text(encoding="utf-8").splitlines() if line.startswith(PREFIX)]
    return json.loads(lines[-1][len(PREFIX) :]) if lines else None


async def panel_until(log: Path, wanted: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    deadline = time.monotonic() + PANEL_WAIT_S
    while True:
        state = panel_state(log)
        if state is not None and wanted(state):
            return state
        assert time.monotonic() < deadline, f"the panel never got there: {state}"
        await anyio.sleep(0.05)


def press(state: dict[str, Any], button: str) -> None:
    """Click a panel button with the pointer, as a person does."""
    rect = state["buttons"][button]
    assert rect["enabled"], state
    x, y = rect["x"] + rect["width"] // 2, rect["y"] + rect["height"] // 2
    subprocess.run(["xdotool", "mousemove", str(x), str(y), "click", "1"], check=True, timeout=10, env=os.environ)


def asking(state: dict[str, Any]) -> bool:
    return bool(state["buttons"]["approve"]["enabled"] and state["overlay"])


def error_line(result: types.CallToolResult) -> str:
    line = text_of(result)
    assert result.is_error and "\n" not in line, result
    return line


def typing(text: str) -> dict[str, Any]:
    return {"action": {"kind": "type", "text": text}}


class OverlayWatch:
    """When the overlay's window was first seen on the screen (xdotool, from outside the server)."""

    def __init__(self) -> None:
        self.seen: float | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._done.is_set() and self.seen is None:
            out = subprocess.run(
                ["xdotool", "search", "--onlyvisible", "--name", "deskpilot action overlay"],
                capture_output=True,
                text=True,
                timeout=10,
                env=os.environ,
            )
            if out.stdout.strip():
                self.seen = time.time()

    def __enter__(self) -> OverlayWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join(15)


@display
def test_the_panel_names_the_client_and_the_overlay_shows_the_click_before_it_happens(
    tmp_path: Path, target_window: Factory
) -> None:
    target = target_window(x=120, y=120, app="tk")
    log = tmp_path / "stderr"

    async def scenario() -> tuple[dict[str, Any], list[str]]:
        with open(log, "w") as errlog:
            async with stdio_session("deskpilot", ["mcp", "--preview-ms", "1000"], panel_env(tmp_path), errlog) as s:
                with OverlayWatch() as watch:
                    done = json_of(await s.call_tool("act", {"action": {"kind": "click", **point("Submit")}}))
                titles = subprocess.run(
                    ["xdotool", "search", "--onlyvisible", "--name", "^deskpilot mcp: ", "getwindowname", "%@"],
                    capture_output=True,
                    text=True,
                    timeout=10,
                    env=os.environ,
                ).stdout.splitlines()
                state = panel_state(log)
                assert state is not None
                return {**done, "seen": watch.seen, "state": state}, titles

    def point(name: str) -> dict[str, int]:
        x, y = target.centre(name)
        return {"x": x, "y": y}

    outcome, titles = anyio.run(scenario)
    assert outcome["executed"] is True
    clicked = target.wait_for(lambda e: e["event"] == "clicked" and e["clicked"] == "Submit")
    assert outcome["seen"] is not None and outcome["seen"] < clicked["t"]  # drawn first, then clicked
    state = outcome["state"]
    assert state["client"].startswith("mcp") and state["title"] == f"deskpilot mcp: {state['client']}"
    assert titles == [state["title"]]  # the panel is on the screen, named for the client
    assert "click" in state["action"] and state["verdict"] == "Policy: allowed"
    assert state["overlay"] is False  # taken down before the click


@display
def test_a_confirm_verdict_is_approved_or_rejected_in_the_panel(tmp_path: Path, target_window: Factory) -> None:
    target = target_window(x=120, y=120, app="tk")
    target.wait_for(lambda e: e["event"] == "focus" and e["widget"] == "Name")
    log = tmp_path / "stderr"

    async def answered(session: Any, text: str, button: str) -> types.CallToolResult:
        results: list[types.CallToolResult] = []

        async def call() -> None:
            results.append(await session.call_tool("act", typing(text)))

        async with anyio.create_task_group() as group:
            group.start_soon(call)
            state = await panel_until(log, asking)
            assert not results  # the call waits for the person
            assert "confirm" in state["verdict"] and "rm -rf" in state["action"]
            press(state, button)
        return results[0]

    async def scenario() -> tuple[types.CallToolResult, types.CallToolResult]:
        with open(log, "w") as errlog:
            async with stdio_session("deskpilot", ["mcp"], panel_env(tmp_path), errlog) as session:
                approved = await answered(session, "rm -rf /tmp/approved", "approve")
                rejected = await answered(session, "rm -rf /tmp/rejected", "reject")
        return approved, rejected

    approved, rejected = anyio.run(scenario)
    done = json_of(approved)
    assert done["verdict"] == "confirm" and done["executed"] is True
    target.wait_for(lambda e: e["event"] == "text" and e["text"] == "rm -rf /tmp/approved")
    assert "rejected" in error_line(rejected) and rejected.structured_content is not None
    assert rejected.structured_content["executed"] is False
    assert not [e for e in target.events("text") if "rejected" in e["text"]]


@display
def test_stop_refuses_every_call_until_resume_is_pressed_in_the_panel(tmp_path: Path, target_window: Factory) -> None:
    target = target_window(x=120, y=120, app="tk")
    target.wait_for(lambda e: e["event"] == "focus" and e["widget"] == "Name")
    log = tmp_path / "stderr"
    submit = dict(zip(("x", "y"), target.centre("Submit"), strict=True))
    click = {"action": {"kind": "click", **submit}}

    async def resume(session: Any) -> None:
        press(await panel_until(log, lambda s: s["buttons"]["resume"]["enabled"]), "resume")
        await panel_until(log, lambda s: s["buttons"]["stop"]["enabled"])

    async def scenario() -> list[str]:
        refusals = []
        with open(log, "w") as errlog:
            async with stdio_session("deskpilot", ["mcp"], panel_env(tmp_path), errlog) as session:
                assert not (await session.call_tool("screenshot", {})).is_error
                subprocess.run(["xdotool", "key", "ctrl+alt+x"], check=True, timeout=10, env=os.environ)
                state = await panel_until(log, lambda s: s["buttons"]["resume"]["enabled"])
                assert state["action"].startswith("Stopped")
                refusals.append(error_line(await session.call_tool("act", click)))
                refusals.append(error_line(await session.call_tool("act", click)))  # still, until Resume
                await resume(session)
                assert json_of(await session.call_tool("act", click))["executed"] is True
                target.wait_for(lambda e: e["event"] == "clicked" and e["clicked"] == "Submit")

                results: list[types.CallToolResult] = []  # the panel's Stop ends a call waiting for the person

                async def call() -> None:
                    results.append(await session.call_tool("act", typing("rm -rf /tmp/stopped")))

                async with anyio.create_task_group() as group:
                    group.start_soon(call)
                    press(await panel_until(log, asking), "stop")
                refusals.append(error_line(results[0]))
                refusals.append(error_line(await session.call_tool("act", click)))
                await resume(session)
                cancel = dict(zip(("x", "y"), target.centre("Cancel"), strict=True))
                assert json_of(await session.call_tool("act", {"action": {"kind": "click", **cancel}}))["executed"]
                target.wait_for(lambda e: e["event"] == "clicked" and e["clicked"] == "Cancel")
        return refusals

    refusals = anyio.run(scenario)
    assert len(refusals) == 4 and all(line.startswith("stopped:") for line in refusals), "\n".join(refusals)
    assert "Resume in the run panel" in refusals[0]
    assert [e["clicked"] for e in target.events("clicked")] == ["Submit", "Cancel"]  # none while stopped
    typed = {e["key"] for e in target.events("key_press")}
    assert typed <= {"Control_L", "Alt_L", "x"}, typed  # the stop key only (its x is grabbed by deskpilot) ...
    assert not target.events("text")  # ... and nothing typed while stopped

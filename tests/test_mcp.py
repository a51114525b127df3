"""`deskpilot mcp` driven by the official MCP SDK's own client, over stdio and streamable HTTP, on the test
session's Xvfb with a Tk app (tests/helpers/tk_target.py: a heading, Submit, Cancel, a Name entry): the tools, the
policy, the stop key, the recording, bad input, old clients' handshakes, the bearer token, and the README's
configuration snippets."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shlex
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import mcp_types as types
import pytest
from mcp import Client, StdioServerParameters
from PIL import Image

from agent.session import read_session
from tests.helpers.cli import DESKPILOT, deskpilot
from tests.helpers.mcp_client import (
    HttpServer,
    RawClient,
    command_path,
    http_session,
    json_of,
    server_env,
    sessions_dir,
    stdio_session,
    text_of,
)
from tests.helpers.target import TargetWindow

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
Factory = Callable[..., TargetWindow]
TOOLS = {"screenshot": (True, None), "locate": (True, None), "act": (False, True), "run_task": (False, True)}
TOKEN = "test-token-0123456789abcdef"
display = pytest.mark.display


def click(x: int, y: int) -> dict[str, Any]:
    return {"action": {"kind": "click", "x": x, "y": y}}


def pressed(target: TargetWindow, since: float) -> list[str]:
    """The buttons the target app says were clicked since `since`, in order."""
    return [e["clicked"] for e in target.events("clicked") if e["t"] >= since]


def one_line_error(result: types.CallToolResult) -> str:
    line = text_of(result)
    assert result.is_error and "\n" not in line and line.strip() == line, result
    return line


@display
def test_tools_listed_with_annotations_and_a_screenshot_of_the_screen(tmp_path: Path) -> None:
    async def scenario() -> None:
        with open(tmp_path / "stderr", "w") as errlog:
            async with stdio_session("deskpilot", ["mcp"], server_env(tmp_path), errlog) as session:
                listed = {tool.name: tool for tool in (await session.list_tools()).tools}
                assert set(listed) == set(TOOLS)
                for name, (read_only, destructive) in TOOLS.items():
                    annotations = listed[name].annotations
                    assert annotations is not None and annotations.read_only_hint is read_only
                    assert annotations.destructive_hint is destructive
                    assert "screen pixels" in (listed[name].description or "") or name == "run_task"
                shot = await session.call_tool("screenshot", {})
        assert not shot.is_error
        images = [block for block in shot.content if isinstance(block, types.ImageContent)]
        assert len(images) == 1 and images[0].mime_type == "image/png"
        image = Image.open(io.BytesIO(base64.b64decode(images[0].data)))
        geometry = json_of(shot)
        assert image.size == (1920, 1080) == (geometry["width"], geometry["height"])  # the session's Xvfb
        assert (geometry["x"], geometry["y"], geometry["scale"]) == (0, 0, 1.0)

    anyio.run(scenario)


@display
def test_act_clicks_refuses_a_denied_hotkey_and_bad_input_and_records_the_connection(
    tmp_path: Path, target_window: Factory
) -> None:
    target = target_window(x=120, y=120, app="tk")
    started = time.time()

    async def scenario() -> None:
        with open(tmp_path / "stderr", "w") as errlog:
            async with stdio_session("deskpilot", ["mcp"], server_env(tmp_path), errlog) as session:
                done = json_of(await session.call_tool("act", click(*target.centre("Submit"))))
                assert done["executed"] is True and done["verdict"] == "allow"
                assert done["effect"]["screen"] == "near"  # the button drew itself pressed: seen where it was clicked
                target.wait_for(lambda e: e["event"] == "clicked" and e["clicked"] == "Submit")
                denied = await session.call_tool(
                    "act", {"action": {"kind": "hotkey", "keys": ["ctrl", "alt", "Delete"]}}
                )
                assert "forbidden_hotkey" in one_line_error(denied)
                assert denied.structured_content is not None and denied.structured_content["executed"] is False
                stop_key = await session.call_tool("act", {"action": {"kind": "hotkey", "keys": ["ctrl", "alt", "x"]}})
                assert "forbidden_hotkey" in one_line_error(stop_key)
                assert "unknown tool" in one_line_error(await session.call_tool("explode", {}))
                for bad in (
                    {"action": {"kind": "click", "x": "a", "y": 1}},
                    {"action": {"kind": "teleport"}},
                    {"action": '{"kind": "click", "x": 1'},
                    {"action": {"kind": "type", "text": "x" * 40_000}},
                    {"actions": []},
                ):
                    one_line_error(await session.call_tool("act", bad))
                again = json_of(await session.call_tool("act", click(*target.centre("Cancel"))))  # still serving
                assert again["executed"] is True
                target.wait_for(lambda e: e["event"] == "clicked" and e["clicked"] == "Cancel")

    anyio.run(scenario)
    assert pressed(target, started) == ["Submit", "Cancel"]
    assert not [e for e in target.events("key_press") if e["t"] >= started]  # neither hotkey reached the app
    (folder,) = sessions_dir(tmp_path).iterdir()  # one connection, one session
    session = read_session(folder)
    assert session.header.run["mode"] == "mcp" and session.header.run["mcp_client"].startswith("mcp")
    actions = [step.actions[0] for step in session.steps]
    assert [a.executed is not None for a in actions] == [True, False, False, True]
    assert actions[1].blocked is not None and actions[1].blocked.rule == "forbidden_hotkey"
    assert session.end is not None


@display
def test_locate_points_inside_a_label_over_the_2026_protocol(tmp_path: Path, target_window: Factory) -> None:
    target = target_window(x=120, y=120, app="tk")
    params = StdioServerParameters(command=str(DESKPILOT), args=["mcp"], env=server_env(tmp_path))

    async def scenario() -> dict[str, Any]:
        async with Client(params) as client:  # the SDK client's own preference: the 2026-07-28 form
            assert client.protocol_version == "2026-07-28"
            assert "not found" in one_line_error(await client.call_tool("locate", {"instruction": "Frobnicate"}))
            return json_of(await client.call_tool("locate", {"instruction": "Shipping address"}))

    found = anyio.run(scenario)
    assert target.widgets["Heading"].contains(found["x"], found["y"]), (found, target.widgets["Heading"])
    assert found["monitor"] == 0
    assert not [e for e in target.events() if e["event"] in ("press", "clicked")]  # locating clicks nothing


@display
def test_run_task_presses_both_in_order_and_records_a_session(tmp_path: Path, target_window: Factory) -> None:
    target = target_window(x=120, y=120, app="tk")
    started = time.time()

    async def scenario() -> dict[str, Any]:
        with open(tmp_path / "stderr", "w") as errlog:
            async with stdio_session("deskpilot", ["mcp"], server_env(tmp_path), errlog) as session:
                return json_of(await session.call_tool("run_task", {"task": "click Submit then click Cancel"}))

    outcome = anyio.run(scenario)
    assert outcome["outcome"] == "success", outcome
    assert pressed(target, started) == ["Submit", "Cancel"]
    recorded = read_session(Path(outcome["session"]))
    assert recorded.end is not None and recorded.end.outcome == "success"
    assert recorded.header.run["mcp_client"].startswith("mcp")
    clicks = [a.executed.action for step in recorded.steps for a in step.actions if a.executed is not None]
    assert [action.kind for action in clicks if action.kind != "finish"] == ["click", "click"]


@display
def test_calls_arriving_together_one_acts_and_the_other_is_told_busy(tmp_path: Path) -> None:
    async def scenario() -> list[types.CallToolResult]:
        results: list[types.CallToolResult] = []
        with open(tmp_path / "stderr", "w") as errlog:
            async with stdio_session("deskpilot", ["mcp"], server_env(tmp_path), errlog) as session:

                async def call(action: dict[str, Any]) -> None:
                    results.append(await session.call_tool("act", {"action": action}))

                async with anyio.create_task_group() as group:
                    group.start_soon(call, {"kind": "wait", "seconds": 5})
                    group.start_soon(call, {"kind": "wait", "seconds": 5})
                results.append(await session.call_tool("screenshot", {}))  # and it still serves
        return results

    first, second, shot = anyio.run(scenario)
    busy = [r for r in (first, second) if r.is_error]
    assert len(busy) == 1 and one_line_error(busy[0]).startswith("busy:")
    assert not shot.is_error


@display
def test_after_the_stop_key_every_call_is_refused(tmp_path: Path, target_window: Factory) -> None:
    target = target_window(x=120, y=120, app="tk")

    async def scenario() -> None:
        with open(tmp_path / "stderr", "w") as errlog:
            async with stdio_session("deskpilot", ["mcp"], server_env(tmp_path), errlog) as session:
                assert not (await session.call_tool("screenshot", {})).is_error  # serving, the stop key listening
                subprocess.run(["xdotool", "key", "ctrl+alt+x"], check=True, timeout=10, env=os.environ)
                deadline = time.monotonic() + 10
                while not (await session.call_tool("screenshot", {})).is_error:  # the key arrives on its own time
                    assert time.monotonic() < deadline, "the stop key was not heard"
                    await anyio.sleep(0.05)
                refused = await session.call_tool("act", click(*target.centre("Submit")))
                assert one_line_error(refused).startswith("stopped:")

    anyio.run(scenario)
    assert not target.events("clicked")


@display
def test_old_clients_handshakes_and_malformed_calls_get_one_line(tmp_path: Path) -> None:
    for version in ("2025-06-18", "2025-11-25"):
        with open(tmp_path / f"stderr-{version}", "w") as errlog:
            raw = RawClient(server_env(tmp_path), errlog)
            hello = {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "old", "version": "1"}}
            answer = raw.request("initialize", hello)
            assert (
                answer["result"]["protocolVersion"] == version and answer["result"]["serverInfo"]["name"] == "deskpilot"
            )
            raw.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
            raw.send("{this is not JSON")
            for arguments in ("a string", [1, 2], {"action": None}):
                result = raw.request("tools/call", {"name": "act", "arguments": arguments})["result"]
                (content,) = result["content"]
                assert result["isError"] is True and "\n" not in content["text"], result
            error = raw.request("tools/list", {"cursor": {"not": "a string"}})["error"]
            assert "\n" not in error["message"]
            tools = raw.request("tools/list")["result"]["tools"]
            assert {tool["name"] for tool in tools} == set(TOOLS)
            assert raw.close() == 0


@display
def test_http_wants_the_token_it_keeps_in_the_config_folder(tmp_path: Path, target_window: Factory) -> None:
    target = target_window(x=120, y=120, app="tk")
    env = server_env(tmp_path)
    with HttpServer(["--http", "127.0.0.1:0"], env, tmp_path / "stderr-1") as server:
        kept = tmp_path / "config" / "deskpilot" / "mcp-token"
        token = kept.read_text().strip()
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600 and token in server.stderr()
        hello = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        accept = {"Accept": "application/json, text/event-stream"}
        for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": token}):
            answer = httpx.post(server.url, json=hello, headers={**accept, **headers}, timeout=30)
            assert answer.status_code == 401 and "unauthorized" in answer.json()["error"]

        async def scenario() -> dict[str, Any]:
            async with http_session(server.url, {"Authorization": f"Bearer {token}"}) as session:
                assert {tool.name for tool in (await session.list_tools()).tools} == set(TOOLS)
                return json_of(await session.call_tool("act", click(*target.centre("Submit"))))

        assert anyio.run(scenario)["executed"] is True
        target.wait_for(lambda e: e["event"] == "clicked" and e["clicked"] == "Submit")
    with HttpServer(["--http", "127.0.0.1:0"], env, tmp_path / "stderr-2") as again:
        assert token not in again.stderr() and str(kept) in again.stderr()  # printed once, when it was made


def test_command_line_refusals_are_one_line(tmp_path: Path) -> None:
    for args, message in (
        (["--http", "0.0.0.0:8765"], "--allow-remote"),
        (["--token", TOKEN], "--http"),
        (["--http", "8765"], "HOST:PORT"),
        (["--http", "127.0.0.1:1", "--token", "short"], "--token"),
    ):
        out = deskpilot("mcp", *args)
        assert out.returncode == 2 and out.stdout == "", out
        assert out.stderr.startswith("error: ") and message in out.stderr and len(out.stderr.splitlines()) == 1


def test_no_display_is_one_line_and_nothing_on_stdout(tmp_path: Path) -> None:
    env = {k: v for k, v in server_env(tmp_path).items() if k != "DISPLAY"}
    out = subprocess.run([str(DESKPILOT), "mcp"], input="", capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 2 and out.stdout == "" and out.stderr.startswith("error: ")
    assert len(out.stderr.splitlines()) == 1, out.stderr


# -- the README's snippets ------------------------------------------------------------------------------------


def readme_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("## Use deskpilot from other agents (MCP)")
    return text[start : text.index("\n## ", start + 1)]


def stdio_configs(section: str) -> list[tuple[str, list[str]]]:
    """Every stdio configuration the section gives: (command, args)."""
    configs = []
    for line in section.splitlines():
        words = shlex.split(line.strip()) if line.startswith("    claude mcp add ") else []
        if words and "--transport" not in words:
            configs.append((words[words.index("--") + 1], words[words.index("--") + 2 :]))
    for block in re.findall(r"```toml\n(.*?)```", section, re.S):
        server = tomllib.loads(block)["mcp_servers"]["deskpilot"]
        configs.append((server["command"], server["args"]))
    for block in re.findall(r"```json\n(.*?)```", section, re.S):
        server = json.loads(block)["mcpServers"]["deskpilot"]
        if "command" in server:
            configs.append((server["command"], server["args"]))
    return configs


def http_configs(section: str) -> list[tuple[str, dict[str, str]]]:
    """Every HTTP configuration the section gives: (url, headers)."""
    configs = []
    for line in section.splitlines():
        words = shlex.split(line.strip()) if line.startswith("    claude mcp add --transport http") else []
        if words:
            name, value = words[words.index("--header") + 1].split(": ", 1)
            configs.append((words[words.index("deskpilot") + 1], {name: value}))
    for block in re.findall(r"```json\n(.*?)```", section, re.S):
        server = json.loads(block)["mcpServers"]["deskpilot"]
        if "url" in server:
            configs.append((server["url"], server["headers"]))
    return configs


@display
def test_the_readme_snippets_start_a_working_server(tmp_path: Path) -> None:
    section = readme_section()
    stdio, http = stdio_configs(section), http_configs(section)
    assert len(stdio) == 3 and len(http) == 2  # Claude Code, Codex, Cursor; Claude Code and Cursor over HTTP
    address = re.search(r"deskpilot mcp --http ([^\s`]+)", section)
    assert address is not None

    async def lists_tools(command: str, args: list[str]) -> None:
        with open(tmp_path / "stderr", "a") as errlog:
            async with stdio_session(command, args, server_env(tmp_path), errlog) as session:
                assert {tool.name for tool in (await session.list_tools()).tools} == set(TOOLS)

    for command, args in stdio:
        assert command_path(command) == str(DESKPILOT)
        anyio.run(lists_tools, command, args)
    with HttpServer(["--http", "127.0.0.1:0", "--token", TOKEN], server_env(tmp_path), tmp_path / "http") as server:
        for url, headers in http:
            assert url == f"http://{address.group(1)}/mcp"
            served = url.replace(address.group(1), server.url.split("/")[2])
            headers = {name: value.replace("YOUR_TOKEN", TOKEN) for name, value in headers.items()}

            async def http_lists_tools(url: str = served, headers: dict[str, str] = headers) -> None:
                async with http_session(url, headers) as session:
                    assert {tool.name for tool in (await session.list_tools()).tools} == set(TOOLS)

            anyio.run(http_lists_tools)

"""`deskpilot mcp` driven as an MCP client drives it: the official SDK's own client over stdio or streamable HTTP.

    env = server_env(tmp_path)
    async with stdio_session(["mcp"], env, errlog) as session:
        await session.call_tool("act", {"action": {...}})

`server_env` keeps sessions and the config folder (the token) under the test's own folder. The HTTP server runs
as its own process (`HttpServer`), its address read from the line it says on stderr.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO, Any

import httpx2
import mcp_types as types
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from tests.helpers.cli import DESKPILOT

START_TIMEOUT_S = 60.0
SERVING = "mcp: serving streamable HTTP at "


def server_env(root: Path, **extra: str) -> dict[str, str]:
    """The server's environment: this display, and the data and config folders inside `root`."""
    env = {
        "DISPLAY": os.environ.get("DISPLAY", ""),
        "XDG_DATA_HOME": str(root / "data"),
        "XDG_CONFIG_HOME": str(root / "config"),
        "HOME": str(root),
        "PATH": os.environ.get("PATH", ""),
        **extra,
    }
    return {name: value for name, value in env.items() if value}


def sessions_dir(root: Path) -> Path:
    return root / "data" / "deskpilot" / "sessions"


def command_path(command: str) -> str:
    """A snippet's `deskpilot` is the console script installed beside this Python."""
    return str(DESKPILOT) if command == "deskpilot" else command


@asynccontextmanager
async def stdio_session(
    command: str, args: Sequence[str], env: dict[str, str], errlog: IO[str]
) -> AsyncIterator[ClientSession]:
    """An initialized ClientSession (the handshake: 2025-11-25) with `command args` serving stdio."""
    params = StdioServerParameters(command=command_path(command), args=list(args), env=env)
    async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


@asynccontextmanager
async def http_session(url: str, headers: dict[str, str]) -> AsyncIterator[ClientSession]:
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=300.0)) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


class HttpServer:
    """`deskpilot mcp --http ...` as its own process; `url` once it serves, its stderr kept in a file."""

    def __init__(self, args: Sequence[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._stderr = open(log, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self.process = subprocess.Popen(
            [str(DESKPILOT), "mcp", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
        )
        self.url = self._wait_for_url()

    def _wait_for_url(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            for line in self.stderr().splitlines():
                if line.startswith(SERVING):
                    return line[len(SERVING) :].strip()
            if self.process.poll() is not None:
                raise AssertionError(f"deskpilot mcp --http exited with {self.process.returncode}: {self.stderr()}")
            time.sleep(0.05)
        raise AssertionError(f"deskpilot mcp --http did not serve within {START_TIMEOUT_S:g} s: {self.stderr()}")

    def stderr(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._stderr.close()

    def __enter__(self) -> HttpServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def text_of(result: types.CallToolResult) -> str:
    """A result's text: an error's one line, or the JSON of a success."""
    texts = [block.text for block in result.content if isinstance(block, types.TextContent)]
    assert texts, result
    return texts[-1]


def json_of(result: types.CallToolResult) -> dict[str, Any]:
    data = json.loads(text_of(result))
    assert isinstance(data, dict)
    return data


class RawClient:
    """JSON-RPC lines written by hand, as an older client (or a broken one) writes them on stdio."""

    def __init__(self, env: dict[str, str], errlog: IO[str]) -> None:
        self.process = subprocess.Popen(
            [str(DESKPILOT), "mcp"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errlog,
            env=env,
            text=True,
            encoding="utf-8",
        )
        self._next = 0

    def request(self, method: str, params: Any = None) -> dict[str, Any]:
        """One request and its answer (the server answers requests in order here: one at a time)."""
        self._next += 1
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": self._next, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        assert self.process.stdout is not None
        while True:
            line = self.process.stdout.readline()
            assert line, f"the server closed stdout (exit {self.process.poll()})"
            answer = json.loads(line)
            if answer.get("id") == self._next:
                assert isinstance(answer, dict)
                return answer

    def send(self, message: dict[str, Any] | str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write((message if isinstance(message, str) else json.dumps(message)) + "\n")
        self.process.stdin.flush()

    def close(self) -> int:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()
        code = self.process.wait(timeout=30)
        self.process.stdout.close()
        return code

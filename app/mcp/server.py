"""The MCP server: the official SDK's low-level `Server` with deskpilot's four tools, over stdio or streamable HTTP.

The SDK speaks the protocol: the `initialize` handshake of 2024-11-05 to 2025-11-25 (clients in use send 2025-06-18
and 2025-11-25) and the 2026-07-28 per-request form its own client prefers. Its stdio transport points fd 1 at
stderr while serving, so stdout carries protocol messages only, whatever a library prints.

deskpilot adds:
- tool errors as error results of one line (app/mcp/tools.py), also where the SDK's own validation of a call
  would answer with several (`OneLineErrors`);
- blocking work (the desktop, the backend) on worker threads, so the server keeps answering while one acts;
- which connection a call belongs to (its recording, app/mcp/journal.py): the stdio pipe, an HTTP session
  (Mcp-Session-Id), or, for the sessionless 2026-07-28 form, the client's name; a connection's session ends
  when the connection does, the rest when the server stops;
- over HTTP a bearer token on every request (`BearerGate`): without it, or with another, 401.
"""

from __future__ import annotations

import base64
import hmac
import itertools
import json
import socket
import traceback
from collections.abc import Awaitable, Callable, MutableMapping
from functools import partial
from typing import Any

import anyio
import mcp_types as types
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import ValidationError

from agent.errors import AgentError
from agent.session.recorder import deskpilot_version
from app.mcp.hands import Hands, ToolError
from app.mcp.tools import (
    MAX_INSTRUCTION_CHARS,
    MAX_TASK_CHARS,
    TOOLS,
    ArgumentError,
    Arguments,
    error_result,
    json_result,
    one_line,
)
from sandbox.errors import SandboxError, first_line
from sandbox.text import shorten

INSTRUCTIONS = (
    "deskpilot acts on this computer's desktop for you, with the person watching: every action is checked by "
    "their policy, shown before it happens and recorded, and their stop key refuses every later call. Points are "
    "screen pixels (call `screenshot` for the geometry). Look first (`screenshot`, `locate`), then `act` one "
    "action at a time, or hand a whole task to `run_task`."
)
CLIENT_NAME_CHARS = 60
UNAUTHORIZED = b'{"error": "unauthorized: send the token deskpilot mcp printed, as Authorization: Bearer TOKEN"}'
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]


class OneLineErrors:
    """Every error a call can get is one line: the SDK's own validation of `tools/call` (a name that is no string,
    arguments that are no object) becomes the tool's error result, other errors keep their code with a one-line
    message."""

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        try:
            return await call_next(ctx)
        except ValidationError as exc:
            line = _validation_line(ctx.method, exc)
            if ctx.method == "tools/call":  # the SDK shapes no result a middleware returns: shaped here
                result = error_result(line).model_dump(by_alias=True, mode="json", exclude_none=True)
                if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
                    result.pop("resultType", None)
                return result
            raise MCPError(code=types.INVALID_PARAMS, message=line) from None
        except MCPError as exc:
            if "\n" not in exc.message and len(exc.message) == len(one_line(exc.message)):
                raise
            raise MCPError(code=exc.code, message=one_line(exc.message)) from None


def _validation_line(method: str, exc: ValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return f"{method}: invalid parameters"
    first = errors[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or "params"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return one_line(f"{method}: {where}: {first.get('msg', 'invalid')}{more}")


class ToolServer:
    """The tools' handlers around one `Hands`; `server` is the SDK's server to run on a transport."""

    def __init__(self, hands: Hands, *, say: Callable[[str], None]) -> None:
        self.hands = hands
        self._say = say
        self._numbers = itertools.count(1)
        self.shutdown: Callable[[], None] = lambda: None  # ends serving from another thread (HTTP)
        self.server: Server[Any] = Server(
            "deskpilot",
            version=deskpilot_version(),
            title="deskpilot",
            instructions=INSTRUCTIONS,
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
        )
        self.server.middleware.append(OneLineErrors())

    async def _list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=list(TOOLS))

    async def _call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        client = self._client(ctx)
        try:
            args = Arguments.read(params.name, params.arguments)
            return await self._run(args, client, ctx)
        except (ArgumentError, ToolError) as exc:
            return error_result(str(exc), exc.details if isinstance(exc, ToolError) else None)
        except (AgentError, SandboxError) as exc:
            return error_result(f"{params.name}: {first_line(exc)}")
        except Exception as exc:  # a bug: one line for the client, the traceback for the person
            self._say(f"mcp: {params.name} failed: {traceback.format_exc()}")
            return error_result(f"{params.name}: {type(exc).__name__}: {exc}")

    async def _run(self, args: Arguments, client: str, ctx: ServerRequestContext[Any, Any]) -> types.CallToolResult:
        hands, tool = self.hands, args.tool
        if tool == "screenshot":
            picture = await anyio.to_thread.run_sync(hands.screenshot, args.integer("monitor", 0, minimum=0))
            return types.CallToolResult(
                content=[
                    types.ImageContent(data=base64.b64encode(picture.png).decode("ascii"), mime_type="image/png"),
                    types.TextContent(text=json.dumps(picture.geometry)),
                ],
                structured_content=picture.geometry,
            )
        if tool == "locate":
            instruction = args.text("instruction", limit=MAX_INSTRUCTION_CHARS)
            monitor = args.integer("monitor", 0, minimum=0)
            return json_result(await anyio.to_thread.run_sync(hands.locate, instruction, monitor))
        if tool == "act":
            action, raw = args.action()
            connection = self._connection(ctx, client)
            act = partial(hands.act, connection=connection, client=client, action=action, raw=raw)
            return json_result(await anyio.to_thread.run_sync(act))
        task = args.text("task", limit=MAX_TASK_CHARS)
        max_steps = args.integer("max_steps", 15, minimum=1, maximum=100)
        run = partial(hands.run_task, client=client, task=task, max_steps=max_steps)
        outcome = await anyio.to_thread.run_sync(run)
        return json_result(outcome, is_error=outcome["outcome"] != "success")

    @staticmethod
    def _client(ctx: ServerRequestContext[Any, Any]) -> str:
        """The client's name from `initialize` (or the 2026 envelope), as the person and the sessions see it."""
        params = ctx.session.client_params
        if params is None:
            return "an unnamed client"
        info = params.client_info
        name = " ".join(f"{info.name} {info.version}".split()) if info.version else " ".join(info.name.split())
        return shorten(name, CLIENT_NAME_CHARS) or "an unnamed client"

    def _connection(self, ctx: ServerRequestContext[Any, Any], client: str) -> str:
        """Which recording a call belongs to: its connection's (ended with it), or, without one, its client's."""
        if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
            return f"client {client}"  # each request is its own connection: the client's session lasts
        connection = getattr(ctx.session, "_connection", None)  # the SDK hands handlers no public way to it yet
        if connection is None:
            return f"client {client}"
        state: dict[str, Any] = connection.state
        key = state.get("deskpilot")
        if key is None:
            key = state["deskpilot"] = f"connection {next(self._numbers)}"
            hands = self.hands
            connection.exit_stack.push_async_callback(partial(anyio.to_thread.run_sync, hands.end_connection, key))
        return str(key)


class BearerGate:
    """Every HTTP request carries `Authorization: Bearer <token>`, or gets 401 and nothing else."""

    def __init__(self, app: Asgi, token: str) -> None:
        self._app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = next((value for name, value in scope.get("headers", ()) if name == b"authorization"), b"")
            if not hmac.compare_digest(bytes(given), self._expected):
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(UNAUTHORIZED)).encode()),
                            (b"www-authenticate", b'Bearer realm="deskpilot"'),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": UNAUTHORIZED})
                return
        await self._app(scope, receive, send)


def serve_stdio(tools: ToolServer) -> None:
    """Serve one client on stdin/stdout until it closes the pipe."""
    from mcp.server.stdio import stdio_server

    async def main() -> None:
        async with stdio_server() as (read, write):
            await tools.server.run(read, write, tools.server.create_initialization_options())

    if not tools.hands.is_open:  # its lines go to stderr; a backend loads later, while stdio_server keeps fd 1 clean
        tools.hands.open()
    try:
        anyio.run(main)
    finally:
        tools.hands.close()


def serve_http(tools: ToolServer, *, host: str, port: int, token: str, say: Callable[[str], None]) -> None:
    """Serve streamable HTTP at http://host:port/mcp until interrupted."""
    import uvicorn

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SandboxError(f"--http {host}:{port}: cannot listen there: {exc.strerror or exc}") from None
    sock.listen(128)  # listening before 'serving' is said: a client that reads the line may connect at once
    bound = sock.getsockname()[1]
    app = BearerGate(tools.server.streamable_http_app(host=host), token)
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    server = uvicorn.Server(config)
    tools.shutdown = lambda: setattr(server, "should_exit", True)
    if not tools.hands.is_open:
        tools.hands.open()
    try:
        shown_host = f"[{host}]" if ":" in host else host
        say(f"mcp: serving streamable HTTP at http://{shown_host}:{bound}/mcp")
        server.run(sockets=[sock])
    finally:
        sock.close()
        tools.hands.close()

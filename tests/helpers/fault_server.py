"""A local OpenAI-compatible HTTP server that misbehaves on purpose (http.server on 127.0.0.1, port 0).

Each request gets the next scripted answer for its path, else the path's default (a model list, a chat
completion). The server records every request it got, so tests look at what really went over the wire, and
notices when the client hangs up (`disconnected`), so tests can check that a request given up on is cut.
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "tiny-vl"
HOLD_LIMIT_S = 20.0  # a held or dripping request never outlives the test by more than this


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    at: float


Answer = Callable[["_Handler", "FaultServer"], None]


def reply(status: int = 200, body: Any = None, headers: dict[str, str] | None = None) -> Answer:
    """Answer with `body` (dict/list -> JSON, str or bytes -> as is) and `status`."""

    def answer(handler: _Handler, server: FaultServer) -> None:
        if isinstance(body, bytes):
            data = body
        else:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("content-type", "application/json")
        handler.send_header("content-length", str(len(data)))
        handler.send_header("connection", "close")
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        try:
            handler.wfile.write(data)
        except OSError:  # the client stopped reading (an answer it will not take)
            server.disconnected.set()

    return answer


def unsized(data: bytes) -> Answer:
    """A 200 with no content-length: the body ends when the server closes the connection."""

    def answer(handler: _Handler, server: FaultServer) -> None:
        handler.send_response(200)
        handler.send_header("content-type", "application/json")
        handler.send_header("connection", "close")
        handler.end_headers()
        handler.close_connection = True
        try:
            for start in range(0, len(data), 65536):
                handler.wfile.write(data[start : start + 65536])
        except OSError:
            server.disconnected.set()

    return answer


def completion(content: Any = "hello", **message: Any) -> dict[str, Any]:
    return {
        "id": "x",
        "object": "chat.completion",
        "model": MODEL,
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content, **message}}
        ],
        "usage": {"prompt_tokens": 2750, "completion_tokens": 12, "total_tokens": 2762},
    }


def hold(seconds: float, then: Answer | None = None) -> Answer:
    """Say nothing for `seconds` (or until the test ends), noticing when the client hangs up; then `then`."""

    def answer(handler: _Handler, server: FaultServer) -> None:
        deadline = time.monotonic() + min(seconds, HOLD_LIMIT_S)
        connection = handler.connection
        while time.monotonic() < deadline and not server.release.is_set():
            readable, _, _ = select.select([connection], [], [], 0.02)
            if readable:
                try:
                    if connection.recv(1, socket.MSG_PEEK) == b"":
                        server.disconnected.set()
                        return
                except OSError:
                    server.disconnected.set()
                    return
        if then is not None:
            try:
                then(handler, server)
            except OSError:
                server.disconnected.set()

    return answer


def drip(every_s: float) -> Answer:
    """A 200 whose body (JSON whitespace) comes one byte every `every_s`, until the client hangs up or the test
    ends: each read gets something, so only a deadline on the whole answer ends it."""

    def answer(handler: _Handler, server: FaultServer) -> None:
        handler.send_response(200)
        handler.send_header("content-type", "application/json")
        handler.send_header("content-length", "1000000")
        handler.end_headers()
        deadline = time.monotonic() + HOLD_LIMIT_S
        while time.monotonic() < deadline and not server.release.is_set():
            try:
                handler.wfile.write(b" ")
            except OSError:
                server.disconnected.set()
                return
            time.sleep(every_s)
        handler.close_connection = True

    return answer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    seen: Seen  # this request, as recorded (an answer that depends on the request reads its body here)

    def do_GET(self) -> None:
        self.server.owner.handle(self)

    def do_POST(self) -> None:
        self.server.owner.handle(self)

    def log_message(self, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    owner: FaultServer


class FaultServer:
    """Answers each request with the next scripted answer for its path, else the path's default."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.script: dict[str, deque[Answer]] = {}
        self.defaults: dict[str, Answer] = {
            "/v1/models": reply(body={"object": "list", "data": [{"id": MODEL}]}),
            "/v1/chat/completions": reply(body=completion()),
        }
        self.release = threading.Event()
        self.disconnected = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def then(self, path: str, *answers: Answer) -> None:
        self.script.setdefault(path, deque()).extend(answers)

    def chat(self, *answers: Answer) -> None:
        self.then("/v1/chat/completions", *answers)

    def posts(self) -> list[Seen]:
        return [s for s in self.seen if s.method == "POST"]

    def handle(self, handler: _Handler) -> None:
        length = int(handler.headers.get("content-length") or 0)
        data = handler.rfile.read(length) if length else b""
        body = json.loads(data) if data else None
        handler.seen = Seen(
            handler.command, handler.path, {k.lower(): v for k, v in handler.headers.items()}, body, time.monotonic()
        )
        self.seen.append(handler.seen)
        queue = self.script.get(handler.path)
        answer = queue.popleft() if queue else self.defaults.get(handler.path, reply(404, {"detail": "Not Found"}))
        answer(handler, self)

    def __enter__(self) -> FaultServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

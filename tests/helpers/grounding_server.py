"""A local OpenAI-compatible server for grounding evals: each chat completion is answered after a fixed latency,
with the reply a test computes from the request (127.0.0.1, port 0, a thread per request).

Requests are served side by side, as vLLM or SGLang batch them, so N requests in flight finish in about one
latency; the server counts the most it held at once (`max_in_flight`), so a test sees concurrency happen
without timing anything. `instruction_of` reads back the instruction a grounding request carries.

    with GroundingServer(latency_s=0.2, answer=lambda body: click(500, 500)) as server:
        ... --backend openai --endpoint server.url --family qwen3-vl ...

In its own process (so that it takes no CPU time from the client's interpreter), answering every request with a
click at the middle of the screen: `python -m tests.helpers.grounding_server LATENCY_S` prints its URL, then
serves until stdin closes; GET /stats gives {"requests", "max_in_flight"} (`/stats?reset` also resets them).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from agent.prompts import GROUNDING_TASK

MODEL = "grounding-test"
_PREFIX = GROUNDING_TASK.split("{instruction}")[0]
Answer = Callable[[dict[str, Any]], str]


def click(x: int, y: int) -> str:
    """A computer_use left click at (x, y) in the family's own numbers (0-1000 for qwen3-vl)."""
    body = json.dumps({"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [x, y]}})
    return f"<tool_call>\n{body}\n</tool_call>"


def instruction_of(body: dict[str, Any]) -> str:
    """The instruction of a grounding request for a computer_use family (agent.prompts.grounding_task)."""
    for message in body.get("messages", []):
        content = message.get("content")
        parts = content if isinstance(content, list) else [{"type": "text", "text": content}]
        for part in parts:
            text = part.get("text") if isinstance(part, dict) else None
            if isinstance(text, str) and text.startswith(_PREFIX):
                return text[len(_PREFIX) :]
    raise ValueError("no grounding instruction in the request")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        owner = self.server.owner
        if self.path.rstrip("/").endswith("/models"):
            self._send(200, {"object": "list", "data": [{"id": MODEL}]})
        elif self.path.startswith("/stats"):  # for a server in another process (the benchmark)
            self._send(200, {"requests": owner.requests, "max_in_flight": owner.max_in_flight})
            if "reset" in self.path:
                owner.reset()
        else:
            self._send(404, {"detail": "Not Found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        owner = self.server.owner
        owner.enter()
        try:
            time.sleep(owner.latency_s)
            text = owner.answer(body)
        finally:
            owner.leave()
        self._send(200, _completion(text))

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("connection", "close")
        self.end_headers()
        try:
            self.wfile.write(data)
        except OSError:  # the client gave up on it
            pass

    def log_message(self, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 64
    owner: GroundingServer


def _completion(text: str) -> dict[str, Any]:
    return {
        "id": "x",
        "object": "chat.completion",
        "model": MODEL,
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 1000, "completion_tokens": 20, "total_tokens": 1020},
    }


class GroundingServer:
    def __init__(self, *, latency_s: float = 0.1, answer: Answer = lambda body: click(500, 500)) -> None:
        self.latency_s = latency_s
        self.answer = answer
        self.requests = 0
        self.max_in_flight = 0
        self._in_flight = 0
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def enter(self) -> None:
        with self._lock:
            self.requests += 1
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)

    def leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def reset(self) -> None:
        with self._lock:
            self.requests = self.max_in_flight = 0

    def __enter__(self) -> GroundingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def main(argv: list[str]) -> int:
    import sys

    with GroundingServer(latency_s=float(argv[0]) if argv else 0.1) as server:
        print(server.url, flush=True)
        sys.stdin.read()
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))

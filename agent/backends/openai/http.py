"""HTTP for the OpenAI-compatible backend: one request at a time, each with a total deadline the stop key cuts.

Deadlines: httpx's timeouts apply to each read, so a server that drips a byte at a time holds a request for
ever. Each request therefore has one total deadline (connect, send and the whole answer: `timeout_s` for a
generation, LOAD_TIMEOUT_S for the model list), kept by the polling caller below, which shuts the socket when it
passes. A generation that timed out is not sent again: the server may still be generating it, and a second one
would queue behind it. Connection errors, 429 and 5xx are retried, with a warning logged (loguru) before each
wait. Answers are read as a stream and refused past MAX_RESPONSE_BYTES.

Stopping during a request: only a stop ends a model call (a pause is about the user's input while acting, and
the call acts on nothing), and it ends it at once, mid-request or mid-backoff (StopFlag.sleep with
pause_interrupts=False). Each HTTP request runs on a short-lived worker thread while the caller's thread
polls the stop flag every STOP_POLL_S. On a stop the caller raises StoppedError at once and shuts down the
request's socket (found through httpcore's `trace` extension), which ends the worker's blocked read and tells
the server the client is gone, so a server that watches for that can drop the generation (`transformers serve`
5.24 finishes a non-streamed one first). Closing the httpx client from another thread would not do: on Linux,
close() does not wake a thread blocked in recv().
For that, connections are not kept alive: every request has its own socket (one TCP connect per step).
"""

from __future__ import annotations

import email.utils
import json
import os
import re
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from loguru import logger

from agent.errors import BackendError, ConfigError
from sandbox.errors import StoppedError
from sandbox.stop import StopFlag
from sandbox.text import shorten

API_KEY_ENVS = ("DESKPILOT_API_KEY", "OPENAI_API_KEY", "DASHSCOPE_API_KEY")
STOP_POLL_S = 0.02
REQUEST_TIMEOUT_S = 120.0  # the default total deadline of one generation request (connect, send, whole answer)
LOAD_TIMEOUT_S = 30.0  # GET /models answers at once on every server we know
MIB = 1 << 20
# An answer's body past this is refused unread: a reply of agent.parsing.MAX_REPLY_CHARS (200,000) characters is
# at most 2.4 MB of JSON, every character escaped, so only a broken or hostile server sends more.
MAX_RESPONSE_BYTES = 8 * MIB
BACKOFF_CAP_S = 8.0
RETRY_AFTER_CAP_S = 30.0
ERROR_QUOTE_CHARS = 200
_SOCKET_EVENTS = ("connection.connect_tcp.complete", "connection.start_tls.complete")
# C0 and C1 controls, DEL, bidirectional embeddings, overrides and isolates (as app/terminal.py)
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def normalize_endpoint(endpoint: str) -> str:
    """The API base URL: `http://` added when no scheme is given, a trailing `/`, `/chat/completions` or
    `/models` dropped, and `/v1` added when the URL has no path at all (`http://host:8000` ->
    `http://host:8000/v1`). Any other path is kept as given (DashScope's is `/compatible-mode/v1`)."""
    text = endpoint.strip()
    if "://" not in text:
        text = "http://" + text
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL as exc:
        raise ConfigError(f"--endpoint {endpoint!r} is not a URL: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigError(f"--endpoint {endpoint!r} must be an http(s) URL like http://localhost:8000/v1")
    path = url.path.rstrip("/")
    for suffix in ("/chat/completions", "/models"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
    return str(url.copy_with(path=path or "/v1", query=None, fragment=None)).rstrip("/")


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer, its body read whole (at most MAX_RESPONSE_BYTES)."""

    status: int
    headers: httpx.Headers
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class DeadlinePassed(Exception):
    """The request's total deadline passed; its socket has been shut."""


class Channel:
    """The HTTP side of the backend: the client with its API key, and requests with a total deadline."""

    def __init__(
        self,
        *,
        api_key_env: str,
        timeout_s: float,
        connect_timeout_s: float,
        retries: int,
        backoff_s: float,
        transport: httpx.BaseTransport | None,
        environ: Mapping[str, str] | None,
    ) -> None:
        self.api_key_env = api_key_env
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.key_source: str | None = None  # the variable the API key came from
        self._transport = transport
        self._environ = environ  # None: os.environ, read when the client is made, not at import
        self._client: httpx.Client | None = None

    def open(self) -> None:
        if self._client is None:
            self._client = self._make_client()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def post(self, url: str, content: bytes, *, stop: StopFlag) -> Answer:
        """POST with retries of connection errors, 429 and 5xx; the answer to a 200 or to a status not retried.
        BackendError when the deadline passed (never retried), the retries ran out, or the request failed."""
        attempt = 0
        while True:
            stop.check_stopped()  # a pause is about the user's input while acting; a model call acts on nothing
            retry_after = None
            try:
                answer = self.send("POST", url, content=content, stop=stop, deadline_s=self.timeout_s)
            except (DeadlinePassed, httpx.ReadTimeout, httpx.WriteTimeout):
                raise BackendError(
                    f"{timed_out(url, self.timeout_s)}; not retried: the server may still be generating"
                ) from None
            except (httpx.ConnectTimeout, httpx.PoolTimeout, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                problem = happened = transport_problem(url, exc, self.timeout_s)
            except httpx.HTTPError as exc:
                raise BackendError(transport_problem(url, exc, self.timeout_s)) from None
            else:
                if answer.status != 429 and answer.status < 500:
                    return answer
                said = server_message(answer)
                problem = status_problem(url, answer.status, said)
                retry_after = _retry_after(answer.headers.get("retry-after"))
                happened = f"the server at {url} answered HTTP {answer.status}" + (f" ({said})" if said else "")
            if attempt >= self.retries:
                tries = f" (tried {attempt + 1} times)" if attempt else ""
                raise BackendError(problem + tries)
            delay = min(self.backoff_s * 2**attempt, BACKOFF_CAP_S) if retry_after is None else retry_after
            logger.warning(
                "{}: retrying in {} s (attempt {}/{})", happened, f"{delay:.3g}", attempt + 2, self.retries + 1
            )
            stop.sleep(delay, pause_interrupts=False)
            attempt += 1

    def send(self, method: str, url: str, *, content: bytes | None, stop: StopFlag | None, deadline_s: float) -> Answer:
        """One request on a worker thread, its answer read whole. The caller gives up within STOP_POLL_S of a
        stop (StoppedError) or of `deadline_s` after the start (DeadlinePassed) and cuts the request's socket."""
        self.open()
        assert self._client is not None
        client = self._client
        sockets: list[socket.socket] = []
        lock, cut = threading.Lock(), threading.Event()
        outcome: list[Answer | BaseException] = []
        done = threading.Event()

        def hang_up() -> None:
            with lock:
                cut.set()
                for sock in sockets:
                    _shut(sock)

        def trace(event: str, info: dict[str, Any]) -> None:
            if event in _SOCKET_EVENTS:
                stream = info.get("return_value")
                sock = stream.get_extra_info("socket") if stream is not None else None
                if isinstance(sock, socket.socket):
                    with lock:
                        sockets.append(sock)
                        if cut.is_set():  # connected only after the caller gave up
                            _shut(sock)

        request = client.build_request(
            method,
            url,
            content=content,
            headers={"content-type": "application/json"} if content is not None else None,
            timeout=httpx.Timeout(deadline_s, connect=min(self.connect_timeout_s, deadline_s)),
            extensions={"trace": trace},
        )

        def work() -> None:
            try:
                response = client.send(request, stream=True)
                try:
                    outcome.append(_read_capped(response, url))
                finally:
                    response.close()
            except BaseException as exc:  # handed to the caller's thread
                outcome.append(exc)
            finally:
                done.set()

        deadline = time.monotonic() + deadline_s
        threading.Thread(target=work, name="deskpilot-openai-request", daemon=True).start()
        while not done.wait(STOP_POLL_S):
            if stop is not None and stop.stopped:
                hang_up()
                raise StoppedError(stop.reason or "stopped")
            if time.monotonic() >= deadline:
                hang_up()
                raise DeadlinePassed
        result = outcome[0]
        if isinstance(result, BaseException):
            raise result
        return result

    def _make_client(self) -> httpx.Client:
        env = os.environ if self._environ is None else self._environ
        # identity: a compressed answer could grow far past MAX_RESPONSE_BYTES within a single decoded chunk
        headers = {"accept": "application/json", "accept-encoding": "identity"}
        for name in dict.fromkeys((self.api_key_env, *API_KEY_ENVS)):
            if env.get(name):
                headers["authorization"] = f"Bearer {env[name]}"
                self.key_source = name
                break
        timeout = httpx.Timeout(self.timeout_s, connect=self.connect_timeout_s)
        limits = httpx.Limits(max_keepalive_connections=0)  # a socket of its own per request (see top)
        return httpx.Client(headers=headers, timeout=timeout, limits=limits, transport=self._transport)


def status_problem(url: str, status: int, message: str) -> str:
    """One line for an HTTP error answer that needs no more context; `message` is the server's own."""
    message = message.rstrip(".")
    said = f": {message}" if message else ""
    if status == 404:
        return (
            f"{url} was not found (HTTP 404){said}. The endpoint must be the API's base URL, usually "
            "ending in /v1, e.g. http://localhost:8000/v1"
        )
    if status == 429:
        return f"the server is busy or rate-limited (HTTP 429){said}"
    if status >= 500:
        return f"the server failed (HTTP {status}) at {url}{said}"
    return f"the server rejected the request (HTTP {status}){said}"


def read_json(answer: Answer, url: str) -> Any:
    try:
        return json.loads(answer.body)
    except RecursionError:  # deeper than Python's stack: one line, never a traceback
        raise BackendError(f"{nested(url)} (HTTP {answer.status})") from None
    except ValueError:  # UnicodeDecodeError included
        raise BackendError(f"{url} answered with malformed JSON (HTTP {answer.status}): {quote(answer.text)}") from None


def server_message(answer: Answer) -> str:
    """The error text of the usual shapes: OpenAI/vLLM `{"error": {"message"}}`, FastAPI `{"detail"}`."""
    try:
        data = json.loads(answer.body)
        if isinstance(data, dict):
            for key in ("error", "message", "detail"):
                value = data.get(key)
                if isinstance(value, dict):
                    value = value.get("message", value)
                if isinstance(value, list) and value and isinstance(value[0], dict):
                    value = value[0].get("msg", value[0])
                if value:
                    return quote(str(value))
        return quote(json.dumps(data))
    except (ValueError, RecursionError):
        return quote(answer.text) if answer.text.strip() else ""


def transport_problem(url: str, exc: httpx.HTTPError, timeout_s: float) -> str:
    if isinstance(exc, httpx.ConnectError) and _refused(exc):
        return f"cannot reach {url}: connection refused (is the server running?)"
    if isinstance(exc, httpx.ConnectTimeout):
        return f"cannot reach {url}: the connection timed out"
    if isinstance(exc, httpx.TimeoutException):
        return timed_out(url, timeout_s)
    return f"cannot reach {url}: {exc or type(exc).__name__}"


def timed_out(url: str, timeout_s: float) -> str:
    return f"no complete answer from {url} within {timeout_s:g} s"


def nested(url: str) -> str:
    return f"{url} answered with JSON nested too deeply to read"


def quote(text: str) -> str:
    """Server text for one line of an error or the log, which may go to a terminal: whitespace collapsed, other
    control characters, bidi overrides and lone surrogates shown as escapes (an escape sequence could rewrite the
    screen; a surrogate cannot be printed)."""
    text = " ".join(text.split())
    text = _UNPRINTABLE.sub(lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100 else f"\\u{ord(m[0]):04x}", text)
    return shorten(text, ERROR_QUOTE_CHARS)


def _read_capped(response: httpx.Response, url: str) -> Answer:
    """The whole body, but never more than MAX_RESPONSE_BYTES of it (an announced larger one is not read at all)."""
    length = response.headers.get("content-length", "")
    if length.isascii() and length.isdigit() and int(length) > MAX_RESPONSE_BYTES:
        raise BackendError(_too_large(url))
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise BackendError(_too_large(url))
        chunks.append(chunk)
    return Answer(response.status_code, response.headers, b"".join(chunks))


def _too_large(url: str) -> str:
    return f"{url} answered with more than {MAX_RESPONSE_BYTES // MIB} MiB (MAX_RESPONSE_BYTES); the rest was not read"


def _refused(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError) or "refused" in str(seen).lower():
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (seconds or an HTTP date), capped at RETRY_AFTER_CAP_S."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return min(max(seconds, 0.0), RETRY_AFTER_CAP_S)


def _shut(sock: socket.socket) -> None:
    """End a blocked read on `sock` and tell the server the client is gone."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass

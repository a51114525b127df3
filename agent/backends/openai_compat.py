"""A backend for any OpenAI-compatible chat-completions server: vLLM, SGLang, DashScope, `transformers serve`.

The step's conversation (agent.prompts) goes out as `/chat/completions` messages with the screenshots as
base64 data URLs, already at the family's input size, so the server's own resize is a no-op (docs/serving.md).
The reply text is handed back as the model wrote it: tool calls that the server split off into `tool_calls` are
put back as `<tool_call>` blocks for deskpilot's parser. Thinking that the server split off into
`reasoning_content` / `reasoning` travels apart (ModelReply.reasoning, shown as the thought) and never reaches the
parser: wrapped back into `<think>`, a `</think>` inside it would end the thinking early, and a tool call written
after it would run.

Deadlines: httpx's timeouts apply to each read, so a server that drips a byte at a time holds a request for
ever. Each request therefore has one total deadline (connect, send and the whole answer: `timeout_s` for a
generation, LOAD_TIMEOUT_S for the model list), kept by the polling caller below, which shuts the socket when it
passes. A generation that timed out is not sent again: the server may still be generating it, and a second one
would queue behind it. Connection errors, 429 and 5xx are retried, with a warning logged (loguru) before each
wait. Answers are read as a stream and refused past MAX_RESPONSE_BYTES.

Stopping during a request: each HTTP request runs on a short-lived worker thread while the caller's thread
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
from PIL import Image

from agent.backends.base import ModelReply, ModelRequest, ProgressFn
from agent.errors import BackendError, ConfigError
from agent.families import Family, PixelBudget
from agent.imaging import ImageFormat, data_url
from agent.parsing import shorten_reply
from agent.prompts import ImagePart, Message, TextPart
from sandbox.errors import StoppedError
from sandbox.stop import StopFlag

# JPEG quality 95 with full-resolution colour (4:4:4) by default: for a 1932x1092 desktop (bench/image_encode.py)
# it takes 6-7 ms and 0.5-0.8 MiB with PSNR 44-46 dB (worst pixel error 27/255), where PNG (compress_level=1)
# takes 33-58 ms and 0.3-1.2 MiB, too much for the 30 ms per-step overhead budget. Pillow's default JPEG
# (4:2:0 chroma) blurred coloured small text (errors up to 84/255), hence 4:4:4. `image_format="png"` is lossless.
DEFAULT_IMAGE_FORMAT: ImageFormat = "jpeg"
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
IMAGE_CACHE_SIZE = 8  # the current screenshot and the history's (agent.loop keeps a few)
_SOCKET_EVENTS = ("connection.connect_tcp.complete", "connection.start_tls.complete")
# C0 and C1 controls, DEL, bidirectional embeddings, overrides and isolates (as app/terminal.py)
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


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
class _Answer:
    """An HTTP answer, its body read whole (at most MAX_RESPONSE_BYTES)."""

    status: int
    headers: httpx.Headers
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class _DeadlinePassed(Exception):
    """The request's total deadline passed; its socket has been shut."""


class OpenAIBackend:
    """Chat completions over HTTP; retries connection errors, 429 and 5xx with backoff, never a timed-out
    generation (see the top)."""

    name = "openai"

    def __init__(
        self,
        endpoint: str,
        *,
        model: str | None = None,
        api_key_env: str = "DESKPILOT_API_KEY",
        image_format: ImageFormat = DEFAULT_IMAGE_FORMAT,
        timeout_s: float = REQUEST_TIMEOUT_S,
        connect_timeout_s: float = 10.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        temperature: float = 0.0,
        transport: httpx.BaseTransport | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        if image_format not in ("png", "jpeg"):
            raise ConfigError(f"image format must be png or jpeg, not {image_format!r}")
        if timeout_s <= 0 or connect_timeout_s <= 0 or retries < 0 or backoff_s < 0:
            raise ConfigError("timeouts must be positive and retries, backoff not negative")
        self.endpoint = normalize_endpoint(endpoint)
        self.model = model
        self.api_key_env = api_key_env
        self.image_format: ImageFormat = image_format
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.temperature = temperature
        self.served_models: tuple[str, ...] = ()
        self._transport = transport
        self._environ = environ  # None: os.environ, read in load(), not at import
        self._key_source: str | None = None
        self._client: httpx.Client | None = None
        self._loaded = False
        self._encoded: list[tuple[Image.Image, str]] = []

    def load(self, *, progress: ProgressFn | None = None) -> None:
        """One GET {endpoint}/models: checks the server is there and, without a model name, picks its first."""
        if self._loaded:
            return
        if progress is not None:
            progress("connect", 0, 1)
        self._client = self._client or self._make_client()
        url, timeout_s = f"{self.endpoint}/models", min(self.timeout_s, LOAD_TIMEOUT_S)
        try:
            answer = self._send("GET", url, content=None, stop=None, deadline_s=timeout_s)
        except _DeadlinePassed:
            raise BackendError(_timed_out(url, timeout_s)) from None
        except httpx.HTTPError as exc:
            raise BackendError(_transport_problem(url, exc, timeout_s)) from None
        if answer.status != 200:
            raise BackendError(self._status_problem(url, answer.status, _server_message(answer)))
        data = _json(answer, url)
        entries = data.get("data") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise BackendError(f"{url} did not answer with a model list: {_quote(answer.text)}")
        try:
            self.served_models = tuple(str(e["id"]) for e in entries if isinstance(e, dict) and "id" in e)
        except RecursionError:
            raise BackendError(_nested(url)) from None
        if self.model is None:
            if not self.served_models:
                raise BackendError(f"the server at {self.endpoint} lists no models; name one with --model")
            self.model = self.served_models[0]
        self._loaded = True
        if progress is not None:
            progress("connect", 1, 1)

    def fit(self, family: Family, shot: tuple[int, int], budget: PixelBudget) -> PixelBudget:
        return budget  # what deskpilot prepares is what the model reads

    def generate(self, request: ModelRequest, *, stop: StopFlag) -> ModelReply:
        started = time.perf_counter()
        _check(stop)
        if not self._loaded:
            self.load()
        assert self._client is not None and self.model is not None
        body = {
            "model": self.model,
            "messages": self.to_openai_messages(request.messages),
            "max_tokens": request.max_new_tokens,
            "temperature": self.temperature,
            "stream": False,
        }
        content = json.dumps(body, ensure_ascii=False).encode("utf-8")
        url = f"{self.endpoint}/chat/completions"
        attempt = 0
        while True:
            _check(stop)
            retry_after = None
            try:
                answer = self._send("POST", url, content=content, stop=stop, deadline_s=self.timeout_s)
            except (_DeadlinePassed, httpx.ReadTimeout, httpx.WriteTimeout):
                raise BackendError(
                    f"{_timed_out(url, self.timeout_s)}; not retried: the server may still be generating"
                ) from None
            except (httpx.ConnectTimeout, httpx.PoolTimeout, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                problem = happened = _transport_problem(url, exc, self.timeout_s)
            except httpx.HTTPError as exc:
                raise BackendError(_transport_problem(url, exc, self.timeout_s)) from None
            else:
                if answer.status == 200:
                    try:
                        return read_completion(_json(answer, url), url, elapsed_s=time.perf_counter() - started)
                    except RecursionError:
                        raise BackendError(_nested(url)) from None
                said = _server_message(answer)
                problem = self._status_problem(url, answer.status, said)
                if answer.status != 429 and answer.status < 500:
                    raise BackendError(problem)
                retry_after = _retry_after(answer.headers.get("retry-after"))
                happened = f"the server at {url} answered HTTP {answer.status}" + (f" ({said})" if said else "")
            if attempt >= self.retries:
                tries = f" (tried {attempt + 1} times)" if attempt else ""
                raise BackendError(problem + tries)
            delay = min(self.backoff_s * 2**attempt, BACKOFF_CAP_S) if retry_after is None else retry_after
            logger.warning(
                "{}: retrying in {} s (attempt {}/{})", happened, f"{delay:.3g}", attempt + 2, self.retries + 1
            )
            _wait(stop, delay)
            attempt += 1

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        self._loaded = False
        self._encoded.clear()

    def to_openai_messages(self, messages: tuple[Message, ...]) -> list[dict[str, Any]]:
        """Neutral messages -> chat-completions messages; text-only content as a plain string."""
        out: list[dict[str, Any]] = []
        for message in messages:
            if all(isinstance(part, TextPart) for part in message.parts):
                out.append({"role": message.role, "content": message.text})
                continue
            parts: list[dict[str, Any]] = []
            for part in message.parts:
                if isinstance(part, ImagePart):
                    parts.append({"type": "image_url", "image_url": {"url": self._data_url(part.image)}})
                else:
                    parts.append({"type": "text", "text": part.text})
            out.append({"role": message.role, "content": parts})
        return out

    def _data_url(self, image: Image.Image) -> str:
        """Encode each prepared screenshot once: it comes back in the history of the next steps."""
        for cached, url in self._encoded:
            if cached is image:
                return url
        url = data_url(image, self.image_format)
        self._encoded = [(image, url), *self._encoded[: IMAGE_CACHE_SIZE - 1]]
        return url

    def _make_client(self) -> httpx.Client:
        env = os.environ if self._environ is None else self._environ
        # identity: a compressed answer could grow far past MAX_RESPONSE_BYTES within a single decoded chunk
        headers = {"accept": "application/json", "accept-encoding": "identity"}
        for name in dict.fromkeys((self.api_key_env, *API_KEY_ENVS)):
            if env.get(name):
                headers["authorization"] = f"Bearer {env[name]}"
                self._key_source = name
                break
        timeout = httpx.Timeout(self.timeout_s, connect=self.connect_timeout_s)
        limits = httpx.Limits(max_keepalive_connections=0)  # a socket of its own per request (see top)
        return httpx.Client(headers=headers, timeout=timeout, limits=limits, transport=self._transport)

    def _send(
        self, method: str, url: str, *, content: bytes | None, stop: StopFlag | None, deadline_s: float
    ) -> _Answer:
        """One request on a worker thread, its answer read whole. The caller gives up within STOP_POLL_S of a
        stop (StoppedError) or of `deadline_s` after the start (_DeadlinePassed) and cuts the request's socket."""
        assert self._client is not None
        client = self._client
        sockets: list[socket.socket] = []
        lock, cut = threading.Lock(), threading.Event()
        outcome: list[_Answer | BaseException] = []
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
                raise _DeadlinePassed
        result = outcome[0]
        if isinstance(result, BaseException):
            raise result
        return result

    def _status_problem(self, url: str, status: int, message: str) -> str:
        """One line for an HTTP error answer; `message` is the server's own (_server_message)."""
        message = message.rstrip(".")
        said = f": {message}" if message else ""
        if status in (401, 403):
            if self._key_source is None:
                return f"the server wants an API key (HTTP {status}; set {self.api_key_env}){said}"
            return (
                f"the server refused the API key from ${self._key_source} (HTTP {status}; set {self.api_key_env}){said}"
            )
        served = f" (it serves: {', '.join(self.served_models)})" if self.served_models else ""
        if status == 404 and url.endswith("/chat/completions") and "model" in message.lower():
            return f"the server does not serve the model {self.model!r} (HTTP 404){said}{served}"
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


def read_completion(data: Any, url: str = "the server", *, elapsed_s: float = 0.0) -> ModelReply:
    """The reply in a chat completion; BackendError if it is none. The reasoning channel goes apart, never into
    `raw` (see the top); an oversized one is cut like an oversized reply (agent.parsing.shorten_reply)."""
    if not isinstance(data, dict):
        raise BackendError(f"{url} answered with JSON that is not a chat completion: {_quote(json.dumps(data))}")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        error = data.get("error")
        said = (
            f": {_quote(str(error.get('message', error)) if isinstance(error, dict) else str(error))}" if error else ""
        )
        raise BackendError(f"{url} answered with no choices{said}")
    message = choices[0].get("message") if isinstance(choices[0], dict) else None
    if not isinstance(message, dict):
        raise BackendError(f"{url} answered with a choice that has no message: {_quote(json.dumps(choices[0]))}")
    text = _content_text(message.get("content"))
    calls = [_render_tool_call(call) for call in message.get("tool_calls") or () if isinstance(call, dict)]
    if calls:
        text = "\n".join([text.rstrip(), *calls]) if text.strip() else "\n".join(calls)
    thinking = message.get("reasoning_content") or message.get("reasoning")
    reasoning = shorten_reply(thinking.strip()) if isinstance(thinking, str) and thinking.strip() else None
    usage = data.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    return ModelReply(
        text, elapsed_s, _count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens")), reasoning=reasoning
    )


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") in ("text", "output_text")
        )
    raise BackendError(f"the server's message content is neither text nor parts: {_quote(json.dumps(content))}")


def _render_tool_call(call: dict[str, Any]) -> str:
    """A parsed tool call back in the Hermes form the model wrote: arguments arrive as a JSON string."""
    function = call["function"] if isinstance(call.get("function"), dict) else call
    name = json.dumps(str(function.get("name", "")), ensure_ascii=False)
    arguments = function.get("arguments", {})
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except (ValueError, RecursionError):
            # kept as the string it is, which the parser refuses quoting it (never a guess); pasted in as text, it
            # could close this call and open another
            pass
    return f'<tool_call>\n{{"name": {name}, "arguments": {json.dumps(arguments, ensure_ascii=False)}}}\n</tool_call>'


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _read_capped(response: httpx.Response, url: str) -> _Answer:
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
    return _Answer(response.status_code, response.headers, b"".join(chunks))


def _too_large(url: str) -> str:
    return f"{url} answered with more than {MAX_RESPONSE_BYTES // MIB} MiB (MAX_RESPONSE_BYTES); the rest was not read"


def _nested(url: str) -> str:
    return f"{url} answered with JSON nested too deeply to read"


def _json(answer: _Answer, url: str) -> Any:
    try:
        return json.loads(answer.body)
    except RecursionError:  # deeper than Python's stack: one line, never a traceback
        raise BackendError(f"{_nested(url)} (HTTP {answer.status})") from None
    except ValueError:  # UnicodeDecodeError included
        raise BackendError(
            f"{url} answered with malformed JSON (HTTP {answer.status}): {_quote(answer.text)}"
        ) from None


def _server_message(answer: _Answer) -> str:
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
                    return _quote(str(value))
        return _quote(json.dumps(data))
    except (ValueError, RecursionError):
        return _quote(answer.text) if answer.text.strip() else ""


def _transport_problem(url: str, exc: httpx.HTTPError, timeout_s: float) -> str:
    if isinstance(exc, httpx.ConnectError) and _refused(exc):
        return f"cannot reach {url}: connection refused (is the server running?)"
    if isinstance(exc, httpx.ConnectTimeout):
        return f"cannot reach {url}: the connection timed out"
    if isinstance(exc, httpx.TimeoutException):
        return _timed_out(url, timeout_s)
    return f"cannot reach {url}: {exc or type(exc).__name__}"


def _timed_out(url: str, timeout_s: float) -> str:
    return f"no complete answer from {url} within {timeout_s:g} s"


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


def _quote(text: str) -> str:
    """Server text for one line of an error or the log, which may go to a terminal: whitespace collapsed, other
    control characters and bidi overrides shown as escapes (an escape sequence could rewrite the screen)."""
    text = " ".join(text.split())
    text = _UNPRINTABLE.sub(lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100 else f"\\u{ord(m[0]):04x}", text)
    return text if len(text) <= ERROR_QUOTE_CHARS else text[: ERROR_QUOTE_CHARS - 3] + "..."


def _shut(sock: socket.socket) -> None:
    """End a blocked read on `sock` and tell the server the client is gone."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _check(stop: StopFlag) -> None:
    """Only a stop ends a model call: a pause is about the user's input while acting, and the call acts on nothing."""
    if stop.stopped:
        raise StoppedError(stop.reason or "stopped")


def _wait(stop: StopFlag, seconds: float) -> None:
    """Back off, waking within STOP_POLL_S of a stop (StopFlag.sleep would also end the call on a pause)."""
    deadline = time.monotonic() + seconds
    while True:
        _check(stop)
        left = deadline - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, STOP_POLL_S))

"""A backend for any OpenAI-compatible chat-completions server: vLLM, SGLang, Ollama, LM Studio, llama.cpp,
DashScope, `transformers serve`.

The step's conversation (agent.prompts) goes out as `/chat/completions` messages with the screenshots as
base64 data URLs, prepared at a size the server keeps as it is (`fit`, agent.backends.openai.servers), so the model reads
exactly the image deskpilot maps its answer back from (docs/serving.md). A family whose chat template presents
tools itself (qwen3.5) sends them as `tools`, with its template options, in the form the server takes them.
The reply text is handed back as the model wrote it: tool calls that the server split off into `tool_calls` are
put back as `<tool_call>` blocks for deskpilot's parser, their arguments read with the parser's strict JSON
reader (a key named twice is an error). Thinking that the server split off into
`reasoning_content` / `reasoning` travels apart (ModelReply.reasoning, shown as the thought) and never reaches the
parser: wrapped back into `<think>`, a `</think>` inside it would end the thinking early, and a tool call written
after it would run.

HTTP (deadlines, retries, stopping mid-request, size caps) is agent.backends.openai.http.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx
from loguru import logger
from PIL import Image

from agent.backends.base import BaseBackend, Capabilities, ModelReply, ModelRequest, ProgressFn
from agent.backends.openai.http import (
    LOAD_TIMEOUT_S,
    REQUEST_TIMEOUT_S,
    Channel,
    DeadlinePassed,
    nested,
    normalize_endpoint,
    quote,
    read_json,
    server_message,
    status_problem,
    timed_out,
    transport_problem,
)
from agent.backends.openai.servers import (
    DEFAULT_SERVER,
    PROBE_TEXT,
    SERVERS,
    Refusal,
    preset_budget,
    probe_budget,
    request_fields,
)
from agent.errors import BackendError, ConfigError
from agent.families import Family, PixelBudget
from agent.imaging import ImageFormat, data_url
from agent.parsing import shorten_reply
from agent.parsing.common import STRICT_JSON
from agent.prompts import ImagePart, Message, TextPart
from sandbox.stop import StopFlag
from sandbox.text import valid_text

__all__ = ["DEFAULT_IMAGE_FORMAT", "OpenAIBackend", "normalize_endpoint", "read_completion"]

# JPEG quality 95 with full-resolution colour (4:4:4) by default: for a 1932x1092 desktop (bench/image_encode.py)
# it takes 6-7 ms and 0.5-0.8 MiB with PSNR 44-46 dB (worst pixel error 27/255), where PNG (compress_level=1)
# takes 33-58 ms and 0.3-1.2 MiB, too much for the 30 ms per-step overhead budget. Pillow's default JPEG
# (4:2:0 chroma) blurred coloured small text (errors up to 84/255), hence 4:4:4. `image_format="png"` is lossless.
DEFAULT_IMAGE_FORMAT: ImageFormat = "jpeg"
IMAGE_CACHE_SIZE = 8  # the current screenshot and the history's (agent.loop keeps a few)
PROBE_GREY = (128, 128, 128)  # the probe images are plain: only their size matters, and they travel small
PROBE_MAX_TOKENS = 1


class OpenAIBackend(BaseBackend):
    """Chat completions over HTTP; retries connection errors, 429 and 5xx with backoff, never a timed-out
    generation (agent.backends.openai.http)."""

    name = "openai"
    capabilities = Capabilities(
        target="endpoint",
        named_model=True,
        concurrent=True,
        server_options=True,
        runs_on="remote server",
        label="OpenAI-compatible server",
    )

    def __init__(
        self,
        endpoint: str,
        *,
        model: str | None = None,
        server: str = DEFAULT_SERVER,
        max_pixels_given: bool = False,
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
        """`server`: which server this is (agent.backends.openai.servers.SERVERS): its known image limit, or `generic`,
        probed. `max_pixels_given`: the person set --max-pixels, kept unchecked where the server reports no usage."""
        super().__init__()
        if image_format not in ("png", "jpeg"):
            raise ConfigError(f"image format must be png or jpeg, not {image_format!r}")
        if server not in SERVERS:
            raise ConfigError(f"unknown server {server!r} (known: {', '.join(SERVERS)})")
        if timeout_s <= 0 or connect_timeout_s <= 0 or retries < 0 or backoff_s < 0:
            raise ConfigError("timeouts must be positive and retries, backoff not negative")
        self.endpoint = normalize_endpoint(endpoint)
        self.model = model
        self.server = server
        self.max_pixels_given = max_pixels_given
        self.api_key_env = api_key_env
        self.image_format: ImageFormat = image_format
        self.timeout_s = timeout_s
        self.temperature = temperature
        self.served_models: tuple[str, ...] = ()
        self._channel = Channel(
            api_key_env=api_key_env,
            timeout_s=timeout_s,
            connect_timeout_s=connect_timeout_s,
            retries=retries,
            backoff_s=backoff_s,
            transport=transport,
            environ=environ,
        )
        self._loaded = False
        self._encoded: list[tuple[Image.Image, str]] = []
        # (family, screenshot size, budget asked for) -> the budget the server keeps, or why there is none
        self._fitted: dict[tuple[str, tuple[int, int], PixelBudget], PixelBudget | Refusal] = {}

    @property
    def loaded(self) -> bool:
        return self._loaded

    def _load(self, progress: ProgressFn | None) -> None:
        """One GET {endpoint}/models: checks the server is there and, without a model name, picks its first."""
        if progress is not None:
            progress("connect", 0, 1)
        url, timeout_s = f"{self.endpoint}/models", min(self.timeout_s, LOAD_TIMEOUT_S)
        try:
            answer = self._channel.send("GET", url, content=None, stop=None, deadline_s=timeout_s)
        except DeadlinePassed:
            raise BackendError(timed_out(url, timeout_s)) from None
        except httpx.HTTPError as exc:
            raise BackendError(transport_problem(url, exc, timeout_s)) from None
        if answer.status != 200:
            raise BackendError(self._status_problem(url, answer.status, server_message(answer)))
        data = read_json(answer, url)
        entries = data.get("data") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise BackendError(f"{url} did not answer with a model list: {quote(answer.text)}")
        try:
            self.served_models = tuple(str(e["id"]) for e in entries if isinstance(e, dict) and "id" in e)
        except RecursionError:
            raise BackendError(nested(url)) from None
        if self.model is None:
            if not self.served_models:
                raise BackendError(f"the server at {self.endpoint} lists no models; name one with --model")
            self.model = self.served_models[0]
        self._loaded = True
        if progress is not None:
            progress("connect", 1, 1)

    def _fit(self, family: Family, shot: tuple[int, int], budget: PixelBudget, stop: StopFlag) -> PixelBudget:
        """A named server's known limit applied; with `generic`, an absolute-coordinate family's budget probed
        once per screenshot size (agent.backends.openai.servers). Relative families need no probe: a resize does not
        move their 0-1000 answers. The lock around it (BaseBackend.fit) makes concurrent first calls probe once."""
        if self.server != "generic":
            return preset_budget(self.server, family, shot, budget)
        if family.coords == "relative" or family.fixed_input is not None:
            return budget
        key = (family.name, shot, budget)
        fitted = self._fitted.get(key)
        if fitted is None:
            self.load()
            fitted = probe_budget(
                family,
                shot,
                budget,
                count=lambda size: self._prompt_tokens(size, stop),
                where=self.endpoint,
                announce=logger.info,  # said as it happens (the command line's stderr, the window's log)
            )
            self._fitted[key] = fitted
            if isinstance(fitted, PixelBudget) and fitted != budget:
                logger.warning(
                    "the server at {} shrinks larger screenshots: deskpilot prepares them within {} px "
                    "(naming the server with --server skips this check)",
                    self.endpoint,
                    fitted.max_pixels,
                )
            if isinstance(fitted, Refusal) and fitted.unverifiable and self.max_pixels_given:
                logger.warning("{}; going on with --max-pixels {}, unchecked", fitted.reason, budget.max_pixels)
                fitted = self._fitted[key] = budget
        if isinstance(fitted, Refusal):
            raise BackendError(fitted.reason)
        return fitted

    def _generate(self, request: ModelRequest, stop: StopFlag) -> ModelReply:
        assert self.model is not None
        body = {
            "model": self.model,
            "messages": self.to_openai_messages(request.messages),
            "max_tokens": request.max_new_tokens,
            "temperature": self.temperature,
            "stream": False,
            **request_fields(self.server, request.tools, request.template_options),
        }
        url = f"{self.endpoint}/chat/completions"
        data = self._complete(url, body, stop=stop, tools=bool(request.tools))
        try:
            return read_completion(data, url)
        except RecursionError:
            raise BackendError(nested(url)) from None

    def close(self) -> None:
        self._channel.close()
        self._loaded = False
        self._encoded.clear()
        self._fitted.clear()  # the server may be another one, or restarted with other limits, at the next load

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

    def _prompt_tokens(self, size: tuple[int, int], stop: StopFlag) -> int | None:
        """The prompt tokens the server counts for the fixed probe around a plain `size` image; None: no usage.
        It asks for one token only, and the stop key cuts it off like any request."""
        assert self.model is not None
        image = Image.new("RGB", size, PROBE_GREY)
        content = [{"type": "image_url", "image_url": {"url": data_url(image, self.image_format)}}]
        body = {
            "model": self.model,
            "messages": [{"role": "user", "content": [*content, {"type": "text", "text": PROBE_TEXT}]}],
            "max_tokens": PROBE_MAX_TOKENS,
            "temperature": self.temperature,
            "stream": False,
        }
        data = self._complete(f"{self.endpoint}/chat/completions", body, stop=stop, tools=False)
        usage = data.get("usage") if isinstance(data, dict) else None
        return _count(usage.get("prompt_tokens")) if isinstance(usage, dict) else None

    def _complete(self, url: str, body: dict[str, Any], *, stop: StopFlag, tools: bool) -> Any:
        """The JSON of the server's 200 answer to `body`; BackendError for any other."""
        content = _utf8(json.dumps(body, ensure_ascii=False))
        answer = self._channel.post(url, content, stop=stop)
        if answer.status == 200:
            return read_json(answer, url)
        said = server_message(answer)
        problem = self._status_problem(url, answer.status, said)
        if tools and self.server == "generic" and answer.status == 400 and "tool" in said.lower():
            problem += '; for vLLM give deskpilot --server vllm (it sends tool_choice "none": no parser needed)'
        raise BackendError(problem)

    def _data_url(self, image: Image.Image) -> str:
        """Encode each prepared screenshot once: it comes back in the history of the next steps."""
        for cached, url in self._encoded:
            if cached is image:
                return url
        url = data_url(image, self.image_format)
        self._encoded = [(image, url), *self._encoded[: IMAGE_CACHE_SIZE - 1]]
        return url

    def _status_problem(self, url: str, status: int, message: str) -> str:
        """One line for an HTTP error answer; `message` is the server's own (server_message)."""
        said = f": {message.rstrip('.')}" if message.rstrip(".") else ""
        source = self._channel.key_source
        if status in (401, 403):
            if source is None:
                return f"the server wants an API key (HTTP {status}; set {self.api_key_env}){said}"
            return f"the server refused the API key from ${source} (HTTP {status}; set {self.api_key_env}){said}"
        served = f" (it serves: {', '.join(self.served_models)})" if self.served_models else ""
        if status == 404 and url.endswith("/chat/completions") and "model" in message.lower():
            return f"the server does not serve the model {self.model!r} (HTTP 404){said}{served}"
        return status_problem(url, status, message)


def read_completion(data: Any, url: str = "the server") -> ModelReply:
    """The reply in a chat completion; BackendError if it is none. The reasoning channel goes apart, never into
    `raw` (see the top); an oversized one is cut like an oversized reply (agent.parsing.shorten_reply), which
    makes it valid text too. `raw` keeps any lone surrogate a JSON `\\ud800` decoded to: parse_reply replaces
    them and says how many (ParsedReply.repaired), and shorten_reply keeps what is recorded valid."""
    if not isinstance(data, dict):
        raise BackendError(f"{url} answered with JSON that is not a chat completion: {quote(json.dumps(data))}")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        error = data.get("error")
        said = (
            f": {quote(str(error.get('message', error)) if isinstance(error, dict) else str(error))}" if error else ""
        )
        raise BackendError(f"{url} answered with no choices{said}")
    message = choices[0].get("message") if isinstance(choices[0], dict) else None
    if not isinstance(message, dict):
        raise BackendError(f"{url} answered with a choice that has no message: {quote(json.dumps(choices[0]))}")
    text = _content_text(message.get("content"))
    calls = [_render_tool_call(call) for call in message.get("tool_calls") or () if isinstance(call, dict)]
    if calls:
        text = "\n".join([text.rstrip(), *calls]) if text.strip() else "\n".join(calls)
    thinking = message.get("reasoning_content") or message.get("reasoning")
    reasoning = shorten_reply(thinking.strip()) if isinstance(thinking, str) and thinking.strip() else None
    usage = data.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    return ModelReply(
        raw=text,
        input_tokens=_count(usage.get("prompt_tokens")),
        output_tokens=_count(usage.get("completion_tokens")),
        reasoning=reasoning,
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
    raise BackendError(f"the server's message content is neither text nor parts: {quote(json.dumps(content))}")


def _render_tool_call(call: dict[str, Any]) -> str:
    """A parsed tool call back in the Hermes form the model wrote: arguments arrive as a JSON string."""
    function = call["function"] if isinstance(call.get("function"), dict) else call
    name = json.dumps(str(function.get("name", "")), ensure_ascii=False)
    arguments = function.get("arguments", {})
    if isinstance(arguments, str):
        try:  # read as reply text is: a key named twice is an error, never "the last one wins"
            arguments = STRICT_JSON.decode(arguments)
        except (ValueError, RecursionError):  # DuplicateKeyError included
            # kept as the string it is, which the parser refuses quoting it (never a guess); pasted in as text, it
            # could close this call and open another
            pass
    return f'<tool_call>\n{{"name": {name}, "arguments": {json.dumps(arguments, ensure_ascii=False)}}}\n</tool_call>'


def _utf8(text: str) -> bytes:
    """`text` encoded for the server: a lone surrogate (an earlier reply or a task may hold one) as U+FFFD, as
    sandbox.text.valid_text makes it, never a UnicodeEncodeError that ends the run."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return valid_text(text)[0].encode("utf-8")


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None

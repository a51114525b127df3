"""OpenAIBackend against a local HTTP server that misbehaves on purpose (tests/helpers/fault_server.py).

The server records every request it got, so the tests look at what really went over the wire: roles and order
of the messages, max_tokens, the images as data URLs that decode to the prepared image.
"""

from __future__ import annotations

import base64
import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from agent.backends.base import ModelRequest
from agent.backends.openai import backend as openai_compat
from agent.backends.openai import http as openai_http
from agent.backends.openai.backend import OpenAIBackend, normalize_endpoint, read_completion
from agent.errors import BackendError, ConfigError
from agent.families import get_family, model_frame, model_input_size
from agent.imaging import ImageFormat, data_url, prepare_image
from agent.parsing import parse_reply
from agent.prompts import Turn, build_messages
from sandbox.actions import Click
from sandbox.errors import StoppedError
from sandbox.stop import StopFlag
from tests.helpers.desktop_image import desktop_image
from tests.helpers.fault_server import HOLD_LIMIT_S, MODEL, FaultServer, completion, hold, reply

FAMILY = get_family("qwen2.5-vl")
SCREEN = (1920, 1080)


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as fault_server:
        yield fault_server


def backend(url: str, **options: Any) -> OpenAIBackend:
    options.setdefault("backoff_s", 0.01)
    options.setdefault("environ", {})
    return OpenAIBackend(url, **options)


def prepared(seed: int = 0) -> Image.Image:
    size = model_input_size(FAMILY, *SCREEN)
    return prepare_image(desktop_image(*SCREEN, seed=seed), size)


def request(
    image: Image.Image | None = None, *, history: tuple[Turn, ...] = (), max_new_tokens: int = 77
) -> ModelRequest:
    image = image if image is not None else prepared()
    messages = build_messages(FAMILY, "Click OK", image, history=history)
    return ModelRequest(
        family=FAMILY,
        messages=messages,
        task="Click OK",
        image=image,
        step=len(history) + 1,
        max_new_tokens=max_new_tokens,
    )


def images_sent(body: dict[str, Any]) -> list[tuple[str, Image.Image]]:
    found: list[tuple[str, Image.Image]] = []
    for message in body["messages"]:
        for part in message["content"] if isinstance(message["content"], list) else ():
            if part["type"] == "image_url":
                head, _, payload = part["image_url"]["url"].partition(",")
                assert head.startswith("data:") and head.endswith(";base64"), head[:40]
                found.append((head[5:-7], Image.open(io.BytesIO(base64.b64decode(payload, validate=True)))))
    return found


# -- the request on the wire -----------------------------------------------------------------------------


def test_request_body_messages_images_and_options(server: FaultServer) -> None:
    first, now = prepared(seed=1), prepared(seed=2)
    assert now.size == (1932, 1092)
    model = backend(server.url, environ={"DESKPILOT_API_KEY": "sk-test"}, temperature=0.0, image_format="png")
    model.load()
    reply_ = model.generate(request(now, history=(Turn(first, "I will look.", "a note"),)), stop=StopFlag())
    assert reply_.raw == "hello" and (reply_.input_tokens, reply_.output_tokens) == (2750, 12)
    [seen] = server.posts()
    assert seen.path == "/v1/chat/completions"
    assert seen.headers["authorization"] == "Bearer sk-test"
    body = seen.body
    assert (body["model"], body["max_tokens"], body["temperature"], body["stream"]) == (MODEL, 77, 0.0, False)
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "user"]
    assert isinstance(body["messages"][0]["content"], str) and "<tools>" in body["messages"][0]["content"]
    assert body["messages"][1]["content"][0] == {"type": "text", "text": "Click OK"}
    assert body["messages"][2]["content"] == "I will look."
    assert body["messages"][3]["content"][0]["text"] == "<tool_response>\n"
    sent = images_sent(body)
    assert [mime for mime, _ in sent] == ["image/png", "image/png"]
    for (_, got), want in zip(sent, (first, now)):
        assert got.size == want.size == (1932, 1092)
        assert got.convert("RGB").tobytes() == want.tobytes()  # lossless: exactly the prepared pixels


def test_jpeg_by_default_keeps_the_prepared_size_and_is_near_lossless(server: FaultServer) -> None:
    image = prepared()
    backend(server.url).generate(request(image), stop=StopFlag())
    [(mime, got)] = images_sent(server.posts()[0].body)
    assert mime == "image/jpeg" and got.size == image.size
    worst = max(abs(a - b) for a, b in zip(got.convert("RGB").tobytes(), image.tobytes()))
    assert worst <= 40  # q95 with 4:4:4 colour; Pillow's default 4:2:0 errs by up to 84 on coloured text


def test_each_screenshot_is_encoded_once(server: FaultServer, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, int]] = []

    def counting(image: Image.Image, fmt: ImageFormat = "png") -> str:
        calls.append(image.size)
        return data_url(image, fmt)

    monkeypatch.setattr(openai_compat, "data_url", counting)
    model, first, now = backend(server.url), prepared(1), prepared(2)
    model.generate(request(first), stop=StopFlag())
    model.generate(request(now, history=(Turn(first, "x"),)), stop=StopFlag())
    assert len(calls) == 2


def test_load_picks_the_first_served_model_and_keeps_a_given_one(server: FaultServer) -> None:
    server.then(
        "/v1/models", reply(body={"data": [{"id": "a"}, {"id": "b"}]}), reply(body={"data": [{"id": "a"}, {"id": "b"}]})
    )
    picked = backend(server.url)
    picked.load()
    given = backend(server.url, model="b")
    given.load()
    assert (picked.model, given.model, picked.served_models) == ("a", "b", ("a", "b"))


# -- replies ---------------------------------------------------------------------------------------------


def test_parsed_tool_calls_are_put_back_for_the_parser(server: FaultServer) -> None:
    call = {
        "id": "c1",
        "type": "function",
        "function": {
            "name": "computer_use",
            "arguments": json.dumps({"action": "left_click", "coordinate": [966, 546]}),
        },
    }
    server.chat(reply(body=completion("I will click OK.", tool_calls=[call])))
    raw = backend(server.url).generate(request(), stop=StopFlag()).raw
    assert raw == (
        'I will click OK.\n<tool_call>\n{"name": "computer_use", "arguments": '
        '{"action": "left_click", "coordinate": [966, 546]}}\n</tool_call>'
    )
    frame = model_frame(FAMILY, *SCREEN)
    parsed = parse_reply(raw, family=FAMILY, frame=frame)
    assert parsed.thought == "I will click OK."
    assert [a.action for a in parsed.actions] == [Click(960, 540)]


def test_reply_shapes() -> None:
    parts = completion([{"type": "text", "text": "a"}, {"type": "image_url"}, {"type": "text", "text": "b"}])
    assert read_completion(parts).raw == "ab"
    thinking = read_completion(completion("answer", reasoning_content="  why  "))
    assert (thinking.raw, thinking.reasoning) == ("answer", "why")  # apart: shown as the thought, never parsed
    assert read_completion(completion("answer", reasoning=" \n")).reasoning is None
    only_call = completion(None, tool_calls=[{"function": {"name": "computer_use", "arguments": {"action": "wait"}}}])
    assert (
        read_completion(only_call).raw
        == '<tool_call>\n{"name": "computer_use", "arguments": {"action": "wait"}}\n</tool_call>'
    )
    bad_args = completion("", tool_calls=[{"function": {"name": "computer_use", "arguments": "{oops"}}])
    assert read_completion(bad_args).raw == (
        '<tool_call>\n{"name": "computer_use", "arguments": "{oops"}\n</tool_call>'  # a string the parser refuses
    )
    no_usage = read_completion({"choices": [{"message": {"content": "x"}}]})
    assert (no_usage.raw, no_usage.input_tokens, no_usage.output_tokens, no_usage.reasoning) == ("x", None, None, None)


def test_an_oversized_reasoning_is_cut() -> None:
    got = read_completion(completion("answer", reasoning_content="r" * 300_000))
    assert got.reasoning is not None and len(got.reasoning) < 5000 and "cut by deskpilot" in got.reasoning


@pytest.mark.parametrize(
    "body, words",
    [
        ("{not json", "malformed JSON"),
        ({"choices": []}, "no choices"),
        ({"object": "error", "error": {"message": "model overloaded"}}, "no choices: model overloaded"),
        ({"choices": [{"index": 0}]}, "no message"),
    ],
)
def test_unusable_replies_are_clear_errors_without_retry(server: FaultServer, body: Any, words: str) -> None:
    server.chat(reply(body=body))
    with pytest.raises(BackendError, match=words) as caught:
        backend(server.url).generate(request(), stop=StopFlag())
    assert "\n" not in str(caught.value)
    assert len(server.posts()) == 1


# -- retries and errors ----------------------------------------------------------------------------------


def test_server_errors_are_retried_until_success(server: FaultServer) -> None:
    server.chat(reply(500, {"error": {"message": "boom"}}), reply(502, "bad gateway"), reply(body=completion("ok")))
    assert backend(server.url, retries=3).generate(request(), stop=StopFlag()).raw == "ok"
    assert len(server.posts()) == 3


def test_retries_run_out(server: FaultServer) -> None:
    server.chat(*[reply(500, {"error": {"message": "CUDA out of memory"}})] * 3)
    with pytest.raises(BackendError, match=r"HTTP 500.*CUDA out of memory \(tried 3 times\)"):
        backend(server.url, retries=2).generate(request(), stop=StopFlag())
    assert len(server.posts()) == 3


def test_retry_after_is_honoured_and_capped(server: FaultServer, monkeypatch: pytest.MonkeyPatch) -> None:
    server.chat(
        reply(503, {"detail": "loading"}, {"retry-after": "1"}),
        reply(429, {}, {"retry-after": "3600"}),
        reply(body=completion("ok")),
    )
    monkeypatch.setattr(openai_http, "RETRY_AFTER_CAP_S", 0.3)
    assert backend(server.url, backoff_s=0.0).generate(request(), stop=StopFlag()).raw == "ok"
    first, second, third = (s.at for s in server.posts())
    assert second - first >= 0.29  # the 1 s asked for, capped at 0.3 s; without it, no wait at all
    assert third - second >= 0.29


def test_a_timed_out_generation_is_reported_not_retried(server: FaultServer) -> None:
    server.chat(hold(2.0), hold(2.0))
    with pytest.raises(
        BackendError,
        match=r"^no complete answer from .*/chat/completions within 0.3 s; not retried: the server may still be "
        r"generating$",
    ):
        backend(server.url, timeout_s=0.3, retries=1).generate(request(), stop=StopFlag())
    assert len(server.posts()) == 1


def test_other_client_errors_are_not_retried(server: FaultServer) -> None:
    server.chat(reply(400, {"error": {"message": "max_tokens is too large: 99999", "type": "BadRequestError"}}))
    with pytest.raises(BackendError, match=r"rejected the request \(HTTP 400\): max_tokens is too large"):
        backend(server.url).generate(request(), stop=StopFlag())
    assert len(server.posts()) == 1


def test_a_redirect_is_not_followed(server: FaultServer) -> None:
    """The API key goes only to the endpoint given, never to where a redirect points."""
    with FaultServer() as elsewhere:
        server.chat(reply(307, {}, {"location": f"{elsewhere.url}/chat/completions"}))
        model = backend(server.url, environ={"DESKPILOT_API_KEY": "sk-test"})
        with pytest.raises(BackendError, match=r"rejected the request \(HTTP 307\)"):
            model.generate(request(), stop=StopFlag())
        assert elsewhere.seen == []
    assert len(server.posts()) == 1


@pytest.mark.parametrize("status", [401, 403])
def test_refused_api_key(server: FaultServer, status: int) -> None:
    server.then("/v1/models", reply(status, {"error": {"message": "Invalid API key"}}))
    model = backend(server.url, environ={"OPENAI_API_KEY": "sk-wrong"})
    with pytest.raises(BackendError, match=r"refused the API key from \$OPENAI_API_KEY .*set DESKPILOT_API_KEY"):
        model.load()
    assert server.seen[0].headers["authorization"] == "Bearer sk-wrong"
    server.then("/v1/models", reply(401, {"error": {"message": "no key"}}))
    with pytest.raises(BackendError, match=r"wants an API key \(HTTP 401; set DESKPILOT_API_KEY\): no key"):
        backend(server.url).load()


def test_unknown_model(server: FaultServer) -> None:
    server.chat(reply(404, {"object": "error", "message": "The model `qwen` does not exist.", "code": 404}))
    model = backend(server.url, model="qwen")
    model.load()
    with pytest.raises(
        BackendError,
        match=r"does not serve the model 'qwen' \(HTTP 404\): The model `qwen` does "
        r"not exist \(it serves: tiny-vl\)",
    ):
        model.generate(request(), stop=StopFlag())
    assert len(server.posts()) == 1


def test_wrong_path_says_to_include_v1(server: FaultServer) -> None:
    with pytest.raises(BackendError, match=r"/api/models was not found \(HTTP 404\).*ending in /v1"):
        backend(server.url.replace("/v1", "/api")).load()


def test_connection_refused() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(
        BackendError,
        match=rf"cannot reach http://127.0.0.1:{port}/v1/models: connection refused "
        r"\(is the server running\?\)",
    ):
        backend(f"http://127.0.0.1:{port}").load()
    with FaultServer() as gone:
        model = backend(gone.url, retries=1)
        model.load()
    with pytest.raises(BackendError, match=r"connection refused .*tried 2 times"):
        model.generate(request(), stop=StopFlag())


@pytest.mark.parametrize(
    "given, base",
    [
        ("http://host:8000/v1", "http://host:8000/v1"),
        ("http://host:8000/v1/", "http://host:8000/v1"),
        ("http://host:8000", "http://host:8000/v1"),
        ("host:8000", "http://host:8000/v1"),
        ("http://host:8000/v1/chat/completions", "http://host:8000/v1"),
        ("https://dashscope.aliyuncs.com/compatible-mode/v1", "https://dashscope.aliyuncs.com/compatible-mode/v1"),
    ],
)
def test_endpoint_normalisation(given: str, base: str) -> None:
    assert normalize_endpoint(given) == base


def test_bad_endpoint() -> None:
    with pytest.raises(ConfigError, match="http"):
        normalize_endpoint("ftp://host/v1")


# -- stopping --------------------------------------------------------------------------------------------


def stop_once_posted(server: FaultServer, stop: StopFlag, *, after_s: float) -> threading.Thread:
    """Set `stop` `after_s` after the server got the chat request (so the stop lands mid-request, not before)."""

    def run() -> None:
        deadline = time.monotonic() + HOLD_LIMIT_S
        while not server.posts() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(after_s)
        stop.stop("stop key pressed")

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_stop_during_a_slow_request_gives_up_and_hangs_up(server: FaultServer) -> None:
    server.chat(hold(60.0, reply(body=completion("too late"))))
    model, req, stop = backend(server.url, timeout_s=60.0), request(), StopFlag()
    model.load()
    stopper = stop_once_posted(server, stop, after_s=0.3)
    with pytest.raises(StoppedError, match="stop key pressed"):
        model.generate(req, stop=stop)
    returned = time.perf_counter()
    stopper.join()
    assert stop.stopped_at is not None
    assert returned - stop.stopped_at < 5.0  # it gave up; the server would have held it for 60 s
    assert server.disconnected.wait(5.0)  # and the server saw the client go (so it can abort the generation)


def test_stop_during_backoff(server: FaultServer) -> None:
    server.chat(reply(503, {"detail": "busy"}, {"retry-after": "20"}))
    model, req, stop = backend(server.url), request(), StopFlag()
    stopper = stop_once_posted(server, stop, after_s=0.2)
    started = time.monotonic()
    with pytest.raises(StoppedError):
        model.generate(req, stop=stop)
    stopper.join()
    assert time.monotonic() - started < 10.0  # not the 20 s the server asked for
    assert len(server.posts()) == 1


def test_stopped_before_the_call_sends_nothing(server: FaultServer) -> None:
    stop = StopFlag()
    stop.stop()
    with pytest.raises(StoppedError):
        backend(server.url).generate(request(), stop=stop)
    assert server.seen == []


def test_a_pause_does_not_end_the_call(server: FaultServer) -> None:
    stop = StopFlag()
    stop.pause("the user moved the mouse")
    assert backend(server.url).generate(request(), stop=stop).raw == "hello"

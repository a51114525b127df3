"""A lone surrogate in a reply (half an emoji, a JSON `\\ud800`) is made valid text where replies enter (N4).

Python strings can hold one; no file, terminal or server takes it. It used to end the openai backend's next
request with a UnicodeEncodeError, and `deskpilot parse` exited 2 with nothing on stdout. Now parse_reply
replaces each with U+FFFD and says how many (ParsedReply.repaired), what is recorded and sent back is valid
(shorten_reply), and the backend's requests never fail to encode.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.backends.base import ModelRequest
from agent.backends.openai.backend import OpenAIBackend, read_completion
from agent.errors import ParseError
from agent.events import RunFinished
from agent.families import get_family, model_frame, model_input_size
from agent.imaging import prepare_image
from agent.loop import RunOptions, run_task
from agent.parsing import parse_reply, shorten_reply
from agent.prompts import build_messages
from sandbox.actions import Click, Type
from sandbox.drivers import DryRunDriver
from sandbox.executor import Executor
from sandbox.policy import Policy, PolicyChecker
from sandbox.stop import StopFlag
from sandbox.text import valid_text
from tests.helpers.desktop_image import desktop_image
from tests.helpers.fake_screen import FakeScreen
from tests.helpers.fault_server import FaultServer, completion, reply

FAMILY = get_family("qwen2.5-vl")
SCREEN = (1920, 1080)
DESKPILOT = Path(sys.executable).with_name("deskpilot")
CLICK = (
    '<tool_call>{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [100, 100]}}</tool_call>'
)
FINISH = '<tool_call>{"name": "computer_use", "arguments": {"action": "terminate", "status": "success"}}</tool_call>'
# a reply whose JSON types "ab", half an emoji, "cd": the escape decodes to a lone surrogate
TYPE_HALF = (
    r'thought <tool_call>{"name": "computer_use", "arguments": {"action": "type", "text": "ab\ud800cd"}}</tool_call>'
)


def parse(raw: str):  # type: ignore[no-untyped-def]
    return parse_reply(raw, family=FAMILY, frame=model_frame(FAMILY, *SCREEN))


def test_valid_text_replaces_lone_surrogates_and_joins_pairs() -> None:
    assert valid_text("plain ü 中") == ("plain ü 中", 0)
    assert valid_text("a\ud800b\udc80") == ("a\ufffdb\ufffd", 2)
    assert valid_text("\ud83d\ude00") == ("\U0001f600", 0)  # a pair written as two halves is the one character


def test_a_lone_surrogate_in_the_reply_text_is_replaced_and_counted() -> None:
    parsed = parse(f"I think \ud83d then {CLICK}")
    assert parsed.thought == "I think \ufffd then" and parsed.repaired == 1
    assert [a.action for a in parsed.actions] == [Click(x=99, y=99)]
    json.dumps(parsed.to_json(), ensure_ascii=False).encode("utf-8")  # printable, recordable


def test_a_surrogate_escape_inside_the_json_is_replaced_and_counted() -> None:
    parsed = parse(TYPE_HALF)
    assert [a.action for a in parsed.actions] == [Type(text="ab\ufffdcd")]
    assert parsed.repaired == 1 and parsed.to_json()["repaired"] == 1
    assert all(a.source.encode("utf-8") for a in parsed.actions)


@pytest.mark.parametrize(
    "raw",
    [
        r'<tool_call>{"name": "computer_use", "arguments": {"action": "\ud800"}}</tool_call>',
        r'{"label": "\ud800"}',
        "\udced\udca0\udc80 and no action",
    ],
)
def test_an_error_for_a_reply_holding_a_surrogate_is_valid_text(raw: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse(raw)
    str(caught.value).encode("utf-8")


def test_a_key_name_holding_a_surrogate_is_no_key() -> None:
    raw = r'<tool_call>{"name": "computer_use", "arguments": {"action": "key", "keys": ["ctrl", "\ud800"]}}</tool_call>'
    with pytest.raises(ParseError, match="a key name holds a lone surrogate"):
        parse(raw)


def test_what_is_recorded_and_sent_back_is_valid() -> None:
    assert shorten_reply("ok \ud800") == "ok \ufffd"


def deskpilot(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([str(DESKPILOT), *args], input=stdin, capture_output=True, timeout=60)


def test_deskpilot_parse_prints_valid_json_for_a_surrogate() -> None:
    out = deskpilot("parse", "--family", "qwen2.5-vl", "--screen", "1920x1080", TYPE_HALF)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.decode("utf-8")) == {
        "thought": "thought",
        "actions": [{"kind": "type", "text": "ab\ufffdcd"}],
        "repaired": 1,
    }


def test_deskpilot_parse_error_for_bytes_that_are_not_utf8_is_the_contracts_json() -> None:
    out = subprocess.run(
        [DESKPILOT, "parse", "--family", "qwen2.5-vl", "--screen", "1920x1080", b"\xed\xa0\x80 and no action"],
        capture_output=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "no tool call or grounding found in '\ufffd\ufffd\ufffd and no action'" in json.loads(out.stdout)["error"]


def test_deskpilot_parse_takes_bytes_that_are_not_utf8_on_stdin() -> None:
    out = deskpilot(
        "parse", "--family", "qwen2.5-vl", "--screen", "1920x1080", stdin=b"half \xed\xa0\x80 " + CLICK.encode()
    )
    assert out.returncode == 0, out.stderr
    printed = json.loads(out.stdout.decode("utf-8"))
    assert printed["thought"] == "half \ufffd\ufffd\ufffd" and printed["repaired"] == 3


# -- the openai backend ---------------------------------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as fault_server:
        yield fault_server


def test_a_surrogate_from_the_server_does_not_end_the_run(server: FaultServer) -> None:
    """The red team's run: the first answer holds half an emoji; the second step's request used to fail."""
    server.chat(reply(body=completion(f"I think \ud83d{CLICK}")), reply(body=completion(FINISH)))
    screen, driver = FakeScreen(*SCREEN), DryRunDriver()
    executor = Executor(checker=PolicyChecker(Policy()), driver=driver, screen=screen.geometry, pace=False)
    model = OpenAIBackend(server.url, server="vllm", backoff_s=0.01, environ={})
    options = RunOptions(max_steps=3, settle_cap_s=0.3)
    events = list(
        run_task("Click OK", backend=model, family=FAMILY, executor=executor, capture=screen, options=options)
    )
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.outcome == "success", finished
    _, second = server.posts()
    sent_back = second.body["messages"][-2]
    assert sent_back["role"] == "assistant" and sent_back["content"].startswith("I think \ufffd<tool_call>")


def test_a_request_holding_a_surrogate_is_sent_valid(server: FaultServer) -> None:
    """The history (or a task) may hold one: the request goes out with U+FFFD, never a UnicodeEncodeError."""
    image = prepare_image(desktop_image(*SCREEN), model_input_size(FAMILY, *SCREEN))
    task = "type ab\ud800"
    request = ModelRequest(family=FAMILY, messages=build_messages(FAMILY, task, image), task=task, image=image, step=1)
    OpenAIBackend(server.url, server="vllm", environ={}).generate(request, stop=StopFlag())
    [post] = server.posts()
    assert "type ab\ufffd" in json.dumps(post.body["messages"], ensure_ascii=False)


def test_read_completion_gives_valid_reasoning_and_leaves_the_count_to_the_parser() -> None:
    got = read_completion(completion(f"x \ud800 {CLICK}", reasoning_content="plan \udc80"))
    assert got.reasoning == "plan \ufffd"
    assert parse(got.raw).repaired == 1

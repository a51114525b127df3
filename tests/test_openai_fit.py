"""The model reads exactly the screenshot deskpilot maps its answer back from, whatever the server does to images.

Against real HTTP servers on 127.0.0.1 (tests/helpers/shrinking_server.py): one that shrinks images as Ollama does
and answers in pixels of the image it used, one that keeps them, one that reports no usage. A whole run (the fake
screen, the dry-run driver, the real loop) either clicks on the target, within the rounding of the model's integer
coordinates, or refuses before acting; it never clicks elsewhere. Then the named servers' presets, how qwen3.5's
tools and thinking switch travel to each server, the `--server` flag, and one run of `deskpilot run` on Xvfb.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from loguru import logger

from agent.backends.base import ModelRequest
from agent.backends.openai.backend import OpenAIBackend
from agent.backends.openai.servers import (
    LLAMACPP_MAX_IMAGE_TOKENS,
    LMSTUDIO_MAX_LONG_EDGE_PX,
    SERVERS,
    preset_budget,
)
from agent.errors import BackendError, ConfigError
from agent.events import ActionExecuted, Event, RunFinished
from agent.families import Family, get_family, model_input_size, pixel_budget
from agent.imaging import prepare_image
from agent.loop import RunOptions, run_task
from agent.prompts import build_messages, tool_definitions
from app.commands.common import add_backend_arguments, backend_from_arguments
from sandbox.actions import Click
from sandbox.drivers import DryRunDriver
from sandbox.errors import StoppedError
from sandbox.executor import Executor
from sandbox.geometry import smart_resize
from sandbox.policy import Policy, PolicyChecker
from sandbox.stop import StopFlag
from tests.helpers.desktop_image import desktop_image
from tests.helpers.fake_screen import FakeScreen
from tests.helpers.fault_server import FaultServer, completion, hold, reply
from tests.helpers.shrinking_server import OLLAMA_MAX_PIXELS, OLLAMA_MIN_PIXELS, ShrinkingServer
from tests.helpers.target import TargetWindow

QWEN25 = get_family("qwen2.5-vl")
QWEN3 = get_family("qwen3-vl")
QWEN35 = get_family("qwen3.5")
SCREENS = [(2560, 1440), (1920, 1080)]
FAST = RunOptions(max_steps=3, settle_cap_s=0.2, settle_poll_s=0.01)
DESKPILOT = Path(sys.executable).with_name("deskpilot")


@pytest.fixture
def fault_server() -> Iterator[FaultServer]:
    with FaultServer() as server:
        yield server


def backend(url: str, **options: Any) -> OpenAIBackend:
    options.setdefault("backoff_s", 0.01)
    options.setdefault("environ", {})
    return OpenAIBackend(url, **options)


def target_on(screen: tuple[int, int]) -> tuple[int, int]:
    """A target off every simple fraction of the screen, so that a resize shows in where the click lands."""
    return int(screen[0] * 0.713), int(screen[1] * 0.389)


def run(
    model: OpenAIBackend, screen: tuple[int, int], *, family: Family = QWEN25, options: RunOptions = FAST
) -> tuple[list[Event], DryRunDriver]:
    fake, driver = FakeScreen(*screen), DryRunDriver()
    executor = Executor(checker=PolicyChecker(Policy()), driver=driver, screen=fake.geometry, pace=False)
    events = list(
        run_task("click the target", backend=model, family=family, executor=executor, capture=fake, options=options)
    )
    return events, driver


def clicks(events: list[Event]) -> list[Click]:
    return [e.action for e in events if isinstance(e, ActionExecuted) and isinstance(e.action, Click)]


def bound(screen_side: int, extent: int) -> int:
    """The most a click can miss by on one axis: the model's integer answer is off by up to 0.5 of its units
    (`extent` of them across the screen), and deskpilot's mapping back rounds to a whole screen pixel."""
    return math.floor(0.5 * screen_side / extent + 0.5)


def assert_on_target(events: list[Event], target: tuple[int, int], screen: tuple[int, int], extent: tuple[int, int]):
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.outcome == "success", finished
    [click] = clicks(events)
    for got, want, side, units in zip((click.x, click.y), target, screen, extent):
        assert abs(got - want) <= bound(side, units), (click, target, extent)


# -- a whole run, each kind of server -------------------------------------------------------------------------


@pytest.mark.parametrize("screen", SCREENS, ids=lambda s: f"{s[0]}x{s[1]}")
def test_generic_fits_a_shrinking_server_and_clicks_on_target(screen: tuple[int, int]) -> None:
    target = target_on(screen)
    with ShrinkingServer() as server:  # Ollama's resize: smart_resize to at most 2,097,152 px
        server.aim_at(target, screen)
        events, _ = run(backend(server.url), screen)
    [first, _] = server.steps()
    read = first[-1]
    assert read.used == read.sent  # the server kept what deskpilot sent ...
    full = model_input_size(QWEN25, *screen)
    assert read.sent[0] * read.sent[1] <= OLLAMA_MAX_PIXELS < full[0] * full[1]  # ... a lowered size
    assert_on_target(events, target, screen, read.used)
    assert len(server.probes()) == 3  # reference, the family's size, the lowered one: once for the screen size


def test_a_server_that_shrinks_every_image_is_refused_before_anything_runs() -> None:
    """An older LM Studio cut every image to a 500 px long edge, the probe's reference too: nothing to fit to."""
    with ShrinkingServer(long_edge=500) as server:
        events, driver = run(backend(server.url), (2560, 1440))
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.outcome == "error", finished
    assert "resized the 2548x1428 screenshot" in finished.reason and "--server" in finished.reason
    assert "\n" not in finished.reason
    assert driver.calls == [] and server.steps() == []  # no step was asked, nothing was clicked


@pytest.mark.parametrize("screen", SCREENS, ids=lambda s: f"{s[0]}x{s[1]}")
def test_a_faithful_server_keeps_the_familys_budget(screen: tuple[int, int]) -> None:
    target = target_on(screen)
    with ShrinkingServer.faithful() as server:
        server.aim_at(target, screen)
        events, _ = run(backend(server.url), screen)
    read = server.steps()[0][-1]
    assert read.sent == read.used == model_input_size(QWEN25, *screen)  # no lowered budget
    assert_on_target(events, target, screen, read.used)
    assert len(server.probes()) == 2


@pytest.mark.parametrize("screen", SCREENS, ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_ollama_preset_lands_without_probing(screen: tuple[int, int]) -> None:
    target = target_on(screen)
    with ShrinkingServer() as server:
        server.aim_at(target, screen)
        events, _ = run(backend(server.url, server="ollama"), screen)
    read = server.steps()[0][-1]
    assert read.sent == read.used
    assert_on_target(events, target, screen, read.used)
    assert server.probes() == []


def test_no_usage_is_refused_by_the_probe_and_a_preset_or_a_given_cap_goes_on() -> None:
    screen = (2560, 1440)
    target = target_on(screen)
    with ShrinkingServer(usage=False) as server:
        server.aim_at(target, screen)
        events, driver = run(backend(server.url), screen)
        finished = events[-1]
        assert isinstance(finished, RunFinished) and finished.outcome == "error", finished
        assert "reports no token usage" in finished.reason and "\n" not in finished.reason
        assert "--server (vllm, sglang, ollama, lmstudio, llamacpp, dashscope)" in finished.reason
        assert "--max-pixels" in finished.reason
        assert driver.calls == [] and len(server.probes()) == 1 and server.steps() == []

        events, _ = run(backend(server.url, server="ollama"), screen)
        assert_on_target(events, target, screen, server.steps()[-1][-1].used)

        capped = RunOptions(max_steps=3, settle_cap_s=0.2, settle_poll_s=0.01, max_pixels=2_000_000)
        events, _ = run(backend(server.url, max_pixels_given=True), screen, options=capped)  # --max-pixels 2000000
        read = server.steps()[-1][-1]
        assert read.sent == read.used
        assert_on_target(events, target, screen, read.used)


def test_a_relative_family_sends_no_probe() -> None:
    screen = (2560, 1440)
    target = target_on(screen)
    with ShrinkingServer(factor=32, coords="relative") as server:  # Ollama's Qwen3-VL: 2<<20 px, factor 32
        server.aim_at(target, screen)
        events, _ = run(backend(server.url), screen, family=QWEN3)
    assert server.probes() == [] and len(server.steps()) == 2  # the two steps, nothing else
    read = server.steps()[0][-1]
    assert read.used != read.sent  # shrunk, and still on target: 0-1000 does not move with the image
    assert_on_target(events, target, screen, (1000, 1000))


def test_the_probe_says_what_it_is_doing_before_each_request() -> None:
    """Each probe request may take a slow server its whole deadline: a line says what is being asked first."""
    said: list[tuple[str, int]] = []  # each line logged, and how many probes the server had had by then
    with ShrinkingServer() as server:
        model = backend(server.url)
        sink = logger.add(
            lambda m: said.append((m.record["message"], len(server.probes()))), level="INFO", format="{message}"
        )
        try:
            model.fit(QWEN25, (2560, 1440), pixel_budget(QWEN25), stop=StopFlag())
        finally:
            logger.remove(sink)
        assert len(server.probes()) == 3
    where = f"the server at {model.endpoint} keeps for qwen2.5-vl"
    checking = [(line, seen) for line, seen in said if line.startswith("checking")]
    assert checking == [(f"checking how large an image {where} (request {k} of at most 3)", k - 1) for k in (1, 2, 3)]


def test_the_probe_runs_once_per_screen_size_and_a_refusal_is_kept() -> None:
    with ShrinkingServer(long_edge=500) as server:
        model = backend(server.url)
        budget = pixel_budget(QWEN25)
        with pytest.raises(BackendError, match="resized"):
            model.fit(QWEN25, (1920, 1080), budget, stop=StopFlag())
        probes = len(server.probes())
        with pytest.raises(BackendError, match="resized"):
            model.fit(QWEN25, (1920, 1080), budget, stop=StopFlag())
        assert len(server.probes()) == probes
    with ShrinkingServer() as server:
        model = backend(server.url)
        first = model.fit(QWEN25, (1920, 1080), budget, stop=StopFlag())
        assert model.fit(QWEN25, (1920, 1080), budget, stop=StopFlag()) == first and len(server.probes()) == 3
        model.fit(QWEN25, (2560, 1440), budget, stop=StopFlag())  # another screen size is probed anew
        assert len(server.probes()) == 6


def test_the_stop_key_cuts_a_probe_short(fault_server: FaultServer) -> None:
    """A server that holds the probe for a minute: the stop key ends fit at once, and nothing is kept as fitted."""
    fault_server.chat(hold(60.0, reply(body=completion("x"))))
    model, stop = backend(fault_server.url, timeout_s=60.0), StopFlag()
    model.load()

    def press_stop() -> None:
        while not fault_server.posts():
            time.sleep(0.01)
        time.sleep(0.2)
        stop.stop("stop key pressed")

    stopper = threading.Thread(target=press_stop, daemon=True)
    stopper.start()
    with pytest.raises(StoppedError, match="stop key pressed"):
        model.fit(QWEN25, (1920, 1080), pixel_budget(QWEN25), stop=stop)
    returned = time.perf_counter()
    stopper.join(5.0)
    assert stop.stopped_at is not None and returned - stop.stopped_at < 5.0  # not the 60 s the server held it
    assert len(fault_server.posts()) == 1


def test_usage_blind_to_the_image_is_refused(fault_server: FaultServer) -> None:
    """FaultServer's answers all say prompt_tokens 2750, whatever the image: no budget can be read from that."""
    model = backend(fault_server.url)
    with pytest.raises(BackendError, match=r"reports the same prompt_tokens for a 1932x1092 and a 896x896 image"):
        model.fit(QWEN25, (1920, 1080), pixel_budget(QWEN25), stop=StopFlag())


# -- the presets ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("screen", [(1920, 1080), (2560, 1440), (3840, 2160)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_ollama_preset_is_what_ollama_would_make_of_the_screen(screen: tuple[int, int]) -> None:
    """docs/serving.md, the table of servers: Ollama turns 1920x1080, 2560x1440 and 3840x2160 screens into 1904x1064 images."""
    fitted = preset_budget("ollama", QWEN25, screen, pixel_budget(QWEN25))
    size = model_input_size(QWEN25, *screen, min_pixels=fitted.min_pixels, max_pixels=fitted.max_pixels)
    assert size == (1904, 1064)
    height, width = smart_resize(
        size[1], size[0], factor=28, min_pixels=OLLAMA_MIN_PIXELS, max_pixels=OLLAMA_MAX_PIXELS
    )
    assert (width, height) == size  # Ollama keeps it as it is


@pytest.mark.parametrize("family", [QWEN25, QWEN3, get_family("ui-tars-1.5")], ids=lambda f: f.name)
@pytest.mark.parametrize("screen", [(1920, 1080), (2560, 1440), (3840, 2160), (2560, 2048), (1366, 768)])
def test_each_preset_gives_an_image_its_server_keeps(family: Family, screen: tuple[int, int]) -> None:
    budget = pixel_budget(family)
    full = model_input_size(family, *screen)
    for server in SERVERS:
        if server == "generic":
            continue
        fitted = preset_budget(server, family, screen, budget)
        width, height = model_input_size(family, *screen, min_pixels=fitted.min_pixels, max_pixels=fitted.max_pixels)
        tokens = width * height // family.factor**2
        assert fitted.max_pixels <= budget.max_pixels and fitted.min_pixels == budget.min_pixels
        if server in ("vllm", "sglang"):
            assert fitted == budget
        if server == "ollama":
            assert width * height <= OLLAMA_MAX_PIXELS
        if server in ("llamacpp", "lmstudio"):
            assert tokens <= LLAMACPP_MAX_IMAGE_TOKENS
        if server == "lmstudio":
            assert max(width, height) <= LMSTUDIO_MAX_LONG_EDGE_PX
        if server == "dashscope":
            assert tokens <= 1280
        if fitted == budget:
            assert (width, height) == full


def test_a_preset_never_raises_the_persons_cap_and_says_when_min_pixels_is_too_high() -> None:
    mine = pixel_budget(QWEN25, max_pixels=1_000_000)
    for server in SERVERS[:-1]:
        assert preset_budget(server, QWEN25, (2560, 1440), mine).max_pixels <= 1_000_000
    assert preset_budget("ollama", QWEN25, (2560, 1440), mine) == mine
    with pytest.raises(
        BackendError, match=r"--server dashscope keeps images of at most 1280 image tokens .*--min-pixels"
    ):
        preset_budget("dashscope", QWEN25, (2560, 1440), pixel_budget(QWEN25, min_pixels=2_000_000))


# -- qwen3.5: tools and the thinking switch, as each server takes them --------------------------------------


def qwen35_request() -> ModelRequest:
    image = prepare_image(desktop_image(1920, 1080), model_input_size(QWEN35, 1920, 1080))
    return ModelRequest(
        family=QWEN35,
        messages=build_messages(QWEN35, "Click OK", image),
        task="Click OK",
        image=image,
        step=1,
        max_new_tokens=77,
        tools=tool_definitions(QWEN35, image),
        template_options=QWEN35.template_options,
    )


OFF = {"enable_thinking": False}


@pytest.mark.parametrize(
    "server_name, fields",
    [
        ("generic", {"chat_template_kwargs": OFF}),  # no tool_choice: "none" drops the tools on SGLang
        ("vllm", {"tool_choice": "none", "chat_template_kwargs": OFF}),  # "auto" needs a tool-call parser
        ("sglang", {"tool_choice": "auto", "chat_template_kwargs": OFF}),  # "none" drops the tools
        ("llamacpp", {"chat_template_kwargs": OFF}),
        ("lmstudio", {"chat_template_kwargs": OFF}),
        ("ollama", {"reasoning_effort": "none"}),  # its /v1 ignores chat_template_kwargs
        ("dashscope", {"enable_thinking": False}),
    ],
)
def test_qwen35_tools_and_thinking_switch_travel_as_each_server_takes_them(
    fault_server: FaultServer, server_name: str, fields: dict[str, Any]
) -> None:
    request = qwen35_request()
    backend(fault_server.url, server=server_name).generate(request, stop=StopFlag())
    [seen] = fault_server.posts()
    body = seen.body
    assert body["tools"] == list(request.tools) and body["tools"][0]["function"]["name"] == "computer_use"
    plain = {"model", "messages", "max_tokens", "temperature", "stream", "tools"}
    assert {k: v for k, v in body.items() if k not in plain} == fields


def test_other_families_send_no_tools_or_template_options(fault_server: FaultServer) -> None:
    image = prepare_image(desktop_image(1920, 1080), model_input_size(QWEN25, 1920, 1080))
    request = ModelRequest(
        family=QWEN25,
        messages=build_messages(QWEN25, "Click OK", image),
        task="Click OK",
        image=image,
        step=1,
        max_new_tokens=77,
    )
    for server_name in ("vllm", "ollama", "dashscope"):
        backend(fault_server.url, server=server_name).generate(request, stop=StopFlag())
    for seen in fault_server.posts():
        assert set(seen.body) == {"model", "messages", "max_tokens", "temperature", "stream"}


def test_vllm_without_a_tool_parser_names_the_preset(fault_server: FaultServer) -> None:
    said = '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set'
    fault_server.chat(reply(400, {"object": "error", "message": said, "type": "BadRequestError", "code": 400}))
    with pytest.raises(
        BackendError, match=r"HTTP 400\): \"auto\" tool choice requires .*; for vLLM give deskpilot --server vllm"
    ):
        backend(fault_server.url).generate(qwen35_request(), stop=StopFlag())


# -- the flag -----------------------------------------------------------------------------------------------------


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_backend_arguments(parser, script_help="")
    return parser.parse_args(list(argv))


def test_the_server_flag_reaches_the_backend() -> None:
    model, _ = backend_from_arguments(parse("--backend", "openai", "--endpoint", "127.0.0.1:9", "--server", "ollama"))
    assert isinstance(model, OpenAIBackend) and (model.server, model.max_pixels_given) == ("ollama", False)
    model, _ = backend_from_arguments(parse("--backend", "openai", "--endpoint", "127.0.0.1:9", "--max-pixels", "9"))
    assert isinstance(model, OpenAIBackend) and (model.server, model.max_pixels_given) == ("generic", True)
    with pytest.raises(ConfigError, match="--server .* goes with --backend openai"):
        backend_from_arguments(parse("--backend", "ocr", "--server", "vllm"))
    with pytest.raises(SystemExit):
        parse("--backend", "openai", "--server", "tgi")


# -- for real: `deskpilot run` on Xvfb clicks the target app's Submit through a shrinking server -------------


@pytest.mark.display
def test_deskpilot_run_clicks_submit_through_a_shrinking_server(target_window: Callable[..., TargetWindow]) -> None:
    target = target_window(x=100, y=100, width=1000, height=700)
    env = {k: v for k, v in os.environ.items() if not k.endswith("API_KEY")}
    with ShrinkingServer() as server:
        server.aim_at(target.centre("Submit"), (1920, 1080))  # the Xvfb screen of pyproject.toml
        command = ["run", "click Submit", "--backend", "openai", "--endpoint", server.url, "--family", "qwen2.5-vl"]
        out = subprocess.run(
            [str(DESKPILOT), *command, "--no-record"], capture_output=True, text=True, timeout=180, env=env
        )
    assert out.returncode == 0, out.stderr
    target.wait_for(lambda e: e["event"] == "clicked" and e["clicked"] == "Submit")
    press = target.wait_for(lambda e: e["event"] == "press")
    assert target.widgets["Submit"].contains(press["x"], press["y"])
    read = server.steps()[0][-1]
    assert read.sent == read.used != model_input_size(QWEN25, 1920, 1080)  # lowered, and kept by the server
    assert "shrinks larger screenshots" in out.stderr  # the person is told
    lines = out.stderr.splitlines()  # and is told what the probe does while it runs, before step 1
    checking = [n for n, line in enumerate(lines) if line.startswith("checking how large an image the server")]
    assert [lines[n].rpartition(" (")[2] for n in checking] == [f"request {k} of at most 3)" for k in (1, 2, 3)]
    assert max(checking) < min(n for n, line in enumerate(lines) if line.startswith("step 1:"))

"""The transformers backend on the real code path: tiny random-weight Qwen2.5-VL and Qwen3-VL models built
offline, a real screenshot of the Xvfb screen, the real loop. Random weights reply noise: the run must end
cleanly with the parse error reported, after the screenshot reached the model at the family's resize."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from agent.backends.hf_loading import image_token_count, load_processor  # noqa: E402
from agent.backends.registry import BackendSettings, make_backend  # noqa: E402
from agent.backends.transformers_backend import to_hf_messages  # noqa: E402
from agent.events import ModelLoading, ModelReplied, ParseFailed, RunFinished, ScreenCaptured  # noqa: E402
from agent.families import get_family, model_input_size  # noqa: E402
from agent.loop import RunOptions, run_task  # noqa: E402
from sandbox.capture import ScreenCapture  # noqa: E402
from sandbox.drivers import DryRunDriver  # noqa: E402
from sandbox.executor import Executor  # noqa: E402
from sandbox.policy import Policy, PolicyChecker  # noqa: E402
from sandbox.stop import StopFlag  # noqa: E402

pytestmark = pytest.mark.display
TinyDir = Callable[[str], Path]


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def run(family_name: str, model_dir: Path, stop: StopFlag, **options: object) -> list[object]:
    family = get_family(family_name)
    backend = make_backend(BackendSettings("transformers", model=str(model_dir)), family=family)
    with ScreenCapture() as capture:
        executor = Executor(checker=PolicyChecker(Policy()), driver=DryRunDriver(), screen=capture.geometry, stop=stop)
        opts = RunOptions(**{"max_new_tokens": 12, "max_failures": 1, "settle_cap_s": 0.2, **options})  # type: ignore[arg-type]
        try:
            return list(
                run_task(
                    "Click the Submit button.",
                    backend=backend,
                    family=family,
                    executor=executor,
                    capture=capture,
                    options=opts,
                )
            )
        finally:
            backend.close()


@pytest.mark.parametrize(
    ("family_name", "min_pixels", "max_pixels"),
    [("qwen2.5-vl", None, None), ("qwen3-vl", None, None), ("qwen2.5-vl", None, 1280 * 28 * 28)],
)
def test_screenshot_reaches_the_model_and_noise_ends_the_run_cleanly(
    tiny_model_dir: TinyDir, family_name: str, min_pixels: int | None, max_pixels: int | None
) -> None:
    model_dir = tiny_model_dir(family_name)
    events = run(family_name, model_dir, StopFlag(), min_pixels=min_pixels, max_pixels=max_pixels)
    family = get_family(family_name)
    shot = next(e for e in events if isinstance(e, ScreenCaptured))
    assert shot.screenshot.size == (1920, 1080)
    width, height = model_input_size(family, 1920, 1080, min_pixels=min_pixels, max_pixels=max_pixels)
    assert shot.model_image.size == (width, height)
    replied = next(e for e in events if isinstance(e, ModelReplied))
    expected = (width // family.factor) * (height // family.factor)  # 2691 for qwen2.5-vl, 2040 for qwen3-vl at 1080p
    assert replied.image_tokens == expected
    # independently: the processor, fed the same conversation, made exactly that many image tokens
    processor = load_processor(
        str(model_dir), min_pixels=min_pixels or family.min_pixels, max_pixels=max_pixels or family.max_pixels
    )
    messages, images = to_hf_messages(replied.messages)
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    inputs = processor(text=[prompt], images=images, return_tensors="pt")
    assert image_token_count(inputs, processor) == expected
    assert (
        replied.input_tokens == inputs["input_ids"].shape[1] and replied.output_tokens and replied.output_tokens <= 12
    )
    assert any(isinstance(e, ModelLoading) for e in events)
    failed = [e for e in events if isinstance(e, ParseFailed)]
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.outcome == "error"
    assert len(failed) == 1 and failed[0].error in finished.reason


def test_stop_during_generation_ends_the_run(tiny_model_dir: TinyDir) -> None:
    stop = StopFlag()
    threading.Timer(1.5, stop.stop, args=("stop key pressed",)).start()
    events = run("qwen3-vl", tiny_model_dir("qwen3-vl"), stop, max_new_tokens=100_000)
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.outcome == "stopped", finished
    assert not any(isinstance(e, ParseFailed) for e in events)  # the cut-off reply was not acted on


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    events = run("qwen2.5-vl", tmp_path / "nowhere", StopFlag())
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.outcome == "error" and "nowhere" in finished.reason

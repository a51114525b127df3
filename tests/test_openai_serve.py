"""OpenAIBackend against a real OpenAI-compatible server: `transformers serve` with the tiny Qwen2.5-VL, offline.

The server runs from .venv-serve (torch + torchvision, which cannot live in .venv beside its CPU torch; make it
with `bash tests/helpers/serve_venv.sh`); skipped without it. Random weights: the text is garbage, but the
whole path is real: messages, base64 PNG screenshots, the server's processor and chat template, usage.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent.backends.base import ModelRequest
from agent.backends.openai.backend import OpenAIBackend
from agent.families import get_family, model_input_size
from agent.imaging import prepare_image
from agent.prompts import Turn, build_messages
from sandbox.errors import StoppedError
from sandbox.stop import StopFlag
from tests.helpers.desktop_image import desktop_image
from tests.helpers.transformers_serve import SERVE, SKIP_REASON, ServeFailed, transformers_serve

FAMILY = get_family("qwen2.5-vl")
SCREEN = (1920, 1080)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not SERVE.exists(), reason=SKIP_REASON),
]


@pytest.fixture(scope="module")
def served(
    tiny_model_dir: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """(base URL, model directory) of `transformers serve` pinned to the tiny model on 127.0.0.1."""
    model_dir = tiny_model_dir("qwen2.5-vl")
    home = tmp_path_factory.mktemp("hf-home")  # an empty cache: nothing of the user's, nothing downloaded
    try:
        with transformers_serve(model_dir, home) as url:
            yield url, model_dir
    except ServeFailed as exc:
        pytest.fail(str(exc))


def _request(*, history: tuple[Turn, ...] = (), max_new_tokens: int = 16, seed: int = 0) -> ModelRequest:
    image = prepare_image(desktop_image(*SCREEN, seed=seed), model_input_size(FAMILY, *SCREEN))
    return ModelRequest(
        family=FAMILY,
        messages=build_messages(FAMILY, "Click the OK button", image, history=history),
        task="Click the OK button",
        image=image,
        step=len(history) + 1,
        max_new_tokens=max_new_tokens,
    )


def test_generate_through_transformers_serve(served: tuple[str, Path]) -> None:
    url, model_dir = served
    backend = OpenAIBackend(url)  # no /v1: the backend adds it
    try:
        backend.load()
        assert backend.model == str(model_dir)  # a pinned server lists its model by the path it was given
        request = _request()
        width, height = request.image.size
        image_tokens = (width // 28) * (height // 28)  # 2691 for 1932x1092: the server did not resize
        reply = backend.generate(request, stop=StopFlag())
        assert reply.raw.strip(), "empty reply"
        assert reply.input_tokens is not None and reply.input_tokens > image_tokens
        assert reply.output_tokens is not None and 1 <= reply.output_tokens <= 16
        second = _request(history=(Turn(request.image, reply.raw, None),), seed=1)
        again = backend.generate(second, stop=StopFlag())
        assert again.raw.strip() and again.input_tokens is not None and again.input_tokens > 2 * image_tokens
    finally:
        backend.close()


def test_stop_during_a_real_generation(served: tuple[str, Path]) -> None:
    url, _ = served
    backend = OpenAIBackend(url)
    try:
        backend.load()
        stop = StopFlag()
        timer = threading.Timer(0.3, stop.stop)
        timer.start()
        with pytest.raises(StoppedError):
            backend.generate(
                _request(max_new_tokens=1024), stop=stop
            )  # ~2.5 s on CPU; random weights rarely stop early
        timer.join()
        assert backend.generate(_request(max_new_tokens=4), stop=StopFlag()).raw  # the server is still fine
    finally:
        backend.close()

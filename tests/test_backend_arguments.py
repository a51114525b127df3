"""The backend flags every model command shares (app/commands/common.py): each reaches the backend it is for,
and a flag given to another backend is a one-line error, never silently ignored."""

from __future__ import annotations

import pytest

from agent.backends.transformers.backend import TransformersBackend
from agent.errors import ConfigError
from app.cli import build_parser
from app.commands.common import backend_from_arguments


def arguments(*flags: str):  # type: ignore[no-untyped-def]
    return build_parser().parse_args(["run", "click Save", *flags])


def test_the_speed_ups_reach_the_transformers_backend() -> None:
    backend, family = backend_from_arguments(
        arguments(
            *("--backend", "transformers", "--model", "Qwen/Qwen3.5-9B", "--family", "qwen3.5"),
            *("--compile", "--stop-at-call-end", "--max-thought-tokens", "64"),
        )
    )
    assert isinstance(backend, TransformersBackend) and family.name == "qwen3.5"
    assert backend._compile and backend._call_end == "</tool_call>" and backend._max_thought_tokens == 64
    plain, _ = backend_from_arguments(arguments("--backend", "transformers", "--model", "m", "--family", "qwen3-vl"))
    assert isinstance(plain, TransformersBackend)
    assert not plain._compile and plain._call_end is None and plain._max_thought_tokens is None


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--compile"], "--compile: speed-ups of the in-process model, for --backend transformers only"),
        (
            ["--backend", "openai", "--endpoint", "http://127.0.0.1:9/v1", "--max-thought-tokens", "9"],
            "transformers only",
        ),
        (["--server", "ollama"], "it goes with --backend openai"),
    ],
)
def test_a_flag_for_another_backend_is_an_error(flags: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        backend_from_arguments(arguments(*flags))

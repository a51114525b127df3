"""Pytest fixtures for the tiny offline models; import the fixture into a test module to use it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers.tinymodels import build_tiny_model


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """tiny_model_dir("qwen2.5-vl") -> a model directory, built once per test session."""
    root = tmp_path_factory.mktemp("tiny-models")

    def build(family: str) -> Path:
        return build_tiny_model(family, root / family)

    return build

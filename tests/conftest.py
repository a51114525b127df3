"""Fixtures for display tests.

- pytest-xvfb starts one Xvfb (1920x1080x24, see pyproject.toml) for the session and sets $DISPLAY.
  Tests that need it are marked `@pytest.mark.display`; they are skipped when there is no display.
- `target_window(**kwargs)` opens tests/target_app.py (a TargetWindow, see tests/helpers/target.py) and
  closes it after the test.
- `tiny_model_dir(family)` builds a tiny random-weight Qwen2.5-VL / Qwen3-VL / Qwen3.5 (dense or MoE) model offline (once per session).
- `two_monitor_display` is the name (":NN") of a dummy Xorg with two monitors (tests/helpers/xorg.py),
  started once per session; skipped where Xorg cannot run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.fixtures import tiny_model_dir  # noqa: F401  (a session fixture: tiny offline Qwen-VL models)
from tests.helpers.target import TargetWindow
from tests.helpers.xorg import XorgUnavailable, start_two_monitor_xorg


def pytest_configure(config: pytest.Config) -> None:
    """Keep the suite out of the developer's own settings, policy and sessions (subprocesses inherit this)."""
    import tempfile

    home = Path(tempfile.mkdtemp(prefix="deskpilot-tests-"))
    os.environ["XDG_CONFIG_HOME"] = str(home / "config")
    os.environ["XDG_DATA_HOME"] = str(home / "data")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("DISPLAY"):
        return
    skip = pytest.mark.skip(reason="needs an X display: install Xvfb (pytest-xvfb starts it) or set DISPLAY")
    for item in items:
        if item.get_closest_marker("display"):
            item.add_marker(skip)


@pytest.fixture
def target_window(tmp_path: Path) -> Iterator[Callable[..., TargetWindow]]:
    """Factory: `target_window(display=None, x=100, y=100, width=1000, height=700, title=...)` -> started window."""
    opened: list[TargetWindow] = []

    def open_window(**kwargs: Any) -> TargetWindow:
        window = TargetWindow(log_dir=tmp_path, **kwargs)
        opened.append(window)
        window.start()
        return window

    yield open_window
    for window in opened:
        window.close()


@pytest.fixture(scope="session")
def two_monitor_display() -> Iterator[str]:
    """A dummy Xorg: left 1920x1080 at (0, 0), right 1280x1024 at (1920, 0). Yields its display name."""
    try:
        server = start_two_monitor_xorg()
    except XorgUnavailable as exc:
        pytest.skip(f"no two-monitor Xorg: {exc}")
    try:
        yield server.name
    finally:
        server.stop()

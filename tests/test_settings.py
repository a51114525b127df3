"""The window's settings file: every value checked at load with an error naming the file and the key; only what
the person changes is saved; a file that could not be read is never written over."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.errors import ConfigError
from app.settings import Settings, SettingsStore, load_settings


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('stop_key = "ctrl+alt+KP_Delete"', "stop_key"),
        ('stop_key = ""', "stop_key"),
        ('driver = "evil"', "driver"),
        ("countdown_s = nan", "countdown_s"),
        ("countdown_s = inf", "countdown_s"),
        ("countdown_s = -1", "countdown_s"),
        ("change_wait_s = nan", "change_wait_s"),
        ("change_wait_s = 31", "change_wait_s"),
        ("change_wait_s = -0.5", "change_wait_s"),
        ("max_steps = 99999999999999999999999", "max_steps"),
        ("max_steps = 0", "max_steps"),
        ("min_pixels = 100000000\nmax_pixels = 10", "min_pixels"),
        ("max_pixels = -5", "max_pixels"),
        ('backend = "gpt"', "backend"),
        ('family = "qwen9"', "family"),
        ('mode = "yolo"', "mode"),
        ('server = "ollamma"', "server"),
        ('refine = "crop"', "refine"),
        ("record = 1", "record"),
        ('famly = "qwen3-vl"', "famly"),
        ("x = " + "[" * 5000 + "]" * 5000, "nested"),
    ],
)
def test_values_are_checked_when_the_file_is_read(tmp_path: Path, text: str, key: str) -> None:
    """redteam #21: a stop key that is no key, an unknown driver, a NaN countdown all loaded without error."""
    path = tmp_path / "settings.toml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and key in message and "\n" not in message


def test_a_fifo_or_a_device_is_an_error_not_a_hang(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "settings.toml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="a FIFO, not a regular file"):
        load_settings(fifo)


def test_only_the_persons_changes_are_saved(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text('backend = "ocr"\nmode = "approve"\n')
    store = SettingsStore(path, overrides={"backend": "scripted", "script": "/tmp/s.jsonl", "mode": "auto"})
    assert (store.effective.backend, store.effective.mode) == ("scripted", "auto")
    assert store.change(store.effective) is None  # nothing the person changed: nothing written
    assert store.change(store.effective.updated(countdown_s=5.0)) == path  # one real change
    saved = load_settings(path)
    assert (saved.backend, saved.mode, saved.script, saved.countdown_s) == ("ocr", "approve", "", 5.0)


def test_settings_cannot_be_built_broken() -> None:
    with pytest.raises(ConfigError, match="stop_key"):
        Settings(stop_key="ctrl+alt+\b")
    with pytest.raises(ConfigError, match="min_pixels"):
        Settings(min_pixels=2000, max_pixels=1000)


def test_server_and_refine_reach_the_run(tmp_path: Path) -> None:
    from app.gui.worker import RunRequest

    path = tmp_path / "settings.toml"
    path.write_text('backend = "openai"\nendpoint = "http://127.0.0.1:9/v1"\nserver = "ollama"\nrefine = "zoom"\n')
    settings = load_settings(path)
    request = RunRequest.for_task("click Save", settings.updated(record=False))
    assert request.backend.server == "ollama" and request.refine == "zoom"
    # the server preset is the openai backend's alone
    other = RunRequest.for_task("click Save", settings.updated(backend="ocr", record=False))
    assert other.backend.server == "generic"


def test_the_change_wait_reaches_the_run(tmp_path: Path) -> None:
    """Issue 17: after an action the next look waits for the screen to change, up to this setting."""
    from app.gui.worker import RunRequest

    path = tmp_path / "settings.toml"
    assert load_settings(path).change_wait_s == 3.0  # the default
    path.write_text("change_wait_s = 1\n")  # an integer is a number of seconds too
    settings = load_settings(path)
    assert settings.change_wait_s == 1.0
    assert RunRequest.for_task("click Save", settings.updated(record=False)).change_wait_s == 1.0

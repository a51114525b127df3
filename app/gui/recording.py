"""Where the window's runs are recorded (on by default): the settings' folder, else the default one."""

from __future__ import annotations

from pathlib import Path

from agent.session import default_sessions_dir, new_session_folder
from app.settings import Settings


def sessions_root(settings: Settings) -> Path:
    return Path(settings.recording_dir).expanduser() if settings.recording_dir else default_sessions_dir()


def new_session_dir(settings: Settings, task: str) -> Path:
    """A fresh session folder for this run."""
    return new_session_folder(sessions_root(settings), task)

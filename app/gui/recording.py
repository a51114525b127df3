"""Where the window's runs are recorded (on by default): the settings' folder, else the default one."""

from __future__ import annotations

from pathlib import Path

from agent.settings import Settings


def new_session_dir(settings: Settings, task: str) -> Path | None:
    """A fresh session folder for this run, or None when recording is unavailable."""
    try:
        from agent.session import default_sessions_dir, new_session_folder  # type: ignore[attr-defined]
    except ImportError:
        return None
    root = Path(settings.recording_dir) if settings.recording_dir else default_sessions_dir()
    return new_session_folder(root, task)  # type: ignore[no-any-return]

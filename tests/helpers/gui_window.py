"""deskpilot's real main window on the test display, driven by the scripted backend.

`scripted_windows` yields a factory: each call writes the given raw replies to a script file in `folder`, opens
a MainWindow whose settings are `base` with the call's own on top (nothing read from or saved to the person's
config: `folder` holds settings.toml), lets `arrange` place it, shows it and waits until it is on screen. Every
window made is closed at the end.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from app.gui.main_window import MainWindow
from app.settings import SettingsStore


@contextmanager
def scripted_windows(
    qtbot: Any, folder: Path, base: Mapping[str, object], arrange: Callable[[MainWindow], object]
) -> Iterator[Callable[..., MainWindow]]:
    made: list[MainWindow] = []

    def make(replies: list[str], **settings: object) -> MainWindow:
        script = folder / f"script-{len(made)}.jsonl"
        script.write_text("".join(json.dumps({"raw": r}) + "\n" for r in replies))
        overrides = {"backend": "scripted", "script": str(script), "family": "qwen2.5-vl", **base, **settings}
        window = MainWindow(SettingsStore(folder / "settings.toml", overrides=overrides))
        qtbot.addWidget(window)
        arrange(window)
        window.show()
        qtbot.waitExposed(window)
        made.append(window)
        return window

    try:
        yield make
    finally:
        for window in made:
            window.close()

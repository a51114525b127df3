"""The README's pictures of the real window, taken while a run waits for approval on the practice board.

    python -m app.gui.snapshot assets      (on any X display; `make screenshot` uses Xvfb)

writes `run.png` (what the person sees during a run: the practice board, the proposed click drawn on the screen
itself, and the run panel in a corner with the stop key) and `window.png` (the full window brought back from the
panel: the step preview with the magnified crop, the thought and the verdict). A scripted reply proposes a
click on the board's Submit button, as a first run with the OCR default would. Nothing is clicked.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from PIL import Image
from PySide6.QtCore import QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from agent.backends.scripted import ScriptedBackend
from agent.families import get_family, model_input_size
from app.gui.main_window import MainWindow
from app.settings import SettingsStore

WIDTH_PX = 1600  # the saved pictures' width (the screen is scaled down to it)
THOUGHT = "The form is filled in. The Submit button is under the fields, so I click it to send the form."
PICTURES = ("run.png", "window.png")


def reply_for(x: int, y: int, screen: tuple[int, int]) -> str:
    width, height = model_input_size(get_family("qwen2.5-vl"), *screen)
    args = {"action": "left_click", "coordinate": [round(x * width / screen[0]), round(y * height / screen[1])]}
    return f"Thought: {THOUGHT}\n<tool_call>\n{json.dumps({'name': 'computer_use', 'arguments': args})}\n</tool_call>"


def grab_screen(out: Path) -> None:
    import mss

    with mss.MSS() as capture:
        shot = capture.grab(capture.monitors[1])
    picture = Image.frombytes("RGB", shot.size, shot.bgra, "raw", "BGRX")
    picture = picture.resize((WIDTH_PX, round(picture.height * WIDTH_PX / picture.width)), Image.Resampling.LANCZOS)
    out.parent.mkdir(parents=True, exist_ok=True)
    picture.save(out, optimize=True)


def take(folder: Path) -> None:
    app = QApplication.instance() or QApplication([sys.argv[0]])
    work = Path(tempfile.gettempdir()) / "deskpilot-snapshot"  # a fixed name: the picture shows it
    work.mkdir(exist_ok=True)
    script = work / "script.jsonl"
    overrides = {"backend": ScriptedBackend.name, "script": str(script), "record": False, "mode": "approve"}
    window = MainWindow(SettingsStore(work / "s.toml", overrides=overrides))
    screen = QGuiApplication.primaryScreen().geometry()
    window.setGeometry(screen.width() - 900, 0, 900, screen.height() - 40)
    window.show()
    board = window.show_practice_board()
    panel = window.run_mode.panel

    def start() -> None:
        submit = board.widgets()["Submit"]
        centre = (submit.x + submit.width // 2, submit.y + submit.height // 2)
        script.write_text(json.dumps({"raw": reply_for(*centre, (screen.width(), screen.height()))}) + "\n")
        window.task_edit.setText("click Submit")
        window.start_run()

    def during_the_run() -> None:
        if not panel.approve_button.isEnabled():
            QTimer.singleShot(200, during_the_run)
            return
        grab_screen(folder / "run.png")
        panel.window_button.click()  # the full window, back from the panel
        QTimer.singleShot(700, full_window)

    def full_window() -> None:
        grab_screen(folder / "window.png")
        window.stop_run()
        QTimer.singleShot(500, app.quit)

    QTimer.singleShot(800, start)
    QTimer.singleShot(1500, during_the_run)
    app.exec()  # safe: Qt's event loop
    window.close()


if __name__ == "__main__":
    take(Path(sys.argv[1] if len(sys.argv) > 1 else "assets"))

"""A Qt window with one line edit, for the typing tests.

    python tests/helpers/qt_entry.py --x X --y Y

prints one JSON line `{"event": "ready", "entry": [x, y, w, h]}` (screen px) once the window is shown, then
`{"event": "text", "text": ...}` each time the text changes. Unlike tests/target_app.py it never takes the
keyboard focus itself.
"""

from __future__ import annotations

import argparse
import json
import os

os.environ["QT_QPA_PLATFORM"] = "xcb"
os.environ["QT_ENABLE_HIGHDPI_SCALING"] = "0"

from PySide6.QtCore import QPoint, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication, QLabel, QLineEdit, QVBoxLayout, QWidget  # noqa: E402


def say(**event: object) -> None:
    print(json.dumps(event, ensure_ascii=False), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--x", type=int, default=200)
    parser.add_argument("--y", type=int, default=200)
    args = parser.parse_args()
    app = QApplication([])
    window = QWidget()
    window.setWindowTitle("deskpilot qt entry")
    layout = QVBoxLayout(window)
    layout.addWidget(QLabel("Type here:"))
    entry = QLineEdit()
    entry.setMinimumWidth(480)
    layout.addWidget(entry)
    entry.textChanged.connect(lambda text: say(event="text", text=text))
    window.move(args.x, args.y)
    window.show()

    def ready() -> None:
        origin = entry.mapToGlobal(QPoint(0, 0))
        say(event="ready", entry=[origin.x(), origin.y(), entry.width(), entry.height()])

    QTimer.singleShot(500, ready)
    app.exec()


if __name__ == "__main__":
    main()

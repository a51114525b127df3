"""A window that carries deskpilot's mark on Wayland (app_id "deskpilot", as deskpilot's own window sets it), in
one solid colour so a test sees whether it is greyed out of a screenshot: run with the venv's python and
QT_QPA_PLATFORM=wayland.

Prints one JSON line `{"event": "ready"}` once it has drawn itself, and `{"event": "clicked"}` for each click
(deskpilot must never click it).
"""

from __future__ import annotations

import json
import sys

from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import QApplication, QWidget

COLOUR = (20, 160, 60)  # no grey: the mask's colour is told apart from it


def say(event: str) -> None:
    print(json.dumps({"event": event}), flush=True)


class Marked(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("deskpilot marked window")
        self._drawn = False

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(*COLOUR))
        painter.end()
        if not self._drawn:
            self._drawn = True
            say("ready")

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt's name
        say("clicked")


def main() -> None:
    app = QApplication([sys.argv[0]])
    app.setDesktopFileName("deskpilot")  # Qt sends it as the Wayland app_id: deskpilot's mark there
    window = Marked()
    window.show()
    app.exec()


if __name__ == "__main__":
    main()

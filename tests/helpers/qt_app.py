"""A Qt window that publishes an accessibility tree, for the AT-SPI tests (PySide6 from the virtualenv).

    python tests/helpers/qt_app.py --x X --y Y

Buttons "Save" and "Cancel" and a line edit; once shown it prints one JSON line
`{"event": "ready", "widgets": {name: [x, y, w, h]}}`: the widgets' boxes as Qt itself places them, in screen
px. Qt publishes its tree when accessibility is announced (org.a11y.Status IsEnabled or ScreenReaderEnabled on
the session bus) or when QT_LINUX_ACCESSIBILITY_ALWAYS_ON is set; it watches the switch while it runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ["QT_QPA_PLATFORM"] = "xcb"
os.environ["QT_ENABLE_HIGHDPI_SCALING"] = "0"

from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication, QHBoxLayout, QLineEdit, QPushButton, QVBoxLayout, QWidget  # noqa: E402


class Window(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("deskpilot qt form")
        self.widgets: dict[str, QWidget] = {"Name": QLineEdit()}
        self.widgets["Name"].setAccessibleName("Name")
        outer = QVBoxLayout(self)
        outer.addWidget(self.widgets["Name"])
        row = QHBoxLayout()
        for name in ("Save", "Cancel"):
            self.widgets[name] = QPushButton(name)
            row.addWidget(self.widgets[name])
        outer.addLayout(row)

    def announce(self) -> None:
        boxes = {}
        for name, widget in self.widgets.items():
            top_left = widget.mapToGlobal(widget.rect().topLeft())
            boxes[name] = [top_left.x(), top_left.y(), widget.width(), widget.height()]
        print(json.dumps({"event": "ready", "widgets": boxes}), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--x", type=int, default=300)
    parser.add_argument("--y", type=int, default=200)
    args = parser.parse_args()
    app = QApplication(sys.argv[:1])
    window = Window()
    window.move(args.x, args.y)
    window.show()
    QTimer.singleShot(300, window.announce)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())

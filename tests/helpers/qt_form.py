"""A real Qt form for the OCR form tests: labels without colons beside their fields (QFormLayout, as Qt apps lay
them out on Linux), one label above its field, and a Save button.

    python tests/helpers/qt_form.py --x X --y Y [--text "LABEL=TEXT" ...]

`--text` fills a field before the form is shown (a pre-filled field for the replace/append tests). It
prints one JSON line `{"event": "ready", "fields": {label: [x, y, w, h]}, "window": [x, y, w, h]}` once shown
(screen px), then `{"event": "saved", "texts": {label: text}}` when Save is clicked, and exits. Like
tests/target_app.py it is frameless, placed before it is shown, and takes the keyboard focus itself (no window
manager runs on the test display).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ["QT_QPA_PLATFORM"] = "xcb"
os.environ["QT_ENABLE_HIGHDPI_SCALING"] = "0"

from PySide6.QtCore import Qt, QTimer  # noqa: E402
from PySide6.QtGui import QFont  # noqa: E402
from PySide6.QtWidgets import (  # noqa: E402
    QApplication,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

BESIDE = ("First name", "Last name")  # labels left of their fields
ABOVE = "Email address"  # a label above its field
FONT_PX = 16


class Form(QWidget):
    def __init__(self, texts: dict[str, str]) -> None:
        super().__init__(None, Qt.WindowType.FramelessWindowHint)
        font = QFont("DejaVu Sans")
        font.setPixelSize(FONT_PX)
        self.setFont(font)
        self.fields: dict[str, QLineEdit] = {}
        outer = QVBoxLayout(self)
        outer.setContentsMargins(24, 24, 24, 24)
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft)
        for label in BESIDE:
            self.fields[label] = QLineEdit()
            self.fields[label].setMinimumWidth(320)
            form.addRow(QLabel(label), self.fields[label])
        outer.addLayout(form)
        outer.addSpacing(12)
        outer.addWidget(QLabel(ABOVE))
        self.fields[ABOVE] = QLineEdit()
        outer.addWidget(self.fields[ABOVE])
        outer.addSpacing(12)
        save = QPushButton("Save")
        save.setMinimumHeight(40)
        save.clicked.connect(self._on_save_clicked)
        outer.addWidget(save)
        for label, text in texts.items():
            self.fields[label].setText(text)

    def _on_save_clicked(self) -> None:
        print(json.dumps({"event": "saved", "texts": {k: f.text() for k, f in self.fields.items()}}), flush=True)
        QApplication.quit()

    def announce(self) -> None:
        self.activateWindow()
        self.fields[BESIDE[0]].setFocus()
        origin = self.mapToGlobal(self.rect().topLeft())
        rects = {}
        for label, field in self.fields.items():
            top_left = field.mapToGlobal(field.rect().topLeft())
            rects[label] = [top_left.x(), top_left.y(), field.width(), field.height()]
        window = [origin.x(), origin.y(), self.width(), self.height()]
        print(json.dumps({"event": "ready", "fields": rects, "window": window}), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--x", type=int, default=300)
    parser.add_argument("--y", type=int, default=200)
    parser.add_argument("--text", action="append", default=[], help="LABEL=TEXT")
    args = parser.parse_args()
    app = QApplication(sys.argv[:1])
    form = Form(dict(spec.partition("=")[::2] for spec in args.text))
    form.move(args.x, args.y)
    form.show()
    QTimer.singleShot(300, form.announce)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())

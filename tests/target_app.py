"""A real window for display tests: known widgets at a known place, and a log of every input it receives.

Run it as its own process (tests/helpers/target.py does):

    python tests/target_app.py --log FILE --x X --y Y --width W --height H [--title T]

Placement: the window is frameless (Qt.FramelessWindowHint) and placed with setGeometry() before it is
shown. Xvfb and the dummy Xorg of the tests run no window manager, so nothing reparents or moves it and its
client area's top-left lands exactly at (X, Y) in screen pixels. (Under a window manager, frameless still
avoids a title bar, but the manager may move the window: the `ready` line reports where it really is.)
High-DPI scaling is switched off, so one Qt pixel is one X pixel and Qt's global positions are screen px.

Keyboard focus: without a window manager X keeps its default focus (PointerRoot: keys go to the window under
the pointer). Once exposed the window calls activateWindow(), which Qt turns into XSetInputFocus on this
window when no manager is there, and gives the `Name` line edit focus; keys then reach it wherever the
pointer is. A later target window takes the focus the same way. Without a manager a click does not move X
focus by itself, so the window activates itself when pressed (click-to-focus, as a manager would).

The log has one JSON object per line, written and flushed at once, every line with "event" and "t"
(time.time()). Input is logged where Qt first receives it (the QWindow), so each X event is one line:
    press / release / double_click  button, x, y (global screen px), widget
    move                            x, y, buttons (all pointer motion over the window)
    drag                            button, from [x, y], to [x, y], widget (a press and release apart)
    wheel                           dx, dy (angleDelta), x, y, widget
    key_press / key_release         key (Qt name, e.g. "Key_A"), text, modifiers ["ctrl", ...], widget
    text                            widget ("Name" or "Notes"), text (the full text after the change)
    clicked                         clicked (button label), widget
    selected                        widget ("List"), text
    focus                           widget (the widget that got keyboard focus)
    ready                           widgets {name: [x, y, w, h]}, window [x, y, w, h], colours, pid
`widget` is the objectName of the deepest named widget under the pointer (or with focus), or "" for none.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, TextIO

os.environ["QT_QPA_PLATFORM"] = "xcb"
os.environ["QT_ENABLE_HIGHDPI_SCALING"] = "0"
os.environ.pop("QT_SCALE_FACTOR", None)

from PySide6.QtCore import QEvent, QObject, QPoint, Qt, QTimer  # noqa: E402
from PySide6.QtGui import QColor, QFont, QKeyEvent, QMouseEvent, QPainter, QPaintEvent, QWheelEvent, QWindow  # noqa: E402
from PySide6.QtWidgets import (  # noqa: E402
    QApplication,
    QGridLayout,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QWidget,
)

WINDOW_RGB = (236, 236, 236)
CANVAS_RGB = (40, 110, 200)  # a flat colour tests look for in screenshots
FONT_PT = 20
NAMES = ("Submit", "Cancel", "Name", "List", "Notes", "Canvas")
BUTTONS = {
    Qt.MouseButton.LeftButton: "left",
    Qt.MouseButton.RightButton: "right",
    Qt.MouseButton.MiddleButton: "middle",
}
MODIFIERS = {
    Qt.KeyboardModifier.ControlModifier: "ctrl",
    Qt.KeyboardModifier.AltModifier: "alt",
    Qt.KeyboardModifier.ShiftModifier: "shift",
    Qt.KeyboardModifier.MetaModifier: "super",
}


class Canvas(QWidget):
    """A large flat area: drags and clicks on it have nothing else to hit."""

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(*CANVAS_RGB))
        painter.end()


class Log:
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, event: str, **fields: Any) -> None:
        self.stream.write(json.dumps({"event": event, "t": time.time(), **fields}) + "\n")
        self.stream.flush()


class Target(QWidget):
    def __init__(self, log: Log, *, title: str) -> None:
        super().__init__(None, Qt.WindowType.FramelessWindowHint)
        self.log = log
        self.setObjectName("Target")
        self.setWindowTitle(title)
        self.setAutoFillBackground(True)
        palette = self.palette()
        palette.setColor(self.backgroundRole(), QColor(*WINDOW_RGB))
        self.setPalette(palette)
        font = QFont("DejaVu Sans")
        font.setPixelSize(round(FONT_PT * 96 / 72))
        self.setFont(font)

        self.submit = self._named(QPushButton("Submit"), "Submit")
        self.cancel = self._named(QPushButton("Cancel"), "Cancel")
        self.name = self._named(QLineEdit(), "Name")
        self.name.setPlaceholderText("Name")
        self.items = self._named(QListWidget(), "List")
        self.items.addItems(["Alpha", "Beta", "Gamma"])
        self.notes = self._named(QPlainTextEdit(), "Notes")
        self.notes.setPlaceholderText("Notes")
        self.canvas = self._named(Canvas(), "Canvas")
        for button in (self.submit, self.cancel):
            button.setMinimumHeight(56)

        grid = QGridLayout(self)
        grid.setContentsMargins(16, 16, 16, 16)
        grid.setSpacing(12)
        grid.addWidget(self.submit, 0, 0)
        grid.addWidget(self.cancel, 0, 1)
        grid.addWidget(self.name, 1, 0, 1, 2)
        grid.addWidget(self.items, 2, 0, 1, 2)
        grid.addWidget(self.notes, 3, 0, 1, 2)
        grid.addWidget(self.canvas, 0, 2, 4, 1)
        grid.setColumnStretch(2, 3)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)

        self.submit.clicked.connect(lambda: self.log.write("clicked", clicked="Submit", widget="Submit"))
        self.cancel.clicked.connect(lambda: self.log.write("clicked", clicked="Cancel", widget="Cancel"))
        self.name.textChanged.connect(lambda text: self.log.write("text", widget="Name", text=text))
        self.notes.textChanged.connect(lambda: self.log.write("text", widget="Notes", text=self.notes.toPlainText()))
        self.items.currentTextChanged.connect(lambda text: self.log.write("selected", widget="List", text=text))
        self._press: dict[str, tuple[int, int, str]] = {}
        self._ready = False

    def named(self) -> list[QWidget]:
        return [self.submit, self.cancel, self.name, self.items, self.notes, self.canvas]

    def _named(self, widget: Any, name: str) -> Any:
        widget.setObjectName(name)
        return widget

    def widget_name(self, widget: QWidget | None) -> str:
        while widget is not None and widget.objectName() not in NAMES:
            widget = widget.parentWidget()
        return widget.objectName() if widget is not None else ""

    def under(self, event: QMouseEvent | QWheelEvent) -> str:
        return self.widget_name(self.childAt(event.position().toPoint()))

    def rect_of(self, widget: QWidget) -> list[int]:
        top_left = widget.mapToGlobal(QPoint(0, 0))
        return [top_left.x(), top_left.y(), widget.width(), widget.height()]

    def announce_ready(self) -> None:
        """Take keyboard focus, then tell the test where everything is (after painting has reached X)."""
        self.activateWindow()
        self.raise_()
        self.name.setFocus(Qt.FocusReason.OtherFocusReason)
        QApplication.sync()
        self.log.write(
            "ready",
            widgets={widget.objectName(): self.rect_of(widget) for widget in self.named()},
            window=self.rect_of(self),
            colours={"window": list(WINDOW_RGB), "canvas": list(CANVAS_RGB)},
            pid=os.getpid(),
        )


class InputLogger(QObject):
    """Sees every event first; logs input only at the QWindow, where each X event arrives exactly once."""

    def __init__(self, target: Target) -> None:
        super().__init__()
        self.target = target

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if isinstance(obj, QWindow):
            kind = event.type()
            if kind == QEvent.Type.Expose and obj.isExposed() and not self.target._ready:
                self.target._ready = True
                QTimer.singleShot(0, self.target.announce_ready)
            elif isinstance(event, QMouseEvent):
                self.mouse(event)
            elif isinstance(event, QWheelEvent):
                pos = event.globalPosition()
                self.target.log.write(
                    "wheel",
                    dx=event.angleDelta().x(),
                    dy=event.angleDelta().y(),
                    x=round(pos.x()),
                    y=round(pos.y()),
                    widget=self.target.under(event),
                )
            elif isinstance(event, QKeyEvent) and kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
                self.key(event)
        elif event.type() == QEvent.Type.FocusIn and isinstance(obj, QWidget) and obj.objectName() in NAMES:
            self.target.log.write("focus", widget=obj.objectName())
        return False

    def mouse(self, event: QMouseEvent) -> None:
        log, kind = self.target.log, event.type()
        pos = event.globalPosition()
        x, y = round(pos.x()), round(pos.y())
        widget = self.target.under(event)
        if kind == QEvent.Type.MouseMove:
            held = [name for flag, name in BUTTONS.items() if event.buttons() & flag]
            log.write("move", x=x, y=y, buttons=held, widget=widget)
            return
        button = BUTTONS.get(event.button(), str(event.button()))
        name = {
            QEvent.Type.MouseButtonPress: "press",
            QEvent.Type.MouseButtonRelease: "release",
            QEvent.Type.MouseButtonDblClick: "double_click",
        }.get(kind)
        if name is None:
            return
        log.write(name, button=button, x=x, y=y, widget=widget)
        if name == "press":
            self.target._press[button] = (x, y, widget)
            if not self.target.isActiveWindow():  # click-to-focus, as a window manager would do
                self.target.activateWindow()
        elif name == "release" and button in self.target._press:
            sx, sy, start_widget = self.target._press.pop(button)
            if (sx, sy) != (x, y):
                log.write("drag", button=button, **{"from": [sx, sy], "to": [x, y]}, widget=start_widget)

    def key(self, event: QKeyEvent) -> None:
        try:
            key = Qt.Key(event.key()).name
        except ValueError:
            key = str(event.key())
        modifiers = [name for flag, name in MODIFIERS.items() if event.modifiers() & flag]
        self.target.log.write(
            "key_press" if event.type() == QEvent.Type.KeyPress else "key_release",
            key=key,
            text=event.text(),
            modifiers=modifiers,
            autorepeat=event.isAutoRepeat(),
            widget=self.target.widget_name(QApplication.focusWidget()),
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", required=True)
    parser.add_argument("--x", type=int, default=100)
    parser.add_argument("--y", type=int, default=100)
    parser.add_argument("--width", type=int, default=1000)
    parser.add_argument("--height", type=int, default=700)
    parser.add_argument("--title", default="deskpilot target")
    args = parser.parse_args(argv)

    app = QApplication([sys.argv[0]])
    app.setStyle("Fusion")
    with open(args.log, "a", encoding="utf-8") as stream:
        target = Target(Log(stream), title=args.title)
        logger = InputLogger(target)
        app.installEventFilter(logger)
        target.setGeometry(args.x, args.y, args.width, args.height)
        target.show()
        return app.exec()


if __name__ == "__main__":
    sys.exit(main())

"""The practice board: a safe, friendly window for first tries, and the target of `deskpilot calibrate`.

Large labels (16-22 pt on dark-on-light, so OCR reads them), buttons, labelled fields, a list, a
checkbox, and a status line that says in words what just happened. Nine calibration targets (small boxes
with a word: corners, edge middles, centre) sit at fixed places, so their rects are known: the layout is
fixed-size and absolute (`practice_layout`), independent of fonts and styles.

As its own process:

    python -m app.gui.practice [--x X --y Y] [--ready] [--on-top]

prints, once the board is shown and painted, one JSON line on stdout
`{"event": "ready", "targets": {label: [x, y, w, h]}, "widgets": {...}, "window": [x, y, w, h], "pid": N}`
(targets listed in calibration order: the most spread out first), then a JSON line per thing it
receives: press (button, x, y, widget), clicked (clicked, widget, target), text (widget, text),
selected (widget, text), checked (widget, checked), status (text). Every line has "event" and "t".
Rects and points are screen pixels as deskpilot uses them: X pixels on X11 (Qt's device-independent
pixels times the device pixel ratio when Qt scales), Qt's own pixels where the system scales (macOS).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent, QObject, QPoint, QRect, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QHideEvent, QMouseEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QWidget,
)

from app.gui.run.screen_px import native_scale, to_screen_px
from sandbox.geometry import Rect

TITLE = "deskpilot practice board"
BOARD_SIZE = (940, 720)  # fits left of the main window, which takes the right half of a 1920 screen
TARGET_SIZE = (120, 44)
# label -> centre in board px, in calibration order: corners and centre first, then edge middles
TARGETS: dict[str, tuple[int, int]] = {
    "Maple": (76, 36),
    "Quartz": (864, 684),
    "Pebble": (864, 36),
    "Walnut": (76, 684),
    "Violet": (470, 360),
    "Otter": (470, 36),
    "Falcon": (864, 360),
    "Tulip": (470, 684),
    "Lantern": (76, 360),
}
FIELDS = ("Name", "Email", "City")
PLACEHOLDERS = {"Name": "your name", "Email": "you@example.com", "City": "where you live"}
BUTTONS = ("Submit", "Cancel", "Save", "Open", "Delete")
FRUITS = ("Apple", "Banana", "Cherry", "Grape", "Lemon")
CHECKBOX = "Remember me"
WAITING = "Waiting for your first try."
# every named control, in board px (x, y, width, height)
LAYOUT: dict[str, tuple[int, int, int, int]] = {
    "Panel": (138, 62, 664, 560),
    "Title": (150, 66, 640, 38),
    "Subtitle": (150, 102, 640, 30),
    **{f"{name} label": (150, 144 + 52 * row, 84, 44) for row, name in enumerate(FIELDS)},
    **{name: (244, 144 + 52 * row, 276, 44) for row, name in enumerate(FIELDS)},
    "Remember": (244, 300, 210, 34),
    "Fruit label": (550, 140, 240, 32),
    "List": (550, 176, 240, 226),
    **{name: (150 + 131 * n, 422, 116, 52) for n, name in enumerate(BUTTONS)},
    "Status": (150, 492, 640, 64),
    "Hint": (150, 570, 640, 32),
}
PX_PER_PT = 96 / 72  # sizes are given in points at 96 dpi and set in pixels, so the layout never reflows
TITLE_PT, TEXT_PT, SMALL_PT = 22, 18, 16
BACKGROUND, PANEL, INK, MUTED = "#eef1f7", "#ffffff", "#1b2333", "#4a5568"
ACCENT, ACCENT_DARK = "#2f6fde", "#1f54b0"
TARGET_FILL, TARGET_BORDER, TARGET_INK = (237, 231, 255), (107, 78, 255), (45, 27, 143)
STYLE = f"""
QWidget#PracticeBoard {{ background: {BACKGROUND}; }}
QLabel {{ color: {INK}; }}
QLabel#Subtitle, QLabel#Hint {{ color: {MUTED}; }}
QLineEdit {{ background: white; color: {INK}; border: 2px solid #b8c2d6; border-radius: 6px; padding: 0 8px; }}
QLineEdit:focus {{ border-color: {ACCENT}; }}
QPushButton {{ background: {ACCENT}; color: white; border: none; border-radius: 8px; font-weight: bold; }}
QPushButton:pressed {{ background: {ACCENT_DARK}; }}
QPushButton#Delete {{ background: #c53030; }}
QPushButton#Cancel {{ background: #e2e8f0; color: {INK}; }}
QListWidget {{ background: white; color: {INK}; border: 2px solid #b8c2d6; border-radius: 6px; }}
QListWidget::item {{ padding-left: 10px; }}
QListWidget::item:selected {{ background: #d6e4ff; color: {INK}; }}
QCheckBox {{ color: {INK}; spacing: 10px; }}
QCheckBox::indicator {{ width: 20px; height: 20px; }}
QLabel#Status {{ background: #e6f4ea; color: #14532d; border: 2px solid #9ad0a8; border-radius: 8px;
                 padding-left: 14px; }}
QPushButton[target="true"] {{ background: rgb{TARGET_FILL}; color: rgb{TARGET_INK};
                              border: 2px solid rgb{TARGET_BORDER}; border-radius: 10px; }}
"""


def practice_layout(x: int = 0, y: int = 0) -> dict[str, Rect]:
    """The calibration targets of a board whose top-left is at (x, y), in calibration order (no Qt scaling)."""
    w, h = TARGET_SIZE
    return {label: Rect(x + cx - w // 2, y + cy - h // 2, w, h, name=label) for label, (cx, cy) in TARGETS.items()}


def control_layout(x: int = 0, y: int = 0) -> dict[str, Rect]:
    """Every named control of a board at (x, y) (no Qt scaling)."""
    return {name: Rect(x + bx, y + by, w, h, name=name) for name, (bx, by, w, h) in LAYOUT.items()}


def _font(points: float, *, bold: bool = False) -> QFont:
    font = QFont("DejaVu Sans")
    font.setPixelSize(round(points * PX_PER_PT))
    font.setBold(bold)
    return font


class ClickableLabel(QLabel):
    """A field's label: clicking it puts the cursor in the field, as a user would expect."""

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt's name
        buddy = self.buddy()
        if buddy is not None:
            buddy.setFocus(Qt.FocusReason.MouseFocusReason)
        super().mousePressEvent(event)


class PracticeBoard(QWidget):
    """The board. `happened` carries one dict per thing it received (the JSON lines of the module doc)."""

    happened = Signal(object)
    ready = Signal()  # once it is shown and painted (again after it was hidden and shown again)

    def __init__(self, parent: QWidget | None = None, *, position: tuple[int, int] | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("PracticeBoard")
        self.setWindowTitle(TITLE)
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setFixedSize(*BOARD_SIZE)
        self.setStyleSheet(STYLE)
        self.setFont(_font(TEXT_PT))
        self._named: dict[str, QWidget] = {}
        self._targets: dict[str, QPushButton] = {}
        self._build()
        self._announced = False  # the ready signal is on its way (or sent) for this showing
        self._ready = False
        self._watched: QObject | None = None
        if position is not None:
            self.move(*position)

    # -- building ------------------------------------------------------------------------------------

    def _place(self, widget: QWidget, name: str) -> Any:
        widget.setParent(self)
        widget.setObjectName(name.replace(" ", ""))
        widget.setGeometry(QRect(*LAYOUT[name]))
        self._named[name] = widget
        return widget

    def _build(self) -> None:
        panel = self._place(_Panel(), "Panel")
        panel.lower()
        self._place(QLabel(TITLE), "Title").setFont(_font(TITLE_PT, bold=True))
        self._place(QLabel("Safe to click: nothing here touches your files."), "Subtitle").setFont(_font(SMALL_PT))
        for name in FIELDS:
            label = self._place(ClickableLabel(f"{name}:"), f"{name} label")
            label.setFont(_font(SMALL_PT, bold=True))
            label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            field = self._place(QLineEdit(), name)
            field.setFont(_font(TEXT_PT))
            field.setPlaceholderText(PLACEHOLDERS[name])
            label.setBuddy(field)
            field.textChanged.connect(lambda text, name=name: self._on_text_changed(name, text))
        check = self._place(QCheckBox(CHECKBOX), "Remember")
        check.setFont(_font(SMALL_PT))
        check.toggled.connect(self._on_toggled)
        self._place(QLabel("Fruit"), "Fruit label").setFont(_font(SMALL_PT, bold=True))
        fruits = self._place(QListWidget(), "List")
        fruits.setFont(_font(TEXT_PT))
        for fruit in FRUITS:
            item = QListWidgetItem(fruit)
            item.setSizeHint(item.sizeHint().expandedTo(QSize(0, 44)))
            fruits.addItem(item)
        fruits.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        fruits.currentTextChanged.connect(self._on_fruit_picked)
        for name in BUTTONS:
            button = self._place(QPushButton(name), name)
            button.setFont(_font(TEXT_PT, bold=True))
            button.setCursor(Qt.CursorShape.PointingHandCursor)
            button.clicked.connect(lambda _=False, name=name: self._on_clicked(name, target=False))
        status = self._place(QLabel(WAITING), "Status")
        status.setFont(_font(TEXT_PT))
        status.setWordWrap(True)
        hint = self._place(QLabel("The words in the purple boxes are calibration targets."), "Hint")
        hint.setFont(_font(SMALL_PT))
        for label, (cx, cy) in TARGETS.items():
            w, h = TARGET_SIZE
            marker = QPushButton(label, self)
            marker.setObjectName(f"target-{label}")
            marker.setProperty("target", "true")
            marker.setFont(_font(SMALL_PT, bold=True))
            marker.setGeometry(cx - w // 2, cy - h // 2, w, h)
            marker.clicked.connect(lambda _=False, label=label: self._on_clicked(label, target=True))
            self._targets[label] = marker

    # -- where things are ------------------------------------------------------------------------------

    def rect_of(self, widget: QWidget, name: str = "") -> Rect:
        """A widget's rect in screen px (see the module doc)."""
        screen = self.screen()
        x, y = to_screen_px(widget.mapToGlobal(QPoint(0, 0)), screen)
        ratio, _ = native_scale(screen)
        return Rect(x, y, round(widget.width() * ratio), round(widget.height() * ratio), name=name)

    def targets(self) -> dict[str, Rect]:
        """The calibration targets (label -> rect in screen px), in calibration order."""
        return {label: self.rect_of(marker, label) for label, marker in self._targets.items()}

    def widgets(self) -> dict[str, Rect]:
        """The named controls (buttons, fields and their labels, list and its items, checkbox, status)."""
        found = {name: self.rect_of(widget, name) for name, widget in self._named.items() if name != "Panel"}
        fruits = self._named["List"]
        assert isinstance(fruits, QListWidget)
        viewport, ratio = fruits.viewport(), native_scale(self.screen())[0]
        for row in range(fruits.count()):
            item = fruits.item(row)
            box = fruits.visualItemRect(item)
            x, y = to_screen_px(viewport.mapToGlobal(box.topLeft()), self.screen())
            found[item.text()] = Rect(x, y, round(box.width() * ratio), round(box.height() * ratio), name=item.text())
        return found

    def window_rect(self) -> Rect:
        return self.rect_of(self, "window")

    # -- what happened -------------------------------------------------------------------------------

    def _say(self, text: str) -> None:
        status = self._named["Status"]
        assert isinstance(status, QLabel)
        status.setText(text)
        self._emit("status", text=text)

    def _emit(self, event: str, **fields: Any) -> None:
        self.happened.emit({"event": event, "t": time.time(), **fields})

    def _on_clicked(self, name: str, *, target: bool) -> None:
        self._emit("clicked", clicked=name, widget=name, target=target)
        if target:
            self._say(f"You clicked the target {name}")
        elif name == "Delete":
            self._say("You clicked Delete (nothing was deleted: this is only practice)")
        else:
            self._say(f"You clicked {name}")

    def _on_text_changed(self, name: str, text: str) -> None:
        self._emit("text", widget=name, text=text)
        self._say(f"{name} is now: {text}" if text else f"{name} is now empty")

    def _on_fruit_picked(self, text: str) -> None:
        if text:
            self._emit("selected", widget="List", text=text)
            self._say(f"You picked {text}")

    def _on_toggled(self, checked: bool) -> None:
        self._emit("checked", widget="Remember", checked=checked)
        self._say(f"{CHECKBOX} is now {'checked' if checked else 'unchecked'}")

    # -- shown, pressed ------------------------------------------------------------------------------

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        handle = self.window().windowHandle()
        if handle is not None and self._watched is not handle:
            handle.installEventFilter(self)
            handle.setProperty("deskpilot_target", True)  # the main window does not mask it out of screenshots
            self._watched = handle
        if handle is not None and handle.isExposed() and not self._announced:  # shown inside an exposed window
            self._announced = True
            QTimer.singleShot(0, self._announce)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        kind = event.type()
        if kind == QEvent.Type.Expose and not self._announced and self.isVisible():
            self._announced = True
            QTimer.singleShot(0, self._announce)
        elif kind == QEvent.Type.MouseButtonPress and isinstance(event, QMouseEvent):
            local = self.mapFromGlobal(event.globalPosition().toPoint())
            if self.rect().contains(local):
                x, y = to_screen_px(event.globalPosition().toPoint(), self.screen())
                button = {
                    Qt.MouseButton.LeftButton: "left",
                    Qt.MouseButton.RightButton: "right",
                    Qt.MouseButton.MiddleButton: "middle",
                }.get(event.button(), "other")
                self._emit("press", button=button, x=x, y=y, widget=self._name_at(local))
                if not self.window().isActiveWindow():  # click-to-focus, as a window manager would do
                    self.window().activateWindow()
        return False

    def _name_at(self, local: QPoint) -> str:
        widget = self.childAt(local)
        while widget is not None and widget is not self:
            for name, known in (*self._named.items(), *self._targets.items()):
                if known is widget and name != "Panel":
                    return name
            widget = widget.parentWidget()
        return ""

    def hideEvent(self, event: QHideEvent) -> None:  # noqa: N802 - Qt's name
        super().hideEvent(event)
        if not event.spontaneous():  # closed or hidden (not minimised): a new showing announces itself again
            self._announced = self._ready = False

    def when_ready(self, call: Callable[[], None]) -> None:
        """Call `call` once the board is on the screen, painted: now when it is, else when `ready` comes."""
        if self._ready:
            call()
        else:
            self.ready.connect(call, Qt.ConnectionType.SingleShotConnection)

    def _announce(self) -> None:
        if not self._announced:  # hidden again before it got here
            return
        QApplication.sync()  # the first paint has reached the X server
        self._ready = True
        self.ready.emit()


class _Panel(QWidget):
    """The white card behind the controls."""

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QColor("#d5dbe7"))
        painter.setBrush(QColor(PANEL))
        painter.drawRoundedRect(self.rect().adjusted(1, 1, -1, -1), 14, 14)
        painter.end()


def _writer(stream: Any) -> Callable[[dict[str, Any]], None]:
    def write(record: dict[str, Any]) -> None:
        try:
            stream.write(json.dumps(record, ensure_ascii=False) + "\n")
            stream.flush()
        except (BrokenPipeError, ValueError, OSError):  # the reader went away: keep the board up
            pass

    return write


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.gui.practice", description=__doc__.splitlines()[0])
    parser.add_argument("--x", type=int, default=None, help="left edge in screen px (default: centred)")
    parser.add_argument("--y", type=int, default=None, help="top edge in screen px (default: centred)")
    parser.add_argument("--ready", action="store_true", help="print the ready line (targets, widgets) once shown")
    parser.add_argument("--on-top", action="store_true", help="keep the board above other windows")
    args = parser.parse_args(argv)
    if sys.platform.startswith("linux") and os.environ.get("DISPLAY") and not os.environ.get("QT_QPA_PLATFORM"):
        os.environ["QT_QPA_PLATFORM"] = "xcb"  # global positions are only known on X (XWayland under Wayland)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication([sys.argv[0]])
    app.setStyle("Fusion")
    board = PracticeBoard()
    if args.on_top:
        board.setWindowFlag(Qt.WindowType.WindowStaysOnTopHint, True)
    write = _writer(sys.stdout)
    board.happened.connect(write)

    def on_ready() -> None:
        board.activateWindow()  # without a window manager this gives the board the keyboard
        board.raise_()
        if args.ready:
            write(
                {
                    "event": "ready",
                    "t": time.time(),
                    "pid": os.getpid(),
                    "targets": {k: _box(r) for k, r in board.targets().items()},
                    "widgets": {k: _box(r) for k, r in board.widgets().items()},
                    "window": _box(board.window_rect()),
                }
            )

    board.ready.connect(on_ready)
    screen = app.primaryScreen()
    available = screen.availableGeometry()
    ratio, origin = native_scale(screen)
    if args.x is None:
        x = available.x() + (available.width() - BOARD_SIZE[0]) // 2
    else:  # screen px -> Qt px
        x = round(origin.x() + (args.x - origin.x()) / ratio)
    if args.y is None:
        y = available.y() + (available.height() - BOARD_SIZE[1]) // 2
    else:
        y = round(origin.y() + (args.y - origin.y()) / ratio)
    board.setGeometry(x, y, *BOARD_SIZE)
    board.show()
    return int(app.exec())  # safe: Qt's event loop


def _box(rect: Rect) -> list[int]:
    return [rect.x, rect.y, rect.width, rect.height]


if __name__ == "__main__":
    sys.exit(main())

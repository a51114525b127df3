"""The built-in grounding set's Qt scenes: real PySide6 widgets, boxes from Qt's own widget geometry.

Run by tools/make_builtin_set.py on a private Xvfb. For each scene it shows one top-level window at a fixed
place, lets it paint, and prints one JSON line: {"scene", "window": [x, y, w, h] on the root window,
"targets": [{"instruction", "ui_type", "box": [x1, y1, x2, y2]}]} with boxes relative to the window and x2, y2
the last pixel column and row of the element. It then waits for a line on stdin before the next scene.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable

from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QRadioButton,
    QSlider,
    QStyle,
    QTabWidget,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

WINDOW_AT = (40, 40)
PAINT_S = 0.5
Area = Callable[[], QRect] | None  # a rect inside the widget, asked once the window is laid out (None: all of it)
Target = tuple[str, str, QWidget, Area]


def _save_dialog() -> tuple[QWidget, list[Target]]:
    window = QWidget()
    window.setWindowTitle("Save changes")
    icon = QLabel()
    icon.setPixmap(window.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning).pixmap(48, 48))
    text = QLabel("Save changes to “quarterly report.odt” before closing?\nYour changes will be lost otherwise.")
    buttons = QDialogButtonBox()
    save = buttons.addButton("Save", QDialogButtonBox.ButtonRole.AcceptRole)
    discard = buttons.addButton("Discard", QDialogButtonBox.ButtonRole.DestructiveRole)
    cancel = buttons.addButton("Cancel", QDialogButtonBox.ButtonRole.RejectRole)
    top = QHBoxLayout()
    top.addWidget(icon, 0, Qt.AlignmentFlag.AlignTop)
    top.addWidget(text, 1)
    layout = QVBoxLayout(window)
    layout.addLayout(top)
    layout.addWidget(buttons)
    window.resize(520, 150)
    return window, [
        ("Save", "text", save, None),
        ("Discard", "text", discard, None),
        ("Cancel", "text", cancel, None),
        ("the yellow warning sign", "icon", icon, None),
    ]


def _preferences() -> tuple[QWidget, list[Target]]:
    window = QWidget()
    account = QGroupBox("Account")
    form = QFormLayout(account)
    form.addRow("Full name:", QLineEdit("Ada Lovelace"))
    form.addRow("Email:", QLineEdit("ada@example.org"))
    language = QComboBox()
    language.addItems(["English", "Deutsch", "Français"])
    form.addRow("Language:", language)
    remember = QCheckBox("Remember me on this computer")
    updates = QCheckBox("Check for updates")
    updates.setChecked(True)
    theme = QGroupBox("Theme")
    themes = QHBoxLayout(theme)
    light, dark = QRadioButton("Light"), QRadioButton("Dark")
    light.setChecked(True)
    themes.addWidget(light)
    themes.addWidget(dark)
    volume = QSlider(Qt.Orientation.Horizontal)
    volume.setValue(60)
    buttons = QHBoxLayout()
    defaults, apply, ok = QPushButton("Restore Defaults"), QPushButton("Apply"), QPushButton("OK")
    buttons.addWidget(defaults)
    buttons.addStretch(1)
    buttons.addWidget(apply)
    buttons.addWidget(ok)
    layout = QVBoxLayout(window)
    for widget in (account, remember, updates, theme, volume):
        layout.addWidget(widget)
    layout.addLayout(buttons)
    window.resize(460, 420)
    return window, [
        ("Remember me on this computer", "text", remember, None),
        ("Check for updates", "text", updates, None),
        ("Dark", "text", dark, None),
        ("Apply", "text", apply, None),
        ("Restore Defaults", "text", defaults, None),
        ("the language drop-down list", "icon", language, None),
        ("the volume slider", "icon", volume, None),
    ]


def _files() -> tuple[QWidget, list[Target]]:
    window = QWidget()
    style = window.style()
    bar = QToolBar()
    tools = {}
    for name, pixmap in (
        ("back", QStyle.StandardPixmap.SP_ArrowBack),
        ("forward", QStyle.StandardPixmap.SP_ArrowForward),
        ("up", QStyle.StandardPixmap.SP_ArrowUp),
        ("reload", QStyle.StandardPixmap.SP_BrowserReload),
        ("home", QStyle.StandardPixmap.SP_DirHomeIcon),
        ("new folder", QStyle.StandardPixmap.SP_FileDialogNewFolder),
        ("trash", QStyle.StandardPixmap.SP_TrashIcon),
    ):
        button = QToolButton()
        button.setIcon(style.standardIcon(pixmap))
        bar.addWidget(button)
        tools[name] = button
    path = QLineEdit("/home/ada/Documents")
    places = QListWidget()
    places.addItems(["Home", "Desktop", "Documents", "Downloads", "Music", "Pictures", "Videos"])
    places.setFixedWidth(150)
    files = QListWidget()
    files.addItems(["budget-2026.ods", "holiday photos", "letter to the bank.odt", "notes.txt", "thesis-final.pdf"])
    middle = QHBoxLayout()
    middle.addWidget(places)
    middle.addWidget(files, 1)
    layout = QVBoxLayout(window)
    layout.addWidget(bar)
    layout.addWidget(path)
    layout.addLayout(middle)
    window.resize(620, 330)
    return window, [
        ("the back arrow button", "icon", tools["back"], None),
        ("the reload button", "icon", tools["reload"], None),
        ("the home folder button", "icon", tools["home"], None),
        ("the trash can button", "icon", tools["trash"], None),
        ("Downloads", "text", places.viewport(), lambda: _item(places, 3)),
        ("Pictures", "text", places.viewport(), lambda: _item(places, 5)),
        ("notes.txt", "text", files.viewport(), lambda: _item(files, 3)),
    ]


def _tabs() -> tuple[QWidget, list[Target]]:
    window = QWidget()
    tabs = QTabWidget()
    test = QPushButton("Test Connection")
    for name in ("General", "Network", "Privacy", "Advanced"):
        page = QWidget()
        grid = QGridLayout(page)
        if name == "General":
            grid.addWidget(QLabel("Proxy host:"), 0, 0)
            grid.addWidget(QLineEdit("proxy.example.org"), 0, 1)
            grid.addWidget(QLabel("Port:"), 1, 0)
            grid.addWidget(QLineEdit("3128"), 1, 1)
            grid.addWidget(QCheckBox("Use the same proxy for all protocols"), 2, 0, 1, 2)
            grid.addWidget(test, 3, 1, Qt.AlignmentFlag.AlignRight)
        tabs.addTab(page, name)
    layout = QVBoxLayout(window)
    layout.addWidget(tabs)
    window.resize(480, 240)
    bar = tabs.tabBar()
    return window, [
        ("Network", "text", bar, lambda: bar.tabRect(1)),
        ("Privacy", "text", bar, lambda: bar.tabRect(2)),
        ("Advanced", "text", bar, lambda: bar.tabRect(3)),
        ("Test Connection", "text", test, None),
    ]


def _item(view: QListWidget, row: int) -> QRect:
    item = view.item(row)
    assert item is not None
    return view.visualItemRect(item).intersected(view.viewport().rect())  # a row spans the view it shows in


SCENES = {"qt-save-dialog": _save_dialog, "qt-preferences": _preferences, "qt-files": _files, "qt-tabs": _tabs}


def _settle(app: QApplication, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def main() -> int:
    app = QApplication(sys.argv[:1])
    app.setStyle("Fusion")
    app.setFont(QFont("DejaVu Sans", 10))
    for scene, build in SCENES.items():
        window, targets = build()
        window.move(*WINDOW_AT)
        window.show()
        window.raise_()
        _settle(app, PAINT_S)
        boxes = []
        for instruction, ui_type, widget, rect in targets:
            area = rect() if rect is not None else QRect(QPoint(0, 0), widget.size())
            corner = widget.mapTo(window, area.topLeft())
            x1, y1 = corner.x(), corner.y()
            boxes.append(
                {
                    "instruction": instruction,
                    "ui_type": ui_type,
                    "box": [x1, y1, x1 + area.width() - 1, y1 + area.height() - 1],
                }
            )
        frame = window.geometry()
        record = {"scene": scene, "window": [frame.x(), frame.y(), frame.width(), frame.height()], "targets": boxes}
        print(json.dumps(record), flush=True)
        sys.stdin.readline()  # the picture is taken
        window.close()
        _settle(app, 0.05)
    return 0


if __name__ == "__main__":
    sys.exit(main())

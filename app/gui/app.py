"""Starting the window: the Qt application, logging into the log pane, settings, optional practice board."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from loguru import logger
from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QMessageBox

from agent.events import RunFinished
from app.cli import EXIT_FOR_OUTCOME
from app.gui.main_window import MainWindow
from app.gui.run.placement import place
from app.gui.run.x_mark import mark_deskpilot_windows
from app.settings import SettingsStore


class LogBridge(QObject):
    """loguru -> the log pane, across threads (a queued signal)."""

    line = Signal(str)

    def write(self, message: str) -> None:
        self.line.emit(str(message))


def launch_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The settings the command line sets for this launch only (`deskpilot gui --backend scripted ...`)."""
    given = {name: getattr(args, name, None) for name in OVERRIDABLE}
    return {name: str(value) if isinstance(value, Path) else value for name, value in given.items() if value}


X_NAME = ("-name", "deskpilot") if sys.platform.startswith("linux") else ()  # xcb: WM_CLASS's instance name
OVERRIDABLE = ("backend", "family", "mode", "model", "endpoint", "server", "script", "min_pixels", "max_pixels")


def run_gui(args: argparse.Namespace) -> int:
    app = QApplication.instance() or QApplication([sys.argv[0], *X_NAME])
    app.setApplicationName("deskpilot")  # WM_CLASS's class; X_NAME its instance (app/gui/run/x_mark.py)
    QGuiApplication.setDesktopFileName(
        "deskpilot"
    )  # the app_id on Wayland: how other deskpilot processes know its windows
    mark_deskpilot_windows()
    bridge = LogBridge()
    logger.remove()
    logger.add(sys.stderr, level="INFO", format="{time:HH:mm:ss} {message}")
    # the window writes its own run lines; everything else logged (warnings from the agent, ...) joins them
    logger.add(
        bridge.write,
        level="INFO",
        format="{time:HH:mm:ss}  {message}",
        filter=lambda record: record["name"] != "app.gui.main_window",
    )
    settings_file = Path(args.settings) if getattr(args, "settings", None) else None
    store = SettingsStore(settings_file, overrides=launch_overrides(args))
    window = MainWindow(store, policy=args.policy)
    if store.error is not None:  # said, not in the way: a modal box would hold up `--task ... --exit-when-done`
        notice = QMessageBox(QMessageBox.Icon.Warning, "deskpilot", "", parent=window)
        notice.setTextFormat(Qt.TextFormat.PlainText)
        notice.setText(
            f"Your settings could not be read, using defaults:\n{store.error}\n\n"
            "The file is kept as it is; if you change a setting, it is moved aside, not overwritten."
        )
        notice.setModal(False)
        QTimer.singleShot(0, notice.show)
    bridge.line.connect(window.append_log)
    if args.geometry:
        x, y, w, h = args.geometry
        window.setGeometry(x, y, w, h)
    else:
        place(window)
    window.show()
    board = window.show_practice_board() if args.practice else None
    outcome: dict[str, int] = {}
    if args.task:
        window.task_edit.setText(args.task)
        if board is not None:  # the task is for the board: the run starts once the board is on the screen
            board.when_ready(window.start_run)
        else:
            QTimer.singleShot(0, window.start_run)  # as the event loop starts
    if args.exit_when_done:

        def finish(finished: RunFinished | None) -> None:
            outcome["code"] = EXIT_FOR_OUTCOME.get(finished.outcome, 2) if finished else 2
            window.close()
            if board is not None:
                board.close()
            app.quit()

        window.run_finished.connect(finish)
    code = app.exec()  # safe: Qt's event loop
    return outcome.get("code", code)

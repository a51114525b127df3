"""Starting the window: the Qt application, logging into the log pane, settings, optional practice board."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from loguru import logger
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QApplication, QMessageBox

from agent.errors import ConfigError
from agent.events import RunFinished
from agent.settings import Settings, load_settings
from app.event_lines import EXIT_FOR_OUTCOME
from app.gui.main_window import MainWindow


class LogBridge(QObject):
    """loguru -> the log pane, across threads (a queued signal)."""

    line = Signal(str)

    def write(self, message: str) -> None:
        self.line.emit(str(message))


def apply_overrides(settings: Settings, args: argparse.Namespace) -> Settings:
    changes = {}
    for name in ("backend", "family", "mode"):
        if getattr(args, name, None):
            changes[name] = getattr(args, name)
    if getattr(args, "model", None):
        changes["model"] = args.model
    if getattr(args, "endpoint", None):
        changes["endpoint"] = args.endpoint
    if getattr(args, "script", None):
        changes["script"] = str(args.script)
    if getattr(args, "min_pixels", None):
        changes["min_pixels"] = args.min_pixels
    if getattr(args, "max_pixels", None):
        changes["max_pixels"] = args.max_pixels
    return settings.updated(**changes) if changes else settings


def run_gui(args: argparse.Namespace) -> int:
    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setApplicationName("deskpilot")
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
    try:
        settings = apply_overrides(load_settings(settings_file), args)
    except ConfigError as exc:
        QMessageBox.warning(None, "deskpilot", f"Your settings could not be read, using defaults:\n{exc}")
        settings = apply_overrides(Settings(), args)
    window = MainWindow(settings, settings_file=settings_file, policy=args.policy)
    bridge.line.connect(window.append_log)
    screen = app.primaryScreen().availableGeometry()
    if args.geometry:
        x, y, w, h = args.geometry
        window.setGeometry(x, y, w, h)
    else:  # the right part of the screen, leaving the rest for what deskpilot acts on
        width = max(900, screen.width() // 2)
        window.setGeometry(screen.x() + screen.width() - width, screen.y(), width, screen.height())
    window.show()
    board = window.show_practice_board() if args.practice else None
    outcome: dict[str, int] = {}
    if args.task:
        window.task_edit.setText(args.task)
        QTimer.singleShot(200, window.start_run)
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

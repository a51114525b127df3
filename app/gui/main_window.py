"""The main window: type a task, watch each step's preview, approve or stop.

Slow work (model loading included) runs on a RunWorker in a QThread, driven by a RunController; the window
only renders its events (the step view, the timeline, the log, the status bar). deskpilot's own windows are
masked out of the screenshots and may never be clicked (OwnWindows).
Settings: what the person changes here is saved (SettingsStore), one-off command-line flags are not.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from loguru import logger
from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QCloseEvent, QGuiApplication, QMoveEvent, QResizeEvent, QShowEvent
from PySide6.QtWidgets import (
    QDockWidget,
    QHBoxLayout,
    QLineEdit,
    QMainWindow,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from agent.events import (
    ActionProposed,
    ModelLoading,
    ModelReplied,
    ReplyParsed,
    RunFinished,
    RunPaused,
    ScreenCaptured,
    StepStarted,
)
from app.event_lines import event_line
from app.gui.calibration_worker import Calibration
from app.gui.desktop_check import DesktopCheck
from app.gui.pickers import ModelPickers
from app.gui.plain_text import plain_label
from app.gui.run.mode import RunMode
from app.gui.run.own_windows import OwnWindows
from app.gui.run.placement import remember_placement
from app.gui.run.x_mark import mark_deskpilot_windows
from app.gui.run_controller import RunController
from app.gui.step_view import StepView
from app.gui.timeline import Timeline
from app.gui.worker import RunRequest, backend_settings
from app.settings import Settings, SettingsStore


class MainWindow(QMainWindow):
    run_finished = Signal(object)  # RunFinished, for tests and --exit-when-done

    def __init__(self, store: SettingsStore, *, policy: Path | None = None) -> None:
        super().__init__()
        mark_deskpilot_windows()  # every window shown from now on is deskpilot's for any deskpilot process
        self.store = store
        self._policy = policy
        self.own_windows = OwnWindows()
        self.runs = RunController(self, blocking=self.own_windows.blocking, masked=self.own_windows.masked)
        self.run_mode = RunMode(self, self.runs, self.own_windows, stop_key=store.effective.stop_key)
        self.runs.hooks = self.run_mode.hooks
        self.calibration = Calibration(self)
        self.practice_board: Any = None
        self.setWindowTitle("deskpilot")
        self.refusal: str | None = None  # the desktop's refusal (app/desktop.py): said where Run is
        self.route_known = False  # the route check has answered
        self.desktop_check = DesktopCheck(self)
        self._build()
        self._connect()
        self.pickers.show_settings(store.effective)
        self.stop_key_label.setText(f"Stop key: {store.effective.stop_key}")
        self._set_running(False)
        self.desktop_check.check_route()  # off the GUI thread: a Wayland probe waits on sockets and D-Bus

    @property
    def settings(self) -> Settings:
        return self.store.effective

    @property
    def worker(self) -> Any:
        return self.runs.worker

    # -- layout --------------------------------------------------------------------------------------
    def _build(self) -> None:
        self.task_edit = QLineEdit()
        self.task_edit.setPlaceholderText('Describe a task, e.g. "click Submit" or "type hello into Name"')
        self.run_button, self.pause_button, self.stop_button = (
            QPushButton("Run"),
            QPushButton("Pause"),
            QPushButton("Stop"),
        )
        self.refusal_label = plain_label(wrap=True)  # shown instead of Run where the desktop has no route
        self.refusal_label.setStyleSheet("color: #b00020;")
        self.refusal_label.hide()
        top = QHBoxLayout()
        for widget in (self.task_edit, self.run_button, self.refusal_label, self.pause_button, self.stop_button):
            top.addWidget(widget)
        top.setStretch(0, 1)
        top.setStretch(2, 1)
        self.pickers = ModelPickers()
        self.backend_combo, self.model_combo = self.pickers.backend_combo, self.pickers.model_combo
        self.family_combo, self.mode_combo = self.pickers.family_combo, self.pickers.mode_combo
        self.practice_button = QPushButton("Practice board")
        self.calibrate_button = QPushButton("Calibrate")
        self.calibrate_button.setToolTip("Ask the current model to click the practice board's targets and measure")
        self.sessions_button = QPushButton("Sessions…")
        self.sessions_button.setToolTip("Browse, replay and export recorded runs")
        self.settings_button = QPushButton("Settings…")
        tools = QHBoxLayout()
        tools.addWidget(self.pickers, 1)
        for button in (self.practice_button, self.calibrate_button, self.sessions_button, self.settings_button):
            tools.addWidget(button)

        self.step_view = StepView()
        self.preview, self.action_label = self.step_view.preview, self.step_view.action_label
        self.approve_button, self.reject_button = self.step_view.approve_button, self.step_view.reject_button
        self.note_edit = self.step_view.note_edit
        self.timeline = Timeline()
        splitter = QSplitter()
        splitter.addWidget(self.step_view)
        splitter.addWidget(self.timeline)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addLayout(top)
        layout.addLayout(tools)
        layout.addWidget(splitter, 1)
        self.setCentralWidget(central)

        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(5000)
        dock = QDockWidget("Log", self)
        dock.setWidget(self.log)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
        help_menu = self.menuBar().addMenu("&Help")
        self.desktop_check_action = help_menu.addAction("Desktop check…")
        self.desktop_check_action.setToolTip("What this desktop offers a run, as `deskpilot doctor` says it")
        self.resizeDocks([dock], [140], Qt.Orientation.Vertical)

        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.hide()
        self.latency_label, self.gpu_label, self.stop_key_label = plain_label(), plain_label(), plain_label()
        bar = self.statusBar()
        bar.addWidget(self.progress)
        bar.addWidget(self.latency_label)
        bar.addPermanentWidget(self.gpu_label)
        bar.addPermanentWidget(self.stop_key_label)

    def _connect(self) -> None:
        self.task_edit.returnPressed.connect(self.start_run)
        self.run_button.clicked.connect(self.start_run)
        self.pause_button.clicked.connect(self.runs.toggle_pause)
        self.stop_button.clicked.connect(self.stop_run)
        self.practice_button.clicked.connect(self.show_practice_board)
        self.calibrate_button.clicked.connect(self.calibrate)
        self.sessions_button.clicked.connect(self.open_sessions)
        self.settings_button.clicked.connect(self._on_settings_clicked)
        self.desktop_check_action.triggered.connect(self.open_desktop_check)
        self.desktop_check.route_checked.connect(self._on_route_checked)
        self.step_view.approve_clicked.connect(lambda: self.runs.approve(self.step_view.edited))
        self.step_view.reject_clicked.connect(self.runs.reject)
        self.timeline.step_selected.connect(self._on_step_selected)
        self.runs.run_event.connect(self._on_event)
        self.runs.approval_needed.connect(self._on_approval_needed)
        self.runs.countdown.connect(self.step_view.show_countdown)
        self.runs.decided.connect(lambda: self.step_view.set_deciding(False))
        self.runs.paused_changed.connect(lambda paused: self.pause_button.setText("Resume" if paused else "Pause"))
        self.runs.running_changed.connect(self._set_running)
        self.runs.backend_ready.connect(lambda where: self.gpu_label.setText(f"Model on: {where}"))
        self.runs.finished.connect(self._on_done)
        self.calibration.progress.connect(self._log)
        self.calibration.finished.connect(self._on_calibrated)

    # -- settings ------------------------------------------------------------------------------------
    def current_settings(self) -> Settings:
        return self.pickers.settings()

    def save(self) -> None:
        """Save what the person changed in the window (one-off command-line flags stay out)."""
        written = self.store.change(self.current_settings())
        if written is not None:
            logger.info(f"settings saved in {written}")

    def _on_settings_clicked(self) -> None:
        from app.gui.settings_dialog import SettingsDialog

        dialog = SettingsDialog(self.current_settings(), self, policy_file=self._policy)
        if dialog.exec():  # safe: Qt's modal loop, not Python's exec
            self.store.change(dialog.settings())
            self.pickers.show_settings(self.store.effective)
            self.stop_key_label.setText(f"Stop key: {self.store.effective.stop_key}")
            self.run_mode.panel.set_stop_key(self.store.effective.stop_key)

    # -- practice board, calibration, sessions --------------------------------------------------------
    def show_practice_board(self) -> Any:
        """The bundled practice board, on the left of the screen: a safe place to try tasks."""
        if self.practice_board is None:
            from app.gui.practice import PracticeBoard

            screen = QGuiApplication.primaryScreen().availableGeometry()
            self.practice_board = PracticeBoard(self)  # owned by this window: it goes when the window goes
            self.practice_board.setWindowFlag(Qt.WindowType.Window, True)
            self.practice_board.move(screen.x() + 20, screen.y() + 20)
        self.practice_board.show()
        self.practice_board.raise_()
        return self.practice_board

    def calibrate(self) -> None:
        if self.runs.running or self.calibration.running:
            return
        board = self.show_practice_board()
        self.save()
        self.calibrate_button.setEnabled(False)
        self.step_view.say("Calibrating: the model is asked to click each purple target (nothing is clicked)…")
        s = self.current_settings()  # no run request: a calibration records no session
        backend = backend_settings(s)
        board.when_ready(lambda: self.calibration.start(backend, s.family, board.targets(), stop_key=s.stop_key))

    def _on_calibrated(self, text: str) -> None:
        self.calibrate_button.setEnabled(True)
        self.step_view.say(text)
        self._log(text)

    def open_sessions(self) -> Any:
        from app.gui.recording import sessions_root
        from app.gui.sessions_view import SessionBrowser

        s = self.current_settings()
        browser = SessionBrowser(
            sessions_root(s),
            self,
            driver=s.driver,
            stop_key=s.stop_key,
            policy=self._policy,
            own_windows=self.own_windows,
        )
        browser.show()
        QTimer.singleShot(0, self.own_windows.update)
        return browser

    # -- the desktop ---------------------------------------------------------------------------------
    def open_desktop_check(self) -> Any:
        """Help > Desktop check: doctor's facts, checked on a thread of their own."""
        from app.gui.desktop_check import DesktopCheckDialog

        dialog = DesktopCheckDialog(self)
        dialog.setModal(False)
        dialog.show()
        dialog.run_check()
        QTimer.singleShot(0, self.own_windows.update)
        return dialog

    def _on_route_checked(self, refusal: str | None) -> None:
        """No usable route: the refusal a run would end with is said where Run is, and Run is not offered."""
        self.refusal, self.route_known = refusal, True
        self.refusal_label.setText(f"{refusal} (Help > Desktop check)" if refusal else "")
        self.refusal_label.setVisible(refusal is not None)
        self.run_button.setVisible(refusal is None)
        self.run_button.setEnabled(refusal is None and not self.runs.running)
        if refusal is not None and not self.runs.running:
            self.step_view.say(
                "No run can start on this desktop: the red line above says why, Help > Desktop check what to do."
            )

    # -- own windows ---------------------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        QTimer.singleShot(0, self.own_windows.update)

    def moveEvent(self, event: QMoveEvent) -> None:  # noqa: N802
        super().moveEvent(event)
        self.own_windows.update()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        self.own_windows.update()

    # -- running -------------------------------------------------------------------------------------
    def request(self, task: str) -> RunRequest:
        return RunRequest.for_task(task, self.current_settings(), policy=self._policy)

    @Slot()
    def start_run(self) -> None:
        task = self.task_edit.text().strip()
        if self.runs.running:
            return
        if not task:
            self.step_view.say("Type a task first.")
            return
        if self.refusal is not None:
            self.step_view.say(self.refusal)
            return
        try:
            self.save()
            request = self.request(task)
        except Exception as exc:  # a bad setting: say it, do not start
            self.step_view.say(f"Cannot start: {exc}")
            return
        self.own_windows.update()
        self.timeline.reset_steps()
        self.step_view.reset()
        self.runs.start(request)
        self.run_mode.begin(request)

    def stop_run(self) -> None:
        if self.runs.running:
            self.runs.stop("stopped from the window")
            self.step_view.say("Stopping…")

    def _set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running and self.refusal is None)
        self.stop_button.setEnabled(running)
        self.pause_button.setEnabled(running)
        self.pause_button.setText("Pause")
        self.pickers.set_enabled(not running)
        for widget in (self.settings_button, self.calibrate_button):
            widget.setEnabled(not running)
        self.step_view.set_deciding(False)

    # -- events from the run -------------------------------------------------------------------------
    @Slot(object)
    def _on_event(self, event: object) -> None:
        line = event_line(event)  # type: ignore[arg-type]
        if line:
            self._log(line)
        self.timeline.on_event(event)
        match event:
            case ModelLoading():
                self.progress.show()
                self.progress.setFormat(f"{event.stage} %p%")
                self.progress.setRange(0, event.total or 0)
                self.progress.setValue(event.done)
                if event.stage == "load" and event.total and event.done >= event.total:
                    self.progress.hide()
            case StepStarted():
                self.progress.hide()
            case ModelReplied():
                self.latency_label.setText(f"Step {event.step}: model {event.elapsed_s:.2f} s")
            case ReplyParsed():
                self.step_view.show_thought(event.thought)
            case ActionProposed():
                self.step_view.show_proposal(event)
            case ScreenCaptured():
                self.step_view.show_capture(event)
            case RunPaused():
                self.step_view.say(event.reason)

    @Slot(object)
    def _on_approval_needed(self, proposed: ActionProposed) -> None:
        self.step_view.ask(proposed)
        if self.isActiveWindow():  # the person brought the window back and works in it: Enter approves
            self.approve_button.setFocus()

    @Slot(object)
    def _on_done(self, finished: RunFinished | None) -> None:
        self.run_mode.end()
        if finished is not None:
            answer = f" (answer: {finished.answer})" if finished.answer else ""
            self.step_view.say(f"Finished: {finished.outcome}: {finished.reason}{answer}")
            self._log(self.action_label.text())
        self.run_finished.emit(finished)

    def _on_step_selected(self, step: int) -> None:
        record = self.timeline.records.get(step)
        if record is None or record.image is None or record.frame is None or self.runs.pending is not None:
            return
        self.preview.show_picture(record.image, record.frame)
        if record.proposals:
            parsed, verdict, _ = record.proposals[-1]
            shown = record.executed[-1] if record.executed else parsed.action
            self.preview.show_action(shown, box=parsed.box, verdict=verdict)

    def _log(self, line: str) -> None:
        self.append_log(f"{time.strftime('%H:%M:%S')}  {line}")
        logger.info(line)

    def append_log(self, line: str) -> None:
        self.log.appendPlainText(line.rstrip())

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        """Closing stops the run, waits for the worker (which releases the model) and saves what changed."""
        self.runs.shutdown("the window was closed")
        self.calibration.shutdown("the window was closed")
        self.run_mode.close()
        remember_placement(self)
        if self.practice_board is not None:
            self.practice_board.close()
        try:
            self.save()
        except Exception as exc:  # never block closing
            logger.warning(f"settings not saved: {exc}")
        super().closeEvent(event)

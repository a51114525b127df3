"""The main window: type a task, watch each step's preview, approve or stop.

Slow work (model loading included) runs on a RunWorker in a QThread; this window only renders its events.
deskpilot's own windows are masked out of the screenshots and may never be clicked (own_windows()).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from loguru import logger
from PySide6.QtCore import Qt, QThread, QTimer, Signal, Slot
from PySide6.QtGui import QCloseEvent, QGuiApplication, QMoveEvent, QResizeEvent, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from agent.backends.discovery import find_local_models
from agent.backends.registry import BackendSettings
from agent.events import (
    ActionBlocked,
    ActionExecuted,
    ActionProposed,
    ActionRejected,
    ModelLoading,
    ModelReplied,
    ParseFailed,
    ReplyParsed,
    RunFinished,
    RunPaused,
    RunResumed,
    ScreenCaptured,
    StepStarted,
)
from agent.families import FAMILIES
from agent.loop import Approve, Reject
from agent.settings import Settings, save_settings
from app.event_lines import event_line
from app.gui.preview import PreviewView
from app.gui.timeline import Timeline
from app.gui.worker import RunRequest, RunWorker
from sandbox.actions import Action, describe
from sandbox.geometry import Rect

BACKEND_LABELS = {
    "ocr": "OCR (built in, no model)",
    "transformers": "Local model (GPU)",
    "openai": "OpenAI-compatible server",
    "scripted": "Scripted replies",
}
MODE_LABELS = {"approve": "Approve each step", "auto": "Auto (countdown)", "dry-run": "Dry run"}
STOP_WAIT_MS = 5000


class MainWindow(QMainWindow):
    run_finished = Signal(object)  # RunFinished, for tests and --exit-when-done

    def __init__(self, settings: Settings, *, settings_file: Path | None = None, policy: Path | None = None) -> None:
        super().__init__()
        self.settings = settings
        self._settings_file = settings_file
        self._policy = policy
        self._thread: QThread | None = None
        self.worker: RunWorker | None = None
        self._pending: ActionProposed | None = None
        self._edited: Action | None = None
        self._own_lock = threading.Lock()
        self._own_rects: list[Rect] = []
        self.last_finished: RunFinished | None = None
        self.practice_board: Any = None
        self._calibration: tuple[QThread, Any] | None = None
        self.setWindowTitle("deskpilot")
        self._build()
        self._load_settings_into_widgets()

    # -- layout --------------------------------------------------------------------------------------
    def _build(self) -> None:
        self.task_edit = QLineEdit()
        self.task_edit.setPlaceholderText('Describe a task, e.g. "click Submit" or "type hello into Name"')
        self.task_edit.returnPressed.connect(self.start_run)
        self.run_button = QPushButton("Run")
        self.pause_button = QPushButton("Pause")
        self.stop_button = QPushButton("Stop")
        self.run_button.clicked.connect(self.start_run)
        self.pause_button.clicked.connect(self._on_pause_clicked)
        self.stop_button.clicked.connect(self.stop_run)
        top = QHBoxLayout()
        for widget in (self.task_edit, self.run_button, self.pause_button, self.stop_button):
            top.addWidget(widget)
        top.setStretch(0, 1)

        self.backend_combo = QComboBox()
        for key, label in BACKEND_LABELS.items():
            self.backend_combo.addItem(label, key)
        self.model_combo = QComboBox()
        self.model_combo.setEditable(True)
        self.model_combo.setMinimumWidth(160)
        self.model_combo.lineEdit().setPlaceholderText("model folder, hub id, endpoint URL or script file")
        self.family_combo = QComboBox()
        self.family_combo.addItems(list(FAMILIES))
        self.mode_combo = QComboBox()
        for key, label in MODE_LABELS.items():
            self.mode_combo.addItem(label, key)
        self.settings_button = QPushButton("Settings…")
        self.settings_button.clicked.connect(self._on_settings_clicked)
        self.practice_button = QPushButton("Practice board")
        self.practice_button.clicked.connect(self.show_practice_board)
        self.calibrate_button = QPushButton("Calibrate")
        self.calibrate_button.setToolTip("Ask the current model to click the practice board's targets and measure")
        self.calibrate_button.clicked.connect(self.calibrate)
        self.sessions_button = QPushButton("Sessions…")
        self.sessions_button.setToolTip("Browse, replay and export recorded runs")
        self.sessions_button.clicked.connect(self.open_sessions)
        self.backend_combo.currentIndexChanged.connect(self._on_backend_changed)
        pickers = QGridLayout()
        pickers.addWidget(QLabel("Backend"), 0, 0)
        pickers.addWidget(self.backend_combo, 0, 1)
        pickers.addWidget(QLabel("Model"), 0, 2)
        pickers.addWidget(self.model_combo, 0, 3, 1, 3)
        pickers.addWidget(QLabel("Mode"), 1, 0)
        pickers.addWidget(self.mode_combo, 1, 1)
        pickers.addWidget(QLabel("Family"), 1, 2)
        pickers.addWidget(self.family_combo, 1, 3)
        buttons = QHBoxLayout()
        for button in (self.practice_button, self.calibrate_button, self.sessions_button, self.settings_button):
            buttons.addWidget(button)
        pickers.addLayout(buttons, 1, 5)
        pickers.setColumnStretch(4, 1)

        self.preview = PreviewView()
        self.preview.target_moved.connect(self._on_target_moved)
        self.thought_label = QLabel("")
        self.thought_label.setWordWrap(True)
        self.action_label = QLabel("No run yet. Type a task and press Run.")
        self.verdict_label = QLabel("")
        self.note_edit = QLineEdit()
        self.note_edit.setPlaceholderText("Optional note for the model when you reject")
        self.approve_button = QPushButton("Approve")
        self.reject_button = QPushButton("Reject")
        self.approve_button.clicked.connect(self.approve)
        self.reject_button.clicked.connect(self.reject)
        decide = QHBoxLayout()
        decide.addWidget(self.note_edit, 1)
        decide.addWidget(self.reject_button)
        decide.addWidget(self.approve_button)
        left = QWidget()
        column = QVBoxLayout(left)
        column.addWidget(self.preview, 1)
        for widget in (self.action_label, self.verdict_label, self.thought_label):
            column.addWidget(widget)
        column.addLayout(decide)
        self.timeline = Timeline()
        self.timeline.step_selected.connect(self._on_step_selected)
        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(self.timeline)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addLayout(top)
        layout.addLayout(pickers)
        layout.addWidget(splitter, 1)
        self.setCentralWidget(central)

        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(5000)
        dock = QDockWidget("Log", self)
        dock.setWidget(self.log)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
        self.resizeDocks([dock], [140], Qt.Orientation.Vertical)

        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.hide()
        self.latency_label = QLabel("")
        self.gpu_label = QLabel("")
        self.stop_key_label = QLabel("")
        bar = self.statusBar()
        bar.addWidget(self.progress)
        bar.addWidget(self.latency_label)
        bar.addPermanentWidget(self.gpu_label)
        bar.addPermanentWidget(self.stop_key_label)
        self._set_running(False)

    def _load_settings_into_widgets(self) -> None:
        s = self.settings
        self.backend_combo.setCurrentIndex(max(0, self.backend_combo.findData(s.backend)))
        self.family_combo.setCurrentText(s.family)
        self.mode_combo.setCurrentIndex(max(0, self.mode_combo.findData(s.mode)))
        self._on_backend_changed()
        self.stop_key_label.setText(f"Stop key: {s.stop_key}")

    def _on_backend_changed(self) -> None:
        backend = self.backend_combo.currentData()
        self.model_combo.clear()
        if backend == "transformers":
            models = find_local_models()
            for model in models:
                self.model_combo.addItem(f"{model.name} ({model.family})", model.name)
            self.model_combo.setEditText(self.settings.model or (models[0].name if models else ""))
        elif backend == "openai":
            self.model_combo.setEditText(self.settings.endpoint or "http://localhost:8000/v1")
        elif backend == "scripted":
            self.model_combo.setEditText(self.settings.script)
        self._enable_model_pickers()

    def _enable_model_pickers(self) -> None:
        """The OCR default needs no model and speaks one family: its pickers are off."""
        ocr = self.backend_combo.currentData() == "ocr"
        self.model_combo.setEnabled(not ocr)
        self.family_combo.setEnabled(not ocr)

    # -- settings ------------------------------------------------------------------------------------
    def current_settings(self) -> Settings:
        backend = str(self.backend_combo.currentData())
        text = self.model_combo.currentText().strip()
        data = self.model_combo.currentData()
        if backend == "transformers" and data and self.model_combo.itemText(self.model_combo.currentIndex()) == text:
            text = str(data)
        changes: dict[str, Any] = {
            "backend": backend,
            "family": self.family_combo.currentText(),
            "mode": str(self.mode_combo.currentData()),
        }
        changes[{"transformers": "model", "openai": "endpoint", "scripted": "script"}.get(backend, "model")] = (
            text if backend != "ocr" else self.settings.model
        )
        return self.settings.updated(**changes)

    def save(self) -> None:
        self.settings = self.current_settings()
        save_settings(self.settings, self._settings_file)

    def _on_settings_clicked(self) -> None:
        from app.gui.settings_dialog import SettingsDialog

        dialog = SettingsDialog(self.current_settings(), self, policy_file=self._policy)
        if dialog.exec():  # safe: Qt's modal loop, not Python's exec
            self.settings = dialog.settings()
            save_settings(self.settings, self._settings_file)
            self._load_settings_into_widgets()

    # -- practice board and calibration --------------------------------------------------------------
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
        if self.worker is not None or self._calibration is not None:
            return
        board = self.show_practice_board()
        self.save()
        request = self.request("calibrate")
        from app.gui.calibration_worker import CalibrationWorker

        thread = QThread(self)
        worker = CalibrationWorker(request.backend, request.family, {}, stop_key=request.stop_key)
        worker.moveToThread(thread)
        worker.progress.connect(self._log)
        worker.done.connect(self._on_calibrated)
        thread.started.connect(worker.run)
        self._calibration = (thread, worker)
        self.calibrate_button.setEnabled(False)
        self.action_label.setText("Calibrating: the model is asked to click each purple target (nothing is clicked)…")
        QTimer.singleShot(300, lambda: (setattr(worker, "targets", board.targets()), thread.start()))

    def _on_calibrated(self, result: object) -> None:
        if self._calibration is not None:
            thread, _ = self._calibration
            thread.quit()
            thread.wait(STOP_WAIT_MS)
        self._calibration = None
        self.calibrate_button.setEnabled(True)
        if isinstance(result, str):
            text = f"Calibration failed: {result}"
        else:
            report: Any = result
            offsets = (
                ""
                if report.mean_offset_px is None
                else f", mean offset {report.mean_offset_px:.1f} px, worst {report.worst_offset_px:.1f} px"
            )
            text = f"Calibration: {report.hits}/{report.total} targets hit{offsets}." + (
                f" {report.diagnosis}" if report.diagnosis else ""
            )
        self.action_label.setText(text)
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
        QTimer.singleShot(0, self._update_own_rects)
        return browser

    # -- own windows ---------------------------------------------------------------------------------
    def own_windows(self) -> list[Rect]:
        """deskpilot's own windows in screen pixels; read from the worker thread."""
        with self._own_lock:
            return list(self._own_rects)

    def _update_own_rects(self) -> None:
        ratio = self.devicePixelRatioF()
        rects = []
        for window in QGuiApplication.topLevelWindows():
            if window.isVisible() and not window.property("deskpilot_target"):
                g = window.frameGeometry()
                rects.append(
                    Rect(
                        round(g.x() * ratio),
                        round(g.y() * ratio),
                        round(g.width() * ratio),
                        round(g.height() * ratio),
                        name="deskpilot",
                    )
                )
        with self._own_lock:
            self._own_rects = rects

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        QTimer.singleShot(0, self._update_own_rects)

    def moveEvent(self, event: QMoveEvent) -> None:  # noqa: N802
        super().moveEvent(event)
        self._update_own_rects()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._update_own_rects()

    # -- running -------------------------------------------------------------------------------------
    def request(self, task: str) -> RunRequest:
        s = self.current_settings()
        target = {"transformers": s.model, "openai": s.endpoint, "scripted": s.script}.get(s.backend, "")
        backend = BackendSettings(
            s.backend,
            model=s.model if s.backend == "transformers" else None,
            endpoint=target if s.backend == "openai" else None,
            script=Path(target) if s.backend == "scripted" and target else None,
            min_pixels=s.min_pixels or None,
            max_pixels=s.max_pixels or None,
        )
        record = None
        if s.record:
            from app.gui.recording import new_session_dir

            record = new_session_dir(s, task)
        return RunRequest(
            task=task,
            backend=backend,
            family=s.family,
            mode=s.mode,
            countdown_s=s.countdown_s,
            max_steps=s.max_steps,
            stop_key=s.stop_key,
            policy=self._policy,
            driver=s.driver,
            record_dir=record,
            min_pixels=s.min_pixels or None,
            max_pixels=s.max_pixels or None,
        )

    @Slot()
    def start_run(self) -> None:
        task = self.task_edit.text().strip()
        if self.worker is not None:
            return
        if not task:
            self.action_label.setText("Type a task first.")
            return
        try:
            self.save()
            request = self.request(task)
        except Exception as exc:  # a bad setting: say it, do not start
            self.action_label.setText(f"Cannot start: {exc}")
            return
        self._update_own_rects()
        self.timeline.reset_steps()
        self.preview.clear()
        self.last_finished = None
        self._thread = QThread(self)
        self.worker = RunWorker(request, own_windows=self.own_windows)
        self.worker.moveToThread(self._thread)
        self._thread.started.connect(self.worker.run)
        self.worker.event.connect(self._on_event)
        self.worker.approval_needed.connect(self._on_approval_needed)
        self.worker.countdown.connect(self._on_countdown)
        self.worker.backend_ready.connect(lambda where: self.gpu_label.setText(f"Model on: {where}"))
        self.worker.done.connect(self._on_done)
        self._set_running(True)
        self._thread.start()

    def stop_run(self) -> None:
        if self.worker is not None:
            self.worker.stop("stopped from the window")
            self.action_label.setText("Stopping…")

    def _on_pause_clicked(self) -> None:
        if self.worker is None:
            return
        if self.worker.stop_flag.paused:
            self.worker.resume()
            self.pause_button.setText("Pause")
        else:
            self.worker.pause()
            self.pause_button.setText("Resume")

    def approve(self) -> None:
        if self.worker is not None and self._pending is not None:
            self.worker.decide(Approve(self._edited))
            self._pending, self._edited = None, None
            self._set_deciding(False)

    def reject(self) -> None:
        if self.worker is not None and self._pending is not None:
            self.worker.decide(Reject(self.note_edit.text().strip() or None))
            self.note_edit.clear()
            self._pending, self._edited = None, None
            self._set_deciding(False)

    def _set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        self.pause_button.setEnabled(running)
        self.pause_button.setText("Pause")
        for widget in (
            self.backend_combo,
            self.model_combo,
            self.family_combo,
            self.mode_combo,
            self.settings_button,
            self.calibrate_button,
        ):
            widget.setEnabled(not running)
        if not running:
            self._enable_model_pickers()
        self._set_deciding(False)

    def _set_deciding(self, deciding: bool) -> None:
        self.approve_button.setEnabled(deciding)
        self.reject_button.setEnabled(deciding)
        self.note_edit.setEnabled(deciding)

    # -- events from the worker ----------------------------------------------------------------------
    @Slot(object)
    def _on_event(self, event: object) -> None:
        line = describe_event(event)
        if line:
            self._log(line)
        if isinstance(event, ModelLoading):
            self.progress.show()
            self.progress.setFormat(f"{event.stage} %p%")
            self.progress.setRange(0, event.total or 0)
            self.progress.setValue(event.done)
            if event.stage == "load" and event.total and event.done >= event.total:
                self.progress.hide()
        elif isinstance(event, StepStarted):
            self.progress.hide()
            self.timeline.record(event.step)
        elif isinstance(event, ScreenCaptured):
            record = self.timeline.record(event.step)
            record.image, record.frame, record.capture_ms = event.model_image, event.frame, event.capture_s * 1000
            self.preview.show_picture(event.model_image, event.frame)
            self.timeline.refresh(event.step)
        elif isinstance(event, ModelReplied):
            self.timeline.record(event.step).model_s = event.elapsed_s
            self.latency_label.setText(f"Step {event.step}: model {event.elapsed_s:.2f} s")
        elif isinstance(event, ReplyParsed):
            self.timeline.record(event.step).thought = event.thought
            self.thought_label.setText(f"Thought: {event.thought}" if event.thought else "")
        elif isinstance(event, ParseFailed):
            self.timeline.record(event.step).outcome = "unusable reply"
        elif isinstance(event, ActionProposed):
            record = self.timeline.record(event.step)
            record.proposals.append((event.parsed, event.verdict.verdict, event.verdict.rule))
            self.preview.show_action(event.parsed.action, box=event.parsed.box, verdict=event.verdict.verdict)
            self.action_label.setText(f"Proposed: {describe(event.parsed.action)}")
            self.verdict_label.setText(_verdict_text(event))
        elif isinstance(event, ActionExecuted):
            record = self.timeline.record(event.step)
            record.executed.append(event.action)
            record.execute_ms += event.execute_s * 1000
            record.outcome = "ran" + (" (point moved by you)" if event.edited else "")
        elif isinstance(event, ActionBlocked):
            self.timeline.record(event.step).outcome = f"refused: {event.verdict.rule}"
        elif isinstance(event, ActionRejected):
            self.timeline.record(event.step).outcome = "rejected" + (f": {event.note}" if event.note else "")
        elif isinstance(event, RunPaused):
            self.pause_button.setText("Resume")
            self.action_label.setText(event.reason)
        elif isinstance(event, RunResumed):
            self.pause_button.setText("Pause")
        step = getattr(event, "step", None)
        if isinstance(step, int) and step in self.timeline.records:
            self.timeline.refresh(step)

    @Slot(object)
    def _on_approval_needed(self, proposed: ActionProposed) -> None:
        self._pending, self._edited = proposed, None
        self.preview.show_action(
            proposed.parsed.action, box=proposed.parsed.box, verdict=proposed.verdict.verdict, editable=True
        )
        self.action_label.setText(f"Approve? {describe(proposed.parsed.action)} (click the picture to move the target)")
        self._set_deciding(True)
        self.approve_button.setFocus()

    @Slot(float, object)
    def _on_countdown(self, left: float, proposed: ActionProposed) -> None:
        self._pending = proposed
        self.action_label.setText(f"{describe(proposed.parsed.action)} in {left:.1f} s (Reject to cancel)")
        self.reject_button.setEnabled(True)
        self.note_edit.setEnabled(True)

    def _on_target_moved(self, x: int, y: int) -> None:
        if self._pending is not None:
            self._edited = self.preview.action
            self.action_label.setText(f"Approve? {describe(self._edited) if self._edited else ''} (moved by you)")

    @Slot(object)
    def _on_done(self, finished: RunFinished | None) -> None:
        if self._thread is not None:
            self._thread.quit()
            self._thread.wait(STOP_WAIT_MS)
        self._thread, self.worker, self._pending = None, None, None
        self._set_running(False)
        self.last_finished = finished
        if finished is not None:
            self.action_label.setText(
                f"Finished: {finished.outcome}: {finished.reason}"
                + (f" (answer: {finished.answer})" if finished.answer else "")
            )
            self._log(self.action_label.text())
        self.run_finished.emit(finished)

    def _on_step_selected(self, step: int) -> None:
        record = self.timeline.records.get(step)
        if record is None or record.image is None or record.frame is None or self._pending is not None:
            return
        self.preview.show_picture(record.image, record.frame)
        if record.proposals:
            parsed, verdict, _ = record.proposals[-1]
            self.preview.show_action(
                record.executed[-1] if record.executed else parsed.action, box=parsed.box, verdict=verdict
            )

    def _log(self, line: str) -> None:
        self.append_log(f"{time.strftime('%H:%M:%S')}  {line}")
        logger.info(line)

    def append_log(self, line: str) -> None:
        self.log.appendPlainText(line.rstrip())

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        """Closing stops the run, waits for the worker (which releases the model) and saves the settings."""
        if self.worker is not None:
            self.worker.stop("the window was closed")
        if self._thread is not None:
            self._thread.quit()
            self._thread.wait(STOP_WAIT_MS)
        if self._calibration is not None:
            self._calibration[1].stop_flag.stop("the window was closed")
            self._calibration[0].quit()
            self._calibration[0].wait(STOP_WAIT_MS)
        if self.practice_board is not None:
            self.practice_board.close()
        try:
            self.save()
        except Exception as exc:  # never block closing
            logger.warning(f"settings not saved: {exc}")
        super().closeEvent(event)


def _verdict_text(event: ActionProposed) -> str:
    verdict = event.verdict
    if verdict.verdict == "allow":
        return "Policy: allowed"
    return f"Policy: {verdict.verdict} ({verdict.rule}): {verdict.reason}"


def describe_event(event: object) -> str | None:
    """One log line per event worth a line."""
    return event_line(event)  # type: ignore[arg-type]

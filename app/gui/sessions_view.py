"""The session browser: recorded runs (task, date, outcome, steps), a scrubbable timeline with the same
preview as a live run, replay (through the current policy, on a worker thread), export, delete."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from loguru import logger
from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QSlider,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from agent.errors import AgentError
from agent.session import Session, delete_session, list_sessions, read_session
from agent.session.export import export_session
from agent.session.replay import ReplayFinished, ReplayOptions, replay_session
from app.desktop import DesktopOptions, open_desktop
from app.gui.plain_text import plain_label
from app.gui.preview import PreviewView
from sandbox.actions import describe
from sandbox.errors import SandboxError
from sandbox.geometry import Rect
from sandbox.policy_file import load_policy
from sandbox.stop import DEFAULT_STOP_KEY, StopFlag

EXPORTS = {
    "HTML report": ("html", "*.html"),
    "Python script": ("python", "*.py"),
    "Training data (JSONL)": ("jsonl", "*.jsonl"),
}


class ReplayWorker(QObject):
    progress = Signal(str)
    returned = Signal(object)  # ReplayFinished
    errored = Signal(str)  # why the replay could not go on

    def __init__(
        self,
        session: Session,
        *,
        dry_run: bool,
        driver: str,
        stop_key: str,
        policy: Path | None,
        own_windows: Callable[[], Sequence[Rect]],
    ) -> None:
        super().__init__()
        self.session, self.dry_run, self.driver, self.stop_key, self.policy = session, dry_run, driver, stop_key, policy
        self.own_windows = own_windows
        self.stop_flag = StopFlag()

    @Slot()
    def run(self) -> None:
        finished: ReplayFinished | None = None
        try:
            options = DesktopOptions(
                policy_file=self.policy, stop_key=self.stop_key, driver=self.driver, dry_run=self.dry_run
            )
            with open_desktop(
                options, own_windows=self.own_windows, stop=self.stop_flag, announce=logger.info
            ) as desktop:
                for event in replay_session(
                    self.session,
                    executor=desktop.executor,
                    capture=desktop.capture,
                    options=ReplayOptions(dry_run=self.dry_run),
                    own_windows=self.own_windows,
                ):
                    self.progress.emit(type(event).__name__)
                    if isinstance(event, ReplayFinished):
                        finished = event
        except (AgentError, SandboxError) as exc:
            self.errored.emit(str(exc))
        except Exception as exc:  # never into Qt
            self.errored.emit(f"{type(exc).__name__}: {exc}")
        else:
            if finished is None:
                self.errored.emit("the replay ended without a result")
            else:
                self.returned.emit(finished)


class SessionBrowser(QDialog):
    def __init__(
        self,
        root: Path,
        parent: QWidget | None = None,
        *,
        driver: str = "pyautogui",
        stop_key: str = DEFAULT_STOP_KEY,
        policy: Path | None = None,
        own_windows: Callable[[], Sequence[Rect]] = tuple,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("deskpilot sessions")
        self.resize(1100, 720)
        self.root, self.driver, self.stop_key, self.policy, self.own_windows = (
            root,
            driver,
            stop_key,
            policy,
            own_windows,
        )
        self.session: Session | None = None
        self._replay: tuple[QThread, ReplayWorker] | None = None
        self.list = QListWidget()
        self.list.currentRowChanged.connect(self._on_session_selected)
        self.preview = PreviewView()
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.valueChanged.connect(self.show_step)
        self.step_label = plain_label(wrap=True)
        self.status = plain_label(wrap=True)
        self.dry_run = QCheckBox("Dry run")
        self.replay_button = QPushButton("Replay")
        self.export_format = QComboBox()
        self.export_format.addItems(list(EXPORTS))
        self.export_button = QPushButton("Export…")
        self.delete_button = QPushButton("Delete")
        self.replay_button.clicked.connect(self.replay)
        self.export_button.clicked.connect(self._on_export_clicked)
        self.delete_button.clicked.connect(self._on_delete_clicked)
        actions = QHBoxLayout()
        for widget in (self.dry_run, self.replay_button, self.export_format, self.export_button, self.delete_button):
            actions.addWidget(widget)
        actions.addStretch(1)
        right = QWidget()
        column = QVBoxLayout(right)
        column.addWidget(self.preview, 1)
        column.addWidget(self.slider)
        column.addWidget(self.step_label)
        column.addLayout(actions)
        column.addWidget(self.status)
        splitter = QSplitter()
        splitter.addWidget(self.list)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 3)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)
        self.refresh()

    def refresh(self) -> None:
        self.list.clear()
        try:
            summaries = list_sessions(self.root) if self.root.exists() else []
        except AgentError as exc:
            self.status.setText(str(exc))
            summaries = []
        for summary in summaries:
            text = (
                f"{summary.task or '(unreadable)'}\n{summary.started or ''} · {summary.outcome} · {summary.steps} step(s)"
                if not summary.error
                else f"{summary.folder.name}\ncorrupt: {summary.error}"
            )
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, str(summary.folder))
            self.list.addItem(item)
        if not summaries:
            self.status.setText(f"No sessions in {self.root} yet: every run is recorded there.")
        for button in (self.replay_button, self.export_button, self.delete_button):
            button.setEnabled(bool(summaries))

    def _on_session_selected(self, row: int) -> None:
        if row < 0:
            return
        folder = Path(self.list.item(row).data(Qt.ItemDataRole.UserRole))
        try:
            self.session = read_session(folder, partial=True)
        except AgentError as exc:
            self.session = None
            self.preview.clear()
            self.status.setText(str(exc))
            return
        steps = len(self.session.steps)
        self.slider.setRange(1, max(1, steps))
        self.slider.setEnabled(steps > 0)
        self.status.setText(f"{folder} · outcome {self.session.outcome}")
        self.show_step(1)

    def show_step(self, number: int) -> None:
        if self.session is None or not self.session.steps:
            self.preview.clear()
            self.step_label.setText("This session has no complete step.")
            return
        record = self.session.steps[min(max(number, 1), len(self.session.steps)) - 1]
        self.preview.show_picture(self.session.image(record.model_image), record.frame)
        shown = next((a for a in reversed(record.actions) if a.executed or a.screen), None)
        if shown is not None:
            action = shown.executed.action if shown.executed else shown.screen
            verdict = shown.verdict.verdict if shown.verdict else "allow"
            self.preview.show_action(action, box=shown.box, verdict=verdict)
        lines = [f"Step {record.step} of {len(self.session.steps)}"]
        if record.thought:
            lines.append(f"Thought: {record.thought}")
        for item in record.actions:
            state = (
                "ran"
                if item.executed
                else "rejected"
                if item.rejected
                else f"refused ({item.blocked.rule})"
                if item.blocked
                else "proposed"
            )
            if item.screen is not None:
                lines.append(f"{describe(item.screen)}: {state}")
        if record.parse_error:
            lines.append(f"Unusable reply: {record.parse_error}")
        self.step_label.setText("\n".join(lines))

    def replay(self) -> None:
        if self.session is None or self._replay is not None:
            return
        thread = QThread(self)
        worker = ReplayWorker(
            self.session,
            dry_run=self.dry_run.isChecked(),
            driver=self.driver,
            stop_key=self.stop_key,
            policy=self.policy,
            own_windows=self.own_windows,
        )
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.returned.connect(self._on_replayed)
        worker.errored.connect(self._on_replay_failed)
        self._replay = (thread, worker)
        self.replay_button.setEnabled(False)
        self.status.setText(f"Replaying… (stop key: {self.stop_key})")
        thread.start()

    @Slot(object)
    def _on_replayed(self, finished: ReplayFinished) -> None:
        self._end_replay()
        self.status.setText(
            f"Replay {finished.outcome}: {finished.reason} ({finished.steps} step(s), {finished.actions} action(s))"
        )

    @Slot(str)
    def _on_replay_failed(self, message: str) -> None:
        self._end_replay()
        self.status.setText(f"Replay failed: {message}")

    def _end_replay(self) -> None:
        if self._replay is not None:
            self._replay[0].quit()
            self._replay[0].wait(5000)
        self._replay = None
        self.replay_button.setEnabled(True)

    def export(self, fmt: str, path: Path) -> Path:
        assert self.session is not None
        policy = load_policy(self.policy).with_forbidden_hotkey(self.stop_key)  # a script leaves the sandbox
        export_session(self.session, fmt, path, policy=policy)
        self.status.setText(f"Exported to {path}")
        return path

    def _on_export_clicked(self) -> None:
        if self.session is None:
            return
        fmt, pattern = EXPORTS[self.export_format.currentText()]
        default = str(Path.home() / f"{self.session.folder.name}.{pattern[2:]}")
        path, _ = QFileDialog.getSaveFileName(self, "Export session", default, pattern)
        if path:
            try:
                self.export(fmt, Path(path))
            except (AgentError, SandboxError, OSError) as exc:
                self.status.setText(f"Export failed: {exc}")

    def _on_delete_clicked(self) -> None:
        if self.session is None:
            return
        answer = QMessageBox.question(self, "Delete session", f"Delete the recording of {self.session.header.task!r}?")
        if answer == QMessageBox.StandardButton.Yes:
            self.delete_current()

    def delete_current(self) -> None:
        assert self.session is not None
        delete_session(self.session.folder)
        self.session = None
        self.refresh()

    def done(self, result: int) -> None:  # closing stops a replay in progress
        if self._replay is not None:
            self._replay[1].stop_flag.stop("the sessions window was closed")
            self._replay[0].quit()
            self._replay[0].wait(5000)
        super().done(result)

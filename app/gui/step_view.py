"""The current step: the picture the model saw with the proposed action drawn on it, the target magnified from
the full-resolution screenshot, what the action is, the policy's verdict, the model's thought, and Approve /
Reject (with a note for the model).

The magnifier follows the preview (its `changed` signal): a proposal, a target the person moved by clicking
the picture, a cleared view. It shows only while the preview shows this step's capture (the one whose
full-resolution screenshot is kept here); a picture from elsewhere (an earlier step in the timeline) clears it.

Every label here shows model text as plain text: a thought holding HTML must never render as a large green
"SAFE" over a shrunk command.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QBoxLayout, QHBoxLayout, QLineEdit, QPushButton, QVBoxLayout, QWidget

from agent.events import ActionProposed, ScreenCaptured, proposed_text
from app.gui.plain_text import plain_label
from app.gui.preview import PreviewView
from app.gui.run.magnifier import MagnifierView
from sandbox.actions import Action, describe

SIDE_BY_SIDE_PX = 900  # at least this wide: the magnifier right of the preview; narrower: under it


def verdict_text(proposed: ActionProposed) -> str:
    verdict = proposed.verdict
    if verdict.verdict == "allow":
        return "Policy: allowed"
    return f"Policy: {verdict.verdict} ({verdict.rule}): {verdict.reason}"


class StepView(QWidget):
    approve_clicked = Signal()
    reject_clicked = Signal(str)  # the note, "" for none

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.preview = PreviewView()
        self.preview.target_moved.connect(self._on_target_moved)
        self.magnifier = MagnifierView()
        self.capture: ScreenCaptured | None = None  # this step's capture: the magnifier reads its full screenshot
        self.preview.changed.connect(self._on_preview_changed)
        self.action_label = plain_label("No run yet. Type a task and press Run.", wrap=True)
        self.verdict_label = plain_label(wrap=True)
        self.thought_label = plain_label(wrap=True)
        self.note_edit = QLineEdit()
        self.note_edit.setPlaceholderText("Optional note for the model when you reject")
        self.approve_button = QPushButton("Approve")
        self.reject_button = QPushButton("Reject")
        self.approve_button.clicked.connect(self.approve_clicked)
        self.reject_button.clicked.connect(self._on_reject)
        self.edited: Action | None = None  # the proposal with its target moved by the person
        decide = QHBoxLayout()
        decide.addWidget(self.note_edit, 1)
        decide.addWidget(self.reject_button)
        decide.addWidget(self.approve_button)
        self.pictures = QBoxLayout(QBoxLayout.Direction.TopToBottom)  # side by side once wide (resizeEvent)
        self.pictures.addWidget(self.preview, 1)
        self.pictures.addWidget(self.magnifier, 0, Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignHCenter)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(self.pictures, 1)
        for widget in (self.action_label, self.verdict_label, self.thought_label):
            column.addWidget(widget)
        column.addLayout(decide)
        self.set_deciding(False)

    def say(self, text: str) -> None:
        self.action_label.setText(text)

    def reset(self) -> None:
        self.capture = None
        self.preview.clear()
        self.edited = None
        for label in (self.verdict_label, self.thought_label):
            label.setText("")

    def show_capture(self, event: ScreenCaptured) -> None:
        self.capture = event
        self.preview.show_picture(event.model_image, event.frame)

    def show_thought(self, thought: str | None) -> None:
        self.thought_label.setText(f"Thought: {thought}" if thought else "")

    def show_proposal(self, proposed: ActionProposed) -> None:
        self.preview.show_action(proposed.parsed.action, box=proposed.parsed.box, verdict=proposed.verdict.verdict)
        self.say(f"Proposed: {proposed_text(proposed)}")
        self.verdict_label.setText(verdict_text(proposed))

    def ask(self, proposed: ActionProposed) -> None:
        """Approval needed: the target can be moved by clicking the picture."""
        self.edited = None
        self.preview.show_action(
            proposed.parsed.action, box=proposed.parsed.box, verdict=proposed.verdict.verdict, editable=True
        )
        self.say(f"Approve? {proposed_text(proposed)} (click the picture to move the target)")
        self.set_deciding(True)

    def show_countdown(self, left: float, proposed: ActionProposed) -> None:
        self.say(f"{proposed_text(proposed)} in {left:.1f} s (Reject to cancel)")
        self.reject_button.setEnabled(True)
        self.note_edit.setEnabled(True)

    def set_deciding(self, deciding: bool) -> None:
        self.approve_button.setEnabled(deciding)
        self.reject_button.setEnabled(deciding)
        self.note_edit.setEnabled(deciding)
        if not deciding:
            self.edited = None

    def _on_reject(self) -> None:
        note = self.note_edit.text().strip()
        self.note_edit.clear()
        self.reject_clicked.emit(note)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        wide = self.width() >= SIDE_BY_SIDE_PX
        self.pictures.setDirection(QBoxLayout.Direction.LeftToRight if wide else QBoxLayout.Direction.TopToBottom)

    def _on_preview_changed(self) -> None:
        """The magnifier shows what the preview shows, from the full screenshot of the same capture."""
        capture, preview = self.capture, self.preview
        if capture is None or preview.image is not capture.model_image or preview.action is None:
            self.magnifier.clear()
            return
        self.magnifier.show(
            capture.screenshot,
            capture.frame,
            preview.action,
            box=preview.box,
            verdict=preview.verdict,
            pointer=capture.cursor,
        )

    def _on_target_moved(self, x: int, y: int) -> None:
        if self.approve_button.isEnabled():
            self.edited = self.preview.action
            self.say(f"Approve? {describe(self.edited) if self.edited else ''} (moved by you)")

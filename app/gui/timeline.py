"""The run's timeline: one row per step (thumbnail, action, verdict, thought, timings), selectable."""

from __future__ import annotations

from dataclasses import dataclass, field

from PIL import Image
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QListView, QListWidget, QListWidgetItem

from agent.events import (
    ActionBlocked,
    ActionExecuted,
    ActionProposed,
    ActionRejected,
    EffectSeen,
    ModelReplied,
    ParseFailed,
    ReplyParsed,
    ScreenCaptured,
    element_caption,
)
from agent.parsing import ParsedAction
from app.gui.plain_text import plain_tooltip
from app.gui.preview import pixmap_from
from sandbox.actions import Action, describe
from sandbox.geometry import ModelFrame
from sandbox.text import shorten

THUMB = QSize(128, 72)
THOUGHT_CHARS = 120


@dataclass
class TimelineStep:
    """Everything the window keeps about one step, to show it again when selected."""

    step: int
    image: Image.Image | None = None
    frame: ModelFrame | None = None
    thought: str | None = None
    proposals: list[tuple[ParsedAction, str, str | None]] = field(default_factory=list)  # action, verdict, rule
    executed: list[Action] = field(default_factory=list)
    elements: list[str] = field(default_factory=list)  # what the proposed points hit (push button 'Save')
    outcome: str = ""  # "ran", "refused: rule", "rejected", "unusable reply"
    effect: str = ""
    new_image: bool = False  # a second capture of the step (it looked again): the thumbnail is redrawn  # what the actions visibly did: "no visible effect", "the screen changed near the point", ...
    capture_ms: float = 0.0
    model_s: float = 0.0
    execute_ms: float = 0.0

    def summary(self) -> str:
        actions = "; ".join(describe(a) for a in self.executed) or (
            "; ".join(describe(p.action) for p, _, _ in self.proposals) or "no action"
        )
        verdicts = ", ".join(v + (f" ({rule})" if rule else "") for _, v, rule in self.proposals) or "-"
        first = (self.thought or "").splitlines()[0] if self.thought else ""
        thought = shorten(first, THOUGHT_CHARS)  # all of it on hover
        timing = f"capture {self.capture_ms:.0f} ms · model {self.model_s:.2f} s · execute {self.execute_ms:.0f} ms"
        outcome = self.outcome or verdicts
        lines = [f"Step {self.step}: {actions}", f"{outcome} · {self.effect}" if self.effect else outcome, timing]
        if self.elements:
            lines.insert(1, "on " + ", ".join(self.elements))
        if thought:
            lines.insert(1, thought)
        return "\n".join(lines)


class Timeline(QListWidget):
    step_selected = Signal(int)

    def __init__(self) -> None:
        super().__init__()
        self.setIconSize(THUMB)
        self.setSpacing(2)
        self.setWordWrap(True)
        self.setMinimumWidth(280)
        self.setResizeMode(QListView.ResizeMode.Adjust)  # rows re-wrap when the column's width changes
        self.setTextElideMode(Qt.TextElideMode.ElideNone)  # wrapped whole, never cut off
        self.records: dict[int, TimelineStep] = {}
        self.currentRowChanged.connect(self._on_row_changed)

    def reset_steps(self) -> None:
        self.clear()
        self.records.clear()

    def record(self, step: int) -> TimelineStep:
        if step not in self.records:
            self.records[step] = TimelineStep(step)
            item = QListWidgetItem()
            item.setData(Qt.ItemDataRole.UserRole, step)
            self.addItem(item)
        return self.records[step]

    def refresh(self, step: int) -> None:
        record = self.records[step]
        for row in range(self.count()):
            item = self.item(row)
            if item.data(Qt.ItemDataRole.UserRole) == step:
                item.setText(record.summary())
                item.setToolTip(plain_tooltip(record.thought or ""))
                if record.image is not None and (item.icon().isNull() or record.new_image):
                    record.new_image = False
                    thumb = record.image.copy()
                    thumb.thumbnail((THUMB.width(), THUMB.height()))
                    item.setIcon(QIcon(pixmap_from(thumb)))
                return

    def on_event(self, event: object) -> None:
        """Keep the step's row up to date with the run's events."""
        step = getattr(event, "step", None)
        if not isinstance(step, int):
            return
        record = self.record(step)
        match event:
            case ScreenCaptured():
                record.new_image = record.image is not None
                record.image, record.frame, record.capture_ms = event.model_image, event.frame, event.capture_s * 1000
            case EffectSeen():
                record.effect = event.effect.describe()
            case ModelReplied():
                record.model_s = event.elapsed_s
            case ReplyParsed():
                record.thought = event.thought
            case ParseFailed():
                record.outcome = "unusable reply"
            case ActionProposed():
                record.proposals.append((event.parsed, event.verdict.verdict, event.verdict.rule))
                caption = element_caption(event)
                if caption is not None:
                    record.elements.append(caption)
            case ActionExecuted():
                record.executed.append(event.action)
                record.execute_ms += event.execute_s * 1000
                record.outcome = "ran" + (" (point moved by you)" if event.edited else "")
            case ActionBlocked():
                record.outcome = f"refused: {event.verdict.rule}"
            case ActionRejected():
                record.outcome = "rejected" + (f": {event.note}" if event.note else "")
        self.refresh(step)

    def _on_row_changed(self, row: int) -> None:
        if row >= 0:
            self.step_selected.emit(int(self.item(row).data(Qt.ItemDataRole.UserRole)))

"""Settings: model and family, pixel budget, endpoint, the stop key, the recording folder, and the policy
(hotkeys, text rules, limits, forbidden regions picked by dragging on a screenshot). Saved as TOML in the
platformdirs config folder; the policy is validated by the sandbox's own loader before it is written."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import tomli_w
from PIL import Image
from PySide6.QtCore import QPoint, QRect, QSize
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QRubberBand,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from agent.backends.registry import BACKENDS, SERVERS, capabilities_of
from agent.families import FAMILIES
from agent.waits import MAX_CHANGE_WAIT_S
from app.gui.plain_text import plain_label
from app.gui.preview import pixmap_from
from app.settings import MAX_MCP_PREVIEW_MS, MODES, Settings

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib
from sandbox.errors import KeyNameError, PolicyError
from sandbox.files import write_atomically
from sandbox.geometry import Rect
from sandbox.keys import normalize_combo, split_combo
from sandbox.policy import Policy, combo_text
from sandbox.policy_file import load_policy, parse_policy, policy_to_toml, user_policy_path


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, parent: QWidget | None = None, *, policy_file: Path | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("deskpilot settings")
        self._settings = settings
        self.policy_file = policy_file or user_policy_path()
        self.error_label = plain_label(wrap=True)
        self.error_label.setStyleSheet("color: #c0392b")
        tabs = QTabWidget()
        tabs.addTab(self._model_tab(settings), "Model")
        tabs.addTab(self._safety_tab(settings), "Safety")
        tabs.addTab(self._recording_tab(settings), "Recording")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(tabs)
        layout.addWidget(self.error_label)
        layout.addWidget(buttons)

    # -- tabs ----------------------------------------------------------------------------------------
    def _model_tab(self, s: Settings) -> QWidget:
        page, form = QWidget(), QFormLayout()
        page.setLayout(form)
        self.backend = QComboBox()
        self.backend.addItems(list(BACKENDS))
        self.backend.setCurrentText(s.backend)
        self.model = QLineEdit(s.model)
        self.model.setPlaceholderText("a model folder or a Hugging Face id, e.g. Qwen/Qwen2.5-VL-7B-Instruct")
        self.family = QComboBox()
        self.family.addItems(list(FAMILIES))
        self.family.setCurrentText(s.family)
        self.min_pixels = _spin(0, 100_000_000, s.min_pixels, "the family's own")
        self.max_pixels = _spin(0, 100_000_000, s.max_pixels, "the family's own")
        self.endpoint = QLineEdit(s.endpoint)
        self.endpoint.setPlaceholderText("http://localhost:8000/v1")
        self.server = QComboBox()
        self.server.addItems(list(SERVERS))
        self.server.setCurrentText(s.server)
        self.server.setToolTip(
            "Which OpenAI-compatible server it is: its known image limit keeps screenshots whole "
            "(generic: deskpilot measures it first). See docs/serving.md."
        )
        self.refine = QCheckBox("Second look at a zoomed crop before each click (twice the model time)")
        self.refine.setChecked(s.refine == "zoom")
        self.backend.currentTextChanged.connect(
            lambda name: self.server.setEnabled(capabilities_of(name).server_options)
        )
        self.server.setEnabled(capabilities_of(s.backend).server_options)
        self.script = QLineEdit(s.script)
        self.mode = QComboBox()
        self.mode.addItems(list(MODES))
        self.mode.setCurrentText(s.mode)
        self.countdown = QDoubleSpinBox()
        self.countdown.setRange(0, 30)
        self.countdown.setValue(s.countdown_s)
        self.max_steps = _spin(1, 500, s.max_steps)
        self.change_wait = QDoubleSpinBox()
        self.change_wait.setRange(0, MAX_CHANGE_WAIT_S)
        self.change_wait.setSingleStep(0.5)
        self.change_wait.setValue(s.change_wait_s)
        self.change_wait.setToolTip(
            "After an action, how long the next look waits for the screen to change (a menu or dialog opening) "
            "before it goes on with the screen as it is"
        )
        self.mcp_preview = _spin(0, MAX_MCP_PREVIEW_MS, s.mcp_preview_ms)
        self.mcp_preview.setSuffix(" ms")
        self.mcp_preview.setToolTip(
            "deskpilot mcp: how long the overlay draws another agent's action on the screen before it happens"
        )
        for label, widget in (
            ("Backend", self.backend),
            ("Model", self.model),
            ("Family", self.family),
            ("Min pixels", self.min_pixels),
            ("Max pixels", self.max_pixels),
            ("Server endpoint", self.endpoint),
            ("Server", self.server),
            ("Script file", self.script),
            ("Mode", self.mode),
            ("Auto countdown (s)", self.countdown),
            ("Max steps", self.max_steps),
            ("Wait for a change (s)", self.change_wait),
            ("Refine", self.refine),
            ("MCP preview", self.mcp_preview),
        ):
            form.addRow(label, widget)
        return page

    def _safety_tab(self, s: Settings) -> QWidget:
        try:
            policy = load_policy(self.policy_file if self.policy_file.exists() else None)
        except PolicyError as exc:
            self.error_label.setText(f"Your policy file has an error, showing the defaults: {exc}")
            policy = Policy()
        self._policy = policy
        page, form = QWidget(), QFormLayout()
        page.setLayout(form)
        self.stop_key = QLineEdit(s.stop_key)
        self.max_text = _spin(0, 1_000_000, policy.max_text_length)
        self.rate = _spin(0, 100_000, policy.max_actions_per_minute)
        self.forbidden_keys = _lines([combo_text(k) for k in policy.forbidden_hotkeys])
        self.confirm_keys = _lines([combo_text(k) for k in policy.confirm_hotkeys])
        self.text_deny = _lines([p.pattern for p in policy.text_deny])
        self.text_confirm = _lines([p.pattern for p in policy.text_confirm])
        self.regions = QListWidget()
        self._regions = list(policy.forbidden_regions)
        self._show_regions()
        pick, remove = QPushButton("Add by dragging on a screenshot…"), QPushButton("Remove selected")
        pick.clicked.connect(self._pick_region)
        remove.clicked.connect(self._remove_region)
        region_buttons = QHBoxLayout()
        region_buttons.addWidget(pick)
        region_buttons.addWidget(remove)
        form.addRow("Stop key", self.stop_key)
        form.addRow(plain_label(f"Policy file: {self.policy_file}"))
        for label, widget in (
            ("Max text length", self.max_text),
            ("Actions per minute", self.rate),
            ("Forbidden hotkeys", self.forbidden_keys),
            ("Hotkeys needing approval", self.confirm_keys),
            ("Text never typed (regex)", self.text_deny),
            ("Text needing approval (regex)", self.text_confirm),
            ("Forbidden regions", self.regions),
        ):
            form.addRow(label, widget)
        form.addRow("", _wrap(region_buttons))
        return page

    def _recording_tab(self, s: Settings) -> QWidget:
        page, form = QWidget(), QFormLayout()
        page.setLayout(form)
        self.record = QCheckBox("Record every run")
        self.record.setChecked(s.record)
        self.recording_dir = QLineEdit(s.recording_dir)
        self.recording_dir.setPlaceholderText("the default sessions folder")
        form.addRow(self.record)
        form.addRow("Recording folder", self.recording_dir)
        return page

    # -- regions -------------------------------------------------------------------------------------
    def _show_regions(self) -> None:
        self.regions.clear()
        for r in self._regions:
            self.regions.addItem(f"{r.name or 'region'}: {r.width}x{r.height} at ({r.x}, {r.y})")

    def _remove_region(self) -> None:
        row = self.regions.currentRow()
        if row >= 0:
            del self._regions[row]
            self._show_regions()

    def _pick_region(self) -> None:
        from sandbox.capture import ScreenCapture

        try:
            with ScreenCapture() as capture:
                shot = capture.grab(0)
        except Exception as exc:
            self.error_label.setText(f"Cannot take a screenshot to pick from: {exc}")
            return
        picker = RegionPicker(
            shot.image, origin=(shot.monitor.x, shot.monitor.y), scale=shot.monitor.scale, parent=self
        )
        if picker.exec() and picker.region is not None:  # safe: Qt's modal loop
            self._regions.append(dataclasses.replace(picker.region, name=f"region {len(self._regions) + 1}"))
            self._show_regions()

    # -- results -------------------------------------------------------------------------------------
    def settings(self) -> Settings:
        return self._settings.updated(
            backend=self.backend.currentText(),
            model=self.model.text().strip(),
            family=self.family.currentText(),
            min_pixels=self.min_pixels.value(),
            max_pixels=self.max_pixels.value(),
            endpoint=self.endpoint.text().strip(),
            server=self.server.currentText(),
            refine="zoom" if self.refine.isChecked() else "off",
            script=self.script.text().strip(),
            mode=self.mode.currentText(),
            countdown_s=self.countdown.value(),
            max_steps=self.max_steps.value(),
            change_wait_s=self.change_wait.value(),
            mcp_preview_ms=self.mcp_preview.value(),
            stop_key=self.stop_key.text().strip(),
            record=self.record.isChecked(),
            recording_dir=self.recording_dir.text().strip(),
        )

    def edited_policy(self) -> Policy:
        """The policy as edited, validated by the sandbox's own loader (PolicyError names the key)."""
        draft = dataclasses.replace(
            self._policy,
            max_text_length=self.max_text.value(),
            max_actions_per_minute=self.rate.value(),
            forbidden_regions=tuple(self._regions),
        )
        data = tomllib.loads(policy_to_toml(draft))
        data["keys"]["forbidden"] = _entries(self.forbidden_keys)
        data["keys"]["confirm"] = _entries(self.confirm_keys)
        data["text"]["deny"] = _entries(self.text_deny)
        data["text"]["confirm"] = _entries(self.text_confirm)
        return parse_policy(tomli_w.dumps(data), source=str(self.policy_file))

    def accept(self) -> None:
        try:
            normalize_combo(split_combo(self.stop_key.text()))
        except KeyNameError as exc:
            self.error_label.setText(f"Stop key: {exc}")
            return
        try:
            policy = self.edited_policy()
            settings = self.settings()
        except (PolicyError, ValueError) as exc:
            self.error_label.setText(str(exc))
            return
        if policy != self._policy:
            self.policy_file.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(self.policy_file, policy_to_toml(policy).encode("utf-8"))
        self._settings = settings
        super().accept()


class RegionPicker(QDialog):
    """Drag a rectangle on a screenshot; `region` is it in screen coordinates."""

    def __init__(
        self, image: Image.Image, *, origin: tuple[int, int], scale: float, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Drag over the area deskpilot must never touch")
        self._origin, self._scale = origin, scale
        shown = image.copy()
        shown.thumbnail((1200, 800))
        self._ratio = image.width / shown.width  # screenshot pixels per shown pixel
        self.picture = QLabel()
        self.picture.setPixmap(pixmap_from(shown))
        self.picture.setFixedSize(QSize(shown.width, shown.height))
        self._band = QRubberBand(QRubberBand.Shape.Rectangle, self.picture)
        self._start = QPoint()
        self.region: Rect | None = None
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.picture)
        layout.addWidget(buttons)

    def to_screen(self, rect: QRect) -> Rect:
        k = self._ratio / self._scale
        return Rect(
            round(self._origin[0] + rect.x() * k),
            round(self._origin[1] + rect.y() * k),
            max(1, round(rect.width() * k)),
            max(1, round(rect.height() * k)),
        )

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt's name
        self._start = self.picture.mapFrom(self, event.position().toPoint())
        self._band.setGeometry(QRect(self._start, QSize()))
        self._band.show()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self._band.setGeometry(QRect(self._start, self.picture.mapFrom(self, event.position().toPoint())).normalized())

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        rect = QRect(self._start, self.picture.mapFrom(self, event.position().toPoint())).normalized()
        rect = rect.intersected(self.picture.rect())
        if rect.width() > 2 and rect.height() > 2:
            self.region = self.to_screen(rect)


def _spin(lo: int, hi: int, value: int, special: str | None = None) -> QSpinBox:
    box = QSpinBox()
    box.setRange(lo, hi)
    box.setValue(value)
    if special:
        box.setSpecialValueText(special)
    return box


def _lines(values: list[str]) -> QPlainTextEdit:
    edit = QPlainTextEdit("\n".join(values))
    edit.setMaximumHeight(90)
    return edit


def _entries(edit: QPlainTextEdit) -> list[str]:
    return [line.strip() for line in edit.toPlainText().splitlines() if line.strip()]


def _wrap(layout: QHBoxLayout) -> QWidget:
    widget = QWidget()
    widget.setLayout(layout)
    return widget

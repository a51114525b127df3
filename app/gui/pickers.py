"""The window's model pickers: backend, model (or endpoint, or script file), family and mode."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QComboBox, QGridLayout, QLabel, QWidget

from agent.backends.base import Capabilities
from agent.backends.registry import BACKENDS, capabilities_of
from agent.backends.transformers.discovery import find_local_models
from agent.families import FAMILIES
from app.settings import Settings

MODE_LABELS = {"approve": "Approve each step", "auto": "Auto (countdown)", "dry-run": "Dry run"}


class ModelPickers(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.backend_combo = QComboBox()
        for name in BACKENDS:
            self.backend_combo.addItem(capabilities_of(name).label, name)
        self.model_combo = QComboBox()
        self.model_combo.setEditable(True)
        self.model_combo.setMinimumWidth(160)
        editor = self.model_combo.lineEdit()  # there is one: the box is editable
        if editor is not None:
            editor.setPlaceholderText("model folder, hub id, endpoint URL or script file")
        self.family_combo = QComboBox()
        self.family_combo.addItems(list(FAMILIES))
        self.mode_combo = QComboBox()
        for key, label in MODE_LABELS.items():
            self.mode_combo.addItem(label, key)
        self._settings = Settings()
        self.backend_combo.currentIndexChanged.connect(self._on_backend_changed)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(QLabel("Backend"), 0, 0)
        grid.addWidget(self.backend_combo, 0, 1)
        grid.addWidget(QLabel("Model"), 0, 2)
        grid.addWidget(self.model_combo, 0, 3)
        grid.addWidget(QLabel("Mode"), 1, 0)
        grid.addWidget(self.mode_combo, 1, 1)
        grid.addWidget(QLabel("Family"), 1, 2)
        grid.addWidget(self.family_combo, 1, 3)
        grid.setColumnStretch(3, 1)

    def show_settings(self, settings: Settings) -> None:
        self._settings = settings
        self.backend_combo.setCurrentIndex(max(0, self.backend_combo.findData(settings.backend)))
        self.family_combo.setCurrentText(settings.family)
        self.mode_combo.setCurrentIndex(max(0, self.mode_combo.findData(settings.mode)))
        self._on_backend_changed()

    def settings(self) -> Settings:
        """`show_settings`'s settings with what the pickers now say."""
        backend = str(self.backend_combo.currentData())
        target = capabilities_of(backend).target  # the setting the model box edits (Settings names it alike)
        text = self.model_combo.currentText().strip()
        data = self.model_combo.currentData()  # a model found on this machine: its name
        if target == "model" and data and self.model_combo.itemText(self.model_combo.currentIndex()) == text:
            text = str(data)
        changes: dict[str, Any] = {
            "backend": backend,
            "family": self.family_combo.currentText(),
            "mode": str(self.mode_combo.currentData()),
        }
        if target is not None:
            changes[target] = text
        return self._settings.updated(**changes)

    def set_enabled(self, enabled: bool) -> None:
        for widget in (self.backend_combo, self.model_combo, self.family_combo, self.mode_combo):
            widget.setEnabled(enabled)
        if enabled:
            self._enable_model_pickers()

    def _on_backend_changed(self) -> None:
        target = self._capabilities().target
        self.model_combo.clear()
        if target == "model":
            models = find_local_models()
            for model in models:
                self.model_combo.addItem(f"{model.name} ({model.family})", model.name)
            self.model_combo.setEditText(self._settings.model or (models[0].name if models else ""))
        elif target == "endpoint":
            self.model_combo.setEditText(self._settings.endpoint or "http://localhost:8000/v1")
        elif target == "script":
            self.model_combo.setEditText(self._settings.script)
        self._enable_model_pickers()

    def _enable_model_pickers(self) -> None:
        """A backend asked nothing (OCR) has the model picker off; one that writes one family, the family picker."""
        capabilities = self._capabilities()
        self.model_combo.setEnabled(capabilities.target is not None)
        self.family_combo.setEnabled(capabilities.fixed_family is None)

    def _capabilities(self) -> Capabilities:
        return capabilities_of(str(self.backend_combo.currentData()))

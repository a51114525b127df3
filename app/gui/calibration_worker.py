"""Calibration from the window: the current backend clicks the practice board's targets (nothing executes)."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal, Slot

from agent.backends.registry import BackendSettings, backend_family, make_backend
from agent.calibration import run_calibration
from app.desktop import DesktopOptions, open_desktop
from sandbox.geometry import Rect
from sandbox.stop import DEFAULT_STOP_KEY, StopFlag


class CalibrationWorker(QObject):
    progress = Signal(str)
    done = Signal(object)  # CalibrationReport, or an error message (str)

    def __init__(
        self, backend: BackendSettings, family: str, targets: dict[str, Rect], *, stop_key: str = DEFAULT_STOP_KEY
    ) -> None:
        super().__init__()
        self.backend_settings, self.family_name, self.targets = backend, family, targets
        self.stop_key = stop_key
        self.stop_flag = StopFlag()

    @Slot()
    def run(self) -> None:
        backend = None
        try:
            family = backend_family(self.backend_settings.name, self.family_name, strict=False)
            backend = make_backend(self.backend_settings, family=family)
            with open_desktop(DesktopOptions(dry_run=True, stop_key=self.stop_key), stop=self.stop_flag) as desktop:
                assert desktop.capture is not None
                report = run_calibration(
                    backend,
                    family,
                    desktop.capture,
                    self.targets,
                    stop=self.stop_flag,
                    min_pixels=self.backend_settings.min_pixels,
                    max_pixels=self.backend_settings.max_pixels,
                    on_result=lambda r: self.progress.emit(f"{r.label}: {'hit' if r.hit else 'miss'}"),
                )
            self.done.emit(report)
        except Exception as exc:  # reported in the window, never raised into Qt
            self.done.emit(f"{type(exc).__name__}: {exc}")
        finally:
            if backend is not None:
                backend.close()

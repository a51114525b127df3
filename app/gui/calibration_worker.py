"""Calibration from the window: the current backend clicks the practice board's targets (nothing executes).

`Calibration` runs a CalibrationWorker on a QThread and says the result in one line."""

from __future__ import annotations

from PySide6.QtCore import QObject, QThread, Signal, Slot

from agent.backends.registry import BackendSettings, backend_family, make_backend
from agent.calibration import CalibrationReport, run_calibration
from app.desktop import DesktopOptions, open_desktop
from sandbox.geometry import Rect
from sandbox.stop import DEFAULT_STOP_KEY, StopFlag


class CalibrationWorker(QObject):
    progress = Signal(str)
    returned = Signal(object)  # CalibrationReport
    errored = Signal(str)  # why it could not calibrate

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
            self.returned.emit(report)
        except Exception as exc:  # reported in the window, never raised into Qt
            self.errored.emit(f"{type(exc).__name__}: {exc}")
        finally:
            if backend is not None:
                backend.close()


STOP_WAIT_MS = 5000


class Calibration(QObject):
    progress = Signal(str)  # a line per target
    finished = Signal(str)  # the result (or the failure) in one line

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._run: tuple[QThread, CalibrationWorker] | None = None

    @property
    def running(self) -> bool:
        return self._run is not None

    def start(self, backend: BackendSettings, family: str, targets: dict[str, Rect], *, stop_key: str) -> None:
        if self._run is not None:
            return
        thread = QThread(self)
        worker = CalibrationWorker(backend, family, targets, stop_key=stop_key)
        worker.moveToThread(thread)
        worker.progress.connect(self.progress)
        worker.returned.connect(self._on_returned)
        worker.errored.connect(self._on_errored)
        thread.started.connect(worker.run)
        self._run = (thread, worker)
        thread.start()

    def shutdown(self, reason: str) -> None:
        if self._run is not None:
            thread, worker = self._run
            worker.stop_flag.stop(reason)
            thread.quit()
            thread.wait(STOP_WAIT_MS)

    @Slot(object)
    def _on_returned(self, report: CalibrationReport) -> None:
        self._end()
        self.finished.emit(calibration_summary(report))

    @Slot(str)
    def _on_errored(self, message: str) -> None:
        self._end()
        self.finished.emit(f"Calibration failed: {message}")

    def _end(self) -> None:
        if self._run is not None:
            self._run[0].quit()
            self._run[0].wait(STOP_WAIT_MS)
        self._run = None


def calibration_summary(report: CalibrationReport) -> str:
    """One line for a calibration's report."""
    offsets = (
        ""
        if report.mean_offset_px is None
        else f", mean offset {report.mean_offset_px:.1f} px, worst {report.worst_offset_px:.1f} px"
    )
    diagnosis = f" {report.diagnosis}" if report.diagnosis else ""
    return f"Calibration: {report.hits}/{report.total} targets hit{offsets}.{diagnosis}"

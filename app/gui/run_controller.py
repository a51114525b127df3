"""A run, as the window sees it: a RunWorker on a QThread, and the person's answers going back to it.

Everything that shows a run (the main window, its step view and timeline) listens to one RunController; the
buttons that steer it (Run, Approve, Reject, Pause, Stop) call it. It holds the pending proposal, so a click
on Approve can only ever answer the step that is waiting.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import QObject, QThread, Signal, Slot

from agent.events import ActionProposed, RunFinished, RunPaused, RunResumed
from agent.loop import Approve, Reject
from app.gui.worker import NO_HOOKS, GuiCall, GuiHooks, RunRequest, RunWorker
from sandbox.actions import Action
from sandbox.geometry import Rect

STOP_WAIT_MS = 5000


class RunController(QObject):
    run_event = Signal(object)  # every agent.events.* of the run, in order
    approval_needed = Signal(object)  # ActionProposed, waiting for approve() or reject()
    countdown = Signal(float, object)  # seconds left, ActionProposed (auto mode; reject() cancels)
    decided = Signal()  # the pending proposal was answered
    paused_changed = Signal(bool)
    running_changed = Signal(bool)
    backend_ready = Signal(str)  # where the model runs
    finished = Signal(object)  # RunFinished (None when the worker ended without one)

    def __init__(
        self,
        parent: QObject | None = None,
        *,
        blocking: Callable[[], Sequence[Rect]] = tuple,
        masked: Callable[[], Sequence[Rect]] = tuple,
        hooks: GuiHooks = NO_HOOKS,
    ) -> None:
        super().__init__(parent)
        self._blocking, self._masked, self.hooks = blocking, masked, hooks
        self._thread: QThread | None = None
        self.worker: RunWorker | None = None
        self.pending: ActionProposed | None = None

    @property
    def running(self) -> bool:
        return self.worker is not None

    @property
    def paused(self) -> bool:
        return self.worker is not None and self.worker.stop_flag.paused

    def start(self, request: RunRequest) -> None:
        if self.worker is not None:
            return
        self._thread = QThread(self)
        self.worker = RunWorker(request, blocking=self._blocking, masked=self._masked, hooks=self.hooks)
        self.worker.moveToThread(self._thread)
        self._thread.started.connect(self.worker.run)
        self.worker.run_event.connect(self._on_event)
        self.worker.approval_needed.connect(self._on_approval_needed)
        self.worker.countdown.connect(self._on_countdown)
        self.worker.backend_ready.connect(self.backend_ready)
        self.worker.done.connect(self._on_done)
        self.worker.gui_call.connect(self._on_gui_call)
        self.running_changed.emit(True)
        self._thread.start()

    def stop(self, reason: str = "stopped from the window") -> None:
        if self.worker is not None:
            self.worker.stop(reason)

    def toggle_pause(self) -> None:
        if self.worker is None:
            return
        if self.worker.stop_flag.paused:
            self.worker.resume()
        else:
            self.worker.pause()
        self.paused_changed.emit(self.worker.stop_flag.paused)

    def approve(self, action: Action | None = None) -> None:
        """Go ahead with the pending proposal; `action`: the same with its target moved by the person."""
        if self.worker is not None and self.pending is not None:
            self.worker.decide(Approve(action=action))
            self.pending = None
            self.decided.emit()

    def reject(self, note: str | None = None) -> None:
        if self.worker is not None and self.pending is not None:
            self.worker.decide(Reject(note=note or None))
            self.pending = None
            self.decided.emit()

    def shutdown(self, reason: str) -> None:
        """Stop the run and wait for its worker (which releases the model)."""
        self.stop(reason)
        if self._thread is not None:
            self._thread.quit()
            self._thread.wait(STOP_WAIT_MS)

    # -- from the worker ----------------------------------------------------------------------------
    @Slot(object)
    def _on_event(self, event: object) -> None:
        self.run_event.emit(event)
        if isinstance(event, (RunPaused, RunResumed)):
            self.paused_changed.emit(self.paused)

    @Slot(object)
    def _on_gui_call(self, call: GuiCall) -> None:
        call.run()

    @Slot(object)
    def _on_approval_needed(self, proposed: ActionProposed) -> None:
        self.pending = proposed
        self.approval_needed.emit(proposed)

    @Slot(float, object)
    def _on_countdown(self, left: float, proposed: ActionProposed) -> None:
        self.pending = proposed
        self.countdown.emit(left, proposed)

    @Slot(object)
    def _on_done(self, finished: RunFinished | None) -> None:
        if self._thread is not None:
            self._thread.quit()
            self._thread.wait(STOP_WAIT_MS)
        self._thread, self.worker, self.pending = None, None, None
        self.running_changed.emit(False)
        self.finished.emit(finished)

"""The run, off the GUI thread: a QObject on a QThread turns the loop's events into signals.

Approvals travel back through a queue: in approve mode the loop's approver waits for the window's
decision; in auto mode it counts down (cancellable) before each action. The stop key, the Stop button and
closing the window all set the same StopFlag; the window's Pause and the user's own input pause it. A recording
that fails ends the run at once, with the error naming the file (agent/session/recorder.py).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger
from PySide6.QtCore import QObject, Signal, Slot

from agent.backends.base import Backend
from agent.backends.registry import DEFAULT_SERVER, BackendSettings, backend_family, capabilities_of, make_backend
from agent.errors import AgentError, SessionError
from agent.events import ActionProposed, RunFinished, StepStarted
from agent.loop import Approve, Decision, MakeRoom, RunOptions, run_task
from agent.session import SessionRecorder
from agent.waits import CHANGE_CAP_S
from app.desktop import DesktopOptions, open_desktop
from app.gui.recording import new_session_dir
from app.settings import Settings
from sandbox.actions import Action, Finish, Wait
from sandbox.errors import SandboxError
from sandbox.geometry import Rect
from sandbox.policy import Confirm
from sandbox.stop import DEFAULT_STOP_KEY, StopFlag

DECISION_POLL_S = 0.05
COUNTDOWN_TICK_S = 0.1


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRequest:
    task: str
    backend: BackendSettings
    family: str
    mode: str  # approve | auto | dry-run
    countdown_s: float = 2.0
    max_steps: int = 15
    monitor: int = 0
    stop_key: str = DEFAULT_STOP_KEY
    policy: Path | None = None
    driver: str = "pyautogui"
    record_dir: Path | None = None  # None: do not record
    min_pixels: int | None = None
    max_pixels: int | None = None
    refine: str = "off"
    change_wait_s: float = CHANGE_CAP_S

    @classmethod
    def for_task(cls, task: str, settings: Settings, *, policy: Path | None = None) -> RunRequest:
        """The run the window's settings describe; a new session folder when runs are recorded."""
        s = settings
        return cls(
            task=task,
            backend=backend_settings(s),
            family=s.family,
            mode=s.mode,
            countdown_s=s.countdown_s,
            max_steps=s.max_steps,
            stop_key=s.stop_key,
            policy=policy,
            driver=s.driver,
            record_dir=new_session_dir(s, task) if s.record else None,
            min_pixels=s.min_pixels or None,
            max_pixels=s.max_pixels or None,
            refine=s.refine,
            change_wait_s=s.change_wait_s,
        )


def backend_settings(settings: Settings) -> BackendSettings:
    """The backend the window's settings describe: asked by the one of model, endpoint or script it takes."""
    s = settings
    capabilities = capabilities_of(s.backend)
    return BackendSettings(
        name=s.backend,
        model=s.model if capabilities.target == "model" else None,
        endpoint=s.endpoint if capabilities.target == "endpoint" else None,
        script=Path(s.script) if capabilities.target == "script" and s.script else None,
        min_pixels=s.min_pixels or None,
        max_pixels=s.max_pixels or None,
        server=s.server if capabilities.server_options else DEFAULT_SERVER,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class GuiHooks:
    """What the window does for a run, on the GUI thread, while the run waits for it."""

    make_room: MakeRoom | None = None  # a window of deskpilot's moved off this point (None: off the screen's apps)?
    clear_the_way: Callable[[], None] | None = None  # take the on-screen preview down before an action runs


NO_HOOKS = GuiHooks()


class GuiCall:
    """One call for the GUI thread (RunController runs it); the worker waits on `done`."""

    def __init__(self, function: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.function, self.args = function, args
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = threading.Event()

    def run(self) -> None:
        try:
            self.result = self.function(*self.args)
        except BaseException as exc:  # handed to the worker thread
            self.error = exc
        finally:
            self.done.set()


class RunWorker(QObject):
    run_event = Signal(object)  # every agent.events.* in order
    approval_needed = Signal(object)  # ActionProposed: the window shows it and calls decide()
    countdown = Signal(float, object)  # seconds left, ActionProposed (auto mode)
    done = Signal(object)  # the RunFinished
    backend_ready = Signal(str)  # where the model runs, e.g. "cuda:0 (NVIDIA H100)" or "CPU"
    gui_call = Signal(object)  # a GuiCall for the GUI thread

    def __init__(
        self,
        request: RunRequest,
        *,
        blocking: Callable[[], Sequence[Rect]] = tuple,
        masked: Callable[[], Sequence[Rect]] = tuple,
        hooks: GuiHooks = NO_HOOKS,
    ) -> None:
        """`blocking`: deskpilot's windows where a click would reach them (never clicked); `masked`: what to
        grey out of each screenshot; `hooks`: what the window does on the GUI thread for the run."""
        super().__init__()
        self.request = request
        self.stop_flag = StopFlag()
        self._blocking, self._masked = blocking, masked
        self.hooks = hooks
        self._decisions: queue.Queue[Decision] = queue.Queue()
        self.backend: Backend | None = None  # closed when the run ends

    # -- called from the GUI thread ----------------------------------------------------------------
    def decide(self, decision: Decision) -> None:
        self._decisions.put(decision)

    def stop(self, reason: str = "stopped from the window") -> None:
        self.stop_flag.stop(reason)

    def pause(self) -> None:
        self.stop_flag.pause("paused from the window")

    def resume(self) -> None:
        self.stop_flag.resume()

    # -- the run, on the worker thread ---------------------------------------------------------------
    @Slot()
    def run(self) -> None:
        finished: RunFinished | None = None
        try:
            finished = self._run()
        except (AgentError, SandboxError) as exc:
            finished = RunFinished(outcome="error", reason=str(exc), steps=0)
        except Exception as exc:  # never let a run take the window down
            finished = RunFinished(outcome="error", reason=f"{type(exc).__name__}: {exc}", steps=0)
        finally:
            if self.backend is not None:
                self.backend.close()
        self.done.emit(finished)

    def _run(self) -> RunFinished | None:
        request = self.request
        family = backend_family(request.backend.name, request.family, strict=False)
        backend = self.backend = make_backend(request.backend, family=family)
        options = DesktopOptions(
            policy_file=request.policy,
            stop_key=request.stop_key,
            driver=request.driver,
            dry_run=request.mode == "dry-run",
        )
        with ExitStack() as stack:
            desktop = stack.enter_context(
                open_desktop(options, own_windows=self._blocking, stop=self.stop_flag, announce=logger.info)
            )
            recorder = self._recorder()
            run_options = RunOptions(
                max_steps=request.max_steps,
                monitor=request.monitor,
                min_pixels=request.min_pixels,
                max_pixels=request.max_pixels,
                model_name=request.backend.model or None,
                policy_digest=desktop.policy.digest(),
                refine=request.refine,
                change_wait_s=request.change_wait_s,
            )
            approve = None if options.dry_run else self._approve
            events = run_task(
                request.task,
                backend=backend,
                family=family,
                executor=desktop.executor,
                capture=desktop.capture,
                options=run_options,
                approve=approve,
                own_windows=self._masked,
                windows=desktop.windows,
                elements=desktop.elements,
                make_room=self._make_room if self.hooks.make_room is not None else None,
            )
            finished, failed, steps = None, None, 0
            try:
                for event in events:
                    self.run_event.emit(event)
                    if isinstance(event, StepStarted):
                        steps = event.step
                        if event.step == 1:  # loaded by now
                            self.backend_ready.emit(_where(backend))
                    if isinstance(event, RunFinished):
                        finished = event
                    if recorder is not None:
                        recorder.handle(event)  # SessionError: the run ends here, before anything more is done
            except SessionError as exc:
                events.close()
                failed = exc
            finally:
                if recorder is not None:
                    failed = self._close_recorder(recorder) or failed
            if failed is not None:
                finished = RunFinished(outcome="error", reason=str(failed), steps=steps)
                self.run_event.emit(finished)
            return finished

    def _recorder(self) -> SessionRecorder | None:
        if self.request.record_dir is None:
            return None
        return SessionRecorder(self.request.record_dir, run={"mode": self.request.mode, "driver": self.request.driver})

    def _close_recorder(self, recorder: SessionRecorder) -> SessionError | None:
        """Finish the session's files; the failure of a write not reported yet, if any (it ends the run)."""
        try:
            recorder.close()
        except SessionError as exc:
            return exc
        logger.info(f"session recorded in {self.request.record_dir}")
        return None

    def _approve(self, proposed: ActionProposed) -> Decision:
        if isinstance(proposed.parsed.action, (Finish, Wait)):  # touches nothing on the desktop
            return Approve()
        while not self._decisions.empty():  # a stale click from an earlier step never approves this one
            self._decisions.get_nowait()
        if self.request.mode == "auto" and not isinstance(proposed.verdict, Confirm):
            decision = self._count_down(proposed)
        else:
            self.approval_needed.emit(proposed)
            decision = self._wait_for_decision()
        if self.hooks.clear_the_way is not None:  # the preview drawn on the screen is gone before anything moves
            self._on_gui(self.hooks.clear_the_way)
        return decision

    def _make_room(self, action: Action | None) -> bool:
        assert self.hooks.make_room is not None
        return bool(self._on_gui(self.hooks.make_room, action))

    def _on_gui(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run `function(*args)` on the GUI thread and wait for it (a stop ends the wait)."""
        call = GuiCall(function, args)
        self.gui_call.emit(call)
        while not call.done.wait(DECISION_POLL_S):
            self.stop_flag.check_stopped()
        if call.error is not None:
            raise call.error
        return call.result

    def _wait_for_decision(self) -> Decision:
        while True:
            self.stop_flag.check_stopped()
            try:
                return self._decisions.get(timeout=DECISION_POLL_S)
            except queue.Empty:
                continue

    def _count_down(self, proposed: ActionProposed) -> Decision:
        deadline = time.monotonic() + self.request.countdown_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return Approve()
            self.countdown.emit(left, proposed)
            self.stop_flag.check_stopped()
            try:
                return self._decisions.get(timeout=min(COUNTDOWN_TICK_S, left))
            except queue.Empty:
                continue


def _where(backend: Backend) -> str:
    """Where the backend's work happens, for the window: its device where it has one (transformers)."""
    device = getattr(backend, "device", None)
    if device is None:
        return backend.capabilities.runs_on
    name = str(device)
    if name.startswith("cuda"):
        try:
            import torch

            return f"{name} ({torch.cuda.get_device_name(torch.device(name))})"
        except Exception:
            return name
    return "CPU" if name == "cpu" else name

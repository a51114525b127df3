"""What the person sees while another agent acts through `deskpilot mcp`: the run panel and the overlay.

`deskpilot mcp` has no window of its own. Where there is a display (and not `--no-panel`), the command starts
a Qt application in its own process (app/commands/mcp.py): this view on the GUI thread, the MCP server on a
worker thread. The view reuses the run's own panel and overlay (app/gui/run/panel.py, overlay.py):

- the panel names the client (its name from `initialize`, also in the panel's window title) and each call as it
  arrives, and moves off the action's point first, as during a run (app/gui/run/mode.py);
- the overlay draws each action for `preview_ms` before it happens, and is taken down before anything moves;
- a "confirm" verdict is put to the person: Approve / Reject in the panel, with the overlay drawn;
- Stop (the panel's, or the stop key) ends the current call and refuses later ones; the panel then offers
  Resume, which opens the desktop afresh (`Hands.resume`).

`PanelOnlooker` is the server thread's side (app/mcp/hands.py's `Onlooker`): each request crosses to the GUI
thread as a queued call, and the server thread waits for it with the stop flag checked, so the stop key ends a
wait for the person as it ends every other.

`DESKPILOT_MCP_PANEL_LOG=1` in the environment: the panel writes its state (title, texts, buttons with their
screen rectangles) to stderr as a JSON line at each change, for tests that drive it with xdotool.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from PySide6.QtCore import QObject, QTimer, Signal, Slot
from PySide6.QtGui import QGuiApplication

from app.gui.run.mode import monitor_at, pointer_position
from app.gui.run.own_windows import OwnWindows
from app.gui.run.panel import RunPanel
from app.gui.run.screen_px import monitor_of
from app.mcp.hands import Hands
from sandbox.actions import Action, action_points, describe
from sandbox.errors import StoppedError
from sandbox.geometry import Monitor
from sandbox.policy import Confirm, Verdict
from sandbox.stop import StopFlag
from sandbox.text import shorten

_T = TypeVar("_T")
WAIT_SLICE_S = 0.05  # how often a wait for the GUI thread looks at the stop flag
STOP_POLL_MS = 100  # how often the panel looks whether the stop key was pressed
PANEL_LOG = "DESKPILOT_MCP_PANEL_LOG"
TASK_CHARS = 200


class _GuiGone(StoppedError):
    """The panel's application has quit: nothing can be shown or asked any more."""


class McpView(QObject):
    """The panel and the overlay for MCP clients; lives on the GUI thread."""

    _call = Signal(object)  # a callable to run on the GUI thread (emitted from the server thread: queued)

    def __init__(self, *, stop_key: str, say: Callable[[str], None]) -> None:
        super().__init__()
        from app.gui.run.overlay import ActionOverlay

        self._say = say
        self._log = os.environ.get(PANEL_LOG) == "1"
        self.own_windows = OwnWindows()
        self.panel = RunPanel(stop_key=stop_key)
        self.overlay = ActionOverlay()
        self.hands: Hands | None = None
        self._answer: Callable[[bool], None] | None = None
        self._stopped: str | None = None
        self._resuming = False
        self._call.connect(self._run)
        panel = self.panel
        panel.note_button.hide()  # no model of deskpilot's to tell: the client reads the error result
        panel.window_button.hide()  # no full window in this process
        panel.approve_clicked.connect(lambda: self._decide(True))
        panel.reject_clicked.connect(lambda _note: self._decide(False))
        panel.stop_clicked.connect(self._stop)
        panel.pause_clicked.connect(self._resume)  # the pause button is Resume here, once stopped
        panel.start("Waiting for an MCP client", 0)
        panel.step_label.setText("deskpilot mcp")
        panel.setWindowTitle("deskpilot mcp")
        self._set_stopped(None)
        self._watch = QTimer(self)
        self._watch.timeout.connect(self._look_at_stop)
        self._watch.start(STOP_POLL_MS)

    def show(self) -> None:
        screen = QGuiApplication.primaryScreen()
        self.own_windows.update()
        self._place(monitor_of(screen))
        self.panel.show_passively()
        self.own_windows.update()
        self._logged()

    def close(self) -> None:
        self._watch.stop()
        self._decide(False)
        self.overlay.clear()
        self.overlay.close()
        self.panel.note_box.close()
        self.panel.close()

    # -- from the server thread ---------------------------------------------------------------------------
    def on_gui(self, work: Callable[[], _T], stop: StopFlag) -> _T:
        """Run `work` on the GUI thread and return its result, once it has run; StoppedError when stopped."""
        done = threading.Event()
        box: list[Any] = []

        def run() -> None:
            try:
                box.append((True, work()))
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
                box.append((False, exc))
            done.set()

        self._call.emit(run)
        self.wait(done, stop)
        ok, value = box[0]
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]

    def post(self, work: Callable[[], object]) -> None:
        """Run `work` on the GUI thread, without waiting for it."""
        self._call.emit(work)

    @staticmethod
    def wait(done: threading.Event, stop: StopFlag) -> None:
        while not done.wait(WAIT_SLICE_S):
            stop.check_stopped()
            app = QGuiApplication.instance()
            if app is None or app.closingDown():
                raise _GuiGone("deskpilot's run panel has closed")

    @Slot(object)
    def _run(self, work: Callable[[], object]) -> None:
        work()

    # -- on the GUI thread -----------------------------------------------------------------------------
    def arrives(self, client: str, what: Action | str) -> None:
        """A call: the panel names the client and the call, and moves off the action's point."""
        panel = self.panel
        panel.setWindowTitle(f"deskpilot mcp: {client}")
        panel.step_label.setText(shorten(client, 40))
        panel.set_deciding(False)
        if isinstance(what, str):
            panel.task_label.setText(shorten(f"run_task: {' '.join(what.split())}", 50))
            panel.action_label.setText("Looking at the screen…")
        else:
            panel.task_label.setText("act")
            panel.action_label.setText(shorten(describe(what), 110))
            points = action_points(what)
            if points and self._place(monitor_at(points[0]), point=points[0]):
                QGuiApplication.sync()  # off the point before the screen is looked at
        panel.verdict_label.setText("")
        self.own_windows.update()
        self._logged()

    def draw(self, action: Action, verdict: Verdict) -> None:
        """The overlay draws `action` where it lands; the panel says the verdict."""
        self._say_verdict(verdict)
        points = action_points(action)
        pointer = pointer_position()
        self.overlay.show_action(
            action,
            box=None,
            verdict=verdict.verdict,
            monitor=monitor_at(points[0] if points else pointer),
            pointer=pointer,
        )
        QGuiApplication.sync()  # on the screen before the wait begins
        self._logged()

    def clear(self) -> None:
        self.overlay.clear()
        self._logged()

    def ask(self, action: Action, verdict: Confirm, answer: Callable[[bool], None]) -> None:
        """Approve / Reject in the panel, the overlay drawn; `answer` gets the person's choice."""
        self._answer = answer
        self.draw(action, verdict)
        self.panel.set_deciding(True)
        self._logged()

    def unask(self) -> None:
        self._answer = None
        self.panel.set_deciding(False)
        self.clear()

    def _decide(self, approved: bool) -> None:
        answer, self._answer = self._answer, None
        if answer is None:
            return
        self.panel.set_deciding(False)
        self.overlay.clear()
        answer(approved)
        self._logged()

    def _say_verdict(self, verdict: Verdict) -> None:
        text = "allowed" if verdict.verdict == "allow" else f"{verdict.verdict}: {verdict.rule}"
        self.panel.verdict_label.setText(f"Policy: {text}")

    def _stop(self) -> None:
        if self.hands is not None:
            self.hands.stop("stopped from the run panel")
        self._look_at_stop()

    def _look_at_stop(self) -> None:
        reason = self.hands.stopped_by_person if self.hands is not None else None
        if reason != self._stopped and not self._resuming:
            self._set_stopped(reason)

    def _set_stopped(self, reason: str | None) -> None:
        self._stopped = reason
        panel = self.panel
        panel.pause_button.setText("Resume")
        panel.pause_button.setEnabled(reason is not None)
        panel.stop_button.setEnabled(reason is None)
        if reason is not None:  # a question waiting for the person ends as stopped (the waiting side sees it)
            self._answer = None
            panel.set_deciding(False)
            self.overlay.clear()
            panel.action_label.setText(shorten(f"Stopped: {reason}. Every call is refused until you resume.", 110))
            panel.verdict_label.setText("")
        self._logged()

    def _resume(self) -> None:
        hands = self.hands
        if hands is None or self._stopped is None or self._resuming:
            return
        self._resuming = True
        self.panel.pause_button.setEnabled(False)
        self.panel.action_label.setText("Resuming…")

        def reopen() -> None:
            try:
                hands.resume()
                failure = None
            except Exception as exc:  # noqa: BLE001 - said in the panel and on stderr
                failure = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self.post(lambda: self._resumed(failure))

        threading.Thread(target=reopen, name="deskpilot-mcp-resume", daemon=True).start()

    def _resumed(self, failure: str | None) -> None:
        self._resuming = False
        if failure is not None:
            self._say(f"mcp: cannot resume: {failure}")
            self._set_stopped(f"cannot resume: {failure}")
            return
        self._set_stopped(None)
        self.panel.action_label.setText("Resumed: calls are served again")
        self._say("mcp: resumed from the run panel")
        self._logged()

    def _place(self, monitor: Monitor, *, point: tuple[int, int] | None = None) -> bool:
        """As during a run (app/gui/run/mode.py): the best corner, off the focused window and the point's."""
        apps = self.own_windows.applications()
        avoid = [w.rect for w in apps if w.focused]
        if point is not None:
            under = next((w for w in reversed(apps) if any(r.contains(*point) for r in w.clicks)), None)
            avoid += [under.rect] if under is not None else []
        moved = self.panel.place(monitor, windows=[w.rect for w in apps], avoid=avoid, point=point)
        if moved:
            self.own_windows.update()
        return moved

    def _logged(self) -> None:
        """The panel's state on stderr (DESKPILOT_MCP_PANEL_LOG=1), for tests driving it from outside."""
        if not self._log:
            return
        panel = self.panel
        buttons = {}
        for name, button in (
            ("approve", panel.approve_button),
            ("reject", panel.reject_button),
            ("resume", panel.pause_button),
            ("stop", panel.stop_button),
        ):
            top_left = button.mapToGlobal(button.rect().topLeft())
            buttons[name] = {
                "x": top_left.x(),
                "y": top_left.y(),
                "width": button.width(),
                "height": button.height(),
                "enabled": button.isEnabled() and button.isVisible(),
            }
        state = {
            "title": panel.windowTitle(),
            "client": panel.step_label.text(),
            "call": panel.task_label.text(),
            "action": panel.action_label.text(),
            "verdict": panel.verdict_label.text(),
            "overlay": self.overlay.isVisible(),
            "buttons": buttons,
        }
        print(f"mcp-panel: {json.dumps(state, ensure_ascii=False)}", file=sys.stderr, flush=True)


class PanelOnlooker:
    """The server thread's side of the view (app/mcp/hands.py's `Onlooker`)."""

    def __init__(self, view: McpView, *, preview_ms: int) -> None:
        self._view = view
        self._preview_s = preview_ms / 1000

    def arrives(self, client: str, what: Action | str, stop: StopFlag) -> None:
        self._view.on_gui(lambda: self._view.arrives(client, what), stop)

    def before(self, client: str, action: Action, verdict: Verdict, stop: StopFlag) -> None:
        view = self._view
        if self._preview_s <= 0:
            view.on_gui(lambda: view._say_verdict(verdict), stop)
            return
        try:
            view.on_gui(lambda: view.draw(action, verdict), stop)
            stop.sleep(self._preview_s, pause_interrupts=False)
        except StoppedError:
            view.post(view.clear)
            raise
        view.on_gui(view.clear, stop)  # off the screen before the action: it is never in what is looked at after

    def confirm(self, client: str, action: Action, verdict: Confirm, stop: StopFlag) -> bool | None:
        view = self._view
        answered = threading.Event()
        answers: list[bool] = []

        def answer(approved: bool) -> None:
            answers.append(approved)
            answered.set()

        view.on_gui(lambda: view.ask(action, verdict, answer), stop)
        try:
            view.wait(answered, stop)
        except StoppedError:
            view.post(view.unask)
            raise
        return answers[0]

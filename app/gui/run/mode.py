"""A run beside the person's apps: the main window steps aside, the run panel and the on-screen preview take
its place, and deskpilot stays out of the way.

- At the start the main window hides (it would cover the apps the model acts on) and the run panel appears in
  the corner that hides none of the apps' windows, or the least of them, never the focused one where it can
  (app/gui/run/corners.py); at the end the panel goes and the full window comes back with the timeline.
- Before a proposed action with a point is checked, the panel moves off the point and off the window the point
  lies in, where it can; when the point lay under it, the run looks at the screen again first (`make_room`).
- When the run could not find its target while deskpilot's windows masked part of the screen, `make_room(None)`
  (or `step_aside()`, which also says what was masked) moves them where they hide the least of every app, so
  that the screen is worth reading again.
- While an action waits for approval or for the countdown, the overlay draws it on the screen itself; it is
  taken down before anything moves (`clear_the_way`, which the run waits for).
- Nothing here activates or raises a window of deskpilot's while a run acts: the panel never takes focus.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QObject, Slot
from PySide6.QtGui import QCursor, QGuiApplication
from PySide6.QtWidgets import QMainWindow

from agent.events import ActionProposed, element_caption
from app.gui.run.own_windows import OwnWindows
from app.gui.run.panel import RunPanel
from app.gui.run.screen_px import monitor_of, screen_at, screen_rect, to_screen_px
from app.gui.run_controller import RunController
from app.gui.worker import GuiHooks, RunRequest
from sandbox.actions import Action, action_points
from sandbox.geometry import Monitor, Rect


def monitor_at(point: tuple[int, int]) -> Monitor:
    return monitor_of(screen_at(*point))


def pointer_position() -> tuple[int, int]:
    position = QCursor.pos()
    return to_screen_px(position, QGuiApplication.screenAt(position))


@dataclass(frozen=True, slots=True, kw_only=True)
class SteppedAside:
    """What `RunMode.step_aside` did: the screen it uncovered, and whether anything moved."""

    masked: tuple[Rect, ...]  # what deskpilot's windows kept from the screenshots before (screen px)
    masked_now: tuple[Rect, ...]  # what they keep from it now
    moved: bool  # a window of deskpilot's moved or hid: the screen is worth reading again


class RunMode(QObject):
    def __init__(self, window: QMainWindow, runs: RunController, own_windows: OwnWindows, *, stop_key: str) -> None:
        super().__init__(window)
        from app.gui.run.overlay import ActionOverlay

        self.window, self.runs, self.own_windows = window, runs, own_windows
        self.panel = RunPanel(stop_key=stop_key)
        self.overlay = ActionOverlay()
        self.hooks = GuiHooks(make_room=self.make_room, clear_the_way=self.clear_the_way)
        self._shown: ActionProposed | None = None  # what the overlay draws now
        runs.run_event.connect(self.panel.on_event)
        runs.approval_needed.connect(self._on_approval_needed)
        runs.countdown.connect(self._on_countdown)
        runs.decided.connect(self._on_decided)
        runs.paused_changed.connect(self.panel.set_paused)
        self.panel.approve_clicked.connect(self._on_approve)
        self.panel.reject_clicked.connect(self._on_reject)
        self.panel.pause_clicked.connect(runs.toggle_pause)
        self.panel.stop_clicked.connect(lambda: runs.stop("stopped from the run panel"))
        self.panel.window_clicked.connect(self._toggle_window)

    def begin(self, request: RunRequest) -> None:
        """The main window steps aside; the panel shows (without taking focus) where it covers least."""
        self.panel.start(request.task, request.max_steps)
        screen = self.window.screen() if self.window.isVisible() else None
        self.window.hide()
        self._place(monitor_of(screen))
        self.panel.show_passively()
        self.own_windows.update()

    def end(self) -> None:
        """The run is over: the preview and panel go, the full window comes back (it may take focus now)."""
        self.clear_the_way()
        self.panel.hide()
        self.window.show()
        self.window.raise_()
        self.window.activateWindow()
        self.own_windows.update()

    # -- hooks the run waits for (GUI thread) --------------------------------------------------------
    def make_room(self, action: Action | None) -> bool:
        """The panel moves off the action's point and the window it lies in, where it can; True when the point
        lay under it. None: out of the way of everything (`step_aside`); True when anything moved."""
        if action is None:
            return self.step_aside().moved
        points = action_points(action)
        if not self.panel.isVisible() or not points:
            return False
        covered = self.panel.covers(action)
        if self._place(monitor_at(points[0]), point=points[0]):
            QGuiApplication.sync()  # moved on the screen before the run looks at it again
            self.own_windows.update()
        return covered

    def step_aside(self) -> SteppedAside:
        """deskpilot's windows go where they hide the least of every app's window (the main window hides): for
        a run that could not find its target while they masked part of the screen. Says what was masked."""
        self.own_windows.update()
        before = tuple(self.own_windows.masked())
        moved = False
        if self.window.isVisible():
            self.window.hide()
            moved = True
        if self.panel.isVisible():
            here = screen_rect(self.panel)
            moved = self._place(monitor_at((here.x, here.y))) or moved
        if moved:
            QGuiApplication.sync()
            self.own_windows.update()
        return SteppedAside(masked=before, masked_now=tuple(self.own_windows.masked()), moved=moved)

    def _place(self, monitor: Monitor, *, point: tuple[int, int] | None = None) -> bool:
        """The panel to its best corner of `monitor` (corners.py), off the focused window and off the window
        `point` lies in; True when it moved."""
        apps = self.own_windows.applications()
        avoid = [w.rect for w in apps if w.focused]
        if point is not None:
            under = next((w for w in reversed(apps) if any(r.contains(*point) for r in w.clicks)), None)
            avoid += [under.rect] if under is not None else []
        return self.panel.place(monitor, windows=[w.rect for w in apps], avoid=avoid, point=point)

    def clear_the_way(self) -> None:
        self._shown = None
        self.overlay.clear()

    # -- the preview on the screen -------------------------------------------------------------------
    def _draw(self, proposed: ActionProposed) -> None:
        if self._shown is proposed or not self.panel.isVisible():
            return
        self._shown = proposed
        action = proposed.parsed.action
        points = action_points(action)
        pointer = pointer_position()
        self.overlay.show_action(
            action,
            box=proposed.parsed.box,
            verdict=proposed.verdict.verdict,
            monitor=monitor_at(points[0] if points else pointer),
            pointer=pointer,
            element=element_caption(proposed),
        )

    @Slot(object)
    def _on_approval_needed(self, proposed: ActionProposed) -> None:
        self.panel.show_proposal(proposed)
        self.panel.set_deciding(True)
        self._draw(proposed)

    @Slot(float, object)
    def _on_countdown(self, left: float, proposed: ActionProposed) -> None:
        self.panel.show_countdown(left, proposed)
        self._draw(proposed)

    @Slot()
    def _on_decided(self) -> None:
        self.panel.set_deciding(False)

    def _on_approve(self) -> None:
        self.clear_the_way()
        self.runs.approve(None)

    def _on_reject(self, note: str) -> None:
        self.clear_the_way()
        self.runs.reject(note or None)

    def _toggle_window(self) -> None:
        if self.window.isVisible():
            self.window.hide()
        else:
            self.window.show()
            self.window.raise_()
            self.panel.raise_()  # still above (without a window manager, the last shown would be on top)
        self.own_windows.update()

    def close(self) -> None:
        self.clear_the_way()
        self.panel.note_box.close()
        self.panel.close()
        self.overlay.close()

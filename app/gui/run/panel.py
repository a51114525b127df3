"""The run panel: a small window that stays above the person's apps while a run goes on, and never takes the
keyboard focus from them.

It shows the task, the step, the model's thought (two lines; all of it on hover), the proposed action in
words with the policy's verdict, the auto-mode countdown, the stop key, and Approve / Reject / Note / Pause /
Stop, plus a way back to the full window. It sits in the corner of the driven monitor that hides none of the
windows the run needs (app/gui/run/corners.py); when a target lies under it all the same, it moves away first
(the run then looks at the screen again).

Never focused, never activated: a frameless tool window with WindowDoesNotAcceptFocus, shown without
activating, so a click on Approve leaves the keyboard with the app the model is typing into (where an app drops
the focus as the pointer leaves it, as Tk does without a window manager, the answer gives it back). Only writing a
note for the model needs the keyboard: the note box takes it while the person types, and gives it back to
the window that had it (X11) when it closes.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLineEdit, QPushButton, QVBoxLayout, QWidget

from agent.events import ActionProposed, ReplyParsed, RunPaused, RunResumed, StepStarted, proposed_text
from app.gui.plain_text import plain_label, plain_tooltip
from app.gui.preview import verdict_colour
from app.gui.run.corners import best_corner
from app.gui.run.own_windows import EXCLUDED_PROPERTY
from app.gui.run.screen_px import from_screen_px, native_scale, screen_at, screen_rect
from sandbox.actions import Action, action_points
from sandbox.geometry import Monitor, Rect
from sandbox.text import ELLIPSIS, shorten

PANEL_SIZE = (380, 204)  # logical px: task, two lines of thought, the action, the verdict, two rows of buttons
THOUGHT_LINES = 2


def _elided(text: str, width_chars: int, lines: int) -> str:
    """At most `lines` lines of about `width_chars` characters, with an ellipsis when cut."""
    words, out, line = text.split(), [], ""
    for word in words:
        candidate = f"{line} {word}".strip()
        if len(candidate) > width_chars and line:
            out.append(line)
            line = word
            if len(out) == lines:
                break
        else:
            line = candidate
    else:
        if line:
            out.append(line)
        return "\n".join(out)
    out[-1] = shorten(out[-1] + ELLIPSIS, width_chars)  # more text follows: the last line ends in the mark
    return "\n".join(out[:lines])


class RunPanel(QWidget):
    approve_clicked = Signal()
    reject_clicked = Signal(str)  # the note ("" for none)
    pause_clicked = Signal()
    stop_clicked = Signal()
    window_clicked = Signal()  # back to (or away from) the full window

    def __init__(self, *, stop_key: str) -> None:
        flags = (
            Qt.WindowType.Tool
            | Qt.WindowType.FramelessWindowHint
            | Qt.WindowType.WindowStaysOnTopHint
            | Qt.WindowType.WindowDoesNotAcceptFocus
        )
        super().__init__(None, flags)
        self.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setWindowTitle("deskpilot run")
        self.setFixedSize(*PANEL_SIZE)
        self.note_box = NoteBox(self)
        self._build(stop_key)
        self.note_box.submitted.connect(self.reject_clicked)
        self._max_steps = 0
        self._focus_when_asked: int | None = None

    def _build(self, stop_key: str) -> None:
        frame = QFrame(self)
        frame.setObjectName("panel")
        frame.setStyleSheet(
            "#panel{background:#20242b;border:1px solid #4a5160;border-radius:8px}"
            "QLabel{color:#e8eaee} QPushButton{padding:3px 8px}"
        )
        self.task_label = plain_label()
        self.task_label.setStyleSheet("font-weight:bold")
        self.step_label = plain_label()
        self.stop_key_label = plain_label(f"{stop_key} stops")
        self.stop_key_label.setStyleSheet("color:#f0b429")
        self.thought_label = plain_label()
        self.thought_label.setStyleSheet("color:#b9c0cc")
        self.action_label = plain_label(wrap=True)
        self.verdict_label = plain_label()
        buttons = {}
        for name, text in (
            ("approve", "Approve"),
            ("reject", "Reject"),
            ("note", "Note…"),
            ("pause", "Pause"),
            ("stop", "Stop"),
            ("window", "Window"),
        ):
            button = QPushButton(text)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # a click never moves the keyboard focus here
            buttons[name] = button
        self.approve_button, self.reject_button, self.note_button = (
            buttons["approve"],
            buttons["reject"],
            buttons["note"],
        )
        self.pause_button, self.stop_button, self.window_button = buttons["pause"], buttons["stop"], buttons["window"]
        self.approve_button.clicked.connect(self._approve)
        self.reject_button.clicked.connect(self._reject)
        self.note_button.clicked.connect(self._open_note)
        self.pause_button.clicked.connect(self.pause_clicked)
        self.stop_button.clicked.connect(self.stop_clicked)
        self.window_button.clicked.connect(self.window_clicked)
        self.window_button.setToolTip("Show or hide deskpilot's full window")
        head = QHBoxLayout()
        head.addWidget(self.step_label, 1)
        head.addWidget(self.stop_key_label)
        decide = QHBoxLayout()
        for button in (self.approve_button, self.reject_button, self.note_button):
            decide.addWidget(button)
        steer = QHBoxLayout()
        for button in (self.pause_button, self.stop_button, self.window_button):
            steer.addWidget(button)
        column = QVBoxLayout(frame)
        column.setContentsMargins(10, 8, 10, 8)
        column.setSpacing(3)
        column.addLayout(head)
        for label in (self.task_label, self.thought_label, self.action_label, self.verdict_label):
            column.addWidget(label)
        column.addStretch(1)
        column.addLayout(decide)
        column.addLayout(steer)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(frame)
        palette = self.palette()
        palette.setColor(QPalette.ColorRole.Window, QColor("#20242b"))
        self.setPalette(palette)
        self.set_deciding(False)

    # -- content -------------------------------------------------------------------------------------
    def start(self, task: str, max_steps: int) -> None:
        self._max_steps = max_steps
        self.task_label.setText(_elided(task, 44, 1))
        self.task_label.setToolTip(plain_tooltip(task))
        self.step_label.setText("Starting…")
        for label in (self.thought_label, self.action_label, self.verdict_label):
            label.setText("")
        self.set_deciding(False)
        self.pause_button.setText("Pause")

    def on_event(self, event: object) -> None:
        match event:
            case StepStarted():
                self.step_label.setText(f"Step {event.step} of {self._max_steps}")
                self.action_label.setText("Looking at the screen…")
                self.verdict_label.setText("")
            case ReplyParsed():
                thought = event.thought or ""
                self.thought_label.setText(_elided(thought, 52, THOUGHT_LINES))
                self.thought_label.setToolTip(plain_tooltip(thought))
            case ActionProposed():
                self.show_proposal(event)
            case RunPaused():
                self.action_label.setText(event.reason)
                self.pause_button.setText("Resume")
            case RunResumed():
                self.pause_button.setText("Pause")

    def show_proposal(self, proposed: ActionProposed) -> None:
        self.action_label.setText(_elided(proposed_text(proposed), 52, 2))
        verdict = proposed.verdict
        text = "allowed" if verdict.verdict == "allow" else f"{verdict.verdict}: {verdict.rule}"
        self.verdict_label.setText(f"Policy: {text}")
        self.verdict_label.setStyleSheet(f"color:{verdict_colour(verdict.verdict).lighter(115).name()}")
        self.verdict_label.setToolTip(plain_tooltip(verdict.reason or ""))

    def show_countdown(self, left: float, proposed: ActionProposed) -> None:
        self.action_label.setText(_elided(f"{proposed_text(proposed)} in {left:.1f} s", 52, 2))
        self.reject_button.setEnabled(True)

    def set_deciding(self, deciding: bool) -> None:
        for button in (self.approve_button, self.reject_button, self.note_button):
            button.setEnabled(deciding)
        # the window that has the keyboard while the person decides: an answer given here leaves it there. The
        # panel never takes the focus, but an app can drop it as the pointer leaves for the panel (Tk without a
        # window manager sets X's focus to PointerRoot, and keys then go to the window under the pointer: the
        # panel); the answer undoes such a loss before it goes out, so approved typing lands where it was shown
        self._focus_when_asked = _x_focus() if deciding else None
        if not deciding:
            self.note_box.hide()

    def _approve(self) -> None:
        _give_focus_back(self._focus_when_asked, only_if_lost=True)
        self.approve_clicked.emit()

    def _reject(self) -> None:
        _give_focus_back(self._focus_when_asked, only_if_lost=True)
        self.reject_clicked.emit("")

    def set_stop_key(self, stop_key: str) -> None:
        self.stop_key_label.setText(f"{stop_key} stops")

    def set_paused(self, paused: bool) -> None:
        self.pause_button.setText("Resume" if paused else "Pause")

    # -- where it sits -------------------------------------------------------------------------------
    def covers(self, action: Action) -> bool:
        """Whether any point of `action` lies on the panel (or its open note box)."""
        boxes = [screen_rect(self)]
        if self.note_box.isVisible():
            boxes.append(screen_rect(self.note_box))
        return any(box.contains(x, y) for x, y in action_points(action) for box in boxes)

    def place(
        self,
        monitor: Monitor,
        *,
        windows: Sequence[Rect] = (),
        avoid: Sequence[Rect] = (),
        point: tuple[int, int] | None = None,
    ) -> bool:
        """Move to the best corner of `monitor` (corners.py: `windows` the apps' windows, `avoid` those the run
        needs, `point` the target; all in screen px); True when it moved."""
        screen = screen_at(monitor.x, monitor.y)
        ratio, _ = native_scale(screen)
        size = (round(self.width() * ratio), round(self.height() * ratio))
        here = screen_rect(self)
        current = (here.x, here.y) if self.isVisible() else None
        x, y = best_corner(monitor, size, windows, avoid=avoid, point=point, current=current)
        target = from_screen_px(x, y, screen)
        if (self.x(), self.y()) == (target.x(), target.y()) and self.isVisible():
            return False
        self.move(target)
        return True

    def show_passively(self) -> None:
        """Show without taking focus or activating (and out of screenshots where the system allows)."""
        from app.gui.run.capture_exclusion import exclude_from_capture

        self.show()
        handle = self.windowHandle()
        if handle is not None and exclude_from_capture(self):
            handle.setProperty(EXCLUDED_PROPERTY, True)
        QGuiApplication.sync()

    # -- the note ------------------------------------------------------------------------------------
    def _open_note(self) -> None:
        self.note_box.open_beside(self)


class NoteBox(QWidget):
    """A one-line note for the model, sent with Reject; it holds the keyboard only while open."""

    submitted = Signal(str)

    def __init__(self, panel: QWidget) -> None:
        super().__init__(
            None, Qt.WindowType.Tool | Qt.WindowType.FramelessWindowHint | Qt.WindowType.WindowStaysOnTopHint
        )
        self.edit = QLineEdit()
        self.edit.setPlaceholderText("Why not? (Enter sends it with Reject, Esc closes)")
        self.edit.returnPressed.connect(self._send)
        send = QPushButton("Reject")
        send.clicked.connect(self._send)
        row = QHBoxLayout(self)
        row.setContentsMargins(6, 6, 6, 6)
        row.addWidget(self.edit, 1)
        row.addWidget(send)
        self.setFixedWidth(panel.width())
        self._had_focus: int | None = None

    def open_beside(self, panel: QWidget) -> None:
        self._had_focus = _x_focus()
        above = panel.y() - self.sizeHint().height() - 4
        self.move(panel.x(), above if above > 0 else panel.y() + panel.height() + 4)
        self.edit.clear()
        self.show()
        self.activateWindow()
        self.edit.setFocus()

    def keyPressEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        if event.key() == Qt.Key.Key_Escape:
            self.hide()
            return
        super().keyPressEvent(event)

    def _send(self) -> None:
        note = self.edit.text().strip()
        self.hide()
        self.submitted.emit(note)

    def hideEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        super().hideEvent(event)
        _give_focus_back(self._had_focus)
        self._had_focus = None


def _x_focus() -> int | None:
    """The X window that has the keyboard focus now (None off X11, or when no window has it)."""
    if not sys.platform.startswith("linux") or QGuiApplication.platformName() != "xcb":
        return None
    try:
        from Xlib import display

        connection = display.Display()
        try:
            focus = connection.get_input_focus().focus
        finally:
            connection.close()
    except Exception:  # noqa: BLE001 - no X connection: nothing to give back later
        return None
    return None if isinstance(focus, int) else int(focus.id)  # X's PointerRoot and None come as ints


def _give_focus_back(window: int | None, *, only_if_lost: bool = False) -> None:
    """Return the keyboard to `window` (X11); `only_if_lost`: only when no window has it now (X's PointerRoot or
    None), so a window the person chose meanwhile keeps it."""
    if window is None:
        return
    try:
        from Xlib import X, display

        connection = display.Display()
    except Exception:  # noqa: BLE001 - no X connection
        return
    try:
        if only_if_lost and not isinstance(connection.get_input_focus().focus, int):
            return
        connection.set_input_focus(connection.create_resource_object("window", window), X.RevertToParent, X.CurrentTime)
        connection.sync()
    except Exception:  # noqa: BLE001 - the window may be gone
        pass
    finally:
        connection.close()

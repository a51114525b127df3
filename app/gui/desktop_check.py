"""What this desktop offers a run, in the window: the refusal where Run is, and Help > Desktop check.

Both answers come from the command line's own code, so the window and the terminal never disagree: the route
app/desktop.py would choose (a RefusedDesktop carries the one line every acting command says), and
`deskpilot doctor`'s report (app/commands/doctor.py), shown as the lines it prints. Neither runs on the GUI
thread: a Wayland probe waits on sockets and D-Bus, and doctor imports torch and asks the model server (up to
a few seconds).
"""

from __future__ import annotations

import threading
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

from app.gui.plain_text import plain_label


def _refusal() -> str | None:
    """The route's refusal line; None where a run can act (or where choosing fails: a run will say why)."""
    from app.desktop import desktop_route

    try:
        route = desktop_route()
    except Exception:  # noqa: BLE001 - the run itself reports any other failure, with its context
        return None
    if route.name != "refused":
        return None
    return str(getattr(route, "reason", "")) or "deskpilot cannot act on this desktop: run `deskpilot doctor`"


def _report() -> dict[str, Any]:
    from app.commands.doctor import diagnose

    return diagnose()


class DesktopCheck(QObject):
    """Runs the checks on a thread of their own; the answers come back as queued signals."""

    route_checked = Signal(object)  # str (the refusal) or None (a run can act)
    reported = Signal(object)  # doctor's report (dict), or an Exception

    def check_route(self) -> None:
        threading.Thread(
            target=lambda: self._say(self.route_checked, _refusal()), name="route-check", daemon=True
        ).start()

    def diagnose(self) -> None:
        def work() -> None:
            try:
                answer: object = _report()
            except Exception as exc:  # noqa: BLE001 - said in the dialog, never raised into Qt
                answer = exc
            self._say(self.reported, answer)

        threading.Thread(target=work, name="desktop-check", daemon=True).start()

    @staticmethod
    def _say(signal: Any, answer: object) -> None:
        try:
            signal.emit(answer)
        except RuntimeError:
            pass  # the window closed while the check ran: nobody is left to tell


class DesktopCheckDialog(QDialog):
    """Help > Desktop check: the facts `deskpilot doctor` prints, and a way to check again."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Desktop check")
        self.resize(760, 420)
        self.checks = DesktopCheck(self)
        self.checks.reported.connect(self._show)
        self.summary = plain_label(wrap=True)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setFont(QFont("monospace"))
        self.again_button = QPushButton("Check again")
        self.again_button.clicked.connect(self.run_check)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.again_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.text, 1)
        layout.addWidget(buttons)
        self.report: dict[str, Any] | None = None

    def run_check(self) -> None:
        self.again_button.setEnabled(False)
        self.summary.setText("Checking this desktop (the same checks as `deskpilot doctor`)…")
        self.checks.diagnose()

    def _show(self, answer: object) -> None:
        self.again_button.setEnabled(True)
        if isinstance(answer, Exception):
            self.report = None
            self.summary.setText(f"The check failed: {type(answer).__name__}: {answer}")
            return
        assert isinstance(answer, dict)
        self.report = answer
        ready = "Ready: a run can act on this desktop." if answer["ready"] else "Not ready: a run would refuse here."
        self.summary.setText(ready)
        from app.commands.doctor import report_lines

        self.text.setPlainText("\n".join(report_lines(answer)))

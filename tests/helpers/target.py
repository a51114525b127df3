"""TargetWindow: run tests/target_app.py (or its Tk twin, tests/helpers/tk_target.py) on a display and read what it
logged.

    with TargetWindow(display=":0", x=100, y=100) as target:
        x, y = target.centre("Submit")
        ...click (x, y) with the driver under test...
        target.wait_for(lambda e: e.get("clicked") == "Submit")

Waiting polls the log file (the app is another process; there is no signal to wait on). A failed wait
raises AssertionError listing every event seen, so the test output says what did happen.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from sandbox.geometry import Rect

# the app: Qt's (tests/target_app.py, the default) or its Tk twin (tests/helpers/tk_target.py), one log format
APPS = {
    "qt": Path(__file__).resolve().parents[1] / "target_app.py",
    "tk": Path(__file__).resolve().parent / "tk_target.py",
}
READY_TIMEOUT_S = 20.0
POLL_S = 0.02
Event = dict[str, Any]


def _rect(box: list[int], name: str) -> Rect:
    return Rect(box[0], box[1], box[2], box[3], name=name)


class TargetWindow:
    """The target app as a context manager: started on enter (waits for `ready`), terminated on exit."""

    def __init__(
        self,
        *,
        display: str | None = None,
        x: int = 100,
        y: int = 100,
        width: int = 1000,
        height: int = 700,
        title: str = "deskpilot target",
        log_dir: Path | None = None,
        app: Literal["qt", "tk"] = "qt",
    ) -> None:
        self.app = APPS[app]
        self.display = display if display is not None else os.environ.get("DISPLAY", "")
        self.requested = Rect(x, y, width, height, name="window")
        self.title = title
        self._dir = Path(log_dir) if log_dir is not None else Path(tempfile.mkdtemp(prefix="deskpilot-target-"))
        self.log_path = self._dir / f"target-{os.getpid()}-{id(self):x}.jsonl"
        self._stderr_path = self.log_path.with_suffix(".stderr")
        self._process: subprocess.Popen[bytes] | None = None
        self.widgets: dict[str, Rect] = {}
        self.window = self.requested
        self.colours: dict[str, tuple[int, int, int]] = {}

    def __enter__(self) -> TargetWindow:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def start(self) -> None:
        if not self.display:
            raise AssertionError("TargetWindow needs an X display (DISPLAY is not set)")
        self.log_path.touch()
        command = [
            sys.executable,
            str(self.app),
            "--log",
            str(self.log_path),
            "--x",
            str(self.requested.x),
            "--y",
            str(self.requested.y),
            "--width",
            str(self.requested.width),
            "--height",
            str(self.requested.height),
            "--title",
            self.title,
        ]
        env = {**os.environ, "DISPLAY": self.display, "QT_QPA_PLATFORM": "xcb"}
        with open(self._stderr_path, "wb") as stderr:
            self._process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
        ready = self.wait_for(lambda e: e["event"] == "ready", timeout=READY_TIMEOUT_S)
        self.widgets = {name: _rect(box, name) for name, box in ready["widgets"].items()}
        self.window = _rect(ready["window"], "window")
        self.colours = {name: (rgb[0], rgb[1], rgb[2]) for name, rgb in ready["colours"].items()}

    def close(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def centre(self, name: str) -> tuple[int, int]:
        """The centre of a widget in screen px (integer, inside the widget)."""
        rect = self.widgets[name]
        return rect.x + rect.width // 2, rect.y + rect.height // 2

    def events(self, kind: str | None = None) -> list[Event]:
        """Every event logged so far (optionally only one kind); a half-written last line is left out."""
        events = []
        for line in self.log_path.read_text(encoding="utf-8").splitlines(keepends=True):
            if line.endswith("\n"):
                events.append(json.loads(line))
        return [e for e in events if kind is None or e["event"] == kind]

    def wait_for(
        self, predicate: Callable[[Event], bool], *, timeout: float = 5.0, after: float | None = None
    ) -> Event:
        """The first logged event (after time `after`, when given) that matches; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            events = self.events()
            for event in events:
                if (after is None or event["t"] >= after) and predicate(event):
                    return event
            process = self._process
            if process is not None and process.poll() is not None:
                raise AssertionError(
                    f"the target app exited with {process.returncode} before the event came; "
                    f"stderr: {self._stderr_tail()}; events: {self._summary(events)}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no matching event from the target app within {timeout:g} s; "
                    f"events: {self._summary(events)}; stderr: {self._stderr_tail()}"
                )
            time.sleep(POLL_S)

    def _stderr_tail(self) -> str:
        try:
            text = self._stderr_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(none)"
        return text[-2000:].strip() or "(empty)"

    @staticmethod
    def _summary(events: list[Event]) -> str:
        lines = [json.dumps({k: v for k, v in e.items() if k != "t"}) for e in events if e["event"] != "move"]
        moves = sum(1 for e in events if e["event"] == "move")
        return "\n  " + "\n  ".join(lines[-60:]) + (f"\n  (+{moves} move events)" if moves else "")

"""The practice board as its own process on Xvfb: where it says its targets are, that OCR reads its labels
inside their widgets, that it follows Qt's scaling, and that a real `deskpilot run` with OCR works on it."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.backends.ocr.backend import OcrBackend
from agent.backends.ocr.match import find_text
from app.commands.calibrate import Board
from app.gui.practice import BOARD_SIZE, BUTTONS, FRUITS, TARGET_BORDER, TARGETS, control_layout, practice_layout
from sandbox.capture import ScreenCapture
from sandbox.geometry import Rect

pytestmark = pytest.mark.display
DESKPILOT = Path(sys.executable).with_name("deskpilot")
X, Y = 300, 150


class Events:
    """Everything the board logged, gathered from its queue as it is waited on."""

    def __init__(self, board: Board) -> None:
        self.board, self.seen = board, [board.ready]

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        checked = 0
        while True:
            for event in self.seen[checked:]:
                if predicate(event):
                    return event
            checked = len(self.seen)
            if time.monotonic() > deadline:
                raise AssertionError(f"no matching event; seen: {[e for e in self.seen if e['event'] != 'ready']}")
            try:
                self.seen.append(self.board.events.get(timeout=0.05))
            except queue.Empty:
                pass


@pytest.fixture
def board() -> Iterator[Board]:
    with Board(x=X, y=Y) as started:
        yield started


def inside(outer: Rect, inner: Rect) -> bool:
    return outer.contains(inner.x, inner.y) and outer.contains(inner.x + inner.width - 1, inner.y + inner.height - 1)


def overlap(a: Rect, b: Rect) -> bool:
    return a.x < b.x + b.width and b.x < a.x + a.width and a.y < b.y + b.height and b.y < a.y + a.height


def test_the_board_says_where_its_targets_and_widgets_are(board: Board) -> None:
    assert board.ready["window"] == [X, Y, *BOARD_SIZE]
    window = Rect(*board.ready["window"])
    targets = board.targets()
    assert list(targets) == list(TARGETS)  # calibration order
    assert targets == practice_layout(X, Y)
    widgets = {name: Rect(*box, name=name) for name, box in board.ready["widgets"].items()}
    layout = control_layout(X, Y)
    for name in (*BUTTONS, "Name", "Email", "City", "List", "Status"):
        assert widgets[name] == layout[name]
    for rect in (*targets.values(), *widgets.values()):
        assert inside(window, rect), rect
    for rect in targets.values():  # a target never covers a control, so a click on it is unambiguous
        assert not any(overlap(rect, other) for other in (*widgets.values(), *targets.values()) if other != rect), rect


def test_ocr_reads_the_labels_inside_their_widgets(board: Board) -> None:
    widgets = {name: Rect(*box, name=name) for name, box in board.ready["widgets"].items()}
    with ScreenCapture() as capture:
        shot = capture.grab(0)
    assert shot.monitor.scale == 1.0 and (shot.monitor.x, shot.monitor.y) == (0, 0)  # image px are screen px
    lines = OcrBackend().read(shot.image)  # one OCR pass for every label
    expected = {
        **{name: widgets[name] for name in (*BUTTONS, *FRUITS)},
        **{name: widgets[f"{name} label"] for name in ("Name", "Email", "City")},
        **board.targets(),
    }
    for text, rect in expected.items():
        match = find_text(lines, text)
        assert match is not None and match.how == "exact", (text, match)
        assert rect.contains(*match.point), (text, match.point, rect)


def test_targets_are_reported_in_screen_px_when_qt_scales() -> None:
    """QT_SCALE_FACTOR=1.25: the board is 1.25 times larger on the X screen, and so are its rects."""
    env = {**os.environ, "QT_SCALE_FACTOR": "1.25"}
    with Board(x=0, y=0, env=env) as scaled:
        window = scaled.ready["window"]
        assert window == [0, 0, round(BOARD_SIZE[0] * 1.25), round(BOARD_SIZE[1] * 1.25)]
        with ScreenCapture() as capture:
            image = capture.grab(0).image
        for label, rect in scaled.targets().items():
            local = practice_layout()[label]
            assert abs(rect.x - local.x * 1.25) <= 1 and abs(rect.width - local.width * 1.25) <= 1, (label, rect)
            # the marker's border is drawn where the rect says: the left edge at mid-height has its colour
            mid = rect.y + rect.height // 2
            edge = [image.getpixel((x, mid)) for x in range(rect.x, rect.x + 3)]
            assert any(sum(abs(c - t) for c, t in zip(px, TARGET_BORDER)) < 60 for px in edge), (label, edge)
            outside = image.getpixel((rect.x - 4, mid))
            assert sum(abs(c - t) for c, t in zip(outside, TARGET_BORDER)) > 150, (label, outside)


def run(task: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(DESKPILOT), "run", task, "--backend", "ocr"], capture_output=True, text=True, timeout=180
    )


def test_deskpilot_run_with_ocr_clicks_submit_and_fills_a_field(board: Board) -> None:
    events = Events(board)
    out = run("click Submit")
    assert out.returncode == 0, out.stderr
    events.wait_for(lambda e: e["event"] == "clicked" and e["clicked"] == "Submit")
    events.wait_for(lambda e: e["event"] == "status" and e["text"] == "You clicked Submit")
    press = events.wait_for(lambda e: e["event"] == "press")
    assert press["widget"] == "Submit"
    out = run("type 'Paris' into City")
    assert out.returncode == 0, out.stderr
    events.wait_for(lambda e: e["event"] == "text" and e["widget"] == "City" and e["text"] == "Paris")
    events.wait_for(lambda e: e["event"] == "status" and e["text"] == "City is now: Paris")

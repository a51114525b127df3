"""Small text is read: `deskpilot run "click No" --backend ocr --yes` presses No on real programs in their default,
smallest fonts (X core fonts in xmessage and xterm, Tk's default, GTK at 9 pt), on a bare Xvfb screen.

Each program says what was pressed (xmessage prints the button's name and exits 1 for No; xterm reports the cell
pressed; Tk's box prints False; zenity exits 1), so a test passes only when the click landed on the word. The
detector misses a small dialog amid a large empty frame (issue 18: PP-OCRv6 found nothing of xmessage at the
top-left of a 1280x800 screen); the reader detects the parts of the screen that hold content instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.small_text import (
    XTERM_FIRST_COLUMN,
    ProgramUnavailable,
    gtk_question,
    set_root,
    terminal,
    tk_question,
    xmessage,
    xvfb,
)

pytestmark = pytest.mark.display
DESKPILOT = Path(sys.executable).with_name("deskpilot")


def run(task: str, display: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(DESKPILOT), "run", task, "--backend", "ocr", "--yes"],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "DISPLAY": display},
    )


@pytest.fixture
def screen_1280x800() -> Iterator[str]:
    try:
        with xvfb(1280, 800) as display:
            yield display
    except ProgramUnavailable as exc:
        pytest.skip(str(exc))


def session_display() -> str:
    return os.environ["DISPLAY"]  # pytest-xvfb's, 1920x1080


@pytest.mark.parametrize("root", [[], ["-solid", "steelblue"], ["-gray"]], ids=["black", "blue", "stipple"])
def test_click_no_on_xmessage_at_the_top_left_of_a_1280x800_screen(root: list[str], screen_1280x800: str) -> None:
    """The issue's case: the bare X root (black), a flat colour, and X's grey stipple, which is all edges."""
    try:
        if root:
            set_root(screen_1280x800, root)
        with xmessage(screen_1280x800) as program:
            out = run("click No", screen_1280x800)
            assert out.returncode == 0, out.stderr
            status, printed = program.result()
    except ProgramUnavailable as exc:
        pytest.skip(str(exc))
    assert (status, printed) == (1, "No"), out.stderr


def test_click_no_on_xmessage_at_the_top_left_of_a_1920x1080_screen() -> None:
    try:
        with xmessage(session_display()) as program:
            out = run("click No", session_display())
            assert out.returncode == 0, out.stderr
            status, printed = program.result()
    except ProgramUnavailable as exc:
        pytest.skip(str(exc))
    assert (status, printed) == (1, "No"), out.stderr


def test_click_no_on_xmessage_in_the_middle_of_a_1280x800_screen(screen_1280x800: str) -> None:
    try:
        with xmessage(screen_1280x800, "Delete the three reports?", geometry="+560+380") as program:
            out = run("click No", screen_1280x800)
            assert out.returncode == 0, out.stderr
            status, printed = program.result()
    except ProgramUnavailable as exc:
        pytest.skip(str(exc))
    assert (status, printed) == (1, "No"), out.stderr


def test_click_a_word_of_xterm_text_in_its_default_font(tmp_path: Path) -> None:
    words = "Save Cancel Quit"
    try:
        with terminal(session_display(), words, tmp_path) as program:
            out = run("click Cancel", session_display())
            assert out.returncode == 0, out.stderr
            column, row = program.pressed_cell()
    except ProgramUnavailable as exc:
        pytest.skip(str(exc))
    first = XTERM_FIRST_COLUMN + words.index("Cancel")
    assert row == 1 and first <= column < first + len("Cancel"), (column, row, out.stderr)


def test_click_no_in_tks_default_font() -> None:
    try:
        with tk_question(session_display()) as program:
            out = run("click No", session_display())
            assert out.returncode == 0, out.stderr
            status, printed = program.result()
    except ProgramUnavailable as exc:
        pytest.skip(str(exc))
    assert (status, printed) == (0, "False"), out.stderr


def test_click_no_in_gtk_at_nine_points(tmp_path: Path) -> None:
    try:
        with gtk_question(session_display(), tmp_path, "Proceed at nine points?") as program:
            out = run("click No", session_display())
            assert out.returncode == 0, out.stderr
            status, _ = program.result()
    except ProgramUnavailable as exc:
        pytest.skip(str(exc))
    assert status == 1, out.stderr

"""Issue 18 items 2 and 5: the OCR grounder knows which window each text is in, and says quickly and helpfully
what it could not find.

First without X: the windows' ranks, a window found by its title, a column header against a label, the windows'
places on the picture. Then real apps on a private Xvfb under openbox, through `deskpilot run`, none of them given
the keyboard focus by the test (usertrial-2026-12, trials 2, 3 and 5a): two overlapping Tk windows that both show
"File", zenity's file chooser whose list has a "Name" column header, and a busy screen with a misspelled target.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from agent.backends.base import PictureWindow, picture_windows
from agent.backends.ocr.fields import Field, column_header
from agent.backends.ocr.grammar import NeedsModel, parse_task
from agent.backends.ocr.match import Match, OcrLine, find_all, find_text
from agent.backends.ocr.windows import Layout
from agent.events import ReplyParsed
from agent.parsing import ParsedAction
from app.event_lines import THOUGHT_CHARS, event_line
from sandbox.actions import Click, Finish
from sandbox.desktops.base import TopWindow
from sandbox.geometry import ModelFrame, ModelSpace, Rect
from tests.helpers.entry_apps import private_display

DESKPILOT = Path(sys.executable).with_name("deskpilot")
HELPERS = Path(__file__).resolve().parent / "helpers"


def box(x1: float, y1: float, x2: float, y2: float) -> list[tuple[float, float]]:
    return [(x1, y1), (x2, y1), (x2, y2), (x1, y2)]


def window(rect: tuple[int, int, int, int], title: str, order: int, *, focused: bool = False) -> PictureWindow:
    return PictureWindow(rect=rect, title=title, focused=focused, order=order)


# --- without X ------------------------------------------------------------------------------------------------

BACK = window((0, 0, 600, 400), "galculator", 0)
FRONT = window((300, 100, 1000, 700), "Untitled 1 - Mousepad", 1, focused=True)
OURS = PictureWindow(rect=(1000, 0, 1200, 200), title="deskpilot", focused=False, order=2, deskpilot=True)


def test_of_two_equal_matches_the_one_in_the_focused_window_wins() -> None:
    """usertrial trial 2: "File Edit View Calculator Help" (galculator, behind) was a better word match than
    mousepad's longer menu line, and `click File` opened galculator's menu."""
    lines = [
        OcrLine("File Edit View Calculator Help", box(10, 10, 300, 30), 0.99),
        OcrLine("File Edit Search View Document Help", box(310, 130, 700, 150), 0.99),
    ]
    assert find_text(lines, "File").line.startswith("File Edit View")  # type: ignore[union-attr]  # by text alone
    layout = Layout((BACK, FRONT, OURS))
    chosen = layout.choose(find_all(lines, "File"), None)
    assert chosen is not None and chosen.line.startswith("File Edit Search")
    exact_behind = [*lines, OcrLine("File", box(10, 40, 50, 60), 0.99)]
    chosen = layout.choose(find_all(exact_behind, "File"), None)
    assert chosen is not None and chosen.how == "exact"  # a better tier still wins over the window
    assert Layout().choose(find_all(lines, "File"), None) == find_text(lines, "File")  # no windows: as before


def test_a_window_is_found_by_its_title_and_deskpilots_own_texts_are_never_chosen() -> None:
    layout = Layout((BACK, FRONT, OURS))
    assert layout.titled("Mousepad") == (FRONT,) and layout.titled('"Untitled 1"') == ()
    assert layout.titled("Untitled 1") == (FRONT,) and layout.titled("galculator") == (BACK,)
    assert layout.titled("deskpilot") == ()  # deskpilot's windows are never a target's window
    lines = [OcrLine("File", box(10, 10, 50, 30), 0.99), OcrLine("File", box(320, 130, 360, 150), 0.99)]
    chosen = layout.choose(find_all(lines, "File"), layout.titled("galculator"))
    assert chosen is not None and chosen.point == (30, 20)
    ours = [OcrLine("Calibrate", box(1010, 10, 1100, 30), 0.99)]
    assert layout.choose(find_all(ours, "Calibrate"), None) is None
    assert layout.lines(ours) == []


def test_a_column_header_is_told_from_a_label() -> None:
    """GTK's file chooser: "Name:" beside the entry, and "Name  Size  Modified" above the list of files."""
    header = OcrLine("Name", box(100, 200, 150, 216), 0.99)
    row = [OcrLine("Size", box(400, 200, 440, 216), 0.99), OcrLine("Modified", box(500, 200, 580, 216), 0.99)]
    items = [OcrLine("alpha.txt", box(102, 224, 180, 240), 0.99)]
    guess = Field((0, 0, 0, 0), "guess", (0, 0))
    match = find_text([header], "Name")
    assert isinstance(match, Match)
    assert column_header(match, guess, [header, *row])  # an empty list: a row of three
    assert column_header(match, guess, [header, row[0], *items])  # a row of two above an item
    assert not column_header(match, guess, [header, *items])  # a label above a line of text
    label = find_text([OcrLine("Name:", box(100, 50, 150, 66), 0.99)], "Name")
    assert isinstance(label, Match) and not column_header(label, guess, [*row, *items])
    beside = Field((160, 46, 600, 70), "right", (380, 58))  # a form's label and its field's own text
    form = [OcrLine("First name", box(100, 50, 150, 66), 0.99), OcrLine("Ada", box(170, 50, 200, 66), 0.99)]
    first = find_text(form, "First name")
    assert isinstance(first, Match) and not column_header(first, beside, [*form, items[0]])


def test_windows_are_placed_on_the_picture_through_its_frame() -> None:
    """A right-hand monitor at x=1920, half-scale picture: screen px -> the picture's px, clipped, off ones gone."""
    frame = ModelFrame(shot_width=1280, shot_height=1024, space=ModelSpace.absolute(640, 512), origin_x=1920)
    top = [
        TopWindow(id=1, rect=Rect(2020, 100, 400, 300), clicks=(), deskpilot_pid=None, focused=False, title="a"),
        TopWindow(id=2, rect=Rect(100, 100, 400, 300), clicks=(), deskpilot_pid=None, focused=False, title="off"),
        TopWindow(id=3, rect=Rect(3000, 900, 400, 300), clicks=(), deskpilot_pid=7, focused=True, title="b"),
    ]
    placed = picture_windows(top, frame, (640, 512))
    assert placed == (
        PictureWindow(rect=(50, 50, 250, 200), title="a", focused=False, order=0),
        PictureWindow(rect=(540, 450, 640, 512), title="b", focused=True, order=2, deskpilot=True),
    )


def test_the_thought_that_ends_a_run_is_shown_whole_help_included() -> None:
    """usertrial trial 5a: the command line cut `clik 7`'s refusal at 160 characters, before its examples."""
    refusal = parse_task("clik 7")
    assert isinstance(refusal, NeedsModel) and len(refusal.reason) > 300
    finish = ParsedAction(action=Finish("failure"), model={}, source="")
    click = ParsedAction(action=Click(10, 10), model={}, source="")
    ended = event_line(ReplyParsed(step=1, thought=f"{refusal.reason}\nmore", actions=(finish,), parse_s=0.0))
    assert ended == f"step 1: thought: {refusal.reason}" and "点击 保存" in ended  # the last example
    going = event_line(ReplyParsed(step=1, thought=refusal.reason, actions=(click,), parse_s=0.0))
    assert going is not None and going.endswith("…") and len(going) == len("step 1: thought: ") + THOUGHT_CHARS


# --- real apps under a window manager ---------------------------------------------------------------------------


def deskpilot_run(task: str, display: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(DESKPILOT), "run", task, "--backend", "ocr", "--yes", "--no-record"],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "DISPLAY": display},
    )


@contextmanager
def words_app(
    display: str,
    title: str,
    x: int,
    y: int,
    words: list[str],
    *,
    line: str | None = None,
    columns: int = 1,
    mark: int | None = None,
) -> Iterator[subprocess.Popen[str]]:
    """tests/helpers/tk_words.py, shown (its ready line read); killed on exit."""
    command = [sys.executable, str(HELPERS / "tk_words.py"), "--title", title, "--x", str(x), "--y", str(y)]
    command += ["--words", ",".join(words), "--columns", str(columns)] + (["--mark", str(mark)] if mark else [])
    command += ["--line", line] if line is not None else []
    app = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env={**os.environ, "DISPLAY": display})
    try:
        assert app.stdout is not None
        assert json.loads(app.stdout.readline())["event"] == "ready"
        yield app
    finally:
        if app.poll() is None:
            app.kill()
        app.wait(10)


def clicks(app: subprocess.Popen[str]) -> list[str]:
    """The words pressed in a words app so far (it is ended to read them)."""
    app.kill()
    out, _ = app.communicate(timeout=10)
    return [json.loads(line)["word"] for line in out.splitlines() if line.strip()]


def needs(*programs: str) -> None:
    import shutil

    missing = [p for p in programs if shutil.which(p) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (make system)")


@pytest.mark.display
def test_click_presses_the_front_one_of_two_overlapping_windows_showing_file() -> None:
    """usertrial trial 2: the back window's shorter menu line ("File Edit View Help", as galculator's) was the better
    word match than the focused window's longer one, and `click File` opened the back window's menu."""
    needs("openbox")
    back_menu, front_menu = "File Edit View Help", "File Edit Search View Document Help"
    with private_display(window_manager=True) as display:
        with (
            words_app(display, "back words", 100, 100, ["Open", "Close"], line=back_menu) as back,
            words_app(display, "front words", 250, 150, ["Save"], line=front_menu) as front,  # mapped last: in front
        ):
            out = deskpilot_run("click File", display)
            assert out.returncode == 0, out.stderr
            assert clicks(front) == [front_menu] and clicks(back) == []
        with (
            words_app(display, "back words", 100, 100, ["Open", "Close"], line=back_menu) as back,
            words_app(display, "front words", 250, 150, ["Save"], line=front_menu) as front,
        ):
            out = deskpilot_run('click File in the "back words" window', display)
            assert out.returncode == 0, out.stderr
            assert clicks(back) == [back_menu] and clicks(front) == []


@pytest.mark.display
def test_type_into_name_in_gtks_file_chooser_fills_the_entry_not_the_column_header(tmp_path: Path) -> None:
    """usertrial trial 3: `into Name` clicked the list's "Name" column header and reported a false failure."""
    needs("openbox", "zenity")
    for name in ("alpha.txt", "beta.txt", "gamma.txt"):
        (tmp_path / name).write_text("x")
    command = ["zenity", "--file-selection", "--save", "--title", "deskpilot save", f"--filename={tmp_path}/"]
    with private_display(window_manager=True) as display:
        dialog = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "DISPLAY": display},
        )
        try:
            found = subprocess.run(
                ["xdotool", "search", "--sync", "--onlyvisible", "--name", "^deskpilot save$"],
                capture_output=True,
                timeout=30,
                env={**os.environ, "DISPLAY": display},
            )
            assert found.returncode == 0
            out = deskpilot_run('type "x-report.txt" into Name then click OK', display)
            assert out.returncode == 0, out.stderr
            printed, _ = dialog.communicate(timeout=15)
            assert printed.endswith("/x-report.txt\n"), printed
        finally:
            if dialog.poll() is None:
                dialog.kill()
            dialog.wait(10)


FILLER = ("Apple", "Banana", "Cabin", "Delphi", "Eagle", "Fable", "Gamble", "Hello", "Index", "Jungle", "Kayak")
FILLER += ("Lemon", "Mango", "Nickel", "Olive", "Panel", "Model", "Yellow", "Window", "Volume", "Humble", "Global")
NEAR = ("sqrt", "Stair", "Square", "Sort", "Squad")  # nearest to "sqtr" first: 0.75, 0.67, 0.6, 0.5, 0.44
OWN = ("sqtr", "sqtrs", "Sqtr on")  # deskpilot's own window: nearer still, and never named


@pytest.mark.display
def test_a_misspelled_target_on_a_busy_screen_names_the_five_nearest_texts_not_deskpilots() -> None:
    """usertrial trial 5a: `click sqtr` gave up after 15 s, listing mostly deskpilot's own texts. The five texts
    spelled most like it are named (a typo answers on the first look: no look again), and a window carrying
    deskpilot's mark (another deskpilot process's) is neither clicked nor quoted."""
    needs("openbox")
    busy = [f"{word} {n}" for n in range(1, 9) for word in FILLER]  # 176 texts
    words = busy[:90] + list(NEAR) + busy[90:]
    with (
        private_display(window_manager=True) as display,
        words_app(display, "deskpilot", 1500, 40, list(OWN), mark=4242) as own,
        words_app(display, "busy words", 20, 40, words, columns=11) as app,
    ):
        out = deskpilot_run("click sqtr", display)
        assert out.returncode == 1, out.stderr
        named = re.search(r"Could not find 'sqtr' on the screen \(nearest by spelling: (.*)\)", out.stderr)
        assert named is not None, out.stderr
        assert re.findall(r"'([^']*)'", named.group(1)) == list(NEAR)
        assert "looking again" not in out.stderr  # the typo was answered on the first look
        assert clicks(app) == [] and clicks(own) == []

"""Typed text reaches apps no one here wrote, as a person's typing does (issue 17, input every app accepts).

pynput sent keys with XSendEvent: xterm ignores such synthetic events, and a GTK3 entry on a display without a
window manager received nothing, while `deskpilot act` said `"executed": true`. Every key now goes through
XTest (sandbox/desktops/x11_input.py). Each app here gets all printable ASCII plus `ñ Ω 中文` through
`deskpilot act` (a click on the field, then a type: separate calls, as an agent makes them) and through a run
(`deskpilot run --backend scripted`, a click then a type). No test gives the keyboard focus by hand: the click
does, as for a person (without a window manager, X's focus follows the pointer).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.families import get_family, model_input_size
from tests.helpers.cli import DESKPILOT
from tests.helpers.entry_apps import AppUnavailable, EntryApp, Terminal, private_display, wait_for_file

pytestmark = pytest.mark.display
TEXT = "".join(chr(c) for c in range(0x20, 0x7F)) + " ñ Ω 中文"
SCREEN = (1920, 1080)  # pytest-xvfb's (pyproject.toml) and private_display's
FAMILY = get_family("qwen2.5-vl")


def act(action: dict[str, object], display: str) -> dict[str, object]:
    """`deskpilot act ACTION --yes` on `display` (--yes: the text rules want some of ASCII's symbols confirmed)."""
    out = subprocess.run(
        [str(DESKPILOT), "act", json.dumps(action, ensure_ascii=False), "--yes"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DISPLAY": display},
    )
    assert out.returncode == 0, out.stderr
    report: dict[str, object] = json.loads(out.stdout)
    assert report["executed"] is True, report
    return report


def call(action: str, **arguments: object) -> str:
    body = json.dumps({"name": "computer_use", "arguments": {"action": action, **arguments}}, ensure_ascii=False)
    return f"<tool_call>\n{body}\n</tool_call>"


def run(point: tuple[int, int], text: str, display: str, folder: Path, *, enter: bool = False) -> None:
    """`deskpilot run --backend scripted`: click `point`, type `text` (then Enter), finish."""
    width, height = model_input_size(FAMILY, *SCREEN)
    model_point = [round(point[0] * width / SCREEN[0]), round(point[1] * height / SCREEN[1])]
    replies = [call("left_click", coordinate=model_point), call("type", text=text)]
    replies += [call("key", keys=["enter"])] if enter else []
    replies += [call("terminate", status="success")]
    script = folder / "script.jsonl"
    script.write_text("".join(json.dumps({"raw": r}, ensure_ascii=False) + "\n" for r in replies), encoding="utf-8")
    out = subprocess.run(
        [str(DESKPILOT), "run", "type into the field", "--backend", "scripted", "--script", str(script)]
        + ["--family", FAMILY.name, "--yes", "--no-record"],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "DISPLAY": display},
    )
    assert out.returncode == 0, out.stderr


def type_into(point: tuple[int, int], text: str, display: str, folder: Path, through: str, *, enter: bool) -> None:
    if through == "act":
        act({"kind": "click", "x": point[0], "y": point[1]}, display)
        act({"kind": "type", "text": text}, display)
        if enter:
            act({"kind": "hotkey", "keys": ["enter"]}, display)
    else:
        run(point, text, display, folder, enter=enter)


@pytest.fixture
def shared_display() -> str:
    return os.environ["DISPLAY"]


@pytest.fixture
def openbox_display() -> Iterator[str]:
    try:
        with private_display(window_manager=True) as display:
            yield display
    except AppUnavailable as exc:
        pytest.skip(str(exc))


def _entry_app(kind: str, display: str) -> EntryApp:
    try:
        return EntryApp(kind, display=display)
    except AppUnavailable as exc:
        pytest.skip(str(exc))


def _terminal(folder: Path, display: str, command: str | None = None) -> Terminal:
    try:
        return Terminal(folder, display=display, command=command)
    except AppUnavailable as exc:
        pytest.skip(str(exc))


THROUGH = ["act", "run"]


@pytest.mark.parametrize("through", THROUGH)
def test_xterm_gets_every_character(through: str, shared_display: str, tmp_path: Path) -> None:
    with _terminal(tmp_path, shared_display) as terminal:
        type_into(terminal.centre, TEXT, shared_display, tmp_path, through, enter=True)
        wait_for_file(terminal.file, TEXT + "\n")


@pytest.mark.parametrize("through", THROUGH)
@pytest.mark.parametrize("kind", ["gtk", "qt", "tk"])
def test_an_entry_without_a_window_manager_gets_every_character(
    kind: str, through: str, shared_display: str, tmp_path: Path
) -> None:
    with _entry_app(kind, shared_display) as app:
        type_into(app.centre, TEXT, shared_display, tmp_path, through, enter=False)
        app.wait_for_text(TEXT)


@pytest.mark.parametrize("through", THROUGH)
def test_a_gtk_entry_under_openbox_gets_every_character(through: str, openbox_display: str, tmp_path: Path) -> None:
    with _entry_app("gtk", openbox_display) as app:
        type_into(app.centre, TEXT, openbox_display, tmp_path, through, enter=False)
        app.wait_for_text(TEXT)


def test_a_command_typed_into_a_shell_runs(shared_display: str, tmp_path: Path) -> None:
    """`echo ok > FILE` and Enter, into xterm's shell, writes FILE."""
    done = tmp_path / "done.txt"
    with _terminal(tmp_path, shared_display, command="exec sh -i") as terminal:
        act({"kind": "click", "x": terminal.centre[0], "y": terminal.centre[1]}, shared_display)
        act({"kind": "type", "text": f"echo ok > {done}"}, shared_display)
        act({"kind": "hotkey", "keys": ["enter"]}, shared_display)
        wait_for_file(done, "ok\n")


def test_a_german_layout_types_what_was_asked(tmp_path: Path) -> None:
    """Shift and AltGr levels come from the live keymap: on `de`, y and z swap keys and @ is AltGr+q."""
    with private_display(layout="de") as display, _terminal(tmp_path, display) as terminal:
        type_into(terminal.centre, "yz@ " + TEXT, display, tmp_path, "act", enter=True)
        wait_for_file(terminal.file, "yz@ " + TEXT + "\n")

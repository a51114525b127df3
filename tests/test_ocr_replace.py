"""`type X into F` replaces what F holds, `append X to F` adds to its end, and the OCR grounder checks the field
before and after: exactly X after a replace, the old text and X after an append, password dots only where the
field was empty or dots and the dots grew by the typed length (the red team's N3: a field showing `0.00` is not
dots). A target not on the screen yet is looked for once more before "Could not find".

The comparisons on texts (no OCR); the backend with real rapidocr on drawn frames; then real apps on Xvfb
(zenity's GTK entry, with and without a window manager; a Tk form; a Qt form) through `deskpilot run`, none of
them given the keyboard focus by the test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image

from agent.backends.base import ModelReply, ModelRequest
from agent.backends.ocr.backend import OcrBackend
from agent.backends.ocr.engine import RapidEngine
from agent.backends.ocr.match import OcrLine, dots, dots_show_typed, field_shows, masked, words_inside
from agent.families import get_family, model_frame
from agent.parsing import ParsedReply, parse_reply
from agent.prompts import build_messages
from sandbox.actions import Click, Finish, Hotkey, Type, Wait
from sandbox.stop import StopFlag
from tests.helpers.entry_apps import private_display
from tests.helpers.panel import Field, draw_panel, inside

FAMILY = get_family("qwen2.5-vl")
SIZE = (896, 420)
DESKPILOT = Path(sys.executable).with_name("deskpilot")
HELPERS = Path(__file__).resolve().parent / "helpers"
FIELD = (200, 40, 700, 76)  # the field right of its label
OK = (580, 330, 680, 366)
CONFIRM = (230, 190, 330, 230)  # around the word drawn at (240, 200)

# --- the comparisons -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seen", "typed", "before", "shown"),
    [
        ("report-2026.txt", "report-2026.txt", "draft.txt", True),
        ("draft.txtreport-2026.txt", "report-2026.txt", "draft.txt", False),  # the pre-filled field
        ("report-2026.txt", "report-2026.txt", "", True),
        ("rep0rt-2026.txt", "report-2026.txt", "draft.txt", True),  # an OCR confusion
        ("report-2026.txl", "report-2026.txt", "draft.txt", True),  # one misread character in fifteen
        ("Adal", "Ada", "", True),  # the caret read as a letter
        ("Ada Lovelace", "Lovelace", "Ada", False),  # typed after what the field held: not a replace
        ("ahello world", "hello world", "a", False),  # close, but the old text explains the difference
        ("ovelace@example.com", "ada.lovelace@example.com", "", True),  # the field scrolled to the end
        ("0.00", "42.50", "0.00", False),  # N3: the text went elsewhere
        ("42.5", "42.50", "0.00", False),
        ("", "Ada", "", False),
    ],
)
def test_after_a_replace_the_field_shows_exactly_the_text(seen: str, typed: str, before: str, shown: bool) -> None:
    assert field_shows(seen, typed, before=before, append=False) is shown


@pytest.mark.parametrize(
    ("seen", "typed", "before", "shown"),
    [
        ("draft.txt", ".txt", "draft", True),
        ("Ada Lovelace", " Lovelace", "Ada", True),
        ("Lovelace", "Lovelace", "", True),
        (".txt", ".txt", "draft", False),  # the old text was replaced
        ("draft", ".txt", "draft", False),  # nothing arrived
        ("draft.txt.txt", ".txt", "draft", False),
    ],
)
def test_after_an_append_the_field_shows_the_old_text_and_then_the_new(
    seen: str, typed: str, before: str, shown: bool
) -> None:
    assert field_shows(seen, typed, before=before, append=True) is shown


def test_a_line_run_on_from_the_label_gives_the_field_its_words() -> None:
    """Qt's "Last name" and the "Byron" in the field right of it came back as one detected line."""
    line = OcrLine("Last name Byron", ((0, 0), (150, 0), (150, 20), (0, 20)), 0.9)  # 10 px a character
    assert words_inside(line, 100, 300) == "Byron" and words_inside(line, 0, 100) == "Last name"


def test_numbers_and_single_marks_are_never_dots() -> None:
    for text in ("0", "0.00", "000000", ".", "....", "o", "c", "0,00", "O"):
        assert dots(text) is None, text
        assert not masked(text, "42.50"), text
    assert (
        dots("oo..o.") == 6 and dots("●〇〇〇〇〇") == 6 and dots("一〇〇〇〇〇一一") == 8 and dots("********|") == 8
    )  # a caret left out
    assert masked("oo..o.", "secret") and not masked("oo..o.", "a much longer secret")


def test_dots_count_only_when_they_grew_from_none_or_dots_by_the_typed_length() -> None:
    assert dots_show_typed((), ("oo..o.",), "secret", append=False)
    assert dots_show_typed(("oooo",), ("oooooooo",), "abcd", append=True)
    assert not dots_show_typed(("0.00",), ("0.00",), "42.50", append=False)  # N3
    assert not dots_show_typed(("0.00",), ("oo..o.",), "secret", append=False)  # text before, not dots
    assert not dots_show_typed(("Coco",), ("Coco",), "1234", append=False)  # the same "dots" again
    assert not dots_show_typed(("********",), ("********",), "pass1234", append=False)
    assert not dots_show_typed(("oooo",), ("oooo",), "abcd", append=True)  # they did not grow
    assert not dots_show_typed((), ("Password",), "secret", append=False)


# --- the backend on drawn frames -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine() -> RapidEngine:
    pytest.importorskip("rapidocr")
    started = RapidEngine()
    started.warm_up()
    return started


def form(label: str, text: str, *, extra: dict[str, tuple[int, int]] | None = None) -> Image.Image:
    """A label left of a bordered field showing `text`, and an OK button."""
    words = {label: (40, 48), "OK": (614, 338), **(extra or {})}
    return draw_panel(SIZE, words, (Field(FIELD, text), Field(OK))).image


def request(task: str, image: Image.Image, step: int, feedback: str | None = None) -> ModelRequest:
    messages = build_messages(FAMILY, task, image)
    return ModelRequest(family=FAMILY, messages=messages, task=task, image=image, step=step, feedback=feedback)


def generate(backend: OcrBackend, task: str, image: Image.Image, step: int, feedback: str | None = None) -> ModelReply:
    return backend.generate(request(task, image, step, feedback), stop=StopFlag())


def parsed(reply: ModelReply, image: Image.Image) -> ParsedReply:
    return parse_reply(reply.raw, family=FAMILY, frame=model_frame(FAMILY, *image.size))


def actions(reply: ModelReply, image: Image.Image) -> list[object]:
    return [p.action for p in parsed(reply, image).actions]


def test_a_prefilled_field_is_replaced_and_checked_to_show_exactly_the_text(engine: RapidEngine) -> None:
    task = 'type "report-2026.txt" into File name then click OK'
    before = form("File name", "draft.txt")
    backend = OcrBackend(engine=engine)
    click, typed = actions(generate(backend, task, before, 1), before)
    assert isinstance(click, Click) and click.count == 3 and inside((click.x, click.y), FIELD)  # selects it all
    assert typed == Type("report-2026.txt")
    good = form("File name", "report-2026.txt")
    [ok] = actions(generate(backend, task, good, 2), good)
    assert isinstance(ok, Click) and inside((ok.x, ok.y), OK)

    backend = OcrBackend(engine=engine)
    generate(backend, task, before, 1)
    stayed = form("File name", "draft.txtreport-2026.txt")  # the old text stayed: what the issue saw
    reply = generate(backend, task, stayed, 2)
    assert actions(reply, stayed) == [Finish("failure")]
    thought = parsed(reply, stayed).thought or ""
    assert "now shows 'draft.txtreport-2026.txt' where it should show exactly 'report-2026.txt'" in thought


def test_an_append_goes_to_the_end_and_is_checked_against_the_old_text(engine: RapidEngine) -> None:
    task = 'append ".txt" to File name then click OK'
    before = form("File name", "draft")
    backend = OcrBackend(engine=engine)
    click, end, typed = actions(generate(backend, task, before, 1), before)
    assert isinstance(click, Click) and click.count == 1 and inside((click.x, click.y), FIELD)
    assert (end, typed) == (Hotkey(("end",)), Type(".txt"))
    good = form("File name", "draft.txt")
    [ok] = actions(generate(backend, task, good, 2), good)
    assert isinstance(ok, Click) and inside((ok.x, ok.y), OK)

    backend = OcrBackend(engine=engine)
    generate(backend, task, before, 1)
    replaced = form("File name", ".txt")
    reply = generate(backend, task, replaced, 2)
    assert actions(reply, replaced) == [Finish("failure")]
    assert "should show 'draft.txt'" in (parsed(reply, replaced).thought or "")


def test_a_field_showing_0_00_that_did_not_take_the_text_fails_the_step(engine: RapidEngine) -> None:
    """The red team's N3 on a drawn form: before, `masked('0.00', '42.50')` took the field's 0.00 for dots."""
    task = "type 42.50 into Amount"
    amount = form("Amount", "0.00")
    backend = OcrBackend(engine=engine)
    generate(backend, task, amount, 1)
    reply = generate(backend, task, amount, 2)  # the keys went elsewhere: the field still shows 0.00
    assert actions(reply, amount) == [Finish("failure")]
    assert "that field now shows '0.00' where it should show exactly '42.50'" in (parsed(reply, amount).thought or "")


def test_a_missing_target_is_looked_for_once_more_and_the_plan_does_not_move_on(engine: RapidEngine) -> None:
    task = "click Open then click Confirm then click OK"
    empty = form("Name", "")
    opened = form("Name", "", extra={"Open": (40, 200)})
    dialog = form("Name", "", extra={"Open": (40, 200), "Confirm": (240, 200)})
    backend = OcrBackend(engine=engine)
    [open_] = actions(generate(backend, task, opened, 1), opened)
    assert isinstance(open_, Click)
    first = generate(backend, task, opened, 2)  # Confirm is not there yet: look again
    assert first.look_again and first.follows_plan and actions(first, opened) == [Wait(1.0)]
    second = generate(backend, task, dialog, 2)  # the same step, asked again on a fresh picture
    [confirm] = actions(second, dialog)
    assert not second.look_again and isinstance(confirm, Click) and (confirm.x, confirm.y) != (open_.x, open_.y)
    [ok] = actions(generate(backend, task, dialog, 3), dialog)  # then the next step, not the one after
    assert isinstance(ok, Click) and inside((ok.x, ok.y), OK)
    assert actions(generate(backend, task, dialog, 4), dialog) == [Finish("success")]

    backend = OcrBackend(engine=engine)
    generate(backend, task, empty, 1)
    missing = generate(backend, task, empty, 1)  # step 1 asked again is the second look, not a new run
    assert not missing.look_again and actions(missing, empty) == [Finish("failure")]
    assert (parsed(missing, empty).thought or "").startswith("Could not find 'Open' on the screen")


def test_a_second_look_after_feedback_redoes_the_same_step_not_the_one_before(engine: RapidEngine) -> None:
    task = "click OK then click Confirm then click Name"
    screen = form("Name", "", extra={"Confirm": (240, 200)})
    bare = form("Name", "")
    backend = OcrBackend(engine=engine)
    generate(backend, task, screen, 1)  # OK
    [confirm] = actions(generate(backend, task, screen, 2), screen)
    assert isinstance(confirm, Click) and inside((confirm.x, confirm.y), CONFIRM)
    refused = "That action was refused (own_window: ...). Do something else."
    again = generate(backend, task, bare, 3, feedback=refused)  # Confirm is redone, and is gone for a moment
    assert again.look_again
    redo = generate(backend, task, screen, 3, feedback=refused)  # the loop asks again, with the same feedback
    [click] = actions(redo, screen)
    assert isinstance(click, Click) and inside((click.x, click.y), CONFIRM)  # not OK: feedback not taken twice
    [name] = actions(generate(backend, task, screen, 4), screen)
    assert isinstance(name, Click) and name.x < 200


def test_a_loop_that_carries_out_the_wait_gets_the_second_look_on_the_next_step(engine: RapidEngine) -> None:
    task = "click Confirm"
    bare, shown = form("Name", ""), form("Name", "", extra={"Confirm": (240, 200)})
    backend = OcrBackend(engine=engine)
    assert generate(backend, task, bare, 1).look_again
    missing = generate(backend, task, bare, 2)
    assert actions(missing, bare) == [Finish("failure")]
    backend = OcrBackend(engine=engine)
    generate(backend, task, bare, 1)
    [confirm] = actions(generate(backend, task, shown, 2), shown)
    assert isinstance(confirm, Click)


# --- real apps on Xvfb -----------------------------------------------------------------------------------------


def deskpilot_run(task: str, display: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **({"DISPLAY": display} if display else {})}
    return subprocess.run(
        [str(DESKPILOT), "run", task, "--backend", "ocr", "--yes", "--no-record"],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )


@contextmanager
def started(command: list[str], display: str | None = None) -> Iterator[subprocess.Popen[str]]:
    env = {**os.environ, **({"DISPLAY": display} if display else {}), "QT_QPA_PLATFORM": "xcb"}
    app = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        yield app
    finally:
        if app.poll() is None:
            app.kill()
        app.wait(10)


def wait_for_window(title: str, display: str | None = None) -> None:
    """Until a window named `title` is shown (xdotool only looks; nothing gives it the focus)."""
    env = {**os.environ, **({"DISPLAY": display} if display else {})}
    found = subprocess.run(
        ["xdotool", "search", "--sync", "--onlyvisible", "--name", f"^{title}$"],
        capture_output=True,
        timeout=30,
        env=env,
    )
    assert found.returncode == 0, f"no window named {title!r}"


@pytest.mark.display
@pytest.mark.parametrize("window_manager", [False, True], ids=["bare", "openbox"])
def test_a_prefilled_zenity_entry_ends_holding_exactly_the_typed_name(window_manager: bool) -> None:
    """The issue's case: zenity printed `draft.txtreport-2026.txt` and deskpilot said success."""
    if shutil.which("zenity") is None or shutil.which("xdotool") is None:
        pytest.skip("needs zenity and xdotool (make system)")
    with private_display(window_manager=True) if window_manager else _session_display() as display:
        title = "deskpilot zenity entry"
        command = ["zenity", "--entry", "--title", title, "--text=File name:", "--entry-text=draft.txt"]
        with started(command, display) as dialog:
            wait_for_window(title, display)
            out = deskpilot_run('type "report-2026.txt" into File name then click OK', display)
            assert out.returncode == 0, out.stderr
            printed, _ = dialog.communicate(timeout=15)
            assert printed == "report-2026.txt\n"


@pytest.mark.display
def test_an_append_to_a_zenity_entry_keeps_what_it_held() -> None:
    if shutil.which("zenity") is None or shutil.which("xdotool") is None:
        pytest.skip("needs zenity and xdotool (make system)")
    title = "deskpilot zenity append"
    command = ["zenity", "--entry", "--title", title, "--text=File name:", "--entry-text=draft"]
    with started(command) as dialog:
        wait_for_window(title)
        out = deskpilot_run('append ".txt" to File name then click OK')
        assert out.returncode == 0, out.stderr
        printed, _ = dialog.communicate(timeout=15)
        assert printed == "draft.txt\n"


@contextmanager
def _session_display() -> Iterator[str | None]:
    yield None  # the session's Xvfb (pytest-xvfb set DISPLAY)


def tk_form(*args: str) -> list[str]:
    return [sys.executable, str(HELPERS / "tk_form.py"), "--x", "300", "--y", "220", *args]


def read_event(app: subprocess.Popen[str], kind: str) -> dict[str, object]:
    assert app.stdout is not None
    line = app.stdout.readline()
    event = json.loads(line) if line else {}
    assert event.get("event") == kind, (kind, line)
    return event


@pytest.mark.display
def test_red_team_n3_a_tk_amount_showing_0_00_that_does_not_take_the_text_fails_the_run() -> None:
    """N3 end to end: "Message" has the focus, "Amount" is disabled and shows 0.00. On 203bfa4 the run said
    success (its 0.00 read as password dots) while 42.50 went into Message."""
    command = tk_form("--field", "Message=", "--field", "Amount=0.00", "--disabled", "Amount", "--focus", "Message")
    with started(command) as app:
        read_event(app, "ready")
        out = deskpilot_run("type 42.50 into Amount")
        assert out.returncode == 1, out.stderr
        assert "now shows '0.00' where it should show exactly '42.50'" in out.stderr


@pytest.mark.display
def test_a_tk_form_replaces_one_field_and_appends_to_another() -> None:
    """Tk's entry has no ctrl+a select-all (ctrl+a goes to the line's start): the triple click selects it all."""
    command = tk_form("--field", "Name=draft.txt", "--field", "Notes=first")
    with started(command) as app:
        read_event(app, "ready")
        out = deskpilot_run('type "report-2026.txt" into Name then append ", second" to Notes then click OK')
        assert out.returncode == 0, out.stderr
        assert read_event(app, "ok")["texts"] == {"Name": "report-2026.txt", "Notes": "first, second"}


@pytest.mark.display
def test_a_qt_form_replaces_one_field_and_appends_to_another() -> None:
    command = [sys.executable, str(HELPERS / "qt_form.py"), "--x", "300", "--y", "200"]
    with started([*command, "--text", "First name=draft", "--text", "Last name=Byron"]) as app:
        read_event(app, "ready")
        out = deskpilot_run('type "Ada" into First name then append " King" to Last name then click Save')
        assert out.returncode == 0, out.stderr
        texts = read_event(app, "saved")["texts"]
        assert texts == {"First name": "Ada", "Last name": "Byron King", "Email address": ""}

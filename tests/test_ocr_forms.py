"""'type X into <label>' finds the field the label names, with or without a colon, beside it or below it, and
checks on the next frame that the text shows there; a real GTK form (zenity) and a real Qt form on Xvfb.

The field finder is tested on drawn forms (no OCR: the label's box is where it was drawn); the backend with real
rapidocr on drawn frames that change as typing would change them; zenity and Qt with `deskpilot run`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from agent.backends.base import ModelRequest
from agent.backends.ocr.backend import OcrBackend
from agent.backends.ocr.engine import RapidEngine
from agent.backends.ocr.fields import LABEL_GAP_HEIGHTS, find_field
from agent.backends.ocr.match import Match, field_shows, masked
from agent.families import get_family, model_frame
from agent.parsing import ParsedReply, parse_reply
from agent.prompts import build_messages
from sandbox.actions import Click, Finish, Type
from sandbox.stop import StopFlag
from tests.helpers.panel import Box, Drawn, Field, draw_panel, inside

FAMILY = get_family("qwen2.5-vl")
SIZE = (896, 420)  # a size Qwen2.5-VL keeps: the backend's pixels are the model's
DESKPILOT = Path(sys.executable).with_name("deskpilot")
QT_FORM = Path(__file__).resolve().parent / "helpers" / "qt_form.py"
GTK_BORDER, GTK_WINDOW = (205, 199, 194), (246, 245, 244)  # Adwaita's entry border and window, as zenity draws them
FIELDS = {"First name": (200, 40, 620, 76), "Last name": (200, 92, 620, 128), "Email": (200, 144, 620, 180)}
BUTTONS = {"Cancel": (400, 330, 500, 366), "OK": (520, 330, 620, 366)}


def as_match(text: str, box: Box, pad: int = 3) -> Match:
    """What find_text gives for a text drawn in `box` (the detector's box is a little larger than the ink)."""
    line = (box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad)
    centre = ((line[0] + line[2]) // 2, (line[1] + line[3]) // 2)
    return Match(text, centre, line, line, "exact", 1.0, 0.99, text.rstrip().endswith(":"))


def rgb(drawn: Drawn) -> np.ndarray:
    return np.asarray(drawn.image)


def gtk_form(typed: dict[str, str] | None = None) -> Drawn:
    """A zenity --forms dialog as GTK draws it: labels without colons left of bordered entries; Cancel and OK."""
    typed = typed or {}
    fields = tuple(Field(box, typed.get(label, ""), GTK_BORDER) for label, box in FIELDS.items())
    buttons = tuple(Field(box, "", GTK_BORDER) for box in BUTTONS.values())
    words = {label: (40, box[1] + 8) for label, box in FIELDS.items()}
    words |= {name: (box[0] + 24 if name == "Cancel" else box[0] + 36, box[1] + 8) for name, box in BUTTONS.items()}
    return draw_panel(SIZE, words, fields + buttons, background=GTK_WINDOW)


# --- the field beside, below or around a text, found in the image ------------------------------------------


@pytest.mark.parametrize("scale", [1.0, 1932 / 1920])  # as drawn, and resized as a 1080p screen is for the model
def test_a_label_without_a_colon_names_the_box_right_of_it_on_its_own_line(scale: float) -> None:
    drawn = gtk_form()
    frame = np.asarray(drawn.image.resize((round(SIZE[0] * scale), round(SIZE[1] * scale)), Image.Resampling.BICUBIC))
    for label, box in FIELDS.items():
        scaled = tuple(round(v * scale) for v in box)
        text = tuple(round(v * scale) for v in drawn.words[label])
        field = find_field(frame, as_match(label, text))  # type: ignore[arg-type]
        assert field.where == "right" and inside(field.point, scaled), (label, field)  # type: ignore[arg-type]
        assert inside(field.box[:2], scaled, slack=4) and inside(field.box[2:], scaled, slack=4)  # type: ignore[arg-type]


def test_a_label_above_its_field_names_the_box_below_it() -> None:
    below = (40, 110, 600, 146)
    drawn = draw_panel(
        SIZE, {"Email address": (40, 80), "Notes": (40, 200)}, (Field(below), Field((40, 230, 600, 330)))
    )
    field = find_field(rgb(drawn), as_match("Email address", drawn.words["Email address"]))
    assert field.where == "below" and inside(field.point, below)
    notes = find_field(rgb(drawn), as_match("Notes", drawn.words["Notes"]))  # a multi-line box below its label
    assert notes.where == "below" and inside(notes.point, (40, 230, 600, 330))


def test_a_placeholder_names_the_box_around_it() -> None:
    search = (300, 60, 700, 100)
    drawn = draw_panel(SIZE, {"Search files": (312, 70)}, (Field(search),))
    field = find_field(rgb(drawn), as_match("Search files", drawn.words["Search files"]))
    assert field.where == "inside" and inside(field.point, search)
    tight = (300, 60, 700, 94)  # a Qt line edit: the placeholder 2 px from the border, the detector's box beyond it
    below = (300, 104, 700, 300)  # and a list right under it, which must not be taken for the field
    drawn = draw_panel(SIZE, {"Name": (302, 66)}, (Field(tight), Field(below)))
    field = find_field(rgb(drawn), as_match("Name", drawn.words["Name"]))
    assert field.where == "inside" and inside(field.point, tight)


def test_without_a_box_a_colon_label_is_clicked_right_of_itself_and_other_text_where_it_is() -> None:
    drawn = draw_panel(SIZE, {"Name:": (40, 100), "Comment": (40, 200)})
    label = as_match("Name:", drawn.words["Name:"])
    field = find_field(rgb(drawn), label)
    height = label.line_box[3] - label.line_box[1]
    assert field.where == "guess" and field.point == (
        round(label.line_box[2] + LABEL_GAP_HEIGHTS * height),
        label.point[1],
    )
    plain = as_match("Comment", drawn.words["Comment"])
    assert find_field(rgb(drawn), plain).point == plain.point


def test_a_field_far_right_or_on_another_line_is_not_taken() -> None:
    drawn = draw_panel(SIZE, {"City": (40, 100)}, (Field((40, 250, 400, 286)), Field((200, 160, 600, 196))))
    field = find_field(rgb(drawn), as_match("City", drawn.words["City"]))
    assert field.where == "guess"  # one box is two lines down, the other starts a line below: neither is its field


# --- reading the typed text back ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seen", "typed", "before", "append", "shown"),
    [
        ("Ada", "Ada", "", False, True),
        ("Adal", "Ada", "", False, True),  # the caret read as a letter
        ("ada lovelace", "Ada Lovelace", "", False, True),
        ("Ada Lovelace", "Lovelace", "Ada ", True, True),  # appended to what the field held
        ("ovelace@example.com", "ada.lovelace@example.com", "", False, True),  # the field scrolled to the end
        ("adal0velace", "adalovelace", "", False, True),  # an OCR confusion
        ("", "Ada", "", False, False),
        ("Lovelace", "Ada", "", False, False),
        ("Search...", "Ada", "", False, False),
        ("draft.txtreport-2026.txt", "report-2026.txt", "draft.txt", False, False),  # a replace that appended
    ],
)
def test_a_field_shows_what_was_typed(seen: str, typed: str, before: str, append: bool, shown: bool) -> None:
    assert field_shows(seen, typed, before=before, append=append) is shown


def test_password_dots_count_as_shown() -> None:
    assert masked("oo..o.", "secret") and masked("·.......", "hunter22") and masked("ccccocoo", "hunter22")
    assert masked("********", "pass1234")
    assert not masked("Password", "secret") and not masked("..", "a long secret")


# --- the backend on drawn frames -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine() -> RapidEngine:
    pytest.importorskip("rapidocr")
    started = RapidEngine()
    started.warm_up()
    return started


def ask(backend: OcrBackend, task: str, image: Image.Image, step: int) -> ParsedReply:
    request = ModelRequest(
        family=FAMILY, messages=build_messages(FAMILY, task, image), task=task, image=image, step=step
    )
    reply = backend.generate(request, stop=StopFlag())
    return parse_reply(reply.raw, family=FAMILY, frame=model_frame(FAMILY, *image.size))


TASK = 'type "Ada" into First name then type "Lovelace" into Last name then click OK'


def test_each_word_goes_into_its_own_field_and_is_checked_there(engine: RapidEngine) -> None:
    backend = OcrBackend(engine=engine)
    frames = [gtk_form(), gtk_form({"First name": "Ada"}), gtk_form({"First name": "Ada", "Last name": "Lovelace"})]
    first = [p.action for p in ask(backend, TASK, frames[0].image, 1).actions]
    assert isinstance(first[0], Click) and inside((first[0].x, first[0].y), FIELDS["First name"])
    assert first[1:] == [Type("Ada")]
    second = [p.action for p in ask(backend, TASK, frames[1].image, 2).actions]
    assert isinstance(second[0], Click) and inside((second[0].x, second[0].y), FIELDS["Last name"])
    assert second[1:] == [Type("Lovelace")]
    [ok] = [p.action for p in ask(backend, TASK, frames[2].image, 3).actions]
    assert isinstance(ok, Click) and inside((ok.x, ok.y), BUTTONS["OK"])
    assert [p.action for p in ask(backend, TASK, frames[2].image, 4).actions] == [Finish("success")]


def test_text_that_went_into_another_field_fails_the_step_and_says_so(engine: RapidEngine) -> None:
    backend = OcrBackend(engine=engine)
    ask(backend, TASK, gtk_form().image, 1)
    wrong = gtk_form({"Last name": "Ada"})  # the keys went to the field that had the focus
    reply = ask(backend, TASK, wrong.image, 2)
    assert [p.action for p in reply.actions] == [Finish("failure")]
    assert reply.thought is not None
    assert "Typed 'Ada' into 'First name', but that field now shows nothing" in reply.thought


def test_a_password_fields_dots_pass_the_check(engine: RapidEngine) -> None:
    backend = OcrBackend(engine=engine)
    task = 'type "hunter22" into Password then click OK'
    box = (200, 40, 620, 76)
    form = draw_panel(
        SIZE, {"Password": (40, 48), "OK": (556, 338)}, (Field(box, border=GTK_BORDER), Field(BUTTONS["OK"]))
    )
    dots = draw_panel(
        SIZE, {"Password": (40, 48), "OK": (556, 338)}, (Field(box, "●●●●●●●●", GTK_BORDER), Field(BUTTONS["OK"]))
    )
    [click, _typed] = [p.action for p in ask(backend, task, form.image, 1).actions]
    assert isinstance(click, Click) and inside((click.x, click.y), box)
    [ok] = [p.action for p in ask(backend, task, dots.image, 2).actions]
    assert isinstance(ok, Click) and inside((ok.x, ok.y), BUTTONS["OK"])


# --- real forms on Xvfb ------------------------------------------------------------------------------------


def deskpilot_run(task: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(DESKPILOT), "run", task, "--backend", "ocr", "--no-record"], capture_output=True, text=True, timeout=180
    )


@pytest.mark.display
def test_a_zenity_form_gets_each_text_in_its_own_field() -> None:
    """The GTK dialog of the issue: `AdaLovelace||` before (the label was clicked), `Ada|Lovelace|` now."""
    if shutil.which("zenity") is None or shutil.which("xdotool") is None:
        pytest.skip("needs zenity and xdotool (apt-get install zenity xdotool)")
    title = "deskpilot zenity form"
    dialog = subprocess.Popen(
        ["zenity", "--forms", "--title", title, "--add-entry=First name", "--add-entry=Last name", "--add-entry=Email"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        # wait until the dialog is shown (xdotool only looks); nothing gives it the keyboard focus but deskpilot's
        # click on the field, as for a person
        subprocess.run(["xdotool", "search", "--sync", "--name", f"^{title}$"], capture_output=True, timeout=30)
        out = deskpilot_run(TASK)
        assert out.returncode == 0, out.stderr
        printed, _ = dialog.communicate(timeout=15)
        assert printed.strip() == "Ada|Lovelace|"
    finally:
        if dialog.poll() is None:
            dialog.kill()
            dialog.wait(5)


@pytest.mark.display
def test_a_qt_form_with_labels_beside_and_above_its_fields() -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb"}
    form = subprocess.Popen(
        [sys.executable, str(QT_FORM), "--x", "300", "--y", "200"], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert form.stdout is not None
        ready = json.loads(form.stdout.readline())
        assert ready["event"] == "ready"
        out = deskpilot_run(
            'type "Ada" into First name then type "Lovelace" into Last name '
            'then type "ada@example.com" into Email address then click Save'
        )
        assert out.returncode == 0, out.stderr
        saved = json.loads(form.stdout.readline())
        assert saved == {
            "event": "saved",
            "texts": {"First name": "Ada", "Last name": "Lovelace", "Email address": "ada@example.com"},
        }
    finally:
        if form.poll() is None:
            form.kill()
        form.wait(5)

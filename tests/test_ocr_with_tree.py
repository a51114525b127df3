"""The OCR grounder with the accessibility tree (issue 19, item 6).

Unit parts run anywhere, on elements as the loop hands them (agent.backends.base.PictureElement): a field is
found by the label that labels it wherever the two are placed, else by the label before it in reading order; a
click finds a control by its accessible name (an icon-only button), not plain text; elements behind another
window or in deskpilot's own are never chosen; the typed-text check compares the element's text exactly. The
display parts run a real GTK3 form on Xvfb with a private D-Bus session and AT-SPI bus
(tests/helpers/atspi_bus.py, tests/helpers/gtk_tree_form.py) whose labels sit crossed above the entries with a
decoy text beside the wrong one, and read back what the app got from its own "changed" and "clicked" lines.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from agent.backends.base import ModelRequest, PictureElement, PictureWindow, picture_elements
from agent.backends.ocr.backend import OcrBackend
from agent.backends.ocr.elements import editable_for, named
from agent.backends.ocr.windows import Layout
from agent.families import get_family, model_frame
from agent.parsing import ParsedReply, parse_reply
from sandbox.accessibility import Element
from sandbox.actions import Click, Finish, Type
from sandbox.geometry import Rect
from sandbox.stop import StopFlag
from tests.helpers.atspi_bus import AtspiSession
from tests.helpers.cli import DESKPILOT
from tests.helpers.entry_apps import SYSTEM_PYTHON, AppUnavailable

FAMILY = get_family("qwen2.5-vl")
SIZE = (1288, 728)
FORM = Path(__file__).resolve().parent / "helpers" / "gtk_tree_form.py"


def el(
    role: str,
    name: str,
    rect: tuple[int, int, int, int],
    *,
    text: str | None = None,
    labels: tuple[str, ...] = (),
    window: str = "form",
    editable: bool = False,
) -> PictureElement:
    states = ("showing", "visible", "editable") if editable else ("showing", "visible")
    return PictureElement(role=role, name=name, text=text, states=states, rect=rect, window=window,
                          labelled_by=labels)  # fmt: skip


# crossed: "Last name" above the First name entry, "First name" above the Last name entry
CROSSED = (
    el("label", "Last name", (20, 20, 120, 40)),
    el("label", "First name", (300, 20, 400, 40)),
    el("text", "", (20, 50, 250, 80), text="", labels=("First name",), editable=True),
    el("text", "", (300, 50, 530, 80), text="", labels=("Last name",), editable=True),
    el("label", "First name?", (540, 50, 640, 80)),
)


def test_a_field_is_the_one_its_label_labels_wherever_it_is_placed() -> None:
    first = editable_for(CROSSED, "First name", Layout(), None)
    last = editable_for(CROSSED, "last name:", Layout(), None)
    assert first is not None and first.element.rect == (20, 50, 250, 80) and first.how == "labelled by it"
    assert last is not None and last.element.rect == (300, 50, 530, 80)


def test_without_relations_the_label_before_it_in_reading_order_names_a_field() -> None:
    bare = tuple(PictureElement(**{**_fields(e), "labelled_by": ()}) for e in CROSSED)
    below = editable_for(bare, "First name", Layout(), None)
    assert below is not None and below.element.rect == (300, 50, 530, 80) and below.how == "the field after its label"
    beside = (el("label", "City", (20, 100, 80, 120)), el("text", "", (90, 98, 300, 122), text="", editable=True),
              el("text", "", (20, 130, 300, 150), text="", editable=True))  # fmt: skip
    found = editable_for(beside, "City", Layout(), None)
    assert found is not None and found.element.rect == (90, 98, 300, 122)
    assert editable_for(beside, "Country", Layout(), None) is None


def test_a_click_finds_a_control_by_its_accessible_name_not_plain_text() -> None:
    elements = (el("push button", "Bold", (20, 200, 50, 230)), el("label", "Save", (100, 200, 150, 230)))
    bold = named(elements, "bold", Layout(), None)
    assert bold is not None and bold.point == (35, 215) and bold.describe() == "push button 'Bold'"
    assert named(elements, "Save", Layout(), None) is None  # plain text: pixels decide


def test_elements_behind_another_window_or_in_deskpilots_are_never_chosen() -> None:
    button = el("push button", "Bold", (20, 200, 50, 230))
    behind = Layout((PictureWindow(rect=(0, 0, 600, 400), title="form", focused=False, order=0),
                     PictureWindow(rect=(0, 150, 300, 300), title="other", focused=True, order=1)))  # fmt: skip
    assert named((button,), "Bold", behind, None) is None
    ours = Layout((PictureWindow(rect=(0, 0, 600, 400), title="form", focused=True, order=0, deskpilot=True),))
    assert named((button,), "Bold", ours, None) is None
    front = Layout((PictureWindow(rect=(0, 0, 600, 400), title="form", focused=True, order=0),))
    assert named((button,), "Bold", front, None) is not None
    other = (PictureWindow(rect=(700, 0, 900, 400), title="notes", focused=False, order=1),)
    assert named((button,), "Bold", Layout((*front.windows, *other)), other) is None  # "click Bold in notes"


def test_boxes_go_to_the_pictures_pixels_through_the_frame() -> None:
    frame = model_frame(FAMILY, 2560, 1440)  # the picture is the screenshot halved
    element = Element(role="push button", name="Bold", description="", states=("showing",),
                      box=Rect(200, 100, 40, 20), text=None, app="a", window="form", bus_name=":1.2", path="/b",
                      labelled_by=("x",))  # fmt: skip
    gone = Element(**{**_fields(element), "box": Rect(3000, 100, 40, 20)})
    (placed,) = picture_elements([element, gone], frame, (1280, 720))
    assert (placed.rect, placed.name, placed.labelled_by) == ((100, 50, 120, 60), "Bold", ("x",))


class Texts:
    """The elements a loop would hand the backend, changed between calls as the app's would be."""

    def __init__(self) -> None:
        self.elements = CROSSED
        self.walks = 0

    def __call__(self) -> tuple[PictureElement, ...]:
        self.walks += 1
        return self.elements


def ask(backend: OcrBackend, task: str, step: int, texts: Texts) -> ParsedReply:
    image = Image.new("RGB", SIZE, "white")
    request = ModelRequest(family=FAMILY, messages=(), task=task, image=image, step=step, elements=texts)
    reply = backend.generate(request, stop=StopFlag())
    return parse_reply(reply.raw, family=FAMILY, frame=model_frame(FAMILY, *SIZE))


@pytest.fixture(scope="module")
def backend() -> Iterator[OcrBackend]:
    ocr = OcrBackend(threads=1)
    yield ocr
    ocr.close()


def test_typing_goes_into_the_labelled_field_and_is_checked_on_its_text(backend: OcrBackend) -> None:
    texts = Texts()
    first = ask(backend, 'type "Ada" into First name', 1, texts)
    click, typed = (p.action for p in first.actions)
    assert isinstance(click, Click) and (click.x, click.y, click.count) == (135, 65, 3)
    assert isinstance(typed, Type) and typed.text == "Ada"
    assert "in the accessibility tree, labelled by it" in str(first.thought) and texts.walks == 1
    texts.elements = tuple(
        PictureElement(**{**_fields(e), "text": "Ada"}) if e.labelled_by == ("First name",) else e for e in CROSSED
    )
    done = ask(backend, 'type "Ada" into First name', 2, texts)
    finish = done.actions[0].action
    assert isinstance(finish, Finish) and finish.status == "success", str(done.thought)


def test_text_that_went_elsewhere_fails_saying_what_the_field_holds(backend: OcrBackend) -> None:
    texts = Texts()
    ask(backend, 'type "Ada" into First name', 1, texts)
    texts.elements = tuple(
        PictureElement(**{**_fields(e), "text": "Adaa"}) if e.labelled_by == ("First name",) else e for e in CROSSED
    )
    failed = ask(backend, 'type "Ada" into First name', 2, texts)
    finish = failed.actions[0].action
    assert isinstance(finish, Finish) and finish.status == "failure"
    assert "that field now holds 'Adaa' (its accessibility tree says) where it should hold exactly 'Ada'" in str(
        failed.thought
    )


def test_an_icon_only_button_is_clicked_by_its_name(backend: OcrBackend) -> None:
    texts = Texts()
    texts.elements = (el("push button", "Bold", (20, 200, 50, 230)),)
    reply = ask(backend, "click Bold", 1, texts)
    click = reply.actions[0].action
    assert isinstance(click, Click) and (click.x, click.y, click.count) == (35, 215, 1)
    assert "found push button 'Bold' in the accessibility tree" in str(reply.thought)


def _fields(element: Any) -> dict[str, Any]:
    return {name: getattr(element, name) for name in type(element).__dataclass_fields__}


# -- a real GTK3 form on Xvfb ----------------------------------------------------------------------------


class Form:
    def __init__(self, session: AtspiSession) -> None:
        self.process = subprocess.Popen(
            [SYSTEM_PYTHON, str(FORM), "--x", "150", "--y", "150"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=session.env,
        )
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        ready = self.lines.get(timeout=30)
        assert ready["event"] == "ready", ready
        self.widgets: dict[str, list[int]] = ready["widgets"]
        session.wait_until_published(self.process.pid)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(json.loads(line))

    def events(self) -> list[dict[str, Any]]:
        """What the app said since the last call."""
        said = []
        while not self.lines.empty():
            said.append(self.lines.get_nowait())
        return said

    def close(self) -> None:
        self.process.kill()
        self.process.wait(10)


@pytest.fixture
def form(tmp_path: Path) -> Iterator[tuple[AtspiSession, Form]]:
    if not Path(SYSTEM_PYTHON).exists():
        pytest.skip("needs the system python3 with python3-gi")
    try:
        with AtspiSession(os.environ["DISPLAY"], tmp_path) as session:
            app = Form(session)
            try:
                yield session, app
            finally:
                app.close()
    except AppUnavailable as exc:
        pytest.skip(str(exc))


def deskpilot(session: AtspiSession, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(DESKPILOT), *args], capture_output=True, text=True, timeout=180, env={**session.env, "LANG": "C.UTF-8"}
    )


@pytest.mark.display
def test_a_crossed_form_is_filled_right_and_an_icon_button_clicked(form: tuple[AtspiSession, Form]) -> None:
    session, app = form
    task = 'type "Ada" into First name then type "Lovelace" into Last name'
    done = deskpilot(session, "run", task, "--backend", "ocr", "--yes", "--no-record")
    assert done.returncode == 0, done.stderr
    texts: dict[str, str] = {}
    for event in app.events():
        if event["event"] == "changed":
            texts[event["name"]] = event["text"]
    assert texts == {"First name": "Ada", "Last name": "Lovelace"}
    clicked = deskpilot(session, "run", "click Bold", "--backend", "ocr", "--yes", "--no-record")
    assert clicked.returncode == 0, clicked.stderr
    assert app.lines.get(timeout=30) == {"event": "clicked", "name": "Bold"}

"""The OCR reader keeps what it read between steps and reads again only what changed: a change on screen is always
seen (a label that appears, moves, swaps, scrolls away, or a new screen size) and found at its new place, never at
a cached old one; and it reads the likeliest boxes for a target first. Real rapidocr on screens drawn with PIL.

`ReadStats` says what each pass did (pixels detected, boxes recognised), so the tests prove what was read rather
than time it. The last test checks the loop's half of the bargain: the frame the settle wait ended on is the one
the backend reads, with no second grab.
"""

from __future__ import annotations

import json

import pytest
from PIL import Image

from agent.backends.base import ModelRequest
from agent.backends.ocr.backend import OcrBackend
from agent.backends.ocr.engine import RapidEngine
from agent.backends.ocr.reader import BATCH, FIRST_BATCH, ScreenReader
from agent.events import ActionExecuted, RunFinished
from agent.families import get_family, model_frame
from agent.loop import RunOptions, run_task
from agent.parsing import parse_reply
from agent.prompts import build_messages
from sandbox.actions import Click
from sandbox.capture import Screenshot
from sandbox.drivers import DryRunDriver
from sandbox.executor import Executor
from sandbox.geometry import Monitor, ScreenGeometry
from sandbox.policy import Policy, PolicyChecker
from sandbox.stop import StopFlag
from tests.helpers.panel import draw_panel, inside

SIZE = (952, 532)  # a size Qwen2.5-VL keeps: the backend's pixels are the model's
FAMILY = get_family("qwen2.5-vl")
LIST_WORDS = [f"Row {n:02d} item" for n in range(18)]


@pytest.fixture(scope="module")
def engine() -> RapidEngine:
    pytest.importorskip("rapidocr")
    started = RapidEngine()
    started.warm_up()
    return started


@pytest.fixture
def reader(engine: RapidEngine) -> ScreenReader:
    return ScreenReader(engine)


def base_words() -> dict[str, tuple[int, int]]:
    return {"File": (20, 14), "Edit": (80, 14), "Settings": (40, 90), "Apply": (620, 470), "Cancel": (760, 470)}


def test_an_unchanged_frame_is_neither_detected_nor_read_again(reader: ScreenReader) -> None:
    drawn = draw_panel(SIZE, base_words())
    first = reader.look(drawn.image)
    assert first.frame == "first" and 0 < first.detected_px < SIZE[0] * SIZE[1] // 4  # the flat background is not
    match = reader.find("Apply")
    assert match is not None and inside(match.point, drawn.words["Apply"])
    again = reader.look(drawn.image.copy())
    assert (again.frame, again.detected_px, again.regions) == ("same", 0, 0)
    repeat = reader.find("Apply")
    assert repeat == match and reader.stats.recognised == 0  # the cached text answered


def test_a_label_that_appears_is_found_where_it_appears(reader: ScreenReader) -> None:
    before = draw_panel(SIZE, base_words())
    reader.look(before.image)
    assert reader.find("Export") is None  # everything was read: it is not there
    after = draw_panel(SIZE, {**base_words(), "Export": (300, 300)})
    stats = reader.look(after.image)
    assert stats.frame == "changed" and 0 < stats.detected_px < SIZE[0] * SIZE[1] // 10
    match = reader.find("Export")
    assert match is not None and match.how == "exact" and inside(match.point, after.words["Export"])
    assert reader.stats.recognised <= FIRST_BATCH  # only the new box needed reading


def test_a_label_that_moves_is_found_at_its_new_place_never_the_old(reader: ScreenReader) -> None:
    words = base_words()
    first = draw_panel(SIZE, {**words, "Delete": (300, 200)})
    reader.look(first.image)
    old = reader.find("Delete")
    assert old is not None and inside(old.point, first.words["Delete"])
    moved = draw_panel(SIZE, {**words, "Delete": (520, 330)})
    reader.look(moved.image)
    new = reader.find("Delete")
    assert new is not None and inside(new.point, moved.words["Delete"])
    assert not inside(new.point, first.words["Delete"], slack=10)
    assert [line.text for line in reader.lines()].count("Delete") == 1  # no stale copy left behind


def test_labels_that_swap_places_are_read_again(reader: ScreenReader) -> None:
    """Same boxes, other texts: the cache must not keep a text for a box whose pixels changed."""
    first = draw_panel(SIZE, {"Save": (200, 200), "Open": (500, 200)})
    reader.look(first.image)
    assert inside(reader.find("Save").point, first.words["Save"])  # type: ignore[union-attr]
    assert inside(reader.find("Open").point, first.words["Open"])  # type: ignore[union-attr]
    swapped = draw_panel(SIZE, {"Open": (200, 200), "Save": (500, 200)})
    reader.look(swapped.image)
    assert inside(reader.find("Save").point, swapped.words["Save"])  # type: ignore[union-attr]
    assert inside(reader.find("Open").point, swapped.words["Open"])  # type: ignore[union-attr]


def list_frame(offset: int) -> tuple[Image.Image, dict[str, tuple[int, int, int, int]]]:
    """A list of rows scrolled by `offset` rows (rows above the top are gone), beside a fixed sidebar."""
    rows = {word: (300, 40 + 28 * (n - offset)) for n, word in enumerate(LIST_WORDS) if n >= offset}
    drawn = draw_panel(
        SIZE, {"Library": (30, 40), "Recent": (30, 80), **{w: xy for w, xy in rows.items() if xy[1] < 500}}
    )
    return drawn.image, drawn.words


def test_a_scrolled_list_is_read_at_its_new_places(reader: ScreenReader) -> None:
    image, words = list_frame(0)
    reader.look(image)
    assert inside(reader.find("Row 06 item").point, words["Row 06 item"])  # type: ignore[union-attr]
    assert inside(reader.find("Row 02 item").point, words["Row 02 item"])  # type: ignore[union-attr]
    scrolled, now = list_frame(4)
    stats = reader.look(scrolled)
    assert stats.frame in ("changed", "whole")
    assert inside(reader.find("Row 06 item").point, now["Row 06 item"])  # type: ignore[union-attr]
    gone = reader.find("Row 02 item")  # scrolled off the top: not found, least of all where it was
    assert gone is None or gone.how != "exact", gone
    sidebar = reader.find("Library")  # unchanged and still where it was
    assert sidebar is not None and inside(sidebar.point, now["Library"])


def test_a_new_screen_size_reads_everything_again(reader: ScreenReader) -> None:
    small = draw_panel(SIZE, base_words())
    reader.look(small.image)
    assert inside(reader.find("Cancel").point, small.words["Cancel"])  # type: ignore[union-attr]
    bigger = draw_panel((1280, 720), {**base_words(), "Cancel": (1000, 640)})
    stats = reader.look(bigger.image)
    assert stats.frame == "resized" and stats.detected_px > 0
    match = reader.find("Cancel")
    assert match is not None and inside(match.point, bigger.words["Cancel"])


def test_a_window_over_most_of_the_screen_is_detected_whole(reader: ScreenReader) -> None:
    reader.look(draw_panel(SIZE, base_words()).image)
    reader.find("Apply")
    cover = draw_panel(SIZE, {"Preferences": (100, 100), "Close": (700, 420)}, background=(200, 215, 235))
    stats = reader.look(cover.image)
    assert stats.frame == "whole" and stats.detected_px > 0
    assert reader.find("Apply") is None
    assert inside(reader.find("Close").point, cover.words["Close"])  # type: ignore[union-attr]


def busy_words() -> dict[str, tuple[int, int]]:
    """Forty words in a grid, with Apply and Cancel among them."""
    words = {f"{name}{n}": (20 + 190 * (n % 5), 20 + 50 * (n // 5)) for n, name in enumerate(["Item"] * 40)}
    words.pop("Item38"), words.pop("Item39")  # their places are taken
    return {**words, "Apply": (590, 370), "Cancel": (780, 370)}


def test_the_likeliest_boxes_are_read_first_and_the_search_stops_at_a_certain_match(reader: ScreenReader) -> None:
    drawn = draw_panel(SIZE, busy_words(), px=16)
    stats = reader.look(drawn.image)
    assert stats.boxes >= 36  # about one box a word
    apply = reader.find("Apply")
    assert apply is not None and inside(apply.point, drawn.words["Apply"])
    assert reader.stats.recognised < stats.boxes // 2  # not the whole screen
    before = reader.stats.recognised
    cancel = reader.find("Cancel", near=apply.point)  # the next target, read nearest the last action first
    assert cancel is not None and inside(cancel.point, drawn.words["Cancel"])
    assert reader.stats.recognised - before <= FIRST_BATCH + BATCH
    assert reader.find("Missing") is None and reader.stats.recognised == stats.boxes  # only then all of it


def ask(backend: OcrBackend, task: str, image: Image.Image, step: int) -> list[object]:
    request = ModelRequest(
        family=FAMILY, messages=build_messages(FAMILY, task, image), task=task, image=image, step=step
    )
    reply = backend.generate(request, stop=StopFlag())
    return [p.action for p in parse_reply(reply.raw, family=FAMILY, frame=model_frame(FAMILY, *image.size)).actions]


def test_through_the_backend_a_moved_button_is_clicked_where_it_now_is(engine: RapidEngine) -> None:
    backend = OcrBackend(engine=engine)
    task = "click Apply then click Apply"
    first = draw_panel(SIZE, base_words())
    [click] = ask(backend, task, first.image, 1)
    assert isinstance(click, Click) and inside((click.x, click.y), first.words["Apply"])
    moved = draw_panel(SIZE, {**base_words(), "Apply": (200, 300)})
    [again] = ask(backend, task, moved.image, 2)
    assert isinstance(again, Click) and inside((again.x, again.y), moved.words["Apply"])
    assert backend.last_read is not None and backend.last_read.frame == "changed"


class Frames:
    """A capture whose grabs return the given frames in turn (the last one from then on)."""

    def __init__(self, frames: list[Image.Image]) -> None:
        self.frames, self.grabs = frames, 0
        self.screen = ScreenGeometry((Monitor(0, 0, *frames[0].size, name="fake"),))

    def geometry(self) -> ScreenGeometry:
        return self.screen

    def grab(self, monitor: int = 0, *, mask: object = ()) -> Screenshot:
        image = self.frames[min(self.grabs, len(self.frames) - 1)]
        self.grabs += 1
        return Screenshot(image.copy(), self.screen.monitors[0], 0, self.screen, None, 0.0, 0.0)


def test_the_frame_the_settle_ended_on_is_the_one_read(engine: RapidEngine) -> None:
    """Save moves while the screen settles, then stays; a grab after the settle would see it elsewhere again.
    The click must land where the two still frames showed it."""
    places = [(100, 100), (400, 100), (600, 300), (600, 300), (150, 400)]
    greys = [200, 240, 225, 225, 250]  # each change is big enough for the settle to see
    frames = [draw_panel(SIZE, {"Save": xy}, background=(g, g, g)) for xy, g in zip(places, greys)]
    capture = Frames([f.image for f in frames])
    driver = DryRunDriver()
    executor = Executor(checker=PolicyChecker(Policy()), driver=driver, screen=capture.geometry, stop=StopFlag())
    options = RunOptions(settle_cap_s=5.0, settle_poll_s=0.0, max_steps=1)
    events = list(
        run_task(
            "click Save",
            backend=OcrBackend(engine=engine),
            family=FAMILY,
            executor=executor,
            capture=capture,
            options=options,
        )
    )
    executed = [e.action for e in events if isinstance(e, ActionExecuted)]
    assert len(executed) == 1 and isinstance(executed[0], Click), json.dumps([str(e) for e in events])
    assert inside((executed[0].x, executed[0].y), frames[3].words["Save"])  # the frame judged still
    assert capture.grabs == 4  # and no grab after it
    assert isinstance(events[-1], RunFinished)

"""The OCR backend: text matching on synthetic OCR lines, then real RapidOCR on screens drawn with PIL.

The replies go through the same parser as a model's (agent.parsing.parse_reply, qwen2.5-vl), so what is
checked is what the loop would execute. One engine per module; each real OCR pass takes about 0.5 s.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from agent.backends.base import ModelRequest
from agent.backends.ocr.backend import OcrBackend
from agent.backends.ocr.fields import field_point
from agent.backends.ocr.match import Match, OcrLine, find_text, nearest_texts
from agent.backends.registry import backend_family
from agent.errors import BackendError
from agent.families import get_family, model_frame
from agent.parsing import ParsedReply, parse_reply
from agent.prompts import Turn, build_messages
from sandbox.actions import Click, Finish, Hotkey, Scroll, Type, Wait
from sandbox.errors import StoppedError
from sandbox.stop import StopFlag

FAMILY = get_family("qwen2.5-vl")
SIZE = (1288, 728)  # a 1280x720 screenshot prepared for Qwen2.5-VL
LATIN_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
CJK_FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")


def box(x1: float, y1: float, x2: float, y2: float) -> list[tuple[float, float]]:
    return [(x1, y1), (x2, y1), (x2, y2), (x1, y2)]


# --- find_text on synthetic lines ---------------------------------------------------------------------


def test_an_exact_line_is_clicked_in_its_centre() -> None:
    lines = [OcrLine("Cancel", box(10, 10, 90, 30), 0.99), OcrLine("Save", box(100, 10, 160, 30), 0.99)]
    match = find_text(lines, "save")
    assert match is not None
    assert (match.point, match.how, match.box, match.label) == ((130, 20), "exact", (100, 10, 160, 30), False)


def test_normalisation_ignores_case_width_spaces_and_marks() -> None:
    lines = [OcrLine("  ＳＡＶＥ   AS :", box(0, 0, 100, 20), 0.9), OcrLine("*Email*", box(0, 50, 100, 70), 0.9)]
    assert find_text(lines, "Save As").how == "exact"  # type: ignore[union-attr]
    assert find_text(lines, "email:").point == (50, 60)  # type: ignore[union-attr]
    assert find_text(lines, "notes.py - Editor") is None
    spaced = [OcrLine("notes.py-Editor", box(0, 0, 100, 20), 0.9)]
    assert find_text(spaced, "notes.py - Editor").how == "exact"  # type: ignore[union-attr]


def test_a_word_inside_a_longer_line_is_clicked_where_it_is() -> None:
    lines = [OcrLine("File Edit Save", box(0, 0, 140, 20), 0.99)]  # 14 characters, 10 px each
    match = find_text(lines, "Save")
    assert match is not None and match.how == "word"
    assert match.point == (120, 10)  # characters 10..13, not the line's centre (70)
    assert match.box == (100, 0, 140, 20) and match.line_box == (0, 0, 140, 20)


def test_ocr_that_dropped_the_spaces_of_a_menu_bar_still_finds_the_word() -> None:
    lines = [OcrLine("FileEditSaveView", box(0, 0, 160, 20), 0.99)]
    match = find_text(lines, "Save")
    assert match is not None and match.how == "word" and match.point == (100, 10)
    assert find_text([OcrLine("Unsaved", box(0, 0, 70, 20), 0.99)], "Save") is None  # not a word of it


def test_cjk_is_found_as_a_substring_and_counts_double_width() -> None:
    match = find_text([OcrLine("文件保存", box(0, 0, 80, 20), 0.99)], "保存")
    assert match is not None and match.how == "word" and match.point == (60, 10)
    mixed = find_text([OcrLine("保存Save", box(0, 0, 80, 20), 0.99)], "Save")  # widths 2+2+1+1+1+1
    assert mixed is not None and mixed.point == (60, 10)


def test_fuzzy_matches_and_ocr_confusions() -> None:
    assert find_text([OcrLine("Sve", box(0, 0, 30, 20), 0.9)], "Save").how == "fuzzy"  # type: ignore[union-attr]
    assert find_text([OcrLine("0K", box(0, 0, 30, 20), 0.9)], "OK").how == "fuzzy"  # type: ignore[union-attr]
    company = find_text([OcrLine("About Cornpany", box(0, 0, 140, 20), 0.9)], "Company")
    assert company is not None and company.how == "fuzzy" and company.point[0] > 70  # the second word
    assert find_text([OcrLine("Open", box(0, 0, 40, 20), 0.9)], "OK") is None


def test_the_better_tier_wins_then_the_score_then_the_top_left() -> None:
    exact, word = OcrLine("Save", box(500, 500, 540, 520), 0.6), OcrLine("Save As", box(0, 0, 70, 20), 0.99)
    assert find_text([word, exact], "Save").point == (520, 510)  # type: ignore[union-attr]
    short, long = OcrLine("Save As", box(0, 100, 70, 120), 0.9), OcrLine("Save all files now", box(0, 0, 180, 20), 0.99)
    assert find_text([long, short], "Save").line == "Save As"  # type: ignore[union-attr]
    low, high = OcrLine("OK", box(0, 0, 20, 20), 0.8), OcrLine("OK", box(100, 100, 120, 120), 0.95)
    assert find_text([low, high], "OK").point == (110, 110)  # type: ignore[union-attr]
    right, left = OcrLine("OK", box(300, 0, 320, 20), 0.9), OcrLine("OK", box(0, 0, 20, 20), 0.9)
    assert find_text([right, left], "OK").point == (10, 10)  # type: ignore[union-attr]


def test_nothing_found() -> None:
    lines = [OcrLine("Submit", box(0, 0, 60, 20), 0.99), OcrLine("Cancel", box(0, 40, 60, 60), 0.99)]
    assert find_text(lines, "Save") is None
    assert find_text(lines, "  ") is None
    assert find_text([], "Save") is None


def test_a_label_with_a_colon_is_clicked_right_of_itself() -> None:
    match = find_text([OcrLine("Name:", box(10, 100, 70, 120), 0.99)], "Name")
    assert match is not None and match.label
    assert field_point(match, 1000) == (70 + 2 * 20, 110)
    assert field_point(match, 90) == (89, 110)  # kept on the image
    placeholder = find_text([OcrLine("Search...", box(10, 100, 100, 120), 0.99)], "Search")
    assert isinstance(placeholder, Match) and not placeholder.label
    assert field_point(placeholder, 1000) == placeholder.point


def test_the_nearest_texts_by_spelling_come_nearest_first_without_repeats() -> None:
    """usertrial-2026-12 trial 5a: `click sqtr` listed the screen's first texts, top-left first; a typo shows itself
    when the texts spelled most like the target are named."""
    lines = [
        OcrLine("Cancel", box(100, 50, 150, 60), 0.9),
        OcrLine("File", box(0, 0, 30, 10), 0.9),
        OcrLine("sqrt cos tan", box(0, 20, 120, 30), 0.9),  # a word of a line counts on its own
        OcrLine("Start", box(300, 50, 350, 60), 0.9),
        OcrLine("Start", box(400, 50, 450, 60), 0.9),  # a repeat
        OcrLine("sort", box(0, 50, 50, 60), 0.9),
        OcrLine("Submit", box(0, 70, 50, 80), 0.9),
        OcrLine("Stop", box(0, 90, 50, 100), 0.9),
    ]
    nearest = nearest_texts(lines, "sqtr")
    assert [text for text, _ in nearest] == ["sqrt", "Start", "sort", "Stop", "Submit"]
    assert nearest[0][1] == 0.75 and [s for _, s in nearest] == sorted((s for _, s in nearest), reverse=True)
    assert [text for text, _ in nearest_texts(lines, "sqtr", 2)] == ["sqrt", "Start"]


# --- the backend on drawn screens -----------------------------------------------------------------------

LABELS = {  # text -> (x, y, font px); Chinese labels use the CJK font
    "File Edit View Help": (20, 12, 24),
    "Save": (300, 420, 30),
    "Cancel": (480, 420, 30),
    "Name:": (60, 200, 28),
    "Search...": (760, 205, 26),
    "Submit": (700, 560, 28),
    "保存": (900, 420, 30),
    "取消": (1060, 420, 30),
}
NAME_FIELD = (175, 190, 560, 245)  # the box drawn right of "Name:"
SEARCH_FIELD = (740, 190, 1200, 245)  # the box around the "Search..." placeholder


@pytest.fixture(scope="module")
def backend() -> OcrBackend:
    pytest.importorskip("rapidocr")
    ocr = OcrBackend()
    ocr.load()
    return ocr


@pytest.fixture(scope="module")
def screen() -> tuple[Image.Image, dict[str, tuple[int, int, int, int]]]:
    """A white 1288x728 screen with labels, and the box each label was drawn in."""
    if not LATIN_FONT.exists() or not CJK_FONT.exists():
        pytest.skip("needs DejaVuSans and Noto Sans CJK (fonts-dejavu-core, fonts-noto-cjk)")
    image = Image.new("RGB", SIZE, "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle(NAME_FIELD, outline=(120, 120, 120), width=2)
    draw.rectangle(SEARCH_FIELD, outline=(120, 120, 120), width=2)
    drawn = {}
    for text, (x, y, px) in LABELS.items():
        font = ImageFont.truetype(str(CJK_FONT if not text.isascii() else LATIN_FONT), px)
        colour = (130, 130, 130) if text == "Search..." else (0, 0, 0)
        draw.text((x, y), text, fill=colour, font=font)
        left, top, right, bottom = draw.textbbox((x, y), text, font=font)
        drawn[text] = (int(left), int(top), int(right), int(bottom))
    return image, drawn


def typed_into(image: Image.Image, field: tuple[int, int, int, int], text: str) -> Image.Image:
    """A copy of `image` whose bordered `field` shows `text` instead of what it showed."""
    shown = image.copy()
    draw = ImageDraw.Draw(shown)
    draw.rectangle((field[0] + 3, field[1] + 3, field[2] - 3, field[3] - 3), fill="white")
    draw.text((field[0] + 14, field[1] + 12), text, fill=(0, 0, 0), font=ImageFont.truetype(str(LATIN_FONT), 26))
    return shown


def ask(
    backend: OcrBackend,
    task: str,
    image: Image.Image,
    step: int,
    *,
    history: tuple[Turn, ...] = (),
    stop: StopFlag | None = None,
) -> ParsedReply:
    feedback = history[-1].feedback if history else None  # as the loop hands it over
    messages = build_messages(FAMILY, task, image, history=history)
    request = ModelRequest(family=FAMILY, messages=messages, task=task, image=image, step=step, feedback=feedback)
    reply = backend.generate(request, stop=stop or StopFlag())
    assert reply.elapsed_s >= 0 and reply.follows_plan
    return parse_reply(reply.raw, family=FAMILY, frame=model_frame(FAMILY, *image.size))


def inside(point: tuple[int, int], area: tuple[int, int, int, int]) -> bool:
    return area[0] <= point[0] <= area[2] and area[1] <= point[1] <= area[3]


def test_load_reports_progress_once(backend: OcrBackend) -> None:
    seen: list[tuple[str, int, int | None]] = []
    fresh = OcrBackend()
    fresh.load(progress=lambda stage, done, total: seen.append((stage, done, total)))
    fresh.load(progress=lambda stage, done, total: seen.append((stage, done, total)))
    assert seen == [("load", 0, 1), ("load", 1, 1)]
    assert backend.name == "ocr" and backend_family("ocr", None).name == "qwen2.5-vl"


def test_a_missing_rapidocr_is_a_clear_backend_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "rapidocr", None)
    with pytest.raises(BackendError, match=r"pip install 'rapidocr>=3.10' onnxruntime"):
        OcrBackend().load()


def test_click_save_clicks_inside_the_drawn_word(backend: OcrBackend, screen: tuple[Image.Image, dict]) -> None:
    image, drawn = screen
    reply = ask(backend, "click Save", image, 1)
    [parsed] = reply.actions
    assert isinstance(parsed.action, Click) and parsed.action.button == "left" and parsed.action.count == 1
    assert inside((parsed.action.x, parsed.action.y), drawn["Save"])
    assert reply.thought is not None and "Save" in reply.thought
    assert backend.last_ocr_s is not None and backend.last_ocr_s > 0


def test_type_into_a_labelled_field_selects_what_the_field_holds_then_types(
    backend: OcrBackend, screen: tuple[Image.Image, dict]
) -> None:
    image, _ = screen
    reply = ask(backend, "type hello into Name and press enter", image, 1)
    click, typed, enter = (p.action for p in reply.actions)
    assert isinstance(click, Click) and inside((click.x, click.y), NAME_FIELD) and click.count == 3
    assert typed == Type("hello") and enter == Hotkey(("enter",))
    reply = ask(backend, "append hello to Name", image, 1)
    click, end, typed = (p.action for p in reply.actions)
    assert isinstance(click, Click) and inside((click.x, click.y), NAME_FIELD) and click.count == 1
    assert end == Hotkey(("end",)) and typed == Type("hello")


def test_chinese_click_finds_the_chinese_label(backend: OcrBackend, screen: tuple[Image.Image, dict]) -> None:
    image, drawn = screen
    [parsed] = ask(backend, "点击 保存", image, 1).actions
    assert isinstance(parsed.action, Click) and inside((parsed.action.x, parsed.action.y), drawn["保存"])


def test_a_missing_label_ends_with_failure_and_says_what_was_seen(
    backend: OcrBackend, screen: tuple[Image.Image, dict]
) -> None:
    image, _ = screen
    first = ask(backend, "click Open", image, 1)  # looks once more first (tests/test_ocr_replace.py)
    assert [p.action for p in first.actions] == [Wait(1.0)]
    reply = ask(backend, "click Open", image, 1)
    assert [p.action for p in reply.actions] == [Finish("failure")]
    assert reply.thought is not None
    assert reply.thought.startswith("Could not find 'Open' on the screen (nearest by spelling: "), reply.thought


def test_a_whole_plan_runs_step_by_step_and_ends_with_success(
    backend: OcrBackend, screen: tuple[Image.Image, dict]
) -> None:
    image, drawn = screen
    task = "click 取消, type 'a, then b' into Search then press ctrl+s; scroll down 2; wait 1"
    typed = typed_into(image, SEARCH_FIELD, "a, then b")  # the screen after typing: the field shows the text
    replies = [ask(backend, task, image if step <= 2 else typed, step) for step in range(1, 7)]
    actions = [[p.action for p in reply.actions] for reply in replies]
    [cancel] = actions[0]
    assert isinstance(cancel, Click) and inside((cancel.x, cancel.y), drawn["取消"])
    click, typed = actions[1]
    assert isinstance(click, Click) and inside((click.x, click.y), SEARCH_FIELD) and typed == Type("a, then b")
    assert actions[2:] == [[Hotkey(("ctrl", "s"))], [Scroll(None, None, "down", 2)], [Wait(1.0)], [Finish("success")]]
    assert ask(backend, task, image, 1).actions[0].action == cancel  # step 1 starts the plan again


def test_a_task_for_a_model_ends_at_once_with_the_reason(backend: OcrBackend) -> None:
    image = Image.new("RGB", SIZE, "white")
    reply = ask(backend, "rename the three PDFs on the desktop by date", image, 1)
    assert [p.action for p in reply.actions] == [Finish("failure")]
    assert reply.thought is not None and reply.thought.startswith("This task needs a real vision-language model")
    assert "click Save" in reply.thought


def test_targeted_scroll_and_horizontal_scroll(backend: OcrBackend, screen: tuple[Image.Image, dict]) -> None:
    image, drawn = screen
    [scroll] = [p.action for p in ask(backend, "scroll left 3 on Submit", image, 1).actions]
    assert isinstance(scroll, Scroll) and scroll.direction == "left" and scroll.amount == 3
    assert inside((scroll.x or 0, scroll.y or 0), drawn["Submit"])


def test_a_step_that_did_not_run_is_done_again(backend: OcrBackend) -> None:
    image = Image.new("RGB", SIZE, "white")
    task = "press ctrl+a then press delete"
    first = ask(backend, task, image, 1)
    note = "That action was refused (keys: ctrl+a is not allowed)."
    again = ask(backend, task, image, 2, history=(Turn(image, "<tool_call>{}</tool_call>", note),))
    assert first.actions[0].action == again.actions[0].action == Hotkey(("ctrl", "a"))
    assert again.thought is not None and "again" in again.thought and "ctrl+a is not allowed" in again.thought
    history = (Turn(image, "r1", note), Turn(image, "r2"))  # it ran this time: no note
    assert ask(backend, task, image, 3, history=history).actions[0].action == Hotkey(("delete",))


def test_a_stopped_run_reads_nothing(backend: OcrBackend, screen: tuple[Image.Image, dict]) -> None:
    image, _ = screen
    flag = StopFlag()
    flag.stop("stop key")
    before = backend.last_ocr_s
    with pytest.raises(StoppedError):
        ask(backend, "click Save", image, 1, stop=flag)
    assert backend.last_ocr_s == before


def test_other_families_are_refused(backend: OcrBackend) -> None:
    family = get_family("ui-tars-1.5")
    image = Image.new("RGB", SIZE, "white")
    request = ModelRequest(
        family=family, messages=build_messages(family, "click Save", image), task="click Save", image=image, step=1
    )
    with pytest.raises(BackendError, match="--family qwen2.5-vl"):
        backend.generate(request, stop=StopFlag())

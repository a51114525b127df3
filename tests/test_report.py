"""The HTML report as a person reviewing a run reads it: sessions recorded by the real loop and recorder on a
fake desktop (tests/helpers/report_picture.py), exported, and opened in headless Chromium. The summary, the
step list and its links, the details that apply to the backend; a crop per point, decoded from the page and
checked pixel by pixel against the recorded screenshot (a crosshair one pixel off fails); the README's
picture of the page is the page as it is now."""

from __future__ import annotations

import base64
import io
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageStat

from agent.session import Session, read_session
from agent.session.records import ActionRecord, StepRecord
from agent.session.report import COLOURS, CROP_ARM_PX, CROP_PX, CROP_RING_PX, CROP_ZOOM, HALO, html_report
from sandbox.actions import Action, Click, Drag, Move, Scroll
from sandbox.geometry import Monitor, ScreenGeometry
from tests.helpers.chromium import CHROMIUM, HEADLESS
from tests.helpers.desktop_image import desktop_image
from tests.helpers.fake_screen import FakeScreen
from tests.helpers.report_picture import END_S, STEP_S, at, call, make_picture, record_run
from tests.helpers.sessions import edit_header, edit_steps

ROOT = Path(__file__).resolve().parents[1]
PICTURE = ROOT / "assets" / "report.png"
REFRESH = ".venv/bin/python -m tests.helpers.report_picture assets/report.png"
PICTURE_LIMIT_BYTES = 400_000
MAX_MEAN_DIFFERENCE = 4.0  # grey levels over a 400 px wide thumbnail: another machine's font hinting fits in
MIN_PAGE_VARIANCE = 100.0  # grey levels squared: a blank or single-colour page is 0
DESKPILOT = Path(sys.executable).with_name("deskpilot")
TASK = "fill in <b>the</b> form"
TRANSFORMERS = {"backend": "transformers", "model": "Qwen/Qwen2.5-VL-7B-Instruct"}
REPLIES = [
    call("left_click", coordinate=at(1462, 959)) + "\n" + call("left_click", coordinate=at(1179, 804)),  # 2 crops
    call("left_click", coordinate=at(4, 3)),  # the crop clamped at the top left
    call("mouse_move", coordinate=at(1915, 1076)),  # at the bottom right
    call("swipe", coordinate=at(700, 400), coordinate2=at(900, 500)),  # a drag: its start and its end
    call("left_click_drag", coordinate=at(300, 200)),  # from the pointer: what ran names where that was
    call("scroll", coordinate=at(1200, 400), pixels=-5),
    call("scroll", coordinate=at(1000, 300), pixels=-80),  # refused (scroll_amount): a red crosshair
    call("key", keys=["ctrl", "alt", "delete"]),  # refused, and no point
    call("type", text="<img src=x onerror=alert(1)>"),
    "I would rather not.",  # unusable (the third failure in a row would end the run: a typed step between)
    call("answer", text="Saved as <Ada>"),
]
_CROP = re.compile(r'<img alt="magnified: [^"]*" width="\d+" height="\d+" src="data:image/png;base64,([^"]+)"')

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Chromium for the HTML report (Debian: apt-get install chromium)"
)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_run(tmp_path_factory.mktemp("report") / "session", REPLIES, task=TASK, header=TRANSFORMERS)


@pytest.fixture(scope="module")
def hidpi(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The right monitor of two, at scale 2 and origin (1920, 0): screen points are not screenshot pixels."""
    screen = FakeScreen(image=desktop_image(1920, 1080, seed=3))
    screen.screen = ScreenGeometry(
        (Monitor(0, 0, 1920, 1080, name="left"), Monitor(1920, 0, 960, 540, scale=2.0, name="right"))
    )
    replies = [call("left_click", coordinate=at(960, 600)), call("left_click", coordinate=at(1910, 1070))]
    return record_run(tmp_path_factory.mktemp("report") / "hidpi", replies, screen=screen, monitor=1)


def _copy(folder: Path, tmp_path: Path, **header: object) -> Path:
    copy = Path(shutil.copytree(folder, tmp_path / "copy"))
    if header:
        edit_header(copy, **header)
    return copy


def _chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    command = [CHROMIUM, *HEADLESS, f"--user-data-dir={profile}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def _export(folder: Path, tmp_path: Path) -> Path:
    """Through the command a person types."""
    report = tmp_path / "report.html"
    result = subprocess.run(
        [str(DESKPILOT), "export", str(folder), "--format", "html", "-o", str(report)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0 and report.is_file(), result.stderr
    return report


def _dom(report: Path, tmp_path: Path) -> str:
    out = _chromium("--dump-dom", report.as_uri(), profile=tmp_path / "profile")
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def _section(page: str, number: int) -> str:
    return page.split(f'<section class="step" id="step-{number}">', 1)[1].split("</section>", 1)[0]


def _shown(record: ActionRecord) -> tuple[Action | None, tuple[int, int, int]]:
    """What ran, in green, or what was refused, in red (these runs reject nothing and defer nothing)."""
    if record.executed is not None:
        return record.executed.action, COLOURS["ran"]
    return record.blocked_action or record.screen, COLOURS["refused"]


def _points(step: StepRecord) -> list[tuple[Action, tuple[int, int], tuple[int, int, int]]]:
    """Every exact point the step's actions name, in order, with the colour of its crosshair."""
    points: list[tuple[Action, tuple[int, int], tuple[int, int, int]]] = []
    for record in step.actions:
        action, colour = _shown(record)
        if isinstance(action, (Click, Move)):
            points.append((action, (action.x, action.y), colour))
        elif isinstance(action, Drag):
            if action.x is not None and action.y is not None:
                points.append((action, (action.x, action.y), colour))
            points.append((action, (action.to_x, action.to_y), colour))
        elif isinstance(action, Scroll) and action.x is not None and action.y is not None:
            points.append((action, (action.x, action.y), colour))
    return points


def _total_s(session: Session, *, interrupted: bool = False) -> float:
    return sum(STEP_S[i % len(STEP_S)] for i in range(len(session.steps))) + (0 if interrupted else END_S)


@needs_chromium
def test_the_report_in_chromium_summary_step_list_and_crops(recorded: Path, tmp_path: Path) -> None:
    session = read_session(recorded)
    report = _export(recorded, tmp_path)
    text = report.read_text(encoding="utf-8")
    assert "<script" not in text and "<img src=x" not in text and "<b>the</b>" not in text
    assert all(src.startswith("data:image/") for src in re.findall(r'src="([^"]*)"', text))  # self-contained
    dom = _dom(report, tmp_path)
    head, steps = dom.split('<section class="step"', 1)

    assert "<h1>fill in &lt;b&gt;the&lt;/b&gt; form</h1>" in head  # the summary
    assert "Outcome: success" in head and "the model finished the task" in head and "Saved as &lt;Ada&gt;" in head
    assert len(session.steps) == len(REPLIES) and f"<dt>Steps</dt><dd>{len(REPLIES)}</dd>" in head
    assert f"<dt>Total time</dt><dd>{_total_s(session):.1f} s</dd>" in head
    assert (
        "<dt>Backend</dt><dd>transformers</dd>" in head and "<dt>Model</dt><dd>Qwen/Qwen2.5-VL-7B-Instruct</dd>" in head
    )
    _check_details(head, "transformers", TRANSFORMERS["model"], family=True, shows_model=True)
    assert "<th>Family</th><td>qwen2.5-vl</td>" in head and "<th>Pixels</th><td>3136..12845056" in head

    step_list = head.split('<nav class="steplist">', 1)[1].split("</nav>", 1)[0]
    assert '<a href="#step-8">' in step_list and "refused press ctrl+alt+delete (forbidden_hotkey)" in step_list
    assert "refused scroll down 80 at (1000, 300) (scroll_amount)" in step_list and "unusable reply" in step_list
    assert "type '&lt;img src=x onerror=alert(1)&gt;'" in step_list and "+2.4 s" in step_list
    assert 'id="top"' in head
    for step in session.steps:
        assert f'<a href="#step-{step.step}">Step {step.step}</a>' in step_list
        section = _section(dom, step.step)
        assert '<a class="top" href="#top">' in section
        assert '<img alt="screenshot of step' in section and section.count('<img alt="magnified: ') == len(
            _points(step)
        )
    assert [len(_points(step)) for step in session.steps] == [2, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0]

    shot = tmp_path / "page.png"
    out = _chromium(f"--screenshot={shot}", "--window-size=1280,1600", report.as_uri(), profile=tmp_path / "profile")
    assert out.returncode == 0 and shot.is_file(), out.stderr[-2000:]
    with Image.open(shot) as image:
        assert image.size == (1280, 1600)
        assert ImageStat.Stat(image.convert("L")).var[0] > MIN_PAGE_VARIANCE  # not blank


DETAILS = ("Screen", "Monitor", "Policy digest", "deskpilot", "Mode", "Driver", "Max steps")


def _check_details(head: str, backend: str, model: str | None, *, family: bool, shows_model: bool) -> None:
    assert f"<dt>Backend</dt><dd>{backend}</dd>" in head
    assert ("<dt>Model</dt>" in head) is shows_model and (model is None or (model in head) is shows_model)
    assert ("<th>Family</th>" in head) is family and ("<th>Pixels</th>" in head) is family
    assert all(f"<th>{row}</th>" in head for row in DETAILS)


@pytest.mark.parametrize(
    ("backend", "model", "family", "shows_model"),
    [
        ("ocr", None, False, False),  # no model, family or pixel budget
        ("ocr", "rapidocr", False, False),
        ("scripted", None, True, False),
        ("scripted", "replies.jsonl", True, False),
        ("openai", None, True, False),  # a server that was not asked for a model by name
        ("openai", "qwen2.5-vl-7b", True, True),
        ("transformers", "Qwen/Qwen2.5-VL-3B-Instruct", True, True),
    ],
)
def test_details_that_do_not_apply_to_the_backend_are_left_out(
    recorded: Path, tmp_path: Path, backend: str, model: str | None, family: bool, shows_model: bool
) -> None:
    page = html_report(read_session(_copy(recorded, tmp_path, backend=backend, model=model)))
    _check_details(page.split('<section class="step"', 1)[0], backend, model, family=family, shows_model=shows_model)


@needs_chromium
def test_an_ocr_report_in_chromium_shows_no_model_family_or_pixels(recorded: Path, tmp_path: Path) -> None:
    dom = _dom(_export(_copy(recorded, tmp_path, backend="ocr", model=None), tmp_path), tmp_path)
    _check_details(dom.split('<section class="step"', 1)[0], "ocr", None, family=False, shows_model=False)


def _check_crops(session: Session, page: str) -> int:
    """Each crop is the recorded screenshot's pixels around its point (CROP_PX, clamped at the edges, each
    repeated CROP_ZOOM times) with the crosshair's lines on exactly the point's row and column of pixels."""
    monitor = session.header.screen.monitors[session.header.monitor]
    (width, height), zoom = CROP_PX, CROP_ZOOM
    checked = 0
    for step in session.steps:
        shot = session.image(step.screenshot)
        crops = _CROP.findall(_section(page, step.step))
        points = _points(step)
        assert len(crops) == len(points)
        for data, (action, (sx, sy), colour) in zip(crops, points):
            crop = Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")
            assert crop.size == (width * zoom, height * zoom)
            px, py = (sx - monitor.x) * monitor.scale, (sy - monitor.y) * monitor.scale  # screen -> screenshot
            left = min(max(math.floor(px) - width // 2, 0), shot.width - width)
            top = min(max(math.floor(py) - height // 2, 0), shot.height - height)
            cx, cy = round((px - left) * zoom + (zoom - 1) / 2), round((py - top) * zoom + (zoom - 1) / 2)
            assert crop.getpixel((cx, cy)) == colour, (step.step, sx, sy)
            off = CROP_RING_PX + 8  # along an arm, past the ring
            row = cy + off if cy + off < crop.height else cy - off
            col = cx + off if cx + off < crop.width else cx - off
            half = zoom // 2
            for d in range(-half, half + 1):  # the line is the point's pixel wide, no more, no less
                assert crop.getpixel((cx + d, row)) == colour and crop.getpixel((col, cy + d)) == colour
            for d in (-half - 1, half + 1):
                if 0 <= cx + d < crop.width:
                    assert crop.getpixel((cx + d, row)) == HALO, (step.step, sx, sy, "vertical line misplaced")
                if 0 <= cy + d < crop.height:
                    assert crop.getpixel((col, cy + d)) == HALO, (step.step, sx, sy, "horizontal line misplaced")
            if isinstance(action, (Click, Move)):  # nothing else drawn: everything off the crosshair is recorded
                expected = shot.crop((left, top, left + width, top + height))
                expected = expected.resize(crop.size, Image.Resampling.NEAREST)
                reach = max(CROP_ARM_PX, CROP_RING_PX) + 3
                box = (cx - reach, cy - reach, cx + reach + 1, cy + reach + 1)
                patched = crop.copy()
                patched.paste(expected.crop(box), box[:2])
                assert ImageChops.difference(patched, expected).getbbox() is None, (step.step, sx, sy)
            checked += 1
    return checked


def test_every_crop_shows_the_recorded_pixels_with_the_crosshair_on_the_point(recorded: Path) -> None:
    session = read_session(recorded)
    assert _check_crops(session, html_report(session)) == 10


def test_crops_on_a_hidpi_monitor_beside_another(hidpi: Path, tmp_path: Path) -> None:
    session = read_session(hidpi)
    ran = [r.executed.action for s in session.steps for r in s.actions if r.executed is not None]
    assert ran[:2] == [Click(2400, 300), Click(2875, 535)]  # the right monitor's screenshot pixels, halved
    assert _check_crops(session, html_report(session)) == 2

    copy = _copy(hidpi, tmp_path)  # moved by the user onto the left monitor: on no pixel of the screenshot

    def move(records: list[dict[str, Any]]) -> None:
        records[0]["actions"][0]["executed"]["action"].update(x=100, y=100)

    edit_steps(copy, move)
    page = html_report(read_session(copy))
    first = _section(page, 1)
    assert "1. click at (100, 100): screenshot pixel (-3640, 200) is outside the screenshot" in first
    assert '<img alt="magnified: ' not in first


def test_total_time_of_an_interrupted_run_ends_with_its_last_step(recorded: Path, tmp_path: Path) -> None:
    copy = _copy(recorded, tmp_path)

    def kill(records: list[dict[str, Any]]) -> None:  # the run was killed before its end line
        del records[-1]

    edit_steps(copy, kill)
    session = read_session(copy)
    page = html_report(session)
    assert session.end is None and "Outcome: interrupted" in page
    assert f"<dt>Total time</dt><dd>{_total_s(session, interrupted=True):.1f} s</dd>" in page
    assert 'class="outcome warn"' in page


def test_the_page_allows_no_script_and_loads_nothing(recorded: Path, tmp_path: Path) -> None:
    copy = _copy(recorded, tmp_path, run={"<i>key</i>": "<script>alert(1)</script>", "mode": "auto"})
    page = html_report(read_session(copy))
    assert "<script" not in page and "<i>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', page)
    assert csp is not None and csp.group(1) == "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


@needs_chromium
def test_the_readme_picture_shows_the_current_report(tmp_path: Path) -> None:
    fresh = tmp_path / "report.png"
    make_picture(fresh)
    assert PICTURE.stat().st_size < PICTURE_LIMIT_BYTES and fresh.stat().st_size < PICTURE_LIMIT_BYTES
    committed, now = Image.open(PICTURE).convert("L"), Image.open(fresh).convert("L")
    assert committed.size == now.size
    size = (400, round(400 * now.height / now.width))
    difference = ImageStat.Stat(ImageChops.difference(committed.resize(size), now.resize(size))).mean[0]
    assert difference < MAX_MEAN_DIFFERENCE, (
        f"assets/report.png is out of date (mean difference {difference:.1f}): refresh it with `{REFRESH}`"
    )

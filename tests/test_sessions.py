"""Sessions recorded from a real scripted run on Xvfb (dry-run driver) read back field by field; corruption is
named by file and line; listing survives corrupt folders; the JSONL export has the training-data shape; the
HTML report opens in headless Chromium and shows every step."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from agent.backends.scripted import ScriptedBackend
from agent.errors import SessionError
from agent.events import Event, ModelReplied, ScreenCaptured
from agent.families import get_family
from agent.loop import Approve, Reject, RunOptions, run_task
from agent.prompts import ImagePart
from agent.session import SessionRecorder, delete_session, list_sessions, read_session
from agent.session.export import export_session
from agent.session.format import messages_digest, new_session_folder, prepare_record_dir, slug
from agent.session.reader import ImageRef
from agent.session.replay import ReplayFinished, ReplayOptions, replay_session
from sandbox.actions import Click, Type
from sandbox.capture import ScreenCapture
from sandbox.drivers import DryRunDriver
from sandbox.executor import Executor
from sandbox.geometry import ScreenGeometry
from sandbox.policy import Policy, PolicyChecker
from sandbox.stop import StopFlag
from tests.helpers.chromium import CHROMIUM, HEADLESS
from tests.helpers.replies import click_reply, finish_reply, type_reply

CTRL_ALT_DELETE = (
    '<tool_call>\n{"name": "computer_use", "arguments": {"action": "key", '
    '"keys": ["ctrl", "alt", "delete"]}}\n</tool_call>'
)
SUBMIT, CANCEL, OTHER = (250, 154), (420, 154), (800, 600)


def _record(folder: Path) -> tuple[list[Event], StopFlag]:
    """A run that shows every kind of record: edited approval, unusable reply, deny, rejection, pause, finish."""
    family = "qwen2.5-vl"
    replies = [
        click_reply(family, *SUBMIT),
        "I would rather not.",
        CTRL_ALT_DELETE,
        click_reply(family, *OTHER),
        type_reply(family, "Ada Lovelace"),
        finish_reply(family),
    ]
    stop = StopFlag()

    def pause_then_approve() -> Approve:  # the user's input pauses the run before the action; resumed soon
        stop.pause("paused: you used the mouse while deskpilot was acting")
        threading.Timer(0.2, stop.resume).start()
        return Approve()

    decisions = [
        lambda: Approve(action=Click(*CANCEL)),
        lambda: Reject(note="not that one"),
        pause_then_approve,
        Approve,
    ]
    with ScreenCapture() as capture:
        executor = Executor(
            checker=PolicyChecker(Policy()), driver=DryRunDriver(), screen=capture.geometry, stop=stop, pace=False
        )
        recorder = SessionRecorder(folder, run={"mode": "test"})
        events = []
        for event in run_task(
            "fill in the form",
            backend=ScriptedBackend(replies),
            family=get_family(family),
            executor=executor,
            capture=capture,
            approve=lambda proposed: decisions.pop(0)(),
            options=RunOptions(settle_cap_s=0.3, max_failures=5, policy_digest="d" * 64),
        ):
            recorder.handle(event)
            events.append(event)
        recorder.close()
    return events, stop


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[Event]]]:
    folder = tmp_path_factory.mktemp("sessions") / "recorded"
    events, _ = _record(folder)
    yield folder, events


def _copy(recorded: tuple[Path, list[Event]], tmp_path: Path, name: str = "copy") -> Path:
    return Path(shutil.copytree(recorded[0], tmp_path / name))


def _lines(folder: Path) -> list[str]:
    return (folder / "steps.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)


@pytest.mark.display
def test_round_trip_of_a_real_run(recorded: tuple[Path, list[Event]]) -> None:
    folder, events = recorded
    session = read_session(folder)
    h = session.header
    assert (h.task, h.backend, h.family, h.monitor, h.policy_digest) == (
        "fill in the form",
        "scripted",
        "qwen2.5-vl",
        0,
        "d" * 64,
    )
    assert h.screen == ScreenGeometry.from_json(h.screen.to_json()) and h.screen.monitors[0].width == 1920
    assert h.run == {"mode": "test"} and h.deskpilot_version and h.started.startswith("20")
    assert [s.step for s in session.steps] == [1, 2, 3, 4, 5, 6]
    assert session.end is not None and session.outcome == "success" and session.end.steps == 6

    first = session.steps[0]
    assert (first.screenshot.width, first.screenshot.height) == (1920, 1080)
    assert (first.model_image.width, first.model_image.height) == (1932, 1092)
    assert first.frame.space.kind == "absolute" and first.frame.space.width == 1932
    action = first.actions[0]
    assert action.screen == Click(*SUBMIT) and action.verdict is not None and action.verdict.verdict == "allow"
    assert action.model is not None and action.model["x"] != SUBMIT[0]  # model space, not screen space
    assert action.executed is not None and action.executed.edited and action.executed.action == Click(*CANCEL)
    assert {"settle_s", "capture_s", "prepare_s", "model_s", "parse_s", "check_s", "execute_s"} <= set(first.timings)
    captured = next(e for e in events if isinstance(e, ScreenCaptured) and e.step == 1)
    with Image.open(session.path(first.model_image)) as image:
        assert image.tobytes() == captured.model_image.tobytes()  # exactly what the model was given

    unusable = session.steps[1]
    assert unusable.parse_error and unusable.raw == "I would rather not." and not unusable.actions
    denied = session.steps[2].actions[0]
    assert denied.verdict is not None and denied.verdict.rule == "forbidden_hotkey" and denied.blocked is not None
    assert denied.executed is None
    rejected = session.steps[3].actions[0]
    assert rejected.rejected and rejected.note == "not that one" and rejected.executed is None
    typed = session.steps[4]
    assert typed.actions[0].executed is not None and typed.actions[0].executed.action == Type("Ada Lovelace")
    assert [e.kind for e in typed.events] == ["paused", "resumed"] and "mouse" in (typed.events[0].reason or "")

    for step in session.steps:  # the prompt: its digest and texts, and a file for every image in it
        replied = next(e for e in events if isinstance(e, ModelReplied) and e.step == step.step)
        assert step.prompt_sha256 == messages_digest(replied.messages)
        assert [m.role for m in step.messages] == [m.role for m in replied.messages]
        for recorded_message, message in zip(step.messages, replied.messages):
            assert [p for p in recorded_message.parts if isinstance(p, str)] == [
                p.text for p in message.parts if not isinstance(p, ImagePart)
            ]
            for ref, part in zip(
                [p for p in recorded_message.parts if isinstance(p, ImageRef)],
                [p for p in message.parts if isinstance(p, ImagePart)],
            ):
                assert (ref.width, ref.height) == part.image.size and session.path(ref).is_file()
    assert not list(folder.rglob("*.tmp"))


def test_folder_names_and_record_dir(tmp_path: Path) -> None:
    assert slug("Click Submit, then type 'Ada'!") == "click-submit-then-type-ada" and slug("点击") == "task"
    first = new_session_folder(tmp_path, "click Submit")
    second = new_session_folder(tmp_path, "click Submit")
    assert first.name.endswith("-click-submit") and second.name == first.name + "-2"
    assert prepare_record_dir(tmp_path / "new" / "dir").is_dir()
    with pytest.raises(SessionError, match="not empty"):
        prepare_record_dir(tmp_path)


@pytest.mark.display
def test_corrupt_lines_are_named_and_partial_keeps_the_whole_steps(
    recorded: tuple[Path, list[Event]], tmp_path: Path
) -> None:
    folder = _copy(recorded, tmp_path, "bad-json")
    lines = _lines(folder)
    lines[1] = "not json\n"
    (folder / "steps.jsonl").write_text("".join(lines), encoding="utf-8")
    with pytest.raises(SessionError) as caught:
        read_session(folder)
    assert str(caught.value) == f"{folder / 'steps.jsonl'}:2: not valid JSON"
    partial = read_session(folder, partial=True)
    assert len(partial.steps) == 1 and partial.error == str(caught.value) and partial.outcome == "interrupted"

    folder = _copy(recorded, tmp_path, "bad-field")
    lines = _lines(folder)
    lines[2] = lines[2].replace('"step":3', '"step":"three"')
    (folder / "steps.jsonl").write_text("".join(lines), encoding="utf-8")
    with pytest.raises(SessionError, match=r"steps\.jsonl:3: field 'step' must be an integer"):
        read_session(folder)

    folder = _copy(recorded, tmp_path, "cut")
    data = (folder / "steps.jsonl").read_bytes()
    (folder / "steps.jsonl").write_bytes(data[:-30])
    with pytest.raises(SessionError, match=r"steps\.jsonl:7: the last line is cut off"):
        read_session(folder)
    assert len(read_session(folder, partial=True).steps) == 6

    folder = _copy(recorded, tmp_path, "after-end")
    with open(folder / "steps.jsonl", "a", encoding="utf-8") as stream:
        stream.write(_lines(folder)[0])
    with pytest.raises(SessionError, match=r"steps\.jsonl:8: a line after the end record"):
        read_session(folder)


@pytest.mark.display
def test_missing_image_bad_header_and_killed_run(recorded: tuple[Path, list[Event]], tmp_path: Path) -> None:
    folder = _copy(recorded, tmp_path, "missing")
    (folder / "images" / "0003-screen.png").unlink()
    with pytest.raises(SessionError, match=r"steps\.jsonl:3: .*image images/0003-screen\.png is missing"):
        read_session(folder)
    assert len(read_session(folder, partial=True).steps) == 2

    folder = _copy(recorded, tmp_path, "header")
    header = json.loads((folder / "header.json").read_text(encoding="utf-8"))
    (folder / "header.json").write_text(json.dumps({**header, "task": 5}), encoding="utf-8")
    with pytest.raises(SessionError, match=r"header\.json: field 'task' must be a string"):
        read_session(folder, partial=True)

    folder = _copy(recorded, tmp_path, "killed")
    (folder / "steps.jsonl").write_text("".join(_lines(folder)[:-1]), encoding="utf-8")  # no end record
    session = read_session(folder)
    assert session.end is None and session.outcome == "interrupted" and len(session.steps) == 6


@pytest.mark.display
def test_list_sessions_newest_first_with_corrupt_ones(recorded: tuple[Path, list[Event]], tmp_path: Path) -> None:
    root = tmp_path / "root"
    for n, name in enumerate(["good", "killed", "bad-line", "bad-header"]):
        folder = _copy(recorded, root, name)
        header = json.loads((folder / "header.json").read_text(encoding="utf-8"))
        header["t"] += n  # later folders are newer
        (folder / "header.json").write_text(json.dumps(header), encoding="utf-8")
    (root / "killed" / "steps.jsonl").write_text("".join(_lines(root / "killed")[:-1]), encoding="utf-8")
    (root / "bad-line" / "steps.jsonl").write_text("".join(_lines(root / "bad-line")[:3]) + "{oops\n", encoding="utf-8")
    (root / "bad-header" / "header.json").write_text("{", encoding="utf-8")
    (root / "not-a-session").mkdir()
    summaries = list_sessions(root)
    by_name = {s.folder.name: s for s in summaries}
    assert set(by_name) == {"good", "killed", "bad-line", "bad-header"}
    ordered = [s.folder.name for s in summaries if s.folder.name != "bad-header"]  # that one is dated by its mtime
    assert ordered == ["bad-line", "killed", "good"]
    assert by_name["good"].outcome == "success" and by_name["good"].steps == 6 and by_name["good"].error is None
    assert by_name["killed"].outcome == "interrupted" and by_name["killed"].error is None
    assert by_name["bad-line"].outcome == "corrupt" and by_name["bad-line"].steps == 3
    assert by_name["bad-line"].error is not None and "steps.jsonl:4: not valid JSON" in by_name["bad-line"].error
    assert by_name["bad-header"].outcome == "corrupt" and by_name["bad-header"].task is None
    assert by_name["bad-header"].error is not None and "header.json: not valid JSON" in by_name["bad-header"].error

    delete_session(root / "good")
    assert not (root / "good").exists()
    (root / "killed" / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(SessionError, match="nothing deleted"):
        delete_session(root / "killed")
    with pytest.raises(SessionError, match="not a session folder"):
        delete_session(root / "not-a-session")
    assert (root / "killed" / "notes.txt").exists()


@pytest.mark.display
def test_jsonl_export_is_ms_swift_and_llama_factory_shaped(recorded: tuple[Path, list[Event]], tmp_path: Path) -> None:
    session = read_session(recorded[0])
    out = tmp_path / "train" / "data.jsonl"
    out.parent.mkdir()
    assert export_session(session, "jsonl", out).items == 2  # the typed text and the finish; edited/refused are not
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    raws = [s.raw for s in session.steps if s.step in (5, 6)]
    for line, raw in zip(lines, raws):
        assert set(line) == {"messages", "images"}
        roles = [m["role"] for m in line["messages"]]
        assert roles[0] == "system" and roles[-1] == "assistant" and set(roles) == {"system", "user", "assistant"}
        assert all(a != b for a, b in zip(roles[1:], roles[2:]))  # user and assistant alternate
        assert line["messages"][-1]["content"] == raw
        assert sum(m["content"].count("<image>") for m in line["messages"]) == len(line["images"]) >= 1
        for name in line["images"]:
            assert not Path(name).is_absolute()
            with Image.open(out.parent / name) as image:
                assert image.size == (1932, 1092)


def test_replay_refuses_another_screen_before_anything(recorded: tuple[Path, list[Event]]) -> None:
    class OtherScreen:
        def geometry(self) -> ScreenGeometry:
            return ScreenGeometry.single(1280, 1024)

        def grab(self, monitor: int = 0, *, mask: object = ()) -> object:
            raise AssertionError("nothing is captured once the geometry differs")

    driver = DryRunDriver()
    executor = Executor(checker=PolicyChecker(Policy()), driver=driver, screen=OtherScreen().geometry, pace=False)
    session = read_session(recorded[0])
    events = list(replay_session(session, executor=executor, capture=OtherScreen(), options=ReplayOptions(speed=0)))
    finished = events[-1]
    assert isinstance(finished, ReplayFinished) and finished.outcome == "mismatch"
    assert "recorded 1920x1080 at (0, 0) scale 1, now 1280x1024" in finished.reason and driver.calls == []


@pytest.mark.display
@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium for the HTML report (Debian: apt-get install chromium)")
def test_html_report_opens_in_headless_chromium(recorded: tuple[Path, list[Event]], tmp_path: Path) -> None:
    session = read_session(recorded[0])
    report = tmp_path / "report.html"
    export_session(session, "html", report)
    text = report.read_text(encoding="utf-8")
    assert 'src="http' not in text and "<script" not in text  # self-contained, no JavaScript
    assert CHROMIUM is not None
    chrome = [CHROMIUM, *HEADLESS, f"--user-data-dir={tmp_path / 'profile'}"]
    out = subprocess.run([*chrome, "--dump-dom", report.as_uri()], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    dom = out.stdout
    for step in session.steps:
        section = dom.split(f'<section class="step" id="step-{step.step}">', 1)[1].split("</section>", 1)[0]
        assert '<img alt="screenshot of step' in section and 'src="data:image/jpeg;base64,' in section
        assert "Raw reply" in section
    assert "forbidden_hotkey" in dom and "not that one" in dom and "Outcome: success" in dom
    shot = tmp_path / "report.png"
    out = subprocess.run(
        [*chrome, f"--screenshot={shot}", "--window-size=1280,2000", report.as_uri()],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0 and shot.is_file(), out.stderr[-2000:]
    with Image.open(shot) as image:
        assert image.size == (1280, 2000)

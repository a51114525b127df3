"""The README's picture of the HTML report, and the sessions its tests export: real runs without a display.

Both drive the real loop (scripted replies, the qwen2.5-vl parser, the policy, the dry-run driver) on a fake
desktop-like screen (tests/helpers/fake_screen.py) into the real recorder. `record_run` then pins every time in
the folder, so that tests/test_report.py knows the times its page shows. `make_picture` records the demo run
as it happened (a scripted demo, its header and times as recorded), exports it and screenshots the page in
headless Chromium at a fixed window size:

    python -m tests.helpers.report_picture assets/report.png
"""

from __future__ import annotations

import io
import itertools
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from agent.backends.scripted import ScriptedBackend
from agent.events import ActionExecuted
from agent.families import get_family, model_input_size
from agent.loop import RunOptions, run_task
from agent.session import SessionRecorder, read_session
from agent.session.export import export_session
from sandbox.drivers import DryRunDriver
from sandbox.executor import Executor
from sandbox.policy import Policy, PolicyChecker
from tests.helpers.chromium import CHROMIUM, HEADLESS
from tests.helpers.desktop_image import FONT_PATHS, desktop_image
from tests.helpers.fake_screen import FakeScreen
from tests.helpers.sessions import edit_header, edit_steps

FAMILY = get_family("qwen2.5-vl")
STARTED = "2026-11-26T08:41:28.160+01:00"  # every recorded time is pinned relative to this
LEAD_S = 1.2  # from the run's start to step 1 (the model loading)
STEP_S = (2.4, 1.9, 2.7, 2.2, 1.6)  # each step's length, in turn
END_S = 0.3  # from the last step's end to the end record
TIMINGS_S = {"settle_s": 0.083, "capture_s": 0.012, "prepare_s": 0.011, "parse_s": 0.0002, "check_s": 0.0005}
EXECUTE_S = 0.023
WINDOW_PX = (1280, 1600)  # the picture: the summary, the step list and the first steps
PICTURE_COLOURS = 256  # the README picture is quantized to this palette: a third of the size, no visible change
OnExecuted = Callable[[ActionExecuted, FakeScreen], None]


def call(action: str, **arguments: object) -> str:
    """A qwen2.5-vl tool call."""
    body = json.dumps({"name": "computer_use", "arguments": {"action": action, **arguments}})
    return f"<tool_call>\n{body}\n</tool_call>"


def at(x: int, y: int, width: int = 1920, height: int = 1080) -> list[int]:
    """A screenshot pixel in qwen2.5-vl's model space (the model image's pixels) for a width x height shot."""
    model_w, model_h = model_input_size(FAMILY, width, height)
    return [round(x * model_w / width), round(y * model_h / height)]


def record_run(
    folder: Path,
    replies: Sequence[str],
    *,
    task: str = "fill in the form",
    screen: FakeScreen | None = None,
    monitor: int = 0,
    header: Mapping[str, Any] | None = None,
    on_executed: OnExecuted | None = None,
) -> Path:
    """Record a run of `replies` on `screen` (a 1920x1080 desktop by default) into `folder`; `header` edits the
    header afterwards (the backend and model a real run would name); every time is pinned. Returns `folder`."""
    _record(folder, replies, task=task, screen=screen, monitor=monitor, on_executed=on_executed)
    pin_times(folder)
    if header:
        edit_header(folder, **header)
    return folder


def _record(
    folder: Path,
    replies: Sequence[str],
    *,
    task: str,
    screen: FakeScreen | None,
    monitor: int = 0,
    on_executed: OnExecuted | None = None,
) -> Path:
    """The scripted run of `replies`, recorded into `folder` as it happens."""
    screen = screen or FakeScreen(image=desktop_image(1920, 1080))
    policy = Policy()
    executor = Executor(
        checker=PolicyChecker(policy), driver=DryRunDriver(), screen=screen.geometry, pointer=screen.pointer_position
    )
    options = RunOptions(
        monitor=monitor, settle_cap_s=0.2, settle_poll_s=0.01, max_failures=3, policy_digest=policy.digest()
    )
    run = {"mode": "auto", "driver": "dry-run", "max_steps": options.max_steps}
    with SessionRecorder(folder, run=run) as recorder:
        for event in run_task(
            task,
            backend=ScriptedBackend(list(replies)),
            family=FAMILY,
            executor=executor,
            capture=screen,
            options=options,
        ):
            recorder.handle(event)
            if on_executed is not None and isinstance(event, ActionExecuted):
                on_executed(event, screen)
    return folder


def pin_times(folder: Path) -> None:
    """Every time in the session from STARTED on: step n lasts STEP_S[n], the end comes END_S after the last."""
    t = datetime.fromisoformat(STARTED).timestamp()
    edit_header(folder, started=STARTED, t=t)
    durations = itertools.cycle(STEP_S)

    def pin(records: list[dict[str, Any]]) -> None:
        now = t + LEAD_S
        for record in records:
            if record["kind"] == "end":
                record["ended"] = now + END_S
                continue
            length = next(durations)
            record["started"], record["ended"] = now, now + length
            for event in record["events"]:
                event["at"] = now + length / 2
            for action in record["actions"]:
                if action["executed"] is not None:
                    action["executed"].update(at=now + length - 0.05, check_s=0.0005, execute_s=EXECUTE_S)
            timings = {**TIMINGS_S, "model_s": length - 0.4, "execute_s": EXECUTE_S}
            record["timings"] = {k: timings[k] for k in record["timings"]}
            now += length

    edit_steps(folder, pin)


# -- the demo run: set a field in a dialog, tick a box, press OK --------------------------------------------

FIELD = (1322, 759, 1704, 783)  # "By Undo:" in desktop_image(1920, 1080)'s Preferences dialog
WORDS, TICK, OK = (1372, 771), (1179, 804), (1462, 959)  # the field's words, the box under it, the OK button
DEMO_TASK = 'In Preferences, set "By Undo" to Ada Lovelace, tick "screen redo undo click" and press OK'


def _demo_replies() -> list[str]:
    return [
        "The By Undo field holds other text: select all of it first.\n" + call("triple_click", coordinate=at(*WORDS)),
        "Its text is selected; type the name over it.\n" + call("type", text="Ada Lovelace"),
        "The field now reads Ada Lovelace; next, the checkbox under it.",  # prose only: an unusable reply
        "Tick the box under the field, then press OK.\n"
        + call("left_click", coordinate=at(*TICK))
        + "\n"
        + call("left_click", coordinate=at(*OK)),
        "OK is pressed with the new value: done.\n" + call("terminate", status="success"),
    ]


def _demo_screen(event: ActionExecuted, screen: FakeScreen) -> None:
    """What the dry-run driver did not do: the typed name in the field, the tick in the box."""
    image = screen.image.copy()
    draw = ImageDraw.Draw(image)
    if event.action.kind == "type":
        draw.rectangle(FIELD, fill=(255, 255, 255), outline=(52, 120, 246), width=2)
        font = ImageFont.truetype(FONT_PATHS[0], 13) if Path(FONT_PATHS[0]).exists() else ImageFont.load_default()
        draw.text((FIELD[0] + 8, FIELD[1] + 4), "Ada Lovelace", fill=(20, 20, 20), font=font)
    elif event.action.kind == "click" and (event.action.x, event.action.y) == TICK:
        x, y = TICK
        draw.rectangle((x - 7, y - 7, x + 7, y + 7), fill=(52, 120, 246))
        draw.line([(x - 4, y), (x - 1, y + 4), (x + 5, y - 4)], fill=(255, 255, 255), width=2)
    else:
        return
    screen.show(image)


def demo_session(folder: Path) -> Path:
    """The README's run, a scripted demo: a triple-click, typing, an unusable reply, a tick and OK in one step,
    finish. Its header says so (the scripted backend, no model) and its times are the ones it took."""
    return _record(folder, _demo_replies(), task=DEMO_TASK, screen=None, on_executed=_demo_screen)


def chromium_screenshot(page: Path, out: Path, profile: Path, window: tuple[int, int] = WINDOW_PX) -> None:
    """The top `window` of `page` as a PNG, in headless Chromium (no scrollbars, device scale 1)."""
    if CHROMIUM is None:
        raise RuntimeError("Chromium is needed for the report's picture (Debian: apt-get install chromium)")
    command = [CHROMIUM, *HEADLESS, f"--user-data-dir={profile}", "--hide-scrollbars", "--force-device-scale-factor=1"]
    command += [f"--screenshot={out}", f"--window-size={window[0]},{window[1]}", page.as_uri()]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if result.returncode != 0 or not out.is_file():
        raise RuntimeError(f"Chromium made no screenshot of {page}: {result.stderr[-2000:]}")


def make_picture(out: Path) -> None:
    """Record the demo run, export its report and write the page's picture to `out` (a palette PNG)."""
    with tempfile.TemporaryDirectory(prefix="deskpilot-report-") as scratch:
        work = Path(scratch)
        page = work / "report.html"
        export_session(read_session(demo_session(work / "session")), "html", page)
        shot = work / "page.png"
        chromium_screenshot(page, shot, work / "profile")
        with Image.open(shot) as image:
            picture = image.convert("RGB").quantize(PICTURE_COLOURS, dither=Image.Dither.NONE)
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG", optimize=True)
    out.write_bytes(buffer.getvalue())


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m tests.helpers.report_picture OUT.png")
    make_picture(Path(sys.argv[1]))

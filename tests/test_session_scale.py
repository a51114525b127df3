"""Long sessions (the red team's N14: 10,000 steps took 16.7 s and 789 MB to list, and an HTML export ran for
more than 300 s): `deskpilot sessions` reads each header and the last lines of steps.jsonl only (the end
record and the last step, whose number is the count); an export reads the session one step at a time, and the HTML report draws at
most its first HTML_STEPS_DRAWN steps and says so. How fast is bench/sessions_list.py's to say, not a test's.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from agent.session import list_sessions, read_session
from agent.session import records as session_records
from sandbox.actions import Click
from sandbox.geometry import ScreenGeometry
from tests.helpers.sessions import record_session

DESKPILOT = Path(sys.executable).with_name("deskpilot")
SMALL_SCREEN = ScreenGeometry.single(320, 200)  # steps that are quick to draw


def long_session(folder: Path, steps: int, *, end: bool = True) -> Path:
    """A recorded one-step session whose step line is repeated `steps` times (numbered 1..steps, naming the
    same two images), then its end record: what a long run writes, at the recorder's cost of one step."""
    record_session(folder, [Click(100, 50)], screen=SMALL_SCREEN)
    step, finish = (json.loads(line) for line in (folder / "steps.jsonl").read_text(encoding="utf-8").splitlines())
    finish["steps"] = steps
    lines = [json.dumps({**step, "step": n}) + "\n" for n in range(1, steps + 1)]
    (folder / "steps.jsonl").write_text("".join(lines) + (json.dumps(finish) + "\n" if end else ""), encoding="utf-8")
    return folder


def test_listing_parses_no_step_but_the_last_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "root"
    long_session(root / "done", 3000)
    long_session(root / "killed", 2000, end=False)
    parsed: list[int] = []
    real = session_records.StepRecord.from_json.__func__  # type: ignore[attr-defined]

    def counting(cls: type, data: object, *, where: str, line: int) -> object:
        assert isinstance(data, dict)
        parsed.append(data["step"])
        return real(cls, data, where=where, line=line)

    monkeypatch.setattr(session_records.StepRecord, "from_json", classmethod(counting))
    by_name = {s.folder.name: s for s in list_sessions(root)}
    assert (by_name["done"].outcome, by_name["done"].steps, by_name["done"].error) == ("success", 3000, None)
    assert (by_name["killed"].outcome, by_name["killed"].steps) == ("interrupted", 2000)
    assert sorted(parsed) == [2000, 3000]  # each one's last step, never the ones before
    assert len(read_session(root / "killed").steps) == 2000  # opening it reads them all


def test_listing_still_finds_a_bad_last_line_and_counts_what_precedes_it(tmp_path: Path) -> None:
    root = tmp_path / "root"
    for name in ("broken", "cut"):
        long_session(root / name, 50)
    with open(root / "broken" / "steps.jsonl", "a", encoding="utf-8") as stream:
        stream.write('{"kind": "step", "oops": 1}\n')
    with open(root / "cut" / "steps.jsonl", "a", encoding="utf-8") as stream:
        stream.write('{"kind": "st')  # killed while writing a line
    by_name = {s.folder.name: s for s in list_sessions(root)}
    broken, cut = by_name["broken"], by_name["cut"]
    assert broken.outcome == "corrupt" and broken.error is not None and "steps.jsonl:52" in broken.error
    assert cut.outcome == "corrupt" and cut.steps == 50
    assert cut.error is not None and cut.error.endswith(
        "steps.jsonl:52: the last line is cut off (no newline at its end)"
    )


def test_the_html_export_draws_the_first_steps_and_says_how_many(tmp_path: Path) -> None:
    from agent.session.export import HTML_STEPS_DRAWN

    folder = long_session(tmp_path / "long", HTML_STEPS_DRAWN + 5)
    out = tmp_path / "long.html"
    result = subprocess.run(
        [str(DESKPILOT), "export", str(folder), "--format", "html", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    total = HTML_STEPS_DRAWN + 5
    page = out.read_text(encoding="utf-8")
    drawn = re.findall(r'<section class="step" id="step-(\d+)">', page)
    assert drawn == [str(n) for n in range(1, HTML_STEPS_DRAWN + 1)]
    assert f"the report draws the first {HTML_STEPS_DRAWN} of {total} steps" in page  # on the page itself
    assert f"note: the report draws the first {HTML_STEPS_DRAWN} of {total} steps" in result.stderr
    assert f"wrote {out} (html, {HTML_STEPS_DRAWN} step(s))" in result.stderr


def test_a_streamed_export_that_meets_a_bad_line_leaves_nothing(tmp_path: Path) -> None:
    folder = long_session(tmp_path / "long", 40)
    lines = (folder / "steps.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    lines[30] = "{oops\n"
    (folder / "steps.jsonl").write_text("".join(lines), encoding="utf-8")
    out = tmp_path / "train.jsonl"
    result = subprocess.run(
        [str(DESKPILOT), "export", str(folder), "--format", "jsonl", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and result.stderr == f"error: {folder / 'steps.jsonl'}:31: not valid JSON\n"
    assert not out.exists() and not (tmp_path / "train-images").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long"]  # no temporary file either

    result = subprocess.run(
        [str(DESKPILOT), "export", str(folder), "--format", "jsonl", "-o", str(out), "--partial"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "steps.jsonl:31: not valid JSON; exported the 30 whole step(s) before it" in result.stderr
    assert len(out.read_text(encoding="utf-8").splitlines()) == 30

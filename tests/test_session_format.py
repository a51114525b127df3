"""The session format is typed on both sides: the recorder writes the reader's own record types through
their `to_json`, and the reader's `from_json` mirrors it, so reading a line and writing it again gives the
same bytes. Older sessions (no `reasoning` in a reply) still read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agent.session import read_session
from agent.session.format import dumps_line
from agent.session.reader import read_header
from agent.session.records import End, StepRecord
from sandbox.actions import Click, Hotkey, Type
from tests.helpers.sessions import edit_steps, record_session


def test_every_line_reads_back_and_writes_the_same_bytes(tmp_path: Path) -> None:
    folder = record_session(tmp_path / "s", [Click(250, 154), Type("Ada\n<Lovelace>"), Hotkey(("ctrl", "s"))])
    session = read_session(folder)
    lines = (folder / "steps.jsonl").read_bytes().splitlines(keepends=True)
    records: list[StepRecord | End] = [*session.steps]
    assert session.end is not None
    records.append(session.end)
    assert [dumps_line(r.to_json()) for r in records] == lines
    assert read_header(folder).to_json() == json.loads((folder / "header.json").read_text(encoding="utf-8"))
    for step in session.steps:
        again = StepRecord.from_json(step.to_json(), where=f"{folder}:{step.line}", line=step.line)
        assert again == step


def test_reasoning_is_recorded_and_absent_means_null(tmp_path: Path) -> None:
    folder = record_session(tmp_path / "s", [Click(250, 154)], reasoning="look for <the> button\nthen click")
    reply = read_session(folder).steps[0].reply
    assert reply is not None and reply.reasoning == "look for <the> button\nthen click"
    assert (reply.input_tokens, reply.output_tokens, reply.image_tokens) == (100, 10, 80)

    def older(records: list[dict[str, Any]]) -> None:  # as written before the reply had a reasoning field
        del records[0]["reply"]["reasoning"]

    edit_steps(folder, older)
    reply = read_session(folder).steps[0].reply
    assert reply is not None and reply.reasoning is None and reply.raw.startswith('{"kind": "click"')

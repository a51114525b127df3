"""The session format is typed on both sides: the recorder writes the reader's own record types through
their `to_json`, and the reader's `from_json` mirrors it, so reading a line and writing it again gives the
same bytes. Older sessions (no `reasoning` in a reply) still read."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from agent.events import RunStarted
from agent.session import read_session
from agent.session.files import read_png
from agent.session.format import dumps_line
from agent.session.png import encode_png
from agent.session.reader import read_header
from agent.session.records import End, Header, StepRecord
from sandbox.actions import Click, Hotkey, Type
from sandbox.geometry import ScreenGeometry
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


def test_the_header_is_the_run_started_event_and_what_the_recorder_adds(tmp_path: Path) -> None:
    folder = record_session(tmp_path / "s", [Click(250, 154)])
    written = json.loads((folder / "header.json").read_text(encoding="utf-8"))
    assert list(written) == [  # the layout old sessions have, key for key
        *("schema", "kind", "task", "backend", "model", "family", "min_pixels", "max_pixels", "screen"),
        *("monitor", "policy_digest", "deskpilot_version", "started", "t", "run"),
    ]
    header = read_header(folder)
    event = RunStarted(**{f.name: getattr(header, f.name) for f in dataclasses.fields(RunStarted)})
    again = Header.from_event(
        event,
        schema=header.schema,
        deskpilot_version=header.deskpilot_version,
        started=header.started,
        t=header.t,
        run=header.run,
    )
    assert again == header and again.to_json() == written
    started = RunStarted(
        task="t",
        backend="b",
        model=None,
        family="f",
        min_pixels=1,
        max_pixels=2,
        screen=ScreenGeometry.single(640, 480),
        monitor=0,
        policy_digest="d",
    )
    made = Header.from_event(started, schema=1, deskpilot_version="v", started="s", t=1.0, run={})
    assert all(getattr(made, f.name) == getattr(started, f.name) for f in dataclasses.fields(RunStarted))


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "P", "1", "I;16"])
def test_recorded_images_are_png_files_of_the_exact_pixels(tmp_path: Path, mode: str) -> None:
    noise = np.random.default_rng(7).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    noise[10:20] = noise[9]  # a few repeated rows, as screens have
    image = Image.fromarray(noise).convert(mode)
    data = encode_png(image)
    with Image.open(io.BytesIO(data), formats=["PNG"]) as back:
        back.load()
        assert (back.mode, back.size, back.tobytes()) == (image.mode, image.size, image.tobytes())
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.png").write_bytes(data)
    assert read_png(tmp_path, "images/a.png", (53, 37))[0] == data

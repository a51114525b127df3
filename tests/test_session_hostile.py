"""Hostile session folders (the November 2026 red team's reproductions, rebuilt here): a recording is data,
never a way in. Each folder is written by the real recorder, then edited as an attacker would: fields that
inject code or markup, images that point out of the folder, files that are devices or FIFOs, an export
aimed at the session itself. The reader calls each one corrupt (file and line); exports refuse; listing
survives them; nothing session-made reaches the terminal raw."""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from agent.errors import SessionError
from agent.session import Session, list_sessions, read_session
from agent.session import format as session_format
from agent.session.export import export_session
from agent.session.report import html_report
from sandbox.actions import Click, Type
from sandbox.policy import Policy
from tests.helpers.chromium import CHROMIUM, HEADLESS
from tests.helpers.sessions import edit_header, edit_steps, record_session

DESKPILOT = Path(sys.executable).with_name("deskpilot")
MEMORY_LIMIT_BYTES = 2 << 30  # `deskpilot sessions` runs in 1.5 GiB; reading /dev/zero would not
INJECTED = '2026 """\nimport os; os.system("touch {marker}")\n"""'
ESCAPES = "\x1b]52;c;aGVsbG8=\x07\x1b[2J\x1b[1A\x1b[2Kforged\nline\u202e"


def _export(session: Session, fmt: str, out: Path) -> None:
    export_session(session, fmt, out, policy=Policy())


def deskpilot(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The CLI under a memory limit and a timeout: a reader that slurps /dev/zero or waits on a FIFO fails."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))

    return subprocess.run([str(DESKPILOT), *args], capture_output=True, text=True, timeout=timeout, preexec_fn=limit)


@pytest.fixture
def session(tmp_path: Path) -> Path:
    return record_session(tmp_path / "sess", [Click(250, 154), Type("Ada <Lovelace>")])


# -- #4: started and outcome are checked --------------------------------------------------------------


def test_started_must_be_iso_8601_with_its_offset(session: Path, tmp_path: Path) -> None:
    good = read_session(session).header.started
    for bad in (INJECTED.format(marker=tmp_path / "pwned"), "2026-11-26T08:41:28", "yesterday", good + "\n"):
        edit_header(session, started=bad)
        with pytest.raises(SessionError, match=r"header\.json: field 'started' must be an ISO 8601 time") as caught:
            read_session(session)
        assert "\n" not in str(caught.value)
    edit_header(session, started="2026-11-26T08:41:28.160+01:00")
    assert read_session(session).header.started == "2026-11-26T08:41:28.160+01:00"


def test_outcome_must_be_a_known_one(session: Path, tmp_path: Path) -> None:
    def outcome(value: str) -> None:
        edit_steps(session, lambda records: records[-1].update(outcome=value))

    outcome(INJECTED.format(marker=tmp_path / "pwned"))
    with pytest.raises(SessionError, match=r"steps\.jsonl:3: field 'outcome' must be one of success, failure"):
        read_session(session)
    outcome("interrupted")  # what a missing end record reads as; never written
    with pytest.raises(SessionError, match=r"steps\.jsonl:3: field 'outcome'"):
        read_session(session)
    outcome("refused")
    assert read_session(session).outcome == "refused"


def test_python_export_of_an_injected_session_is_refused(session: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    edit_header(session, started=INJECTED.format(marker=marker))
    out = tmp_path / "out.py"
    result = deskpilot("export", str(session), "--format", "python", "-o", str(out))
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: ") and "header.json: field 'started'" in result.stderr
    assert len(result.stderr.splitlines()) == 1 and not out.exists() and not marker.exists()


# -- #5: images stay inside the session, and are PNGs --------------------------------------------------


def test_images_that_leave_the_folder_are_corruption(session: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("DEMO_SECRET_API_KEY=sk-demo-123\n", encoding="utf-8")
    model = session / "images" / "0001-model.png"

    model.unlink()
    model.symlink_to(secret)  # sessD: one image is a symlink to a secret
    with pytest.raises(SessionError, match=r"steps\.jsonl:1: .*images/0001-model\.png.* outside"):
        read_session(session)

    model.unlink()
    model.symlink_to(session / "header.json")  # inside the session, but not in images/
    with pytest.raises(SessionError, match=r"steps\.jsonl:1: .*images/0001-model\.png.* outside"):
        read_session(session)

    model.unlink()
    os.mkfifo(model)  # a FIFO where an image should be
    with pytest.raises(SessionError, match=r"steps\.jsonl:1: .*images/0001-model\.png.* not a regular file"):
        read_session(session)

    other = record_session(tmp_path / "sessE", [Click(250, 154)])  # sessE: `images` is a symlink to /
    shutil.rmtree(other / "images")
    (other / "images").symlink_to("/")

    def environ(records: list[dict[str, Any]]) -> None:
        step = records[0]
        step["model_image"] = {"file": "images/proc/self/environ", "width": 1, "height": 1}
        step["screenshot"] = {"file": "images/proc/self/environ", "width": 1, "height": 1}
        step["prompt"]["messages"][1]["parts"][1]["file"] = "images/proc/self/environ"

    edit_steps(other, environ)
    with pytest.raises(SessionError, match=r"steps\.jsonl:1: .*images/proc/self/environ.* outside"):
        read_session(other)
    out = tmp_path / "exE" / "outE.jsonl"
    out.parent.mkdir()
    result = deskpilot("export", str(other), "--format", "jsonl", "-o", str(out))
    assert result.returncode == 2 and "steps.jsonl:1:" in result.stderr
    assert not out.exists() and not (out.parent / "outE-images").exists()


def test_only_png_bytes_are_exported_and_exactly_those(session: Path, tmp_path: Path) -> None:
    out = tmp_path / "train" / "data.jsonl"
    out.parent.mkdir()
    _export(read_session(session), "jsonl", out)
    copied = out.parent / json.loads(out.read_text(encoding="utf-8").splitlines()[0])["images"][0]
    assert copied.read_bytes() == (session / "images" / "0001-model.png").read_bytes()

    for name in ("0001-model.png", "0001-screen.png"):  # the training data copies one, the report embeds the other
        (session / "images" / name).write_text("DEMO_SECRET_API_KEY=sk-demo-123\n", encoding="utf-8")
    shutil.rmtree(out.parent)
    out.parent.mkdir()
    with pytest.raises(SessionError, match=r"images/0001-model\.png: not a PNG image"):
        _export(read_session(session), "jsonl", out)
    assert not out.exists() and not any("sk-demo" in p.read_text("latin-1") for p in out.parent.rglob("*"))
    report = tmp_path / "report.html"
    with pytest.raises(SessionError, match=r"images/0001-screen\.png: not a PNG image"):
        _export(read_session(session), "html", report)
    assert not report.exists()

    Image.new("RGB", (9, 9)).save(session / "images" / "0001-model.png", format="JPEG")  # an image, not a PNG
    with pytest.raises(SessionError, match=r"images/0001-model\.png: not a PNG image"):
        _export(read_session(session), "jsonl", out)
    Image.new("RGB", (9, 9)).save(session / "images" / "0001-model.png", format="PNG")  # not the recorded size
    with pytest.raises(SessionError, match=r"images/0001-model\.png: .*9x9.* recorded as 240x135"):
        _export(read_session(session), "jsonl", out)


def test_an_oversized_image_is_refused_unread(session: Path, tmp_path: Path) -> None:
    limit = session_format.IMAGE_LIMIT_BYTES
    with open(session / "images" / "0001-model.png", "r+b") as stream:
        stream.truncate(limit + 1)  # sparse: no disk used
    with pytest.raises(SessionError, match=rf"images/0001-model\.png: .*more than {limit}"):
        _export(read_session(session), "jsonl", tmp_path / "data.jsonl")


# -- #6: the sha field is checked, and every field is escaped in the report ---------------------------

SHA_OPEN, SHA_CLOSE = "<script>/*" + "a" * 54, "*/</script>" + "a" * 53
PWN_RAW = "*/document.title=`PWNED-BY-SESSION`;document.body.setAttribute(`data-pwned`,1)/*"


def test_prompt_sha256_must_be_64_lowercase_hex_digits(session: Path) -> None:
    for bad in (SHA_OPEN, "A" * 64, "a" * 63, "<svg/onload=z()>" + "a" * 48):
        edit_steps(session, lambda records, bad=bad: records[0]["prompt"].update(sha256=bad))
        with pytest.raises(SessionError, match=r"steps\.jsonl:1: prompt: field 'sha256' must be 64 lowercase hex"):
            read_session(session)


def _hostile_report_session(session: Path) -> Session:
    """The red team's sessC, past the reader (as if read by an older deskpilot): only the report is tested."""
    clean = read_session(session)
    first, second = clean.steps
    assert first.prompt is not None and first.reply is not None and second.prompt is not None
    first = dataclasses.replace(
        first,
        prompt=dataclasses.replace(first.prompt, sha256=SHA_OPEN),
        reply=dataclasses.replace(first.reply, raw=PWN_RAW),
    )
    second = dataclasses.replace(second, prompt=dataclasses.replace(second.prompt, sha256=SHA_CLOSE))
    return dataclasses.replace(clean, steps=(first, second))


def test_report_escapes_the_sha_field(session: Path) -> None:
    page = html_report(_hostile_report_session(session))
    assert "<script" not in page and "</script" not in page and "&lt;script&gt;" in page


@pytest.mark.display
@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium for the HTML report (Debian: apt-get install chromium)")
def test_no_script_runs_in_chromium(session: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    report.write_text(html_report(_hostile_report_session(session)), encoding="utf-8")
    assert CHROMIUM is not None
    chrome = [CHROMIUM, *HEADLESS, f"--user-data-dir={tmp_path / 'profile'}"]
    out = subprocess.run([*chrome, "--dump-dom", report.as_uri()], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    dom = out.stdout
    assert "PWNED-BY-SESSION</title>" not in dom and "data-pwned" not in dom.split("<body", 1)[1].split(">", 1)[0]
    assert "<script" not in dom and "<title>deskpilot session: fill in the form</title>" in dom


# -- #15 and #12: listing survives devices, FIFOs and huge files, and prints nothing raw ----------------


def test_listing_survives_devices_fifos_and_huge_files(session: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    shutil.copytree(session, root / "good")
    for name, file in (("z1", "steps.jsonl"), ("z1h", "header.json")):  # a symlink to /dev/zero
        folder = Path(shutil.copytree(session, root / name))
        (folder / file).unlink()
        (folder / file).symlink_to("/dev/zero")
    for name, file in (("z2", "steps.jsonl"), ("z2h", "header.json")):  # a FIFO nobody writes to
        folder = Path(shutil.copytree(session, root / name))
        (folder / file).unlink()
        os.mkfifo(folder / file)
    big = Path(shutil.copytree(session, root / "big"))
    with open(big / "steps.jsonl", "r+b") as stream:
        stream.truncate(session_format.STEPS_LIMIT_BYTES + 1)  # sparse

    result = deskpilot("sessions", "--json", "--dir", str(root))
    assert result.returncode == 0, result.stderr
    listed = {Path(s["folder"]).name: s for s in json.loads(result.stdout)}
    assert set(listed) == {"good", "z1", "z1h", "z2", "z2h", "big"}
    assert listed["good"]["outcome"] == "success" and listed["good"]["error"] is None
    expected = {"z1": "a device", "z1h": "a device", "z2": "a FIFO", "z2h": "a FIFO", "big": "more than"}
    for name, why in expected.items():
        assert listed[name]["outcome"] == "corrupt", listed[name]
        assert (
            why in listed[name]["error"]
            and ("header.json" if name.endswith("h") else "steps.jsonl") in (listed[name]["error"])
        )
    assert [s.outcome for s in list_sessions(root)].count("corrupt") == 5


def test_sessions_listing_prints_no_raw_control_characters(tmp_path: Path) -> None:
    root = tmp_path / "root"
    record_session(root / "task", [Click(250, 154)], task=f"open {ESCAPES} files")
    bad = record_session(root / f"folder{ESCAPES}", [Click(250, 154)], task="fine")
    edit_header(bad, started=f"2026-11-26T08:41:28.160+01:00{ESCAPES}")  # corrupt, its error names it
    result = deskpilot("sessions", "--dir", str(root))
    assert result.returncode == 0, result.stderr
    assert not any(c in result.stdout for c in "\x1b\x07\r\u202e")
    lines = result.stdout.splitlines()
    assert len(lines) == 4, lines  # the heading, two sessions and one error line: no line was forged or split
    assert "open \\x1b]52;c;aGVsbG8=\\x07" in result.stdout and "corrupt" in result.stdout


# -- #20: an export never writes into the session it reads ---------------------------------------------


def test_export_refuses_an_output_inside_the_session(session: Path, tmp_path: Path) -> None:
    before = {p: p.read_bytes() for p in session.rglob("*") if p.is_file()}
    images = tmp_path / "data-images"
    images.symlink_to(session / "images")  # the JSONL's images folder resolves into the session
    link = tmp_path / "link.html"
    link.symlink_to(session / "header.json")
    for fmt, out in (
        ("jsonl", session / "steps.jsonl"),
        ("html", session / "header.json"),
        ("python", session / "images" / "0001-screen.png"),
        ("python", session / "images" / ".." / "new.py"),
        ("html", link),
        ("jsonl", tmp_path / "data.jsonl"),
    ):
        result = deskpilot("export", str(session), "--format", fmt, "-o", str(out))
        assert result.returncode == 2, (fmt, out, result.stderr)
        assert len(result.stderr.splitlines()) == 1 and "inside the session folder" in result.stderr
        assert str(out if fmt != "jsonl" or out.parent == session else images) in result.stderr
    assert {p: p.read_bytes() for p in session.rglob("*") if p.is_file()} == before
    assert not (session / "new.py").exists()


# -- N6 (round 3): a lone surrogate is corruption named by file and field, never a crash ----------------


def _with_surrogate_reply(folder: Path) -> None:
    """steps.jsonl with line 1's reply holding `\\udc80` (as a JSON escape: no encoder writes it raw)."""
    path = folder / "steps.jsonl"
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    records[0]["reply"]["raw"] = "click \udc80 there"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="ascii")


def test_a_lone_surrogate_is_corruption_named_by_file_and_field(tmp_path: Path) -> None:
    root = tmp_path / "root"
    record_session(root / "good", [Click(250, 154)], task="the good one")
    header = record_session(root / "header", [Click(250, 154)])
    edit_header(header, task="t\ud800x")  # json.dumps writes it as the escape \ud800
    steps = record_session(root / "steps", [Click(250, 154)])
    _with_surrogate_reply(steps)
    named = record_session(root / os.fsdecode(b"name-\xff"), [Click(250, 154)], task="a folder name not UTF-8")

    with pytest.raises(SessionError, match=r"header\.json: task holds a lone surrogate"):
        read_session(header)
    with pytest.raises(SessionError, match=r"steps\.jsonl:1: reply\.raw holds a lone surrogate"):
        read_session(steps)

    result = deskpilot("sessions", "--dir", str(root))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 7, lines  # the heading, four sessions and the errors of two
    assert any("the good one" in line and "success" in line for line in lines)
    assert any("corrupt" in line and line.rstrip().endswith(str(header)) for line in lines)
    assert f"error: {header / 'header.json'}: task holds a lone surrogate" in result.stdout
    assert f"error: {steps / 'steps.jsonl'}:1: reply.raw holds a lone surrogate" in result.stdout  # the last step
    assert "name-\\udcff" in result.stdout and str(named) not in result.stdout  # the folder, escaped
    listed = {Path(s["folder"]).name: s for s in json.loads(deskpilot("sessions", "--json", "--dir", str(root)).stdout)}
    assert listed["header"]["outcome"] == "corrupt" and listed["good"]["outcome"] == "success"

    for folder, where in ((header, "header.json: task"), (steps, "steps.jsonl:1: reply.raw")):
        out = tmp_path / f"{folder.name}.html"
        result = deskpilot("export", str(folder), "--format", "html", "-o", str(out))
        assert result.returncode == 2 and "UnicodeEncodeError" not in result.stderr, result.stderr
        assert result.stderr == f"error: {folder}/{where} holds a lone surrogate (not text; no recorder writes one)\n"
        assert not out.exists()


def test_printable_escapes_a_lone_surrogate() -> None:
    from app.terminal import printable

    assert printable("t\ud800x \udcff") == "t\\ud800x \\udcff"
    assert printable("t\ud800x").encode("utf-8") == b"t\\ud800x"
    assert printable("中文 é 😀") == "中文 é 😀"  # text that is text stays as it is

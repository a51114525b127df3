"""`deskpilot eval` running: predictions appended as they come and resumed, --limit, Ctrl-C, a failing backend,
a bad predictions file, and N requests in flight against a local server (tests/helpers/grounding_server.py),
each answer kept with its own sample."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from agent.backends.scripted import ScriptedBackend
from agent.evaluation.datasets import load_dataset
from agent.evaluation.runner import run_eval
from agent.evaluation.store import PredictionStore
from agent.families import get_family
from app.cli import main
from sandbox.stop import StopFlag
from tests.helpers import eval_sets
from tests.helpers.eval_sets import IMAGE_SIZE, Built, Case, check_card
from tests.helpers.grounding_server import GroundingServer, click, instruction_of

DESKPILOT = Path(sys.executable).with_name("deskpilot")


def _script(path: Path, cases: list[Case]) -> Path:
    path.write_text("".join(json.dumps({"raw": eval_sets.reply(c.point)}) + "\n" for c in cases), encoding="utf-8")
    return path


def _eval(built: Built, tmp_path: Path, *extra: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, Any, str]:
    code = main(["eval", str(built.path), "--json", "--predictions", str(tmp_path / "p.jsonl"), *extra])
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else None, err


def test_limit_then_resume_asks_only_what_is_left(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    built = eval_sets.screenspot_v2(tmp_path / "set")
    cases = built.cases
    first = _script(tmp_path / "first.jsonl", cases[:6])
    code, card, err = _eval(
        built, tmp_path, "--backend", "scripted", "--script", str(first), "--limit", "6", capsys=capsys
    )
    assert code == 0, err
    assert card["samples"] == 6 and [r["hit"] for r in card["results"]] == [c.hit for c in cases[:6]]
    assert len((tmp_path / "p.jsonl").read_text().splitlines()) == 6

    # the rest only: a scripted backend answers in order, so re-asking any done sample would shift every answer
    rest = _script(tmp_path / "rest.jsonl", cases[6:])
    code, card, err = _eval(built, tmp_path, "--backend", "scripted", "--script", str(rest), capsys=capsys)
    assert code == 0, err
    check_card(card, cases)
    assert f"{len(cases) - 6} asked" in err and "6 from earlier predictions" in err

    code, again, err = _eval(built, tmp_path, "--backend", "scripted", "--script", str(rest), capsys=capsys)
    assert code == 0 and "0 asked" in err and again["results"] == card["results"]

    # other settings (a pixel budget) are another run: nothing of this one is reused
    code, other, err = _eval(
        built, tmp_path, "--backend", "scripted", "--script", str(rest), "--max-pixels", "200000", capsys=capsys
    )
    assert code == 2 and "ran out" in err and "new prediction(s) kept in" in err
    # --fresh forgets the file
    whole = _script(tmp_path / "whole.jsonl", cases)
    code, card, err = _eval(built, tmp_path, "--backend", "scripted", "--script", str(whole), "--fresh", capsys=capsys)
    assert code == 0 and f"{len(cases)} asked" in err
    check_card(card, cases)


def test_a_failing_backend_ends_the_eval_and_keeps_what_was_answered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    built = eval_sets.osworld_g(tmp_path / "set")
    short = _script(tmp_path / "short.jsonl", built.cases[:4])
    code, card, err = _eval(built, tmp_path, "--backend", "scripted", "--script", str(short), capsys=capsys)
    assert code == 2 and card is None
    lines = err.strip().splitlines()
    assert lines[-1].startswith("error: the script ran out") and "4 new prediction(s) kept in" in lines[-1]
    store = PredictionStore(tmp_path / "p.jsonl", "unused")
    assert len(store.path.read_text().splitlines()) == 4
    rest = _script(tmp_path / "rest.jsonl", built.cases[4:])
    code, card, err = _eval(built, tmp_path, "--backend", "scripted", "--script", str(rest), capsys=capsys)
    assert code == 0, err
    check_card(card, built.cases)


def test_a_bad_predictions_line_is_an_error_naming_the_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    built = eval_sets.uivision(tmp_path / "set")
    whole = _script(tmp_path / "whole.jsonl", built.cases)
    assert _eval(built, tmp_path, "--backend", "scripted", "--script", str(whole), capsys=capsys)[0] == 0
    path = tmp_path / "p.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines[:2], "{broken", *lines[2:]]) + "\n")
    code, card, err = _eval(built, tmp_path, "--backend", "scripted", "--script", str(whole), capsys=capsys)
    assert code == 2 and card is None
    assert err.strip() == f"error: {path}:3: not valid JSON (delete the line, or start over with --fresh)"

    path.write_text("\n".join(lines) + "\n" + lines[0][:30])  # killed half-way through a line
    code, card, err = _eval(built, tmp_path, "--backend", "scripted", "--script", str(whole), capsys=capsys)
    assert code == 2 and f"{path}:{len(lines) + 1}: the last line is cut off" in err

    path.write_text(lines[0].replace('"point": [', '"point": ["x", ') + "\n")
    code, card, err = _eval(built, tmp_path, "--backend", "scripted", "--script", str(whole), capsys=capsys)
    assert code == 2 and f"{path}:1: field 'point' must be two integers or null" in err


def _relative(point: tuple[int, int]) -> tuple[int, int]:
    """An image pixel in qwen3-vl's 0-1000 numbers."""
    return round(point[0] * 1000 / IMAGE_SIZE[0]), round(point[1] * 1000 / IMAGE_SIZE[1])


def _answer(built: Built) -> Any:
    points = {c.instruction: c.point for c in built.cases}

    def answer(body: dict[str, Any]) -> str:
        point = points[instruction_of(body)]
        assert point is not None
        return click(*_relative(point))

    return answer


def _in_box(point: list[int], box: list[float]) -> bool:
    return box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]


@pytest.mark.parametrize("concurrency", [1, 4])
def test_requests_in_flight_against_a_server_each_answer_kept_with_its_sample(
    concurrency: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    built = eval_sets.screenspot_v2(tmp_path / "set")
    with GroundingServer(latency_s=0.15, answer=_answer(built)) as server:
        code, card, err = _eval(
            built,
            tmp_path,
            "--backend",
            "openai",
            "--endpoint",
            server.url,
            "--family",
            "qwen3-vl",
            "--concurrency",
            str(concurrency),
            capsys=capsys,
        )
    assert code == 0, err
    assert server.requests == len(built.cases)
    assert (server.max_in_flight == 1) if concurrency == 1 else (2 <= server.max_in_flight <= concurrency)
    assert card["backend"] == "openai" and card["model"] == "grounding-test" and card["family"] == "qwen3-vl"
    for result, case in zip(card["results"], built.cases):
        assert result["instruction"] == case.instruction
        assert case.point is not None and math.dist(result["point"], case.point) <= 1.0  # 0-1000 rounding
        assert result["hit"] is _in_box(result["point"], result["box"])
    assert card["hits"] == sum(r["hit"] for r in card["results"]) and 0 < card["hits"] < card["samples"]
    assert f"{concurrency} in flight" in err


def test_in_process_backends_take_one_request_at_a_time(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    built = eval_sets.screenspot_v2(tmp_path / "set")
    whole = _script(tmp_path / "whole.jsonl", built.cases)
    code, card, err = _eval(
        built, tmp_path, "--backend", "scripted", "--script", str(whole), "--concurrency", "8", capsys=capsys
    )
    assert code == 0 and "the scripted backend runs in this process and answers one request at a time" in err
    assert "1 in flight" in err
    check_card(card, built.cases)


class _Interrupting(ScriptedBackend):
    """Ctrl-C arrives while the `at`-th request is being answered."""

    def __init__(self, replies: list[str], at: int) -> None:
        super().__init__(replies)
        self.calls, self.at = 0, at

    def generate(self, request: Any, *, stop: StopFlag) -> Any:
        self.calls += 1
        if self.calls == self.at:
            raise KeyboardInterrupt
        return super().generate(request, stop=stop)


def test_an_interrupted_run_leaves_whole_lines_and_resumes(tmp_path: Path) -> None:
    built = eval_sets.screenspot_pro(tmp_path / "set")
    dataset = load_dataset(built.path)
    family = get_family("qwen2.5-vl")
    store = PredictionStore(tmp_path / "p.jsonl", "run-1")
    replies = [eval_sets.reply(c.point) for c in built.cases]
    with pytest.raises(KeyboardInterrupt):
        run_eval(dataset.samples, backend=_Interrupting(replies, at=5), family=family, stop=StopFlag(), store=store)
    store.close()
    lines = store.path.read_text().splitlines()
    assert len(lines) == 4 and all(json.loads(line)["run"] == "run-1" for line in lines)
    results = run_eval(
        dataset.samples, backend=ScriptedBackend(replies[4:]), family=family, stop=StopFlag(), store=store
    )
    store.close()
    assert [r.resumed for r in results] == [True] * 4 + [False] * (len(replies) - 4)
    assert [r.hit for r in results] == [c.hit for c in built.cases]


def test_ctrl_c_with_requests_in_flight_exits_3_and_the_same_command_resumes(tmp_path: Path) -> None:
    built = eval_sets.screenspot_v2(tmp_path / "set")
    predictions = tmp_path / "p.jsonl"
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    with GroundingServer(latency_s=1.0, answer=_answer(built)) as server:  # 4 answers a second: time to press Ctrl-C
        command = [
            str(DESKPILOT),
            "eval",
            str(built.path),
            "--backend",
            "openai",
            "--endpoint",
            server.url,
            "--family",
            "qwen3-vl",
            "--concurrency",
            "4",
            "--predictions",
            str(predictions),
        ]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (
            not predictions.exists() or len(predictions.read_text().splitlines()) < 4
        ):
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
        assert process.returncode == 3, err
        kept = predictions.read_text()
        assert kept.endswith("\n") and all(json.loads(line) for line in kept.splitlines())
        done = len(kept.splitlines())
        assert 4 <= done < len(built.cases)
        assert f"error: interrupted: {done} new prediction(s) kept in {predictions}" in err and out == ""

        server.reset()
        server.latency_s = 0.05
        again = subprocess.run(command + ["--json"], capture_output=True, text=True, timeout=120, env=env)
        assert again.returncode == 0, again.stderr
        assert server.requests == len(built.cases) - done
        assert f"{done} from earlier predictions" in again.stderr
        card = json.loads(again.stdout)
        assert [r["instruction"] for r in card["results"]] == [c.instruction for c in built.cases]
        assert all(r["hit"] is _in_box(r["point"], r["box"]) for r in card["results"])


def test_refine_zoom_asks_twice_per_point_and_is_a_run_of_its_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    built = eval_sets.screenspot_v2(tmp_path / "set")
    cases = built.cases[:3]
    script = tmp_path / "twice.jsonl"
    # each sample with a point is asked twice (the second time on the zoomed crop; the exact mapping back is
    # tests/test_eval_locate.py's); a refusal once. The script holds exactly that many answers.
    lines = []
    for case in cases:
        lines.append(json.dumps({"raw": eval_sets.reply(case.point)}))
        lines.append(json.dumps({"raw": eval_sets.reply(case.point)}) if case.point is not None else None)
    script.write_text("".join(line + "\n" for line in lines if line), encoding="utf-8")
    code, card, err = _eval(
        built,
        tmp_path,
        "--backend",
        "scripted",
        "--script",
        str(script),
        "--limit",
        "3",
        "--refine",
        "zoom",
        capsys=capsys,
    )
    assert code == 0, err
    assert card["refine"] == "zoom" and card["samples"] == 3 and card["errors"] == 0
    assert [r["point"] is None for r in card["results"]] == [c.point is None for c in cases]
    short = tmp_path / "short.jsonl"  # one answer fewer: the last second look finds none
    short.write_text("".join(line + "\n" for line in lines if line).rsplit("\n", 2)[0] + "\n", encoding="utf-8")
    code, _, err = _eval(
        built,
        tmp_path,
        "--backend",
        "scripted",
        "--script",
        str(short),
        "--limit",
        "3",
        "--refine",
        "zoom",
        "--fresh",
        capsys=capsys,
    )
    assert code == 2 and "ran out" in err
    # the same predictions file, without zoom: other settings, so nothing of the zoomed run is reused
    code, card, err = _eval(
        built, tmp_path, "--backend", "scripted", "--script", str(script), "--limit", "3", capsys=capsys
    )
    assert code == 0 and "3 asked" in err and card["refine"] == "off"


def test_forged_prediction_values_are_an_error_naming_the_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The red team's N11 (round 3): a predictions file is anyone's to edit; its values are checked too."""
    built = eval_sets.screenspot_v2(tmp_path / "set")
    whole = _script(tmp_path / "whole.jsonl", built.cases)
    assert _eval(built, tmp_path, "--backend", "scripted", "--script", str(whole), capsys=capsys)[0] == 0
    path = tmp_path / "p.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    width, height = IMAGE_SIZE
    first = next(n for n, line in enumerate(lines) if line["point"] is not None)
    again = "(delete the line, or start over with --fresh)"
    forged = {
        "point": (
            [10**30, -(10**30)],
            f"field 'point' ({'1' + '0' * 22}…, -{'1' + '0' * 21}…) lies outside the {width}x{height} image of "
            "sample screenspot_desktop_v2.json#0",
        ),
        "point ": ([-5, -7], f"field 'point' (-5, -7) lies outside the {width}x{height} image"),
        "point  ": ([width, 0], f"field 'point' ({width}, 0) lies outside"),
        "seconds": (1e308, f"field 'seconds' must be a number of seconds from 0 to 86400 {again}"),
        "seconds ": (-1, "field 'seconds' must be a number of seconds from 0 to 86400"),
        "error": ("<script>" * 1000, f"field 'error' holds 8000 characters, more than 2000 {again}"),
        "raw": ("x" * 2001, "field 'raw' holds 2001 characters, more than 2000"),
    }
    for field, (value, needle) in forged.items():
        edited = [dict(line) for line in lines]
        edited[first][field.strip()] = value
        path.write_text("".join(json.dumps(line) + "\n" for line in edited))
        code, card, err = _eval(built, tmp_path, "--backend", "scripted", "--script", str(whole), capsys=capsys)
        assert code == 2 and card is None, (field, err)
        assert err.startswith(f"error: {path}:{first + 1}: ") and len(err.splitlines()) == 1, err
        assert needle in err, (field, err)
    # what the eval writes itself reads back: on the last pixel, no time at all, the longest reply kept
    edited = [dict(line) for line in lines]
    edited[first].update(point=[width - 1, height - 1], seconds=0, raw="x" * 2000, error=None)
    path.write_text("".join(json.dumps(line) + "\n" for line in edited))
    code, card, err = _eval(built, tmp_path, "--backend", "scripted", "--script", str(whole), capsys=capsys)
    assert code == 0 and card["results"][first]["point"] == [width - 1, height - 1], err

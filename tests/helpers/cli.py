"""The installed `deskpilot` command, run as a person runs it (a subprocess, its own output and exit code)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DESKPILOT = Path(sys.executable).with_name("deskpilot")  # the console script, installed beside this Python


def deskpilot(*args: str, stdin: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(DESKPILOT), *args], input=stdin, capture_output=True, text=True, timeout=timeout)

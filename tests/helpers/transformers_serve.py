"""Start `transformers serve` (from .venv-serve, offline, CPU) pinned to one model directory on 127.0.0.1.

A context manager, so that a test can serve the tiny model as it is or a model
directory it changed first (a processor config with a lower max_pixels, a tiny Qwen3.5).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
SERVE = ROOT / ".venv-serve" / "bin" / "transformers"
START_TIMEOUT_S = 180.0
POLL_S = 0.2
SKIP_REASON = (
    f"no {SERVE.relative_to(ROOT)}: make it with `bash tests/helpers/serve_venv.sh` "
    "(torch 2.14.1 + torchvision 0.29.1 + transformers[serving])"
)


class ServeFailed(Exception):
    """The server exited or did not answer /health in time; the message ends with its log's tail."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def transformers_serve(model_dir: Path, home: Path) -> Iterator[str]:
    """Yields the server's base URL (no /v1); `home` holds an empty Hugging Face cache and the server's log."""
    log_path = home / "serve.log"
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HOME": str(home),
        "TOKENIZERS_PARALLELISM": "false",
    }
    port = free_port()
    command = [str(SERVE), "serve", str(model_dir), "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=home)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise ServeFailed(f"transformers serve exited with {process.returncode}: {_tail(log_path)}")
            try:
                if httpx.get(f"{url}/health", timeout=2.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise ServeFailed(f"transformers serve not up after {START_TIMEOUT_S:g} s: {_tail(log_path)}")
            time.sleep(POLL_S)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(15)


def _tail(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")[-3000:]

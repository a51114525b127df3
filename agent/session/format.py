"""The session folder's format, as the recorder writes it and the reader expects it (docs/sessions.md).

    SESSION/header.json     the run's settings, written once, atomically (tmp + fsync + rename)
    SESSION/steps.jsonl     one JSON object per line: {"kind": "step", ...} per step, {"kind": "end", ...} last
    SESSION/images/*.png    the full screenshot and the exact model image of each step

Crash-safety rule: an image is written to a temporary name, fsynced and renamed; a step's line is appended
(one write of the whole line, then fsync) only after every image it names is in place, and header.json
before any line. So a killed run leaves whole lines only, and no line ever names a missing image.

Each record's JSON is its type's `to_json` / `from_json` (records.py). A session is read as untrusted input:
files of bounded size (the limits below), images only inside images/ (files.py).
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import platformdirs

from agent.errors import SessionError
from agent.prompts import ImagePart, Message

SCHEMA_VERSION = 1
HEADER = "header.json"
STEPS = "steps.jsonl"
IMAGES = "images"
KNOWN_ENTRIES = frozenset({HEADER, STEPS, IMAGES})
SLUG_CHARS = 40
FOLDER_TIME_FORMAT = "%Y-%m-%dT%H-%M-%S"
HEADER_LIMIT_BYTES = 1 << 20  # a header is ~1 KB; more is not one the recorder wrote
STEPS_LIMIT_BYTES = 256 << 20  # far past a long run's (lines of tens of KB, a few MB with long replies)
IMAGE_LIMIT_BYTES = 128 << 20  # a screenshot of one 8K monitor as a level-1 PNG stays below this


def default_sessions_dir() -> Path:
    """Where sessions go when a run names no folder: the user's data folder (platformdirs)."""
    return Path(platformdirs.user_data_dir("deskpilot")) / "sessions"


def slug(task: str) -> str:
    """`Click Submit!` -> `click-submit`: ASCII letters and digits joined by dashes, at most SLUG_CHARS."""
    ascii_text = unicodedata.normalize("NFKD", task).encode("ascii", "ignore").decode("ascii").lower()
    words = re.findall(r"[a-z0-9]+", ascii_text)
    text = ""
    for word in words:
        candidate = f"{text}-{word}" if text else word
        if len(candidate) > SLUG_CHARS:
            break
        text = candidate
    return text or "task"


def new_session_folder(root: Path, task: str, *, now: datetime | None = None) -> Path:
    """Create and return a fresh folder `root/2026-11-26T08-41-28-click-submit` (a `-2`, `-3` suffix if taken)."""
    stamp = (now or datetime.now()).strftime(FOLDER_TIME_FORMAT)
    base = f"{stamp}-{slug(task)}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        for n in range(1, 1000):
            folder = root / (base if n == 1 else f"{base}-{n}")
            try:
                folder.mkdir()
            except FileExistsError:
                continue
            return folder
    except OSError as exc:
        raise SessionError(f"cannot create a session folder in {root}: {exc.strerror or exc}") from None
    raise SessionError(f"cannot create a session folder in {root}: {base} and 998 more are taken")


def prepare_record_dir(folder: Path) -> Path:
    """`run --record DIR`: DIR is created; it must not exist or must be empty."""
    if folder.exists():
        if not folder.is_dir():
            raise SessionError(f"--record {folder}: exists and is not a folder")
        if any(folder.iterdir()):
            raise SessionError(f"--record {folder}: the folder is not empty (sessions are never written over)")
        return folder
    try:
        folder.mkdir(parents=True)
    except OSError as exc:
        raise SessionError(f"--record {folder}: cannot create the folder: {exc.strerror or exc}") from None
    return folder


def dumps_line(record: dict[str, Any]) -> bytes:
    """One record as one line of UTF-8 JSON, newline included (never a newline inside)."""
    return (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def image_name(step: int, what: str) -> str:
    """`images/0003-screen.png`: relative to the session folder, with forward slashes."""
    return f"{IMAGES}/{step:04d}-{what}.png"


def messages_digest(messages: Sequence[Message]) -> str:
    """sha256 over the prompt: each message's role, each text's UTF-8 bytes, each image's size, mode and pixels.

    Every piece is length-prefixed, so no two different prompts hash alike by running into each other.
    """
    digest = hashlib.sha256()

    def piece(tag: bytes, data: bytes) -> None:
        digest.update(tag + b"%d:" % len(data))
        digest.update(data)

    for message in messages:
        piece(b"role:", message.role.encode("utf-8"))
        for part in message.parts:
            if isinstance(part, ImagePart):
                image = part.image
                piece(b"image:", f"{image.width}x{image.height}:{image.mode}".encode("ascii"))
                piece(b"pixels:", image.tobytes())
            else:
                piece(b"text:", part.text.encode("utf-8"))
    return digest.hexdigest()

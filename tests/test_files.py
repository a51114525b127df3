"""Careful file reading and writing (sandbox/files.py) and terminal-safe text (app/terminal.py)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from app.terminal import printable
from sandbox.files import FileTooLargeError, NotRegularFileError, read_regular, write_atomically


def test_a_regular_file_within_the_limit_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes(b"x" * 10)
    assert read_regular(path, limit=10) == b"x" * 10
    with pytest.raises(FileTooLargeError, match="more than 9"):
        read_regular(path, limit=9)


def test_devices_fifos_and_folders_are_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    done = threading.Event()

    def read() -> None:
        with pytest.raises(NotRegularFileError, match="a FIFO"):
            read_regular(fifo, limit=100)
        done.set()

    threading.Thread(target=read, daemon=True).start()
    assert done.wait(5), "reading a FIFO blocked"
    with pytest.raises(NotRegularFileError, match="a device"):
        read_regular("/dev/zero", limit=1 << 30)
    link = tmp_path / "zero"
    link.symlink_to("/dev/zero")
    with pytest.raises(NotRegularFileError, match="a device"):
        read_regular(link, limit=1 << 30)
    with pytest.raises(OSError):
        read_regular(tmp_path, limit=100)


def test_atomic_write_replaces_whole_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text("old")
    write_atomically(path, b"new")
    assert path.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["settings.toml"]


def test_printable_escapes_terminal_controls_and_bidi_overrides() -> None:
    hostile = "\x1b]52;c;aGk=\x07\x1b[1A\x1b[2Kfake\nline\u202eevil\x9b"
    shown = printable(hostile)
    assert shown == "\\x1b]52;c;aGk=\\x07\\x1b[1A\\x1b[2Kfake\\nline\\u202eevil\\x9b"
    assert all(ch.isprintable() for ch in shown)
    assert printable("héllo 你好 🙂") == "héllo 你好 🙂"

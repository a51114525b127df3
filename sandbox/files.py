"""Files read and written with care, for everything deskpilot reads that someone else may have written.

- `read_regular(path, limit=...)`: the bytes of a regular file no larger than `limit`. A FIFO, a device
  (`/dev/zero`), a folder or an oversized file is refused at once with an OSError saying so; nothing blocks
  and nothing is read past the limit.
- `write_atomically(path, data)`: readers see the old file or the whole new one, even after a power cut
  (the data and the rename are both fsynced).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

READ_CHUNK_BYTES = 1 << 20
TMP_SUFFIX = ".tmp"


class NotRegularFileError(OSError):
    """A path that is a FIFO, a device, a socket or a folder where a regular file was expected."""


class FileTooLargeError(OSError):
    """A file larger than the reader allows."""


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_regular(path: Path | str, *, limit: int) -> bytes:
    """The whole content of a regular file of at most `limit` bytes (symlinks are followed).

    Opened without blocking, so a FIFO is refused instead of waiting for a writer; the size is checked on
    the open descriptor and again while reading (a file that grows is cut off, never read without end).
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFileError(errno.EINVAL, f"{_kind(info.st_mode)}, not a regular file", str(path))
        if info.st_size > limit:
            raise FileTooLargeError(errno.EFBIG, f"{info.st_size} bytes, more than {limit}", str(path))
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = os.read(fd, min(READ_CHUNK_BYTES, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise FileTooLargeError(errno.EFBIG, f"more than {limit} bytes", str(path))
        return b"".join(chunks)
    finally:
        os.close(fd)


def write_atomically(path: Path | str, data: bytes) -> None:
    """Write `path.tmp`, fsync it, rename it over `path`, fsync the folder (POSIX)."""
    path = Path(path)
    tmp = path.with_name(path.name + TMP_SUFFIX)
    with open(tmp, "wb") as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(tmp, path)
    try:
        folder = os.open(path.parent, os.O_RDONLY)
    except OSError:  # Windows cannot open folders; the rename is as durable as it gets there
        return
    try:
        os.fsync(folder)
    finally:
        os.close(folder)

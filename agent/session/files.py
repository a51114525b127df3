"""A session's files read as untrusted input: a recording is data, never a way into the rest of the disk.

- `read_file`: header.json, only as a regular file of bounded size (a symlink to /dev/zero or a FIFO is
  refused at once, never read without end or waited on).
- `open_regular` / `read_lines`: steps.jsonl, checked the same way but read a chunk or a line at a time, so
  a long session (tens of thousands of steps) is never held whole to be listed or exported.
- `image_path`: an image a record names must lie in the session's images/ folder once every symlink is
  followed (no `..`, no absolute path, no symlink out, no `images` symlink to /), and be a regular file of
  at most IMAGE_LIMIT_BYTES.
- `read_png`: such a file's bytes, read once, that decode as a PNG of the recorded size. Exports copy or
  embed exactly these bytes, never the path opened a second time.
"""

from __future__ import annotations

import errno
import io
import os
import stat
import warnings
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from PIL import Image

from agent.errors import SessionError
from agent.session.format import IMAGE_LIMIT_BYTES, IMAGES
from sandbox.files import FileTooLargeError, NotRegularFileError, read_regular

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"))


def read_file(path: Path, *, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; FileNotFoundError when missing, SessionError
    naming the file for anything else (a device, a FIFO, a folder, too large, unreadable)."""
    try:
        return read_regular(path, limit=limit)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise SessionError(f"{path}: cannot read: {exc.strerror or exc}") from None


def open_regular(path: Path, *, limit: int) -> BinaryIO:
    """`path` opened for reading when it is a regular file of at most `limit` bytes (as `read_file` checks
    it: opened without blocking, so a FIFO is refused, never waited on). FileNotFoundError when missing,
    SessionError naming the file otherwise. The caller reads at most `limit` bytes from it."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise SessionError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = next((words for test, words in _KINDS if test(info.st_mode)), "not a regular file")
            raise NotRegularFileError(errno.EINVAL, f"{kind}, not a regular file")
        if info.st_size > limit:
            raise FileTooLargeError(errno.EFBIG, f"{info.st_size} bytes, more than {limit}")
        return os.fdopen(fd, "rb")
    except OSError as exc:
        os.close(fd)
        raise SessionError(f"{path}: cannot read: {exc.strerror or exc}") from None


def read_lines(path: Path, *, limit: int) -> Iterator[bytes]:
    """The lines of the regular file `path` (checked at once, as `open_regular`), one at a time, each with its
    newline (a last line without one was cut off); SessionError when the file grows past `limit` as it is read."""
    stream = open_regular(path, limit=limit)

    def lines() -> Iterator[bytes]:
        size = 0
        with stream:
            for line in stream:
                size += len(line)
                if size > limit:
                    raise SessionError(f"{path}: cannot read: more than {limit} bytes")
                yield line

    return lines()


def image_path(folder: Path, file: str) -> Path:
    """The real path of the image `file` (as a record names it) of the session in `folder`.

    SessionError `image FILE: why` when it is not a regular file inside the session's images/ folder
    (callers add where the record is).
    """
    name = PurePosixPath(file)
    if name.is_absolute() or ".." in name.parts or "\\" in file or not file.startswith(IMAGES + "/"):
        raise SessionError(f"image file {file!r:.80} is not inside the session's {IMAGES}/ folder")
    try:
        inside = (folder.resolve() / IMAGES).as_posix() + "/"
        path = (folder / file).resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop (RuntimeError before Python 3.13)
        raise SessionError(f"image {file}: cannot be resolved: {exc}") from None
    if not path.as_posix().startswith(inside):
        raise SessionError(f"image {file}: resolves to {path}, outside the session's {IMAGES}/ folder")
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise SessionError(f"image {file} is missing") from None
    except OSError as exc:
        raise SessionError(f"image {file}: cannot be read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise SessionError(f"image {file}: not a regular file")
    if info.st_size > IMAGE_LIMIT_BYTES:
        raise SessionError(f"image {file}: {info.st_size} bytes, more than {IMAGE_LIMIT_BYTES}")
    return path


def read_png(folder: Path, file: str, size: tuple[int, int]) -> tuple[bytes, Image.Image]:
    """The bytes of the image `file`, read once with a bound, and the image they decode to (loaded).

    SessionError naming the file unless it passes `image_path` and is a whole PNG of `size` (the recorded
    width and height).
    """
    where = folder / file
    try:
        data = read_regular(image_path(folder, file), limit=IMAGE_LIMIT_BYTES)
    except SessionError as exc:
        raise SessionError(f"{folder}: {exc}") from None
    except OSError as exc:  # changed since it was checked
        raise SessionError(f"{where}: cannot read: {exc.strerror or exc}") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)  # a huge canvas in a small file
            with Image.open(io.BytesIO(data), formats=["PNG"]) as probe:
                probe.verify()  # structure and checksums
            image = Image.open(io.BytesIO(data), formats=["PNG"])
            image.load()  # and the pixels really decode
    except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError, struct.error ... for hostile bytes
        raise SessionError(f"{where}: not a PNG image ({type(exc).__name__}: {exc})") from None
    if image.size != size:
        raise SessionError(f"{where}: the image is {image.width}x{image.height} px, recorded as {size[0]}x{size[1]} px")
    return data, image

"""The session writer's PNG encoder: the same lossless PNG files, at a fifth of Pillow's CPU time.

The writer thread encodes two 1080p images a step on a machine where it competes with the model or the OCR
for 2 cores. Pillow at its fastest level (zlib 1, an adaptive filter per row) takes ~100 ms an image. Here
each row gets the PNG "Up" filter (a numpy subtraction: screens repeat row after row) and the deflate is
ISA-L's level 1 (the `isal` package, ~6x faster than zlib at about the same size), else zlib's level 1.
The files are ordinary 8-bit PNGs (docs/sessions.md): any reader, and every deskpilot, reads them, pixel
for pixel as given (tests/test_session_format.py). bench/session_recorder.py measures it against Pillow.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable

import numpy as np
from PIL import Image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DEFLATE_LEVEL = 1  # the fastest level that still looks for repeats (ISA-L 0 is ~30% larger, hardly faster)
PIL_COMPRESS_LEVEL = 1  # for the modes encoded by Pillow (palette, 1-bit, 16-bit: never a screenshot)
IDAT_CHUNK_BYTES = 1 << 20
_COLOUR_TYPES = {"L": 0, "RGB": 2, "RGBA": 6}  # PNG colour types of the 8-bit modes encoded here
_UP = 2  # PNG filter type: each byte minus the one above it


def _deflate() -> Callable[[memoryview, int], bytes]:
    """ISA-L's deflate when the `isal` package is there (the same zlib stream, made faster), else zlib's."""
    try:
        from isal import isal_zlib
    except ImportError:  # pragma: no cover - isal is a dependency; a platform without its wheel still records
        return zlib.compress
    return isal_zlib.compress


def encode_png(image: Image.Image) -> bytes:
    """`image` as a lossless PNG file's bytes (8-bit L, RGB and RGBA here; any other mode through Pillow)."""
    colour_type = _COLOUR_TYPES.get(image.mode)
    if colour_type is None or not image.width or not image.height:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", compress_level=PIL_COMPRESS_LEVEL)
        return buffer.getvalue()
    width, height = image.size
    rows = np.asarray(image, dtype=np.uint8).reshape(height, -1)
    filtered = np.empty((height, rows.shape[1] + 1), dtype=np.uint8)
    filtered[:, 0] = _UP
    filtered[:1, 1:] = rows[:1]  # the first row's "above" is zeros
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])  # wraps around mod 256, as PNG's filters do
    data = _deflate()(filtered.reshape(-1).data, DEFLATE_LEVEL)
    out = [PNG_SIGNATURE, _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0))]
    out += [_chunk(b"IDAT", data[i : i + IDAT_CHUNK_BYTES]) for i in range(0, len(data), IDAT_CHUNK_BYTES)]
    out.append(_chunk(b"IEND", b""))
    return b"".join(out)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(body, zlib.crc32(kind)))

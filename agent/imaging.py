"""Images on their way to a model: resize to the family's input size, encode for HTTP (and for the HTML reports),
fingerprint."""

from __future__ import annotations

import base64
import io
from typing import Literal

from PIL import Image

ImageFormat = Literal["png", "jpeg"]
PNG_COMPRESS_LEVEL = 1  # level 1 is several times faster than Pillow's default and barely larger
JPEG_QUALITY = 95  # with 4:4:4 colour: near-lossless on small text (see agent/backends/openai/backend.py)
FINGERPRINT_SIZE = (64, 36)
AREA_BELOW = 0.5  # use area averaging when the prepared image has less than half the pixels


def prepare_image(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """The screenshot at the model's input size (agent.families.model_input_size), RGB.

    OpenCV resizes about 8x faster than Pillow here (2 ms vs 20 ms for 1920x1080 -> 1932x1092, measured
    with bench/overhead.py's content); it comes with rapidocr. Area averaging when the image shrinks a lot
    (it keeps small text legible), bicubic otherwise (area is slow for the slight changes smart_resize makes).
    Pillow's bicubic is the fallback without OpenCV.
    """
    if image.mode != "RGB":
        image = image.convert("RGB")
    if image.size == size:
        return image
    try:
        import cv2
        import numpy as np
    except ImportError:  # pragma: no cover - opencv comes with rapidocr
        return image.resize(size, Image.Resampling.BICUBIC)
    much_smaller = size[0] * size[1] < AREA_BELOW * image.size[0] * image.size[1]
    resized = cv2.resize(np.asarray(image), size, interpolation=cv2.INTER_AREA if much_smaller else cv2.INTER_CUBIC)
    return Image.fromarray(resized)


def encode_image(image: Image.Image, fmt: ImageFormat = "jpeg", *, quality: int = JPEG_QUALITY) -> tuple[str, bytes]:
    """(mime type, bytes) of the image in `fmt`; a JPEG keeps full-resolution colour (4:4:4) at `quality`."""
    buffer = io.BytesIO()
    if fmt == "png":
        image.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
        return "image/png", buffer.getvalue()
    image.save(buffer, format="JPEG", quality=quality, subsampling=0)
    return "image/jpeg", buffer.getvalue()


def data_url(image: Image.Image, fmt: ImageFormat = "jpeg", *, quality: int = JPEG_QUALITY) -> str:
    """The image as a `data:` URL (for a model's HTTP request, or a self-contained page: agent/html_report.py)."""
    mime, data = encode_image(image, fmt, quality=quality)
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def fingerprint(image: Image.Image) -> bytes:
    """A tiny grey thumbnail; two screens are the same when their fingerprints barely differ."""
    return image.convert("L").resize(FINGERPRINT_SIZE, Image.Resampling.BILINEAR).tobytes()


def difference(a: bytes, b: bytes) -> float:
    """Mean absolute difference of two fingerprints, 0..255."""
    if len(a) != len(b) or not a:
        return 255.0
    return sum(abs(x - y) for x, y in zip(a, b)) / len(a)

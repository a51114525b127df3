"""Images on their way to a model: resize to the family's input size, encode for HTTP, fingerprint."""

from __future__ import annotations

import base64
import io
from typing import Literal

from PIL import Image

ImageFormat = Literal["png", "jpeg"]
PNG_COMPRESS_LEVEL = 1  # level 1 is several times faster than Pillow's default and barely larger
JPEG_QUALITY = 90
FINGERPRINT_SIZE = (64, 36)


def prepare_image(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """The screenshot at the model's input size (agent.families.model_input_size), RGB."""
    if image.mode != "RGB":
        image = image.convert("RGB")
    if image.size == size:
        return image
    return image.resize(size, Image.Resampling.BICUBIC)


def encode_image(image: Image.Image, fmt: ImageFormat = "png") -> tuple[str, bytes]:
    """(mime type, bytes) of the image in `fmt`."""
    buffer = io.BytesIO()
    if fmt == "png":
        image.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
        return "image/png", buffer.getvalue()
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return "image/jpeg", buffer.getvalue()


def data_url(image: Image.Image, fmt: ImageFormat = "png") -> str:
    mime, data = encode_image(image, fmt)
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def fingerprint(image: Image.Image) -> bytes:
    """A tiny grey thumbnail; two screens are the same when their fingerprints barely differ."""
    return image.convert("L").resize(FINGERPRINT_SIZE, Image.Resampling.BILINEAR).tobytes()


def difference(a: bytes, b: bytes) -> float:
    """Mean absolute difference of two fingerprints, 0..255."""
    if len(a) != len(b) or not a:
        return 255.0
    return sum(abs(x - y) for x, y in zip(a, b)) / len(a)

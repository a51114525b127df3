"""What every reader shares: the Sample, strict field access (sandbox/fields.py), finding images, checking boxes.

A data set is untrusted input: every problem is a DatasetError naming the file, the sample (its index in the
file, from 0) and the field. Image names must be relative and stay inside the data set's folders: no `..`, and
once every symlink is followed the file must still lie in the folder it was found in (an `images` symlinked
elsewhere, or a picture symlinked out, is refused: it would be read, sent to a backend and put in a report).
An image is opened for its header only until its size is known: more than IMAGE_LIMIT_PX pixels is refused
before a pixel is decoded (a small PNG can decode to gigabytes), and PIL's DecompressionBombWarning is that
same one-line error, never a raw warning.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from PIL import Image, UnidentifiedImageError

from agent.evaluation.errors import DatasetError
from agent.evaluation.targets import Box, BoxTarget, Target
from sandbox.fields import Fields, shown

BOX_SLACK_FRACTION = 0.01  # a box may spill past the image edge by this share of the side (annotation rounding)
BOX_SLACK_MIN_PX = 2.0
MAX_JSON_BYTES = 512 * 1024 * 1024
IMAGE_LIMIT_PX = 40_000_000  # pixels of one image: a 6K screenshot has 20 M; decoding 40 M takes ~120 MB as RGB


class UnusableImage(Exception):
    """An image file that is not one, or larger than IMAGE_LIMIT_PX: the message says which (callers add where)."""


@contextmanager
def refusing_bombs() -> Iterator[None]:
    """PIL's DecompressionBombWarning raised, so that `open_image` turns it into its error instead of a raw
    warning line. The filter is the process's: enter it on the thread that starts any workers, around them."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


def open_image(path: Path) -> Image.Image:
    """`path` opened with only its header read (no pixel decoded): UnusableImage when it is no image or has
    more than IMAGE_LIMIT_PX pixels. Inside `refusing_bombs`, PIL's own bomb warning is that error too."""
    try:
        image = Image.open(path)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:  # PIL's own limit, far above
        counted = re.search(r"\(([0-9]+) pixels\)", str(exc))  # "Image size (165000000 pixels) exceeds ..."
        size = f"{counted.group(1)} px" if counted else "it"
        raise UnusableImage(f"{size} is more than {IMAGE_LIMIT_PX} pixels, the most an image may have") from None
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise UnusableImage(f"cannot be read: {exc}") from None
    width, height = image.size
    if width * height > IMAGE_LIMIT_PX:
        image.close()
        raise UnusableImage(f"{width}x{height} px is more than {IMAGE_LIMIT_PX} pixels, the most an image may have")
    return image


@dataclass(frozen=True, slots=True)
class Sample:
    id: str  # unique in the data set: "<file relative to the data set root>#<index in the file>"
    image: Path  # the image file
    image_name: str  # as reported: relative to the data set root
    size: tuple[int, int]  # the image's width and height in pixels
    instruction: str
    target: Target  # in the image's own pixels
    group: str


def read_json(path: Path) -> Any:
    """The JSON of a data set file; DatasetError naming the file (and line) when it cannot be read."""
    try:
        size = path.stat().st_size
        if size > MAX_JSON_BYTES:
            raise DatasetError(f"{path}: {size} bytes, more than a data set file may hold ({MAX_JSON_BYTES})")
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg} at column {exc.colno})") from None
    except RecursionError:
        raise DatasetError(f"{path}: not valid JSON (nested too deeply)") from None


def sample_list(data: Any, path: Path) -> list[dict[str, Any]]:
    if not isinstance(data, list):
        raise DatasetError(f"{path}: expected a list of samples, got {type(data).__name__}")
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            raise DatasetError(f"{path}: sample {index}: expected an object, got {type(item).__name__}")
    return data


def sample_fields(item: dict[str, Any], path: Path, index: int) -> Fields:
    """One sample, read strictly (sandbox/fields.py): errors name the file, the sample and the field; a field
    left out reads as null (data sets leave optional fields out)."""
    return Fields(item, f"{path}: sample {index}", "sample", error=DatasetError, null_if_missing=True)


def read_size(fields: Fields, name: str) -> tuple[int, int] | None:
    """An optional [width, height] the annotation declares (its boxes are in those pixels)."""
    if fields.get(name) is None:
        return None
    width, height = fields.numbers(name, 2)
    if width <= 0 or height <= 0 or width != int(width) or height != int(height):
        fields.wrong(name, "two positive whole numbers", fields.get(name))
    return int(width), int(height)


def read_box(fields: Fields, name: str) -> Box:
    """Four numbers, as the format writes them (x1, y1, x2, y2 or x, y, w, h: the reader knows which)."""
    a, b, c, d = fields.numbers(name, 4)
    return (a, b, c, d)


def decoded(sample: Sample) -> Image.Image:
    """The sample's image as RGB pixels, its size checked from the header first against the size the data set
    was read with (so at most IMAGE_LIMIT_PX: a file swapped for a bomb since is refused undecoded); DatasetError
    naming the file and the sample."""
    try:
        opened = open_image(sample.image)
    except UnusableImage as exc:
        raise DatasetError(f"{sample.image}: the image of sample {sample.id}: {exc}") from None
    with opened:
        if opened.size != sample.size:
            width, height = opened.size
            raise DatasetError(
                f"{sample.image}: is {width}x{height} now, was {sample.size[0]}x{sample.size[1]} (sample {sample.id})"
            )
        try:
            return opened.convert("RGB")
        except (OSError, ValueError, SyntaxError) as exc:  # pixels that do not decode (PIL raises all three)
            raise DatasetError(f"{sample.image}: cannot read the image of sample {sample.id}: {exc}") from None


class Images:
    """Finds each sample's image in the folders a format keeps them in, and reads its size once."""

    def __init__(self, root: Path, folders: Sequence[Path]) -> None:
        self.root = root
        self.folders = [f for f in dict.fromkeys(folders)]
        self._sizes: dict[Path, tuple[int, int]] = {}

    def find(self, name: str, fields: Fields) -> tuple[Path, str, tuple[int, int]]:
        """(real path, name relative to the data set root, (width, height)) of the image a sample names."""
        relative = PurePosixPath(name.replace("\\", "/"))
        if relative.is_absolute() or ".." in relative.parts or not relative.parts:
            fields.fail(f"image name {shown(name)} must be a relative path inside the data set")
        for folder in self.folders:
            path = folder.joinpath(*relative.parts)
            if path.is_file():
                real = self._inside(folder, path, name, fields)
                return real, relative_name(path, self.root), self.size(real, fields)
        looked = ", ".join(str(f) for f in self.folders)
        fields.fail(f"image {shown(name)} not found (looked in {looked})")

    def _inside(self, folder: Path, path: Path, name: str, fields: Fields) -> Path:
        """`path`'s real path, which must lie in `folder` as it really is: the folder's place under the data set
        root is followed no further than the root (a `folder` symlinked elsewhere leads out), a folder beside
        the root from its parent on."""
        try:
            real = path.resolve(strict=True)
            try:
                inside = self.root.resolve() / folder.relative_to(self.root)
            except ValueError:
                inside = folder.parent.resolve() / folder.name
        except (OSError, RuntimeError) as exc:  # a symlink loop (RuntimeError before Python 3.13)
            fields.fail(f"image {shown(name)} cannot be resolved: {exc}")
        if not real.is_relative_to(inside):
            fields.fail(f"image {shown(name)} resolves to {real}, outside the data set's folder {inside}")
        return real

    def size(self, path: Path, fields: Fields) -> tuple[int, int]:
        size = self._sizes.get(path)
        if size is None:
            problem = None
            try:
                with refusing_bombs(), open_image(path) as image:  # the header only
                    size = image.size
            except UnusableImage as exc:
                problem = exc
            if problem is not None or size is None:  # failed outside the handler: no chained traceback
                fields.fail(f"image {path}: {problem}")
            self._sizes[path] = size
        return size


def relative_name(path: Path, root: Path) -> str:
    """A file as reported: relative to the data set root (the whole path when it lies elsewhere)."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def scaled(box: Box, declared: tuple[int, int] | None, size: tuple[int, int]) -> Box:
    """A box given in the pixels of the annotation's declared image size, in the image's own pixels (the
    reference evaluators divide the box by the declared size and the point by the image's)."""
    if declared is None or declared == size:
        return box
    sx, sy = size[0] / declared[0], size[1] / declared[1]
    return (box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy)


def box_target(box: Box, size: tuple[int, int], fields: Fields, *, swap: bool = False) -> BoxTarget:
    """A checked box: corners in order (`swap`: reversed corners are put in order, as UI-Vision's evaluator
    does; otherwise they are an error), and inside the image but for BOX_SLACK of its side."""
    x1, y1, x2, y2 = box
    if swap:
        x1, x2 = min(x1, x2), max(x1, x2)
        y1, y2 = min(y1, y2), max(y1, y2)
    if x2 < x1 or y2 < y1:
        fields.fail(f"box {_box_text(box)} has its corners reversed (x2 < x1 or y2 < y1)")
    check_inside((x1, y1, x2, y2), size, fields)
    return BoxTarget((x1, y1, x2, y2))


def check_inside(box: Box, size: tuple[int, int], fields: Fields) -> None:
    width, height = size
    slack_x = max(BOX_SLACK_MIN_PX, BOX_SLACK_FRACTION * width)
    slack_y = max(BOX_SLACK_MIN_PX, BOX_SLACK_FRACTION * height)
    x1, y1, x2, y2 = box
    if x1 < -slack_x or y1 < -slack_y or x2 > width + slack_x or y2 > height + slack_y:
        fields.fail(f"box {_box_text(box)} lies outside the {width}x{height} image")


def _box_text(box: Box) -> str:
    return "[" + ", ".join(f"{v:g}" for v in box) + "]"

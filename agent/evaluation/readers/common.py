"""What every reader shares: the Sample, strict field access (sandbox/fields.py), finding images, checking boxes.

A data set is untrusted input: every problem is a DatasetError naming the file, the sample (its index in the
file, from 0) and the field. Image names must be relative and stay inside the data set's folders (no `..`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
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


class Images:
    """Finds each sample's image in the folders a format keeps them in, and reads its size once."""

    def __init__(self, root: Path, folders: Sequence[Path]) -> None:
        self.root = root
        self.folders = [f for f in dict.fromkeys(folders)]
        self._sizes: dict[Path, tuple[int, int]] = {}

    def find(self, name: str, fields: Fields) -> tuple[Path, str, tuple[int, int]]:
        """(path, name relative to the data set root, (width, height)) of the image a sample names."""
        relative = PurePosixPath(name.replace("\\", "/"))
        if relative.is_absolute() or ".." in relative.parts or not relative.parts:
            fields.fail(f"image name {shown(name)} must be a relative path inside the data set")
        for folder in self.folders:
            path = folder.joinpath(*relative.parts)
            if path.is_file():
                return path, relative_name(path, self.root), self.size(path, fields)
        looked = ", ".join(str(f) for f in self.folders)
        fields.fail(f"image {shown(name)} not found (looked in {looked})")

    def size(self, path: Path, fields: Fields) -> tuple[int, int]:
        size = self._sizes.get(path)
        if size is None:
            problem = None
            try:
                with Image.open(path) as image:
                    size = image.size
            except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
                problem = exc
            if problem is not None or size is None:  # failed outside the handler: no chained traceback
                fields.fail(f"image {path} cannot be read: {problem}")
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

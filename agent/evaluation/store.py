"""Predictions as they come: one JSON line per sample, appended and flushed, so an interrupted eval resumes.

    {"run": RUN, "sample": ID, "fingerprint": FP, "point": [x, y] | null, "error": str | null,
     "seconds": s, "raw": str | null}

RUN is a digest of everything that decides the answers (`run_key`: backend, model, family, pixel budget, image
format, how the model is asked); FP a digest of the sample as the data set has it now (image, instruction,
target). Lines of another run, or of a sample that has since changed, are left alone; for one sample the last
line counts. Only the eval's own thread writes, one whole line per write: Ctrl-C leaves a valid file. A line
that is not what this module writes is an error naming the file and line, never skipped in silence: its
values too, for the file is anyone's to edit: a point on one of the sample image's pixels (a model frame puts
every point it reads there, even one a little past an edge: sandbox/geometry.py), seconds from 0 to
SECONDS_MAX, an error and a reply of at most ERROR_KEPT_CHARS and RAW_KEPT_CHARS (as they are written).
Hits are not stored: they are computed from the point and the target each time (targets.is_hit).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from agent.evaluation.errors import DatasetError
from agent.evaluation.readers.common import Sample
from agent.evaluation.targets import Point
from sandbox.text import shorten

RAW_KEPT_CHARS = 2000  # of each reply, for the report; the whole reply is never needed to score
ERROR_KEPT_CHARS = 2000  # of each unusable reply's reason
SECONDS_MAX = 86_400.0  # one sample's asking time that is believable (a day: every deadline ends long before)
PROMPT_VERSION = 1  # raise when the way a model is asked changes: older predictions are then not reused


@dataclass(frozen=True, slots=True, kw_only=True)
class Prediction:
    """Where the backend would click for one sample (agent/evaluation/locate.py), as asked or as stored."""

    point: Point | None  # in the image's own pixels; None when it declined or the reply was unusable
    error: str | None  # the reply could not be read (a miss, never raised)
    seconds: float  # preparing, asking and reading
    raw: str | None = None  # the reply as the backend wrote it

    @property
    def declined(self) -> bool:
        return self.point is None and self.error is None


def run_key(settings: dict[str, Any]) -> str:
    """A digest of the settings that decide the answers (JSON-able values only)."""
    text = json.dumps({**settings, "prompt_version": PROMPT_VERSION}, sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:16]


def fingerprint(sample: Sample) -> str:
    data = {"image": sample.image_name, "instruction": sample.instruction, "target": sample.target.to_json()}
    text = json.dumps(data, sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:16]


class PredictionStore:
    """The predictions file of one run (`run`: run_key of its settings)."""

    def __init__(self, path: Path, run: str) -> None:
        self.path = Path(path)
        self.run = run
        self._file: IO[str] | None = None

    def load(self, samples: Sequence[Sample]) -> dict[str, Prediction]:
        """The predictions this run already made for these samples (by sample id). DatasetError for a bad file."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise DatasetError(f"{self.path}: cannot read: {exc.strerror or exc}") from None
        by_id = {s.id: s for s in samples}
        wanted = {s.id: fingerprint(s) for s in samples}
        found: dict[str, Prediction] = {}
        lines = data.split(b"\n")
        for number, chunk in enumerate(lines, start=1):
            where = f"{self.path}:{number}"
            if number == len(lines):
                if chunk.strip():
                    raise DatasetError(
                        f"{where}: the last line is cut off (the eval was killed while writing it); "
                        "delete that line to resume, or start over with --fresh"
                    )
                break
            if not chunk.strip():
                continue
            record = _record(chunk, where)
            if record["run"] == self.run and wanted.get(record["sample"]) == record["fingerprint"]:
                found[record["sample"]] = _prediction(record, where, by_id[record["sample"]])
        return found

    def append(self, sample: Sample, prediction: Prediction) -> None:
        """One line, written whole and flushed."""
        line = {
            "run": self.run,
            "sample": sample.id,
            "fingerprint": fingerprint(sample),
            "point": None if prediction.point is None else list(prediction.point),
            "error": None if prediction.error is None else shorten(prediction.error, ERROR_KEPT_CHARS),
            "seconds": round(prediction.seconds, 4),
            "raw": None if prediction.raw is None else prediction.raw[:RAW_KEPT_CHARS],
        }
        text = json.dumps(line, ensure_ascii=True) + "\n"
        try:
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = self.path.open("a", encoding="ascii", newline="\n")
            self._file.write(text)
            self._file.flush()
        except OSError as exc:
            raise DatasetError(f"{self.path}: cannot write: {exc.strerror or exc}") from None

    def start_over(self) -> None:
        """Forget every earlier prediction in the file (--fresh)."""
        self.close()
        try:
            self.path.unlink(missing_ok=True)
        except OSError as exc:
            raise DatasetError(f"{self.path}: cannot remove: {exc.strerror or exc}") from None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _record(chunk: bytes, where: str) -> dict[str, Any]:
    try:
        record = json.loads(chunk.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # ValueError: JSON's, or an int of 4,300+ digits
        raise DatasetError(f"{where}: not valid JSON (delete the line, or start over with --fresh)") from None
    if not isinstance(record, dict):
        raise DatasetError(f"{where}: not a prediction (expected an object)")
    for name in ("run", "sample", "fingerprint"):
        if not isinstance(record.get(name), str):
            raise DatasetError(f"{where}: field {name!r} must be a string")
    return record


def _prediction(record: dict[str, Any], where: str, sample: Sample) -> Prediction:
    point, error, seconds, raw = record.get("point"), record.get("error"), record.get("seconds"), record.get("raw")
    again = "(delete the line, or start over with --fresh)"
    if point is not None and not (
        isinstance(point, list)
        and len(point) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in point)
    ):
        raise DatasetError(f"{where}: field 'point' must be two integers or null")
    if point is not None and not _on_image(point[0], point[1], sample.size):
        x, y = (shorten(str(v), 24) for v in point)
        raise DatasetError(
            f"{where}: field 'point' ({x}, {y}) lies outside the {sample.size[0]}x{sample.size[1]} image of "
            f"sample {sample.id} {again}"
        )
    for name, value, limit in (("error", error, ERROR_KEPT_CHARS), ("raw", raw, RAW_KEPT_CHARS)):
        if value is not None and not isinstance(value, str):
            raise DatasetError(f"{where}: field {name!r} must be a string or null")
        if value is not None and len(value) > limit:
            raise DatasetError(f"{where}: field {name!r} holds {len(value)} characters, more than {limit} {again}")
    if (
        not isinstance(seconds, (int, float))
        or isinstance(seconds, bool)
        or not math.isfinite(seconds)
        or not 0 <= seconds <= SECONDS_MAX
    ):
        raise DatasetError(f"{where}: field 'seconds' must be a number of seconds from 0 to {SECONDS_MAX:g} {again}")
    return Prediction(
        point=None if point is None else (point[0], point[1]), error=error, seconds=float(seconds), raw=raw
    )


def _on_image(x: int, y: int, size: tuple[int, int]) -> bool:
    """A point the eval could have stored for an image of `size`: on one of its pixels."""
    return 0 <= x < size[0] and 0 <= y < size[1]

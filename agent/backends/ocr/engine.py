"""The OCR engine: the PP-OCRv6 small detection and recognition models (English and Chinese) that ship inside the
`rapidocr` wheel, run piece by piece with onnxruntime.

rapidocr's own call reads a whole image: it detects every text box, then recognises every one of them. The
reader (agent.backends.ocr.reader) needs the two halves apart: detection of any part of the frame at one fixed
scale (rapidocr's own resize blows a small crop up to 736 px), and recognition of the boxes it chooses, in
batches. So the two ONNX sessions are created here, once, with as many threads as the process may use, and fed
as rapidocr feeds them (its DB post-processing and CTC decoding are reused). Nothing is downloaded: the model
files must be in the package, and the recogniser's alphabet in its model file, or loading fails saying so.
`read_whole` is rapidocr's own whole-image pipeline, kept as the reference the benchmark compares against.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agent.backends.ocr.match import Box, OcrLine
from agent.errors import BackendError

DET_MODEL, REC_MODEL = "PP-OCRv6_det_small.onnx", "PP-OCRv6_rec_small.onnx"  # in rapidocr/models
INSTALL = "pip install 'rapidocr>=3.10' onnxruntime"
MIN_SCORE = 0.5  # recognitions below this are dropped, as rapidocr drops them
DET_MULTIPLE = 32  # the detector's input sides are multiples of this
# Recognition input: 48 px high, each batch as wide as its widest crop but at least REC_MIN_WIDTH (two text
# heights: a lone digit still gets a dozen columns to be read in). rapidocr pads every batch to 320 px, which for
# the short labels of a desktop (a button is about 130 px at 48 px high) is more than half padding: recognising
# the 187 boxes of a busy 1080p window took 3.6 s that way and 1.5 s this way, with the same texts read
# (`bench/ocr_step.py --det-scales 0.77,1`: every label and 11 px text read exactly either way). A floor of one
# height (48 px) was tried: a short field's "Ada" and its caret then read "[Adal".
REC_HEIGHT, REC_MIN_WIDTH = 48, 96
REC_BATCH = 6  # crops recognised in one run (rapidocr's; larger batches were no faster here)
# Detection scale: a whole frame goes through the detector at DET_MAX_PIXELS at most, but never below
# DET_MIN_SCALE (11 px text stays 7 px high). `bench/ocr_step.py --det-scales 1,0.75,0.6,0.5,0.4` on its scenes
# (11-14 px text; recognition always from full-size crops): every label and 11 px text read exactly at 1.0, 0.75
# and 0.6, at 1080p and 1440p alike; the first misses at 0.5 (1440p) and several at 0.4. Detection at 0.77 takes
# about half the time of full size. A 1080p frame (1932x1092 prepared) is read at 0.77, 1440p and 4K at 0.65.
DET_MAX_PIXELS = 1_250_000
DET_MIN_SCALE = 0.65


def machine_threads() -> int:
    """The cores this process may run on (its CPU affinity where the platform tells it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def detection_scale(width: int, height: int) -> float:
    return min(1.0, max(DET_MIN_SCALE, math.sqrt(DET_MAX_PIXELS / max(1, width * height))))


class RapidEngine:
    """Detection on any RGB crop at a given scale, recognition of RGB crops; see the module docstring."""

    def __init__(self, *, threads: int | None = None) -> None:
        self.threads = threads or machine_threads()
        try:
            import onnxruntime
            import rapidocr
            from rapidocr.ch_ppocr_det.utils import DBPostProcess
            from rapidocr.ch_ppocr_rec.utils import CTCLabelDecode
        except ImportError as exc:
            raise BackendError(f"the OCR backend needs rapidocr 3 and onnxruntime ({INSTALL}): {exc}") from exc
        self.models = Path(rapidocr.__file__).resolve().parent / "models"
        missing = [name for name in (DET_MODEL, REC_MODEL) if not (self.models / name).is_file()]
        if missing:
            raise BackendError(
                f"the OCR models {', '.join(missing)} are not in {self.models} (deskpilot downloads nothing): "
                f"reinstall rapidocr ({INSTALL})"
            )
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self._det = onnxruntime.InferenceSession(
                str(self.models / DET_MODEL), options, providers=["CPUExecutionProvider"]
            )
            self._rec = onnxruntime.InferenceSession(
                str(self.models / REC_MODEL), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime: a broken model file or an unusable CPU build
            raise BackendError(f"could not start the OCR engine: {exc}") from exc
        alphabet = self._rec.get_modelmeta().custom_metadata_map.get("character")
        if not alphabet:
            raise BackendError(f"{REC_MODEL} carries no alphabet (deskpilot downloads nothing): {INSTALL}")
        self._boxes = DBPostProcess(thresh=0.3, box_thresh=0.5, max_candidates=1000, unclip_ratio=1.6)
        self._decode = CTCLabelDecode(character=alphabet.splitlines())
        self._det_input = self._det.get_inputs()[0].name
        self._rec_input = self._rec.get_inputs()[0].name
        self._whole: Any = None

    def warm_up(self) -> None:
        """One tiny pass through each model: onnxruntime's first run of a session costs far more than later ones."""
        bar = np.full((48, 160, 3), 255, np.uint8)  # a black bar on white
        bar[16:32, 20:140] = 0
        self.detect(bar, 1.0)
        self.recognise([bar])

    def detect(self, rgb: np.ndarray, scale: float) -> list[Box]:
        """Text boxes of an RGB image (any size), read at `scale`; axis-aligned, in the image's pixels."""
        import cv2

        height, width = rgb.shape[:2]
        if height < 4 or width < 4:
            return []
        small_w, small_h = max(8, round(width * scale)), max(8, round(height * scale))
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])  # the models were trained on BGR
        if (small_w, small_h) != (width, height):
            bgr = cv2.resize(bgr, (small_w, small_h), interpolation=cv2.INTER_AREA)
        pad_w = -(-small_w // DET_MULTIPLE) * DET_MULTIPLE
        pad_h = -(-small_h // DET_MULTIPLE) * DET_MULTIPLE
        padded = cv2.copyMakeBorder(bgr, 0, pad_h - small_h, 0, pad_w - small_w, cv2.BORDER_REPLICATE)
        tensor = ((padded.astype(np.float32) / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)[np.newaxis]
        try:
            prediction = self._det.run(None, {self._det_input: np.ascontiguousarray(tensor)})[0]
            quads, _scores = self._boxes(prediction, (pad_h, pad_w))
        except Exception as exc:
            raise BackendError(f"OCR failed: {exc}") from exc
        sx, sy = width / small_w, height / small_h
        boxes: list[Box] = []
        for quad in quads:
            xs, ys = np.asarray(quad)[:, 0] * sx, np.asarray(quad)[:, 1] * sy
            box = (
                max(0, int(xs.min())),
                max(0, int(ys.min())),
                min(width, math.ceil(float(xs.max())) + 1),
                min(height, math.ceil(float(ys.max())) + 1),
            )
            if box[2] - box[0] > 3 and box[3] - box[1] > 3:
                boxes.append(box)
        return boxes

    def recognise(self, crops: Sequence[np.ndarray]) -> list[tuple[str, float]]:
        """(text, score) of each RGB crop, in order; REC_BATCH at a time, similar widths together (as rapidocr)."""
        order = sorted(range(len(crops)), key=lambda i: crops[i].shape[1] / max(1, crops[i].shape[0]))
        read: list[tuple[str, float]] = [("", 0.0)] * len(crops)
        for start in range(0, len(order), REC_BATCH):
            chunk = order[start : start + REC_BATCH]
            for i, result in zip(chunk, self._recognise_batch([crops[i] for i in chunk])):
                read[i] = result
        return read

    def _recognise_batch(self, crops: Sequence[np.ndarray]) -> list[tuple[str, float]]:
        """One batch, padded to its widest crop."""
        import cv2

        ratios = [crop.shape[1] / max(1, crop.shape[0]) for crop in crops]
        widest = max(REC_MIN_WIDTH / REC_HEIGHT, *ratios)
        width = int(REC_HEIGHT * widest)
        batch = np.zeros((len(crops), 3, REC_HEIGHT, width), np.float32)
        for i, (crop, ratio) in enumerate(zip(crops, ratios)):
            resized_w = min(width, math.ceil(REC_HEIGHT * ratio))
            bgr = np.ascontiguousarray(crop[:, :, ::-1])
            resized = cv2.resize(bgr, (resized_w, REC_HEIGHT)).astype(np.float32)
            batch[i, :, :, :resized_w] = ((resized / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)
        try:
            prediction = self._rec.run(None, {self._rec_input: batch})[0]
            lines, _words = self._decode(prediction, wh_ratio_list=ratios, max_wh_ratio=widest)
        except Exception as exc:
            raise BackendError(f"OCR failed: {exc}") from exc
        return [(str(text).strip(), float(score)) for text, score in lines]

    def read_whole(self, rgb: np.ndarray) -> tuple[list[OcrLine], float]:
        """rapidocr's own pipeline on a whole RGB image (every box detected, then recognised); and its seconds."""
        if self._whole is None:
            from rapidocr import RapidOCR

            threads = {
                f"EngineConfig.onnxruntime.{k}_op_num_threads": v for k, v in (("intra", self.threads), ("inter", 1))
            }
            self._whole = RapidOCR(
                params={
                    "Global.use_cls": False,
                    "Global.log_level": "error",
                    "Det.model_path": str(self.models / DET_MODEL),
                    "Rec.model_path": str(self.models / REC_MODEL),
                    **threads,
                }
            )
        started = time.perf_counter()
        try:
            result = self._whole(np.ascontiguousarray(rgb[:, :, ::-1]), use_cls=False)
        except Exception as exc:
            raise BackendError(f"OCR failed: {exc}") from exc
        seconds = time.perf_counter() - started
        if result.boxes is None:
            return [], seconds
        lines = [
            OcrLine(str(text).strip(), [(float(x), float(y)) for x, y in box], float(score))
            for box, text, score in zip(result.boxes, result.txts, result.scores)
            if str(text).strip()
        ]
        return lines, seconds

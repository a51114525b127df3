"""Calibration: where a backend's clicks would land on known targets, and what a pattern of misses means.

Nothing is executed. For each labelled target the backend is asked once to "click LABEL", with the run's
conversation (build_messages), through agent.pointing.ask_point (the screenshot prepared as in a run, the reply
read with the monitor's frame); the point that counts by its one rule is compared with the target: a hit lies
inside its rect, the offset is the distance to its centre.

The misses are explained by a least-squares fit per axis, point = a * centre + b, in pixels from the
monitor's top-left. The fit is named only when it explains the misses (corrected by it, at least
EXPLAINED_FRACTION of the clicks would hit, and more than hit as they are):

    a ~ 1 on both axes, b large       every click is shifted: the monitor origin or the display scale
    a ~ 1000/M  (M: model image side) 0-1000 relative answers read as pixels of the model image
    a ~ M/1000                        pixel answers read as 0-1000 relative
    any other a                       the model saw another image size (family, min/max pixels; HiDPI)
    nothing explains the misses       the model does not find the targets
Two slopes are the same when they differ by at most SLOPE_TOL_PX at the monitor's far edge (or 3
standard errors of the fitted slope, when the clicks scatter more); the named ratios also match within
RATIO_TOL.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

from agent.backends.base import DEFAULT_MAX_NEW_TOKENS, Backend
from agent.families import Family
from agent.pointing import Point, ask_point
from agent.prompts import build_messages
from agent.waits import Capturer, settle
from sandbox.geometry import Monitor, Rect
from sandbox.stop import StopFlag

Pattern = Literal[
    "offset",
    "scaled",
    "relative_read_as_pixels",
    "pixels_read_as_relative",
    "no_pattern",
    "no_points",
    "unusable_replies",
    "too_few_points",
]

SLOPE_TOL_PX = 4.0  # slopes this close (as movement at the monitor's far edge) are the same
SLOPE_TOL_SE = 3.0  # ... or this many standard errors of the fitted slope
RATIO_TOL = 0.03  # relative tolerance of the named ratios (1000/M, M/1000, HiDPI factors)
OFFSET_TOL_PX = 3.0  # an intercept below this (or 3 standard errors) is no shift
EXPLAINED_FRACTION = 0.8  # the fit explains the misses when, corrected by it, this share of clicks would hit
MIN_FIT_POINTS = 3
MIN_SLOPE = 0.05  # below this the clicks do not follow the targets at all
HIDPI_FACTORS = (1.25, 1.5, 1.75, 2.0, 2.5, 3.0)
RELATIVE_FAMILIES = "qwen3-vl, ui-tars, qwen2-vl"
ABSOLUTE_FAMILIES = "qwen2.5-vl, ui-tars-1.5"
NOTHING_EXECUTED = "nothing was clicked: calibration only measures where the clicks would land"


@dataclass(frozen=True, slots=True)
class AxisFit:
    """point = a * centre + b on one axis (px from the monitor's top-left), with standard errors."""

    a: float
    b: float
    se_a: float
    se_b: float
    residual_px: float  # root mean square of what the fit leaves
    mean_shift: float  # mean of point - centre: the offset when the slope is 1

    def apply_inverse(self, value: float) -> float:
        return (value - self.b) / self.a

    def to_json(self) -> dict[str, float]:
        return {
            "a": round(self.a, 5),
            "b": round(self.b, 2),
            "se_a": round(self.se_a, 5),
            "residual_px": round(self.residual_px, 2),
        }


@dataclass(frozen=True, slots=True)
class TargetResult:
    label: str
    rect: Rect
    point: Point | None  # where the click would land (screen px); None when the reply gave no point
    hit: bool
    offset_px: float | None  # distance from the point to the rect's centre
    error: str | None = None  # why there is no point
    reply: str | None = None  # the raw reply, for the record

    def to_json(self) -> dict[str, Any]:
        rect = self.rect
        return {
            "label": self.label,
            "rect": [rect.x, rect.y, rect.width, rect.height],
            "point": list(self.point) if self.point is not None else None,
            "hit": self.hit,
            "offset_px": _round(self.offset_px),
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class CalibrationReport:
    hits: int
    total: int
    mean_offset_px: float | None  # over the targets that got a point; None when none did
    worst_offset_px: float | None
    diagnosis: str | None  # None when every click hit
    pattern: Pattern | None
    fit_x: AxisFit | None
    fit_y: AxisFit | None
    per_target: tuple[TargetResult, ...]
    monitor: Monitor
    model_size: tuple[int, int] | None

    def to_json(self) -> dict[str, Any]:
        fit = None
        if self.fit_x is not None and self.fit_y is not None:
            fit = {"x": self.fit_x.to_json(), "y": self.fit_y.to_json()}
        return {
            "hits": self.hits,
            "total": self.total,
            "mean_offset_px": _round(self.mean_offset_px),
            "worst_offset_px": _round(self.worst_offset_px),
            "diagnosis": self.diagnosis,
            "pattern": self.pattern,
            "fit": fit,
            "executed": False,
            "note": NOTHING_EXECUTED,
            "monitor": self.monitor.to_json(),
            "model_size": list(self.model_size) if self.model_size is not None else None,
            "targets": [t.to_json() for t in self.per_target],
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def fit_axis(centres: Sequence[float], points: Sequence[float]) -> AxisFit | None:
    """Least squares point = a * centre + b; None with fewer than MIN_FIT_POINTS or no spread."""
    n = len(centres)
    if n < MIN_FIT_POINTS or n != len(points):
        return None
    mean_c, mean_p = sum(centres) / n, sum(points) / n
    sxx = sum((c - mean_c) ** 2 for c in centres)
    if sxx < 1e-9:
        return None
    a = sum((c - mean_c) * (p - mean_p) for c, p in zip(centres, points)) / sxx
    b = mean_p - a * mean_c
    squares = sum((p - a * c - b) ** 2 for c, p in zip(centres, points))
    variance = squares / (n - 2) if n > 2 else 0.0
    return AxisFit(
        a,
        b,
        math.sqrt(variance / sxx),
        math.sqrt(variance * (1 / n + mean_c**2 / sxx)),
        math.sqrt(squares / n),
        mean_p - mean_c,
    )


def analyse(
    targets: Mapping[str, Rect],
    points: Mapping[str, Point | None],
    *,
    monitor: Monitor,
    model_size: tuple[int, int] | None = None,
    relative_extent: int = 1000,
    errors: Mapping[str, str] | None = None,
    replies: Mapping[str, str] | None = None,
) -> CalibrationReport:
    """The report for `targets` and the screen point each would have been clicked at (None: no point).

    `monitor` is the monitor the model saw (its origin is where the fit is anchored); `model_size` is the
    image size the preset gave the model, for naming resize ratios.
    """
    results = []
    for label, rect in targets.items():
        point = points.get(label)
        offset = None if point is None else math.dist(point, _centre(rect))
        error = None if point is not None else (errors or {}).get(label, "no point")
        results.append(
            TargetResult(
                label,
                rect,
                point,
                point is not None and rect.contains(*point),
                offset,
                error,
                (replies or {}).get(label),
            )
        )
    offsets = [r.offset_px for r in results if r.offset_px is not None]
    pairs = [(_centre(r.rect), r.point) for r in results if r.point is not None]
    fit_x = fit_axis([c[0] - monitor.x for c, _ in pairs], [p[0] - monitor.x for _, p in pairs])
    fit_y = fit_axis([c[1] - monitor.y for c, _ in pairs], [p[1] - monitor.y for _, p in pairs])
    pattern, diagnosis = _diagnose(results, fit_x, fit_y, monitor, model_size, relative_extent)
    return CalibrationReport(
        hits=sum(r.hit for r in results),
        total=len(results),
        mean_offset_px=sum(offsets) / len(offsets) if offsets else None,
        worst_offset_px=max(offsets) if offsets else None,
        diagnosis=diagnosis,
        pattern=pattern,
        fit_x=fit_x,
        fit_y=fit_y,
        per_target=tuple(results),
        monitor=monitor,
        model_size=model_size,
    )


def _centre(rect: Rect) -> tuple[float, float]:
    return rect.x + rect.width / 2, rect.y + rect.height / 2


def _diagnose(
    results: Sequence[TargetResult],
    fit_x: AxisFit | None,
    fit_y: AxisFit | None,
    monitor: Monitor,
    model_size: tuple[int, int] | None,
    extent: int,
) -> tuple[Pattern | None, str | None]:
    total = len(results)
    usable = [r for r in results if r.point is not None]
    missing = total - len(usable)
    misses = [r for r in usable if not r.hit]
    if not misses and not missing:
        return None, None
    if not usable:
        return "no_points", (
            "no reply gave a usable point (each was malformed or not a click): "
            "check --backend and --family against what the model writes"
        )
    also = f"; also {missing} of {total} replies gave no usable point (malformed, or not a click)" if missing else ""
    if not misses:
        return "unusable_replies", (
            f"{missing} of {total} replies gave no usable point (malformed, or not a click); "
            "every click that was given hit its target"
        )
    if fit_x is None or fit_y is None:
        return "too_few_points", (
            f"{len(misses)} of {total} clicks missed; too few usable clicks ({len(usable)}) to see a pattern{also}"
        )
    if not _explains(usable, fit_x, fit_y, monitor):
        return "no_pattern", (
            f"{len(misses)} of {total} clicks missed and the misses follow no pattern: the model "
            f"may simply not see these targets; try a larger model or a lower max-pixels{also}"
        )
    pattern, text = _name_fit(fit_x, fit_y, monitor, model_size, extent)
    return pattern, text + also


def _explains(usable: Sequence[TargetResult], fit_x: AxisFit, fit_y: AxisFit, monitor: Monitor) -> bool:
    """Whether the clicks, corrected by the fit, would hit (at least EXPLAINED_FRACTION, and more than now)."""
    if abs(fit_x.a) < MIN_SLOPE or abs(fit_y.a) < MIN_SLOPE:
        return False
    corrected = 0
    for r in usable:
        assert r.point is not None
        x = monitor.x + fit_x.apply_inverse(r.point[0] - monitor.x)
        y = monitor.y + fit_y.apply_inverse(r.point[1] - monitor.y)
        corrected += r.rect.contains(x, y)
    hits = sum(r.hit for r in usable)
    return corrected > hits and corrected >= EXPLAINED_FRACTION * len(usable)


def _same_slope(fit: AxisFit, expected: float, side: float, *, ratio_tol: float = 0.0) -> bool:
    tolerance = max(SLOPE_TOL_PX / side, SLOPE_TOL_SE * fit.se_a, ratio_tol * expected)
    return abs(fit.a - expected) <= tolerance


def _name_fit(
    fit_x: AxisFit, fit_y: AxisFit, monitor: Monitor, model_size: tuple[int, int] | None, extent: int
) -> tuple[Pattern, str]:
    width, height = monitor.width, monitor.height
    phys_w, phys_h = monitor.physical_size
    sides_x = {float(width), float(phys_w)} | ({float(model_size[0])} if model_size else set())
    sides_y = {float(height), float(phys_h)} | ({float(model_size[1])} if model_size else set())
    dx, dy = round(fit_x.b), round(fit_y.b)
    scaled = f"~{fit_x.a:.3f}/{fit_y.a:.3f}"
    if _same_slope(fit_x, 1.0, width) and _same_slope(fit_y, 1.0, height):
        dx, dy = round(fit_x.mean_shift), round(fit_y.mean_shift)
        return "offset", (
            f"every click lands about ({dx:+d}, {dy:+d}) px off: check the monitor origin or the display scale (HiDPI)"
        )

    def matches(candidates_x: set[float], candidates_y: set[float]) -> bool:
        return any(_same_slope(fit_x, c, width, ratio_tol=RATIO_TOL) for c in candidates_x) and any(
            _same_slope(fit_y, c, height, ratio_tol=RATIO_TOL) for c in candidates_y
        )

    shifted = _shifted(fit_x) or _shifted(fit_y)
    shift = f", and shifted by ({dx:+d}, {dy:+d}) px" if shifted else ""
    if matches({extent / s for s in sides_x}, {extent / s for s in sides_y}):
        return "relative_read_as_pixels", (
            f"the model answers in 0-{extent} relative coordinates but the preset reads pixels: use a relative "
            f"family ({RELATIVE_FAMILIES}) (the clicks are scaled by {scaled}{shift})"
        )
    if matches({s / extent for s in sides_x}, {s / extent for s in sides_y}):
        return "pixels_read_as_relative", (
            f"the model answers in pixels but the preset reads 0-{extent} relative coordinates: use an absolute "
            f"family ({ABSOLUTE_FAMILIES}) (the clicks are scaled by {scaled}{shift})"
        )
    text = (
        f"the clicks are scaled by {scaled}{shift}: the model saw a different image size than the preset "
        "assumes: check --family or --min-pixels/--max-pixels"
    )
    if model_size is not None and (model_size[0], model_size[1]) != (phys_w, phys_h):
        mw, mh = model_size
        if matches({mw / phys_w, phys_w / mw}, {mh / phys_h, phys_h / mh}):
            text += f" (that is the ratio of the screenshot, {phys_w}x{phys_h}, to the model's image, {mw}x{mh})"
    hidpi = set(HIDPI_FACTORS) | {1 / f for f in HIDPI_FACTORS}
    if any(
        _same_slope(fit_x, f, width, ratio_tol=RATIO_TOL) and _same_slope(fit_y, f, height, ratio_tol=RATIO_TOL)
        for f in hidpi
    ):
        text += ", or the display scale (HiDPI: physical against logical pixels)"
    return "scaled", text


def _shifted(fit: AxisFit) -> bool:
    return abs(fit.b) > max(OFFSET_TOL_PX, SLOPE_TOL_SE * fit.se_b)


# -- the driver --------------------------------------------------------------------------------------------


def run_calibration(
    backend: Backend,
    family: Family,
    capture: Capturer,
    targets: Mapping[str, Rect],
    *,
    monitor: int = 0,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    stop: StopFlag,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    on_result: Callable[[TargetResult], None] | None = None,
) -> CalibrationReport:
    """Ask the backend once per target to "click LABEL" and measure where each click would land.

    Nothing is executed. Raises BackendError (a failing backend, a script that ran out) and StoppedError.
    """
    backend.load()
    settle(capture, monitor, stop)  # the targets are painted
    points: dict[str, Point | None] = {}
    errors: dict[str, str] = {}
    replies: dict[str, str] = {}
    shot_monitor: Monitor | None = None
    size: tuple[int, int] | None = None
    for label, rect in targets.items():
        stop.check_stopped()
        shot = capture.grab(monitor)
        shot_monitor = shot.monitor
        task = f"click {label}"
        answer = ask_point(
            backend,
            family,
            shot.image,
            task=task,
            conversation=partial(build_messages, family, task),
            origin=(shot_monitor.x, shot_monitor.y),
            scale=shot_monitor.scale,
            min_pixels=min_pixels,
            max_pixels=max_pixels,
            max_new_tokens=max_new_tokens,
            stop=stop,
        )
        size = answer.model_size
        point, error = answer.point, answer.reading.why_not
        points[label], replies[label] = point, answer.reply.raw
        if error is not None:
            errors[label] = error
        if on_result is not None:
            on_result(
                analyse({label: rect}, {label: point}, monitor=shot_monitor, errors=errors, replies=replies).per_target[
                    0
                ]
            )
    if shot_monitor is None:
        shot_monitor = capture.grab(monitor).monitor
    return analyse(
        targets,
        points,
        monitor=shot_monitor,
        model_size=size,
        relative_extent=family.relative_extent,
        errors=errors,
        replies=replies,
    )

"""Scoring: each result's hit (targets.is_hit), accuracy = hits / samples, overall and per group, as JSON.

Points and boxes are in the image's own pixels. A result's `box` is its target's box (for a polygon or a
recorded click, the box around it; null for a refusal); `hit` is computed by the target's own rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agent.evaluation.readers.common import Sample
from agent.evaluation.store import Prediction
from agent.evaluation.targets import Point, RefusalTarget, is_hit


@dataclass(frozen=True, slots=True)
class Result:
    index: int  # the sample's place in the data set, from 0
    sample: Sample
    prediction: Prediction
    resumed: bool = False  # read back from the predictions file, not asked again

    @property
    def point(self) -> Point | None:
        return self.prediction.point

    @property
    def error(self) -> str | None:
        return self.prediction.error

    @property
    def hit(self) -> bool:
        return is_hit(self.sample.target, self.point, self.error)

    @property
    def declined(self) -> bool:
        return self.point is None and self.error is None

    def to_json(self) -> dict[str, Any]:
        bounds = self.sample.target.bounds
        return {
            "index": self.index,
            "instruction": self.sample.instruction,
            "image": self.sample.image_name,
            "point": None if self.point is None else list(self.point),
            "box": None if bounds is None else [_number(v) for v in bounds],
            "hit": self.hit,
            "error": self.error,
            "seconds": round(self.prediction.seconds, 4),
            "group": self.sample.group,
            "refusal": isinstance(self.sample.target, RefusalTarget),
        }


@dataclass(frozen=True, slots=True)
class Tally:
    samples: int
    hits: int

    @property
    def accuracy(self) -> float:
        return self.hits / self.samples if self.samples else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"samples": self.samples, "hits": self.hits, "accuracy": self.accuracy}


def tally(results: Sequence[Result]) -> Tally:
    return Tally(len(results), sum(r.hit for r in results))


def by_group(results: Sequence[Result]) -> dict[str, Tally]:
    """Each group's tally, groups sorted by name."""
    groups: dict[str, list[Result]] = {}
    for result in results:
        groups.setdefault(result.sample.group, []).append(result)
    return {name: tally(groups[name]) for name in sorted(groups)}


def scorecard(results: Sequence[Result], **header: Any) -> dict[str, Any]:
    """The eval's JSON: `header` (dataset, format, backend, model, family, ...) then the figures and results."""
    total = tally(results)
    return {
        **header,
        "samples": total.samples,
        "hits": total.hits,
        "accuracy": total.accuracy,
        "declined": sum(r.declined for r in results),
        "errors": sum(r.error is not None for r in results),
        "groups": {name: t.to_json() for name, t in by_group(results).items()},
        "results": [r.to_json() for r in results],
    }


def table(results: Sequence[Result]) -> str:
    """The figures as a plain-text table by group, the total last."""
    rows = [(name, t) for name, t in by_group(results).items()] + [("all", tally(results))]
    width = max(len("group"), *(len(name) for name, _ in rows))
    lines = [f"{'group':<{width}}  {'samples':>7}  {'hits':>5}  {'accuracy':>8}"]
    for name, t in rows:
        lines.append(f"{name:<{width}}  {t.samples:>7}  {t.hits:>5}  {100 * t.accuracy:>7.1f}%")
    return "\n".join(lines)


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value

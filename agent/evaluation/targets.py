"""What a sample asks for, in the image's own pixels, and the one hit rule per shape.

Every reader turns its format's convention into one of these (readers/): a box is always x1, y1, x2, y2 with
x1 <= x2 and y1 <= y2, edges included in the hit ("bbox[0] <= x <= bbox[2]" in the ScreenSpot-Pro and
UI-Vision evaluators, which compare after dividing both by the image size: the same test in pixels).

    BoxTarget       ScreenSpot (x, y, w, h), ScreenSpot-Pro and UI-Vision (x1, y1, x2, y2), OSWorld-G bbox
    PolygonTarget   OSWorld-G polygon: inside or on an edge
    CircleTarget    a recorded click: within `radius` px of the executed point (session folders)
    RefusalTarget   the element is not there: a hit when the backend declines (ScreenSpot-Pro `gt_type:
                    negative`, OSWorld-G `refusal`)

A reply that could not be read (an error) is never a hit, not even for a refusal (the reference evaluators
count it as "wrong_format").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

Point = tuple[int, int]
Box = tuple[float, float, float, float]  # x1, y1, x2, y2 in image pixels


@dataclass(frozen=True, slots=True)
class BoxTarget:
    box: Box

    @property
    def bounds(self) -> Box | None:
        return self.box

    def contains(self, x: float, y: float) -> bool:
        x1, y1, x2, y2 = self.box
        return x1 <= x <= x2 and y1 <= y <= y2

    def to_json(self) -> dict[str, Any]:
        return {"kind": "box", "box": list(self.box)}


@dataclass(frozen=True, slots=True)
class PolygonTarget:
    points: tuple[tuple[float, float], ...]  # at least 3 corners, in order

    @property
    def bounds(self) -> Box | None:
        xs, ys = [p[0] for p in self.points], [p[1] for p in self.points]
        return (min(xs), min(ys), max(xs), max(ys))

    def contains(self, x: float, y: float) -> bool:
        """Inside (even-odd ray casting) or on an edge."""
        corners = self.points
        inside = False
        for (ax, ay), (bx, by) in zip(corners, corners[1:] + corners[:1]):
            if _on_segment(x, y, ax, ay, bx, by):
                return True
            if (ay > y) != (by > y) and x < ax + (bx - ax) * (y - ay) / (by - ay):
                inside = not inside
        return inside

    def to_json(self) -> dict[str, Any]:
        return {"kind": "polygon", "points": [list(p) for p in self.points]}


@dataclass(frozen=True, slots=True)
class CircleTarget:
    centre: tuple[float, float]
    radius: float

    @property
    def bounds(self) -> Box | None:
        (cx, cy), r = self.centre, self.radius
        return (cx - r, cy - r, cx + r, cy + r)

    def contains(self, x: float, y: float) -> bool:
        return math.hypot(x - self.centre[0], y - self.centre[1]) <= self.radius

    def to_json(self) -> dict[str, Any]:
        return {"kind": "circle", "centre": list(self.centre), "radius": self.radius}


@dataclass(frozen=True, slots=True)
class RefusalTarget:
    @property
    def bounds(self) -> Box | None:
        return None

    def contains(self, x: float, y: float) -> bool:
        return False

    def to_json(self) -> dict[str, Any]:
        return {"kind": "refusal"}


Target = BoxTarget | PolygonTarget | CircleTarget | RefusalTarget


def is_hit(target: Target, point: Point | None, error: str | None) -> bool:
    """The one scoring rule: a point inside the target, or, for a refusal, no point and no error."""
    if error is not None:
        return False
    if isinstance(target, RefusalTarget):
        return point is None
    return point is not None and target.contains(*point)


def _on_segment(x: float, y: float, ax: float, ay: float, bx: float, by: float) -> bool:
    cross = (bx - ax) * (y - ay) - (by - ay) * (x - ax)
    if abs(cross) > 1e-9 * max(1.0, abs(bx - ax) + abs(by - ay)):
        return False
    return min(ax, bx) <= x <= max(ax, bx) and min(ay, by) <= y <= max(ay, by)

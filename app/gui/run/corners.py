"""Where the run panel sits: a corner of the driven monitor that hides nothing the run needs.

The panel is greyed out of every screenshot and may never be clicked, so whatever lies under it is invisible to
the model: an app there cannot be driven at all (usertrial-2026-12, trial 4). So the panel goes to the corner
that covers none of the windows the run needs (the focused one, the one the target lies in), and among those the
one that covers least of every other application's window: a corner over bare desktop where there is one. It
never covers the target point itself. Ties keep the panel where it is (a panel that jumps about at every step
is a distraction), then go farthest from the target, then bottom-right (where a person looks for it).
Pure arithmetic in screen px: the windows come from the X stacking order (sandbox/desktops/x11_stacking.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from sandbox.geometry import Monitor, Rect, subtract

MARGIN_PX = 16  # from the monitor's edges


def corners(monitor: Monitor, size: tuple[int, int]) -> list[tuple[int, int]]:
    """Top-left of a `size` panel in each corner of `monitor`, in order of preference: bottom-right first."""
    left, top = monitor.x + MARGIN_PX, monitor.y + MARGIN_PX
    right = monitor.x + monitor.width - size[0] - MARGIN_PX
    bottom = monitor.y + monitor.height - size[1] - MARGIN_PX
    return [(right, bottom), (left, bottom), (right, top), (left, top)]


def covered(area: Rect, windows: Sequence[Rect]) -> int:
    """How many pixels of `area` lie on any of `windows` (each pixel counted once)."""
    return area.width * area.height - sum(p.width * p.height for p in subtract(area, windows))


def best_corner(
    monitor: Monitor,
    size: tuple[int, int],
    windows: Sequence[Rect] = (),
    *,
    avoid: Sequence[Rect] = (),
    point: tuple[int, int] | None = None,
    current: tuple[int, int] | None = None,
) -> tuple[int, int]:
    """The top-left of the panel's best corner (see the module's docstring).

    `windows`: every other application's window; `avoid`: those the run needs (a subset, covered last of all);
    `point`: the target, never covered; `current`: where the panel is now (kept on a tie)."""
    options = corners(monitor, size)
    free = [c for c in options if point is None or not Rect(*c, *size).contains(*point)] or options

    def distance(corner: tuple[int, int]) -> float:
        if point is None:
            return 0.0
        cx, cy = corner[0] + size[0] / 2, corner[1] + size[1] / 2
        return (cx - point[0]) ** 2 + (cy - point[1]) ** 2

    def cost(corner: tuple[int, int]) -> tuple[int, int, bool, float, int]:
        area = Rect(*corner, *size)
        return (
            covered(area, avoid),
            covered(area, windows),
            corner != current,
            -distance(corner),
            options.index(corner),
        )

    return min(free, key=cost)

"""How long the accessibility tree takes: the element at a point, and a whole window's walk (issue 19).

Runs on its own Xvfb with a private D-Bus session and AT-SPI bus (tests/helpers/atspi_bus.py), never on your
desktop. The app is tests/helpers/gtk_app.py (GTK3 through the system python3): the small form alone, and the
form with 200 more buttons. Each lookup is `AccessibilityTree.element_at` at a widget's centre (the X11
hit-test included, as `deskpilot inspect` does it); each walk is `AccessibilityTree.walk` of the window.

    .venv/bin/python bench/atspi_lookup.py [--trials 50] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox.accessibility import X11WindowAt, open_tree  # noqa: E402
from sandbox.display import IsolatedDisplay  # noqa: E402
from tests.helpers.atspi_bus import AtspiSession  # noqa: E402

TARGET_LOOKUP_MS = 30.0


def measure(session: AtspiSession, buttons: int, trials: int) -> dict[str, Any]:
    app = session.app("gtk", x=40, y=40, args=("--buttons", str(buttons)))
    session.wait_until_published(app.process.pid)
    window_at = X11WindowAt(session.display)
    tree = open_tree(session_address=session.env["DBUS_SESSION_BUS_ADDRESS"], window_at=window_at, budget_s=5.0)
    assert tree is not None, "no accessibility bus"
    points = [app.centre(name) for name in ("Save", "Bold", "First name entry", "Cancel")]
    first_start = time.perf_counter()
    assert tree.element_at(*points[0]) is not None  # the first lookup also learns the app (toolkit, pid, scale)
    first_ms = (time.perf_counter() - first_start) * 1000
    lookups = []
    for index in range(trials):
        start = time.perf_counter()
        element = tree.element_at(*points[index % len(points)])
        lookups.append((time.perf_counter() - start) * 1000)
        assert element is not None
    [gtk] = [a for a in tree.applications() if a.pid == app.process.pid]
    [window] = tree.windows(gtk)
    walks, count = [], 0
    for _ in range(max(3, trials // 5)):
        start = time.perf_counter()
        count = len(tree.walk(window))
        walks.append((time.perf_counter() - start) * 1000)
    tree.bus.close()
    window_at.close()
    app.close()
    return {
        "window": f"GTK3 form + {buttons} buttons",
        "elements": count,
        "first_lookup_ms": first_ms,
        "lookup_median_ms": statistics.median(lookups),
        "lookup_max_ms": max(lookups),
        "walk_median_ms": statistics.median(walks),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with (
        IsolatedDisplay(1920, 1080, nested=False) as display,
        tempfile.TemporaryDirectory() as folder,
        AtspiSession(display.name, Path(folder)) as session,
    ):
        results = [measure(session, buttons, args.trials) for buttons in (0, 200)]
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"{'':26} {'elements':>8} {'1st lookup':>10} {'lookup med':>10} {'lookup max':>10} {'walk med':>9}")
    for r in results:
        print(
            f"{r['window']:26} {r['elements']:>8} {r['first_lookup_ms']:>8.1f}ms {r['lookup_median_ms']:>8.1f}ms "
            f"{r['lookup_max_ms']:>8.1f}ms {r['walk_median_ms']:>7.1f}ms"
        )
    print(f"target: an element at a point within {TARGET_LOOKUP_MS:.0f} ms on a typical window")
    return 0


if __name__ == "__main__":
    sys.exit(main())

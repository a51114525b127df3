"""Show the element at a screen point as a screen reader sees it (the AT-SPI accessibility tree).

`deskpilot inspect X,Y` prints one line (`push button 'Save' [318,358 70x34] in 'Form' of app 'gtk_app.py'`),
`--json` one object with `"source": "atspi"`. Exit 2 with one line when no tree answers there: the app on top
publishes none (Tk, xterm), there is no accessibility bus, or the point is off every window. Accessibility is
turned on when it is off (sandbox/accessibility/bus.py says what that changes), and the log says so.
"""

from __future__ import annotations

import argparse
import json
import os

from app.cli import EXIT_BAD_INPUT, EXIT_OK, fail
from app.commands.common import origin
from app.terminal import printable

INSPECT_BUDGET_S = 1.0  # a person waits for this answer: a slow app gets longer than the agent's per-step budget


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "point", type=origin, metavar="X,Y", help="a point in screen pixels (a negative X after --: inspect -- -5,0)"
    )
    parser.add_argument("--json", action="store_true", help="print the element as one JSON object")


def run(args: argparse.Namespace) -> int:
    from sandbox.accessibility import X11WindowAt, open_tree

    x, y = args.point
    display = os.environ.get("DISPLAY")
    if not display:
        return fail("inspect needs a display: DISPLAY is not set")
    window_at = X11WindowAt(display)
    tree = open_tree(
        a11y_address=os.environ.get("AT_SPI_BUS_ADDRESS") or None, window_at=window_at, budget_s=INSPECT_BUDGET_S
    )
    if tree is None:
        window_at.close()
        return fail(f"no accessibility tree at {x},{y}: there is no accessibility bus (at-spi2-core)", EXIT_BAD_INPUT)
    try:
        element = tree.element_at(x, y)
    finally:
        tree.bus.close()
        window_at.close()
    if element is None:
        return fail(f"no accessibility tree answers at {x},{y}: the window there publishes none (or nothing is there)")
    if args.json:
        print(json.dumps(element.to_json()))  # ASCII: an app's names never reach the terminal raw
    else:
        box = element.box
        where = f"in {element.window!r} of app {element.app!r}"
        states = ", ".join(element.states)
        print(printable(f"{element.describe()} [{box.x},{box.y} {box.width}x{box.height}] {where} ({states})"))
    return EXIT_OK

"""How fast the stop key and the user's own input end a run that is acting (the stop key is promised to work within milliseconds).

Runs on its own Xvfb (so it never touches your desktop). Each trial starts a long sequence of actions on a
worker thread (typing and pointer moves through the pynput driver), then presses the stop key (or moves the
mouse somewhere deskpilot did not) through XTest, as a keyboard or mouse would, and measures:
  key->flag: from the injected key press to the stop flag being set (the listener's latency);
  key->halt: from the key press to the executor having raised (the last driver call finished);
and checks that no driver call started after the flag was set.

    .venv/bin/python bench/stop_latency.py [--trials 20] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox.actions import Move, Type  # noqa: E402
from sandbox.display import IsolatedDisplay  # noqa: E402
from sandbox.errors import StoppedError  # noqa: E402
from sandbox.geometry import ScreenGeometry  # noqa: E402
from sandbox.policy import Policy, PolicyChecker  # noqa: E402
from sandbox.stop import SelfInputLedger, StopFlag, StopKeyListener, UserInputWatcher  # noqa: E402

STOP_KEY = "ctrl+alt+x"


class TimedDriver:
    def __init__(self, inner: Any) -> None:
        self.inner, self.name, self.started = inner, inner.name, []

    def __getattr__(self, attribute: str) -> Any:
        method = getattr(self.inner, attribute)

        def timed(*args: Any) -> Any:
            self.started.append(time.perf_counter())
            return method(*args)

        return timed if callable(method) else method


def inject(kind: str) -> float:
    """Press the stop key (or move the mouse) through XTest; returns perf_counter() once it was sent."""
    from Xlib import XK, X, display
    from Xlib.ext import xtest

    connection = display.Display()
    try:
        if kind == "key":
            codes = [connection.keysym_to_keycode(XK.string_to_keysym(n)) for n in ("Control_L", "Alt_L", "x")]
            for code in codes:
                xtest.fake_input(connection, X.KeyPress, code)
            connection.sync()
            sent = time.perf_counter()
            for code in reversed(codes):
                xtest.fake_input(connection, X.KeyRelease, code)
        else:
            xtest.fake_input(connection, X.MotionNotify, x=random.randint(1300, 1800), y=random.randint(700, 1000))
            connection.sync()
            sent = time.perf_counter()
        connection.sync()
        return sent
    finally:
        connection.close()


def trial(kind: str) -> dict[str, float]:
    from sandbox.drivers import make_driver
    from sandbox.executor import Executor

    stop, ledger = StopFlag(), SelfInputLedger()
    driver = TimedDriver(make_driver("pynput"))
    screen = ScreenGeometry.single(1920, 1080)
    executor = Executor(
        checker=PolicyChecker(Policy(max_actions_per_minute=100_000)),
        driver=driver,
        screen=lambda: screen,
        stop=stop,
        ledger=ledger,
    )
    halted: list[float] = []

    def work() -> None:
        try:
            for i in range(10_000):
                action = Type("the quick brown fox ") if i % 2 else Move(100 + i % 500, 100 + i % 300)
                executor.execute(executor.check(action))
        except StoppedError:
            halted.append(time.perf_counter())

    guard = StopKeyListener(stop, STOP_KEY) if kind == "key" else UserInputWatcher(stop, ledger)
    with guard:
        worker = threading.Thread(target=work)
        worker.start()
        time.sleep(random.uniform(0.2, 0.5))
        sent = inject(kind)
        worker.join(10)
    flagged = stop.stopped_at if kind == "key" else None
    if kind == "mouse":
        flagged = halted[0] if halted else None  # the pause flag carries no time stamp; use the halt
    late = [t for t in driver.started if flagged is not None and t > flagged]
    return {
        "flag_ms": ((flagged or float("nan")) - sent) * 1000,
        "halt_ms": ((halted[0] if halted else float("nan")) - sent) * 1000,
        "late_calls": float(len(late)),
        "calls": float(len(driver.started)),
    }


def summarise(name: str, rows: list[dict[str, float]]) -> dict[str, Any]:
    halts = sorted(r["halt_ms"] for r in rows)
    flags = sorted(r["flag_ms"] for r in rows)
    return {
        "what": name,
        "trials": len(rows),
        "flag_median_ms": statistics.median(flags),
        "halt_median_ms": statistics.median(halts),
        "halt_p95_ms": halts[min(len(halts) - 1, int(0.95 * len(halts)))],
        "halt_max_ms": halts[-1],
        "calls_after_stop": int(sum(r["late_calls"] for r in rows)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with IsolatedDisplay(1920, 1080, nested=False) as isolated:
        os.environ["DISPLAY"] = isolated.name  # the whole benchmark (keys, listeners, driver) runs there
        results = [
            summarise("stop key -> run stopped", [trial("key") for _ in range(args.trials)]),
            summarise("user mouse -> run paused", [trial("mouse") for _ in range(args.trials)]),
        ]
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"{'':28} {'trials':>6} {'flag med':>9} {'halt med':>9} {'halt p95':>9} {'halt max':>9} {'calls after':>11}")
    for r in results:
        print(
            f"{r['what']:28} {r['trials']:>6} {r['flag_median_ms']:>7.1f}ms {r['halt_median_ms']:>7.1f}ms "
            f"{r['halt_p95_ms']:>7.1f}ms {r['halt_max_ms']:>7.1f}ms {r['calls_after_stop']:>11}"
        )
    print("target: halt within 200 ms; no driver call may start after the stop")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How fast `deskpilot stop` ends a run, and what each step of the wlroots route costs (issue 20).

Stop: a child process listens as a run does (sandbox/stop.py StopCommandListener) while it "acts" (paced
sleeps on its stop flag); the bench then asks it to stop, as `deskpilot stop` does, and measures
  request->flag: from the request to the child's flag being set (the child notes CLOCK_MONOTONIC);
  request->halt: from the request to the child's action loop having raised;
  command: the whole `deskpilot stop` process (Python's start included), what a key binding costs.
Wlroots (with --sway, on a headless Sway with tests/helpers/wayland.py): one grab through grim, one pointer
move + click and one 8-character text through the virtual devices, and one `wtype` process for comparison.
GNOME (with --mutter, on a headless Mutter with PipeWire and WirePlumber, tests/helpers/gnome.py): the first grab
through Mutter's screen cast (its session started), the later ones (one gst-launch-1.0 reading one frame each),
a bare gst-launch-1.0 process that reads nothing (the baseline: what starting the reader costs), one move + click
and one 8-character text through Mutter's RemoteDesktop.
Everything runs in a private XDG_RUNTIME_DIR, so no run of yours is stopped.

    .venv/bin/python bench/stop_command.py [--trials 20] [--sway] [--mutter] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHILD = """
import time
from sandbox.errors import StoppedError
from sandbox.stop import StopCommandListener, StopFlag

class NotedFlag(StopFlag):
    def stop(self, reason="stopped"):
        self.flagged = time.monotonic()
        super().stop(reason)

flag = NotedFlag()
with StopCommandListener(flag):
    print("listening", flush=True)
    try:
        while True:
            flag.sleep(0.02)  # an action's pacing: the executor checks the flag the same way
    except StoppedError:
        halted = time.monotonic()
print(f"{flag.flagged} {halted}", flush=True)
"""


def _stats(values: list[float]) -> dict[str, float]:
    ms = sorted(v * 1000 for v in values)
    return {"median_ms": round(statistics.median(ms), 2), "max_ms": round(ms[-1], 2)}


def bench_stop(trials: int) -> dict[str, Any]:
    from sandbox.stop import stop_runs

    to_flag, to_halt, command = [], [], []
    with tempfile.TemporaryDirectory() as runtime:
        env = {**os.environ, "XDG_RUNTIME_DIR": runtime}
        os.environ["XDG_RUNTIME_DIR"] = runtime
        for trial in range(trials):
            child = subprocess.Popen(
                [sys.executable, "-c", CHILD], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
            )
            assert child.stdout is not None and child.stdout.readline().strip() == "listening"
            if trial % 2 == 0:
                asked = time.monotonic()
                assert stop_runs() == 1
            else:  # the real command, as a key binding runs it
                asked = time.monotonic()
                subprocess.run(
                    [str(Path(sys.executable).with_name("deskpilot")), "stop", "--quiet"], env=env, check=True
                )
                command.append(time.monotonic() - asked)
            flagged, halted = (float(v) for v in child.stdout.readline().split())
            child.wait(10)
            to_flag.append(flagged - asked)
            to_halt.append(halted - asked)
    in_process = [v for i, v in enumerate(to_halt) if i % 2 == 0]
    return {
        "request_to_flag": _stats([v for i, v in enumerate(to_flag) if i % 2 == 0]),
        "request_to_halt": _stats(in_process),
        "deskpilot_stop_command_to_halt": _stats([v for i, v in enumerate(to_halt) if i % 2 == 1]),
        "deskpilot_stop_command_process": _stats(command),
    }


def bench_sway(trials: int) -> dict[str, Any]:
    from tests.helpers.wayland import headless_sway

    with headless_sway(1920, 1080) as sway:
        for name, value in sway.env.items():
            os.environ[name] = value
        from sandbox.desktops.wlroots import WlrootsDesktop

        desktop = WlrootsDesktop()
        capture = desktop.capture()
        driver = desktop.driver("pyautogui")
        capture.grab(0)  # PIL's first import
        driver.type_text("w")  # the keyboard's grace for clients to bind it
        grabs, clicks, texts, wtypes = [], [], [], []
        for trial in range(trials):
            started = time.perf_counter()
            capture.grab(0)
            grabs.append(time.perf_counter() - started)
            started = time.perf_counter()
            driver.move(100 + trial, 100)
            driver.click("left")
            clicks.append(time.perf_counter() - started)
            started = time.perf_counter()
            driver.type_text("Lovelace")
            texts.append(time.perf_counter() - started)
            started = time.perf_counter()
            subprocess.run(["wtype", "Lovelace"], env=sway.env, check=True)
            wtypes.append(time.perf_counter() - started)
        driver.close()
        capture.close()
    return {
        "grim_grab_1920x1080": _stats(grabs),
        "virtual_pointer_move_click": _stats(clicks),
        "virtual_keyboard_8_chars": _stats(texts),
        "wtype_process_8_chars": _stats(wtypes),
    }


def bench_mutter(trials: int) -> dict[str, Any]:
    from tests.helpers.gnome import headless_mutter

    with headless_mutter(1920, 1080) as mutter:
        for name, value in mutter.env.items():
            os.environ[name] = value
        from sandbox.desktops.mutter import MutterDesktop

        desktop = MutterDesktop()
        capture = desktop.capture()
        started = time.perf_counter()
        capture.grab(0)
        first = [time.perf_counter() - started]
        driver = desktop.driver("pyautogui")
        grabs, bare, clicks, texts = [], [], [], []
        for trial in range(trials):
            started = time.perf_counter()
            capture.grab(0)
            grabs.append(time.perf_counter() - started)
            started = time.perf_counter()
            subprocess.run(["gst-launch-1.0", "-q", "fakesrc", "num-buffers=1", "!", "fakesink"], check=True)
            bare.append(time.perf_counter() - started)
            started = time.perf_counter()
            driver.move(100 + trial, 100)
            driver.click("left")
            clicks.append(time.perf_counter() - started)
            started = time.perf_counter()
            driver.type_text("Lovelace")
            texts.append(time.perf_counter() - started)
        driver.close()
        capture.close()
    grab, baseline = statistics.median(grabs), statistics.median(bare)
    print(f"mutter grab / bare gst-launch-1.0 process: {grab / baseline:.2f}x", file=sys.stderr)
    return {
        "screencast_first_grab_1920x1080": _stats(first),
        "screencast_grab_1920x1080": _stats(grabs),
        "bare_gst_launch_process": _stats(bare),
        "remote_desktop_move_click": _stats(clicks),
        "remote_desktop_8_chars": _stats(texts),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--sway", action="store_true", help="also time the wlroots route on a headless Sway")
    parser.add_argument("--mutter", action="store_true", help="also time the GNOME route on a headless Mutter")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = {"stop": bench_stop(args.trials)}
    if args.sway:
        results["wlroots"] = bench_sway(args.trials)
    if args.mutter:
        results["mutter"] = bench_mutter(args.trials)
    if args.json:
        print(json.dumps(results))
        return
    for group, rows in results.items():
        for name, stats in rows.items():
            print(f"{group:8} {name:34} median {stats['median_ms']:8.2f} ms   max {stats['max_ms']:8.2f} ms")


if __name__ == "__main__":
    main()

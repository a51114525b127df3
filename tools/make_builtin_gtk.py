"""Make the GTK3 part of the built-in grounding set, with boxes from the accessibility tree.

    .venv/bin/python tools/make_builtin_gtk.py [OUT]      (default: agent/evaluation/builtin)

GTK gives its widgets' geometry to other processes only through AT-SPI, so the scenes (tools/builtin_scenes_gtk.py,
run with the system python3 and python3-gi) run on a private Xvfb with a private D-Bus session and accessibility
bus (dbus-daemon, at-spi-bus-launcher from at-spi2-core), and tools/grounding_from_tree.py reads every named
control and grabs the window: `OUT/images/gtk/*.png` and `OUT/annotations/builtin_gtk_linux.json`, group `gtk`
(tools/make_builtin_set.py makes the Qt and Tk part and leaves images/gtk/ alone).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sandbox.accessibility import open_tree  # noqa: E402
from sandbox.display import IsolatedDisplay  # noqa: E402
from tools.grounding_from_tree import GroundingError, collect, write  # noqa: E402

DISPLAY_SIZE = (1024, 768)
SCENE = ROOT / "tools" / "builtin_scenes_gtk.py"
TITLE = "deskpilot gtk editor"
LAUNCHER = Path("/usr/libexec/at-spi-bus-launcher")
SYSTEM_PYTHON = "/usr/bin/python3"
READY_TIMEOUT_S = 30.0
CONTROLS = 9  # named controls in the scene: six icon buttons, a check box, two buttons
OUT = ROOT / "agent" / "evaluation" / "builtin"


def make(out: Path, display: str) -> int:
    """Render the scene on `display` and write its samples into `out`; returns how many."""
    with tempfile.TemporaryDirectory() as runtime:
        env = {**os.environ, "DISPLAY": display, "XDG_RUNTIME_DIR": runtime, "GSETTINGS_BACKEND": "memory"}
        for name in ("AT_SPI_BUS_ADDRESS", "NO_AT_BRIDGE", "GDK_SCALE", "WAYLAND_DISPLAY"):
            env.pop(name, None)
        processes: list[subprocess.Popen[str]] = []
        try:
            daemon = subprocess.Popen(
                ["dbus-daemon", "--session", "--nofork", "--print-address=1"], stdout=subprocess.PIPE, text=True,
                env=env, start_new_session=True,
            )  # fmt: skip
            processes.append(daemon)
            assert daemon.stdout is not None
            env["DBUS_SESSION_BUS_ADDRESS"] = address = daemon.stdout.readline().strip()
            processes.append(subprocess.Popen([str(LAUNCHER), "--launch-immediately"], env=env, start_new_session=True))
            tree = _tree(address)
            processes.append(subprocess.Popen([SYSTEM_PYTHON, str(SCENE)], env=env, start_new_session=True))
            pictures = _pictures(tree, display)
            shutil.rmtree(out / "images" / "gtk", ignore_errors=True)
            return len(write(pictures, out, "builtin_gtk", images_under="gtk"))
        finally:
            for process in reversed(processes):  # each in a session of its own: the buses it started go too
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


def _tree(address: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        tree = open_tree(session_address=address)
        if tree is not None:
            return tree
        if time.monotonic() > deadline:
            raise GroundingError("the private accessibility bus did not start")
        time.sleep(0.2)


def _pictures(tree, display: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        pictures = collect(tree, display=display, window_title=TITLE, group="gtk")
        if pictures and len(pictures[0].samples) >= CONTROLS:  # every control published
            return pictures
        if time.monotonic() > deadline:
            raise GroundingError(f"the window {TITLE!r} did not publish its tree in {READY_TIMEOUT_S:g} s")
        time.sleep(0.2)


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else OUT
    with IsolatedDisplay(*DISPLAY_SIZE, nested=False) as display:
        count = make(out, display.name)
    print(f"{count} GTK samples in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

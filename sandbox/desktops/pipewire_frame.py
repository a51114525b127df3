"""One frame of a PipeWire video stream, read through GStreamer's `pipewiresrc` in a `gst-launch-1.0` process.

Mutter's screen-cast streams (sandbox/desktops/mutter.py) hand their frames to PipeWire, not to D-Bus. A frame is
read by a PipeWire client; deskpilot carries none in-process (it would need PipeWire's C library through
GStreamer's Python bindings, which pip builds only with the system's development headers), so one
`gst-launch-1.0` per grab connects to the stream's node, takes one buffer and writes its pixels (BGRx, Mutter's
own format, so nothing is converted) to a private file; the size comes from the caps `gst-launch-1.0 -v` prints.
A PNG on a pipe, as `grim` gives on wlroots, was tried first: GStreamer's PNG encoder took ~0.6 s for a 1080p
frame even uncompressed. The compositor renders a fresh frame whenever a consumer connects, so each grab shows
the screen as it is, even when nothing on it moved. Measured by `bench/stop_command.py --mutter`.

Two things must be there besides the stream: the PipeWire source element (Debian: gstreamer1.0-pipewire,
gstreamer1.0-tools for gst-launch-1.0) and PipeWire's session manager (WirePlumber, which every GNOME session
runs): PipeWire links a consumer to its target node only through it, and without it the frame never comes.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
from typing import Any

from sandbox.errors import DriverError

FRAME_TIMEOUT_S = 5.0
GST_LAUNCH = "gst-launch-1.0"
GST_INSPECT = "gst-inspect-1.0"
INSTALL = "gstreamer1.0-pipewire gstreamer1.0-tools"
CAPS = re.compile(r"caps = video/x-raw, format=\(string\)BGRx, width=\(int\)(\d+), height=\(int\)(\d+)")


@functools.cache
def missing_reader() -> str | None:
    """Why no frame can be read here (GStreamer's tools or its PipeWire source missing); None when one can."""
    if shutil.which(GST_LAUNCH) is None or shutil.which(GST_INSPECT) is None:
        return f"GStreamer's {GST_LAUNCH} is not installed ({INSTALL})"
    try:
        found = subprocess.run([GST_INSPECT, "pipewiresrc"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{GST_INSPECT} failed ({exc})"
    if found.returncode != 0:
        return "GStreamer has no PipeWire source, pipewiresrc (gstreamer1.0-pipewire)"
    return None


def read_frame(node: int, *, timeout_s: float = FRAME_TIMEOUT_S) -> Any:
    """The next frame of the PipeWire node `node` as an RGB PIL image; DriverError saying why when none comes."""
    why = missing_reader()
    if why is not None:
        raise DriverError(f"cannot read the screen-cast stream: {why}")
    folder = os.environ.get("XDG_RUNTIME_DIR")  # private to the user, and in memory
    with tempfile.TemporaryDirectory(
        prefix="deskpilot-frame-", dir=folder if folder and os.path.isdir(folder) else None
    ) as tmp:
        path = os.path.join(tmp, "frame.bgrx")
        pipeline = [
            f"pipewiresrc path={int(node)} num-buffers=1",
            "videoconvert",
            "video/x-raw,format=BGRx",
            f"filesink location={path}",
        ]
        command = [GST_LAUNCH, "-v", *" ! ".join(pipeline).split()]
        try:
            done = subprocess.run(command, capture_output=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired as exc:
            raise DriverError(
                f"no frame from the screen-cast stream (PipeWire node {node}) within {timeout_s:g} s: PipeWire links "
                "a stream to its reader through its session manager; is WirePlumber running?"
            ) from exc
        except OSError as exc:
            raise DriverError(f"cannot read the screen-cast stream: {GST_LAUNCH} failed ({exc})") from exc
        sizes = CAPS.findall(done.stdout.decode(errors="replace"))
        if done.returncode != 0 or not sizes:
            lines = done.stderr.decode(errors="replace").strip().splitlines()
            reason = lines[-1] if lines else f"exit {done.returncode}, no frame"
            raise DriverError(f"cannot read the screen-cast stream (PipeWire node {node}): {reason}")
        with open(path, "rb") as frame:
            pixels = frame.read()
    return _image(pixels, int(sizes[-1][0]), int(sizes[-1][1]), node)


def _image(pixels: bytes, width: int, height: int, node: int) -> Any:
    from PIL import Image

    if width <= 0 or height <= 0 or len(pixels) != width * height * 4:
        raise DriverError(
            f"cannot read the screen-cast stream (PipeWire node {node}): {len(pixels)} bytes for a "
            f"{width}x{height} BGRx frame"
        )
    return Image.frombytes("RGB", (width, height), pixels, "raw", "BGRX")  # one decoding copy, writable (the mask)

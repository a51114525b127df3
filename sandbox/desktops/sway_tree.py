"""The windows of a Sway desktop, from the compositor's own window tree: Wayland's answer to the X stacking order
(sandbox/desktops/x11_stacking.py).

A Wayland client cannot see other clients' windows, but Sway tells anyone on its IPC socket (the i3 IPC: $SWAYSOCK,
else the one live `sway-ipc.*.sock` in $XDG_RUNTIME_DIR) the whole tree (GET_TREE): every window's place in
layout (logical) pixels, title, pid, app_id and whether it is focused and visible. The tree is read afresh on each
call over a connection of its own, so any thread may ask.

Stacking order, bottom to top, as Sway draws it: on each output, the visible workspace's tiled windows (they never
overlap one another), then its floating windows in the tree's order (Sway raises a floating window by moving it
to the end), then a fullscreen window above them all. Sway does not tell input regions: a window takes clicks
over its whole frame (the title bar, `deco_rect`, and `rect`).

deskpilot's mark here is the app_id "deskpilot" (XWayland windows: the X class "deskpilot"), with the pid Sway
read from the client's socket. The app_id is what an application declares for itself (Qt: the desktop file name,
QGuiApplication.setDesktopFileName; without it Qt sends its executable's name, "python"); a process's command line
was not chosen: deskpilot runs as a script, `python -m`, or a frozen build, and /proc may hide other processes.
"""

from __future__ import annotations

import json
import os
import socket
import struct
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from sandbox.desktops.base import TopWindow
from sandbox.errors import DriverError
from sandbox.geometry import Rect, subtract

MAGIC = b"i3-ipc"
HEADER = struct.Struct("=6sII")  # magic, payload length, message type (native byte order, as i3 and Sway use)
GET_TREE = 4
MAX_REPLY_BYTES = 64 * 1024 * 1024  # a window tree is kilobytes; more is not a compositor speaking
TIMEOUT_S = 2.0
DESKPILOT_APP_ID = "deskpilot"  # the app_id (Wayland) or X class (XWayland) of deskpilot's windows


def find_socket(env: Mapping[str, str] | None = None) -> Path | None:
    """Sway's IPC socket: $SWAYSOCK, else the only one in $XDG_RUNTIME_DIR that accepts a connection (None when
    there is none, or several: which compositor is ours cannot be told then)."""
    env = os.environ if env is None else env
    if env.get("SWAYSOCK"):
        return Path(env["SWAYSOCK"])
    runtime = env.get("XDG_RUNTIME_DIR")
    if not runtime:
        return None
    live = [path for path in sorted(Path(runtime).glob("sway-ipc.*.sock")) if _accepts(path)]
    return live[0] if len(live) == 1 else None


def _accepts(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(TIMEOUT_S)
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def read_tree(path: Path) -> dict[str, Any]:
    """Sway's window tree (GET_TREE), one connection; DriverError in one line when it cannot be read."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(TIMEOUT_S)
            conn.connect(str(path))
            conn.sendall(HEADER.pack(MAGIC, 0, GET_TREE))
            magic, length, kind = HEADER.unpack(_read_exactly(conn, HEADER.size))
            if magic != MAGIC or kind != GET_TREE:
                raise DriverError(f"cannot read the window tree: {path} does not speak Sway's IPC")
            if length > MAX_REPLY_BYTES:
                raise DriverError(f"cannot read the window tree: {path} sent a reply of {length} bytes")
            payload = _read_exactly(conn, length)
    except OSError as exc:
        raise DriverError(f"cannot read the window tree from {path}: {exc}") from None
    try:
        tree = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DriverError(f"cannot read the window tree from {path}: not JSON ({exc})") from None
    if not isinstance(tree, dict):
        raise DriverError(f"cannot read the window tree from {path}: not a JSON object")
    return tree


def _read_exactly(conn: socket.socket, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = conn.recv(min(left, 1 << 16))
        if not chunk:
            raise DriverError("cannot read the window tree: Sway closed its IPC connection mid-reply")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def windows_of(tree: Mapping[str, Any]) -> list[TopWindow]:
    """The visible windows of a Sway tree bottom to top, in layout (logical) pixels, frames included."""
    tiled: list[TopWindow] = []
    floating: list[TopWindow] = []
    for output in _children(tree, "nodes"):
        if output.get("type") != "output" or output.get("name") == "__i3":  # __i3: the scratchpad, never shown
            continue
        for workspace in _children(output, "nodes"):
            for node in _children(workspace, "nodes"):
                tiled.extend(_views(node))
            for node in _children(workspace, "floating_nodes"):
                floating.extend(_views(node))
    ordered = [*tiled, *floating]
    fullscreen = _fullscreen_ids(tree)
    return [w for w in ordered if w.id not in fullscreen] + [w for w in ordered if w.id in fullscreen]


def _children(node: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    children = node.get(key) or []
    if not isinstance(children, list) or not all(isinstance(c, dict) for c in children):
        raise DriverError(f"cannot read the window tree: node {node.get('id')!r} has a malformed {key!r}")
    return children


def _views(node: Mapping[str, Any]) -> Iterator[TopWindow]:
    """The visible windows in a container, its tree order (children of a container never overlap)."""
    children = [*_children(node, "nodes"), *_children(node, "floating_nodes")]
    if not children and (node.get("app_id") is not None or node.get("window") is not None):
        if node.get("visible") is True:
            yield _window(node)
        return
    for child in children:
        yield from _views(child)


def _window(node: Mapping[str, Any]) -> TopWindow:
    ident, pid = node.get("id"), node.get("pid")
    if not isinstance(ident, int) or isinstance(ident, bool):
        raise DriverError(f"cannot read the window tree: a window has no id ({ident!r})")
    rect, deco = _box(node, "rect"), _box(node, "deco_rect")
    frame = Rect(rect.x, rect.y - deco.height, rect.width, rect.height + deco.height)  # the title bar above `rect`
    properties = node.get("window_properties")
    x_class = properties.get("class") if isinstance(properties, dict) else None
    ours = DESKPILOT_APP_ID in (node.get("app_id"), x_class)
    title = node.get("name")
    return TopWindow(
        id=ident,
        rect=frame,
        clicks=(frame,),
        deskpilot_pid=(pid if isinstance(pid, int) and pid > 0 else 0) if ours else None,  # 0: pid unknown
        focused=node.get("focused") is True,
        title=title if isinstance(title, str) else "",
    )


def _box(node: Mapping[str, Any], key: str) -> Rect:
    box = node.get(key)
    raw = [box.get(k) for k in ("x", "y", "width", "height")] if isinstance(box, dict) else []
    values = [v for v in raw if isinstance(v, int) and not isinstance(v, bool)]
    if len(values) != 4:
        raise DriverError(f"cannot read the window tree: window {node.get('id')!r} has a malformed {key!r}")
    x, y, width, height = values
    return Rect(x, y, max(width, 0), max(height, 0))


def _fullscreen_ids(tree: Mapping[str, Any]) -> set[int]:
    """The windows (by id) Sway shows fullscreen: above everything else on their output."""
    found: set[int] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        if node.get("type") in ("con", "floating_con") and node.get("fullscreen_mode") in (1, 2):
            found |= {w.id for w in _views(node)}
        stack.extend([*_children(node, "nodes"), *_children(node, "floating_nodes")])
    return found


class SwayStacking:
    """The windows of the Sway desktop behind one IPC socket, read afresh on every call."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def top_windows(self) -> list[TopWindow]:
        """The visible windows bottom to top, with their frames, titles, deskpilot mark and focus."""
        return windows_of(read_tree(self.path))

    def deskpilot_parts(self, *, except_pid: int | None = None) -> list[Rect]:
        """The visible parts of every deskpilot window (any process's, but `except_pid`'s): those no other
        application's window above it covers, named after the process."""
        return deskpilot_parts(self.top_windows(), except_pid=except_pid)

    def visible_parts(self, windows: Sequence[int], *, ignore: Sequence[int] = ()) -> dict[int, list[Rect]]:
        """For each window (Sway's con id): the parts of its frame that no window above it covers; [] for one
        that is gone or not visible. `ignore`: windows that cover nothing."""
        return visible_parts(self.top_windows(), windows, ignore=ignore)

    def close(self) -> None:
        """Nothing held: each call has its own connection."""


def deskpilot_parts(windows: Sequence[TopWindow], *, except_pid: int | None = None) -> list[Rect]:
    parts: list[Rect] = []
    for index, window in enumerate(windows):
        if window.deskpilot_pid is None or window.deskpilot_pid == except_pid:
            continue
        covers = [r for above in windows[index + 1 :] if above.deskpilot_pid is None for r in above.clicks]
        rect = window.rect
        named = Rect(rect.x, rect.y, rect.width, rect.height, f"deskpilot (pid {window.deskpilot_pid})")
        parts.extend(subtract(named, covers))
    return parts


def visible_parts(
    stack: Sequence[TopWindow], windows: Sequence[int], *, ignore: Sequence[int] = ()
) -> dict[int, list[Rect]]:
    ids = [w.id for w in stack]
    skipped = {*windows, *ignore}
    result: dict[int, list[Rect]] = {}
    for wanted in windows:
        if wanted not in ids:
            result[wanted] = []
            continue
        index = ids.index(wanted)
        covers = [r for above in stack[index + 1 :] if above.id not in skipped for r in above.clicks]
        result[wanted] = subtract(stack[index].rect, covers)
    return result

"""Issue 20 item 3: on Sway, deskpilot's own windows are kept out of the picture and out of reach as on X11; the
compositor's window tree (its IPC, sandbox/desktops/sway_tree.py) gives their places.

End to end on a headless Sway (tests/helpers/wayland.py) with a window carrying deskpilot's mark (a Qt window
whose app_id is "deskpilot", tests/helpers/qt_marked.py) beside a native GTK3 app; the tree's arithmetic
(stacking order, title bars, floating windows, fullscreen) on trees shaped like the ones Sway 1.7 sends; the IPC
reader against a socket that does not speak it.
"""

from __future__ import annotations

import copy
import json
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.capture import MASK_RGB
from sandbox.desktops.sway_tree import SwayStacking, find_socket, read_tree, windows_of
from sandbox.errors import DriverError
from sandbox.geometry import Rect
from tests.helpers.qt_marked import COLOUR
from tests.helpers.wayland import Compositor, CompositorUnavailable, headless_sway
from tests.test_wayland import HELPERS, SIZE, SYSTEM_PYTHON, deskpilot, read_line


@pytest.fixture
def sway() -> Iterator[Compositor]:
    try:
        with headless_sway(*SIZE) as compositor:
            yield compositor
    except CompositorUnavailable as exc:
        pytest.skip(str(exc))


def box(node: dict[str, object]) -> Rect:
    rect = node["rect"]
    assert isinstance(rect, dict)
    return Rect(rect["x"], rect["y"], rect["width"], rect["height"])


def centre(rect: Rect) -> tuple[int, int]:
    return rect.x + rect.width // 2, rect.y + rect.height // 2


@pytest.fixture
def two_windows(sway: Compositor) -> Iterator[tuple[Compositor, Rect, Rect]]:
    """A deskpilot-marked window and a GTK3 button side by side (Sway tiles them): their places, title bars
    left out."""
    marked = sway.launch([sys.executable, str(HELPERS / "qt_marked.py")])
    button = sway.launch([SYSTEM_PYTHON, str(HELPERS / "wayland_button.py")])
    assert json.loads(read_line(marked)) == {"event": "ready"}
    assert json.loads(read_line(button)) == {"event": "ready"}
    sway.wait_for_window("deskpilot")
    sway.wait_for_window("wayland_button.py")
    places = {w["app_id"]: box(w) for w in sway.windows()}
    yield sway, places["deskpilot"], places["wayland_button.py"]


def test_a_click_into_a_deskpilot_window_on_sway_is_refused_and_one_beside_it_is_done(
    two_windows: tuple[Compositor, Rect, Rect],
) -> None:
    sway, ours, app = two_windows
    x, y = centre(ours)
    refused = deskpilot(sway, "act", json.dumps({"kind": "click", "x": x, "y": y}))
    assert refused.returncode == 3, refused.stderr
    said = json.loads(refused.stdout)
    assert (said["verdict"], said["rule"], said["executed"]) == ("deny", "own_window", False)
    assert "deskpilot's own window" in said["reason"]
    x, y = centre(app)
    done = deskpilot(sway, "act", json.dumps({"kind": "click", "x": x, "y": y}))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["executed"] is True
    assert json.loads(read_line(sway.apps[1])) == {"event": "clicked"}


def test_a_deskpilot_window_on_sway_is_greyed_out_of_the_picture(
    two_windows: tuple[Compositor, Rect, Rect], monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.desktop import DesktopOptions, open_desktop

    sway, ours, app = two_windows
    for name, value in sway.env.items():
        monkeypatch.setenv(name, value)
    with open_desktop(DesktopOptions(dry_run=True, listen_for_stop_key=False)) as desktop:
        bare = desktop.capture.grab(0)
        masked = desktop.capture.grab(0, mask=desktop.own_windows())
        windows = desktop.windows()
    assert bare.image.getpixel(centre(ours)) == COLOUR  # the window is there, in its own colour
    assert masked.image.getpixel(centre(ours)) == MASK_RGB
    assert masked.image.getpixel((ours.x + 1, ours.y - 5)) == MASK_RGB  # its title bar too
    beside = [(app.x + dx, app.y + dy) for dx in (2, app.width // 2, app.width - 3) for dy in (2, app.height - 3)]
    assert MASK_RGB not in [masked.image.getpixel(point) for point in [*beside, centre(app)]]
    marked = [w for w in windows if w.deskpilot_pid is not None]
    assert [(w.deskpilot_pid, w.title) for w in marked] == [(sway.apps[0].pid, "deskpilot marked window")]
    assert [w.title for w in windows if w.deskpilot_pid is None] == ["deskpilot wayland button"]


# --- the tree's arithmetic, on trees shaped like Sway 1.7's ---


def view(ident: int, rect: tuple[int, int, int, int], **fields: Any) -> dict[str, Any]:
    x, y, width, height = rect
    node: dict[str, Any] = {
        "id": ident,
        "type": "con",
        "rect": {"x": x, "y": y, "width": width, "height": height},
        "deco_rect": {"x": 0, "y": 0, "width": width, "height": 25},
        "name": f"window {ident}",
        "nodes": [],
        "floating_nodes": [],
        "pid": 1000 + ident,
        "app_id": "app",
        "visible": True,
        "focused": False,
        "fullscreen_mode": 0,
    }
    node.update(fields)
    return node


def tree(tiled: list[dict[str, Any]], floating: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    workspace = {"id": 4, "type": "workspace", "name": "1", "nodes": tiled, "floating_nodes": floating or []}
    hidden = {"id": 7, "type": "workspace", "name": "2", "nodes": [view(70, (0, 25, 1152, 695), visible=False)]}
    scratch = {"id": 2147483646, "type": "workspace", "nodes": [view(99, (0, 25, 500, 500), visible=True)]}
    return {
        "id": 1,
        "type": "root",
        "nodes": [
            {"id": 2147483647, "type": "output", "name": "__i3", "nodes": [scratch]},
            {"id": 3, "type": "output", "name": "HEADLESS-1", "nodes": [workspace, hidden]},
        ],
    }


SIDE_BY_SIDE = [view(5, (0, 25, 576, 695), app_id="deskpilot"), view(6, (576, 25, 576, 695), focused=True)]


def test_tiled_windows_come_with_their_title_bars_marks_and_focus() -> None:
    windows = windows_of(tree(SIDE_BY_SIDE))
    assert [(w.id, w.rect, w.deskpilot_pid, w.focused, w.title) for w in windows] == [
        (5, Rect(0, 0, 576, 720), 1005, False, "window 5"),
        (6, Rect(576, 0, 576, 720), None, True, "window 6"),
    ]  # the hidden workspace's window and the scratchpad's are not on the screen


def test_a_floating_app_above_a_deskpilot_window_uncovers_it_where_it_lies() -> None:
    floating = view(8, (100, 225, 200, 100), deco_rect={"x": 100, "y": 200, "width": 200, "height": 25})
    stacking = tree(SIDE_BY_SIDE, [floating])
    windows = windows_of(stacking)
    assert [w.id for w in windows] == [5, 6, 8]  # floating windows above tiled ones
    assert windows[2].rect == Rect(100, 200, 200, 125)
    parts = _stacking_of(stacking).deskpilot_parts(except_pid=None)
    assert sum(p.width * p.height for p in parts) == 576 * 720 - 200 * 125
    assert all(p.name == "deskpilot (pid 1005)" for p in parts)
    assert not any(p.contains(150, 250) for p in parts) and any(p.contains(50, 250) for p in parts)
    assert _stacking_of(stacking).deskpilot_parts(except_pid=1005) == []  # this process's own: its caller's


def test_a_floating_deskpilot_window_lies_above_the_tiled_ones_and_is_whole() -> None:
    ours = view(8, (100, 225, 200, 100), app_id="deskpilot", deco_rect={"x": 100, "y": 200, "width": 200, "height": 25})
    stacking = _stacking_of(tree(SIDE_BY_SIDE[1:], [ours]))
    assert stacking.deskpilot_parts() == [Rect(100, 200, 200, 125, "deskpilot (pid 1008)")]
    assert stacking.visible_parts([6, 8, 404]) == {
        6: _minus(Rect(576, 0, 576, 720), Rect(100, 200, 200, 125)),
        8: [Rect(100, 200, 200, 125)],
        404: [],  # gone
    }
    assert stacking.visible_parts([6], ignore=[8]) == {6: [Rect(576, 0, 576, 720)]}  # see-through: covers nothing


def test_a_fullscreen_app_covers_every_deskpilot_window() -> None:
    ours = view(8, (100, 225, 200, 100), app_id="deskpilot")
    front = view(6, (0, 0, 1152, 720), fullscreen_mode=1, deco_rect={"x": 0, "y": 0, "width": 0, "height": 0})
    stacking = _stacking_of(tree([front], [ours]))
    assert [w.id for w in stacking.top_windows()] == [8, 6]
    assert stacking.deskpilot_parts() == []


def test_an_xwayland_deskpilot_window_is_marked_by_its_x_class() -> None:
    ours = view(5, (0, 25, 576, 695), app_id=None, window=4194306, window_properties={"class": "deskpilot"})
    assert windows_of(tree([ours]))[0].deskpilot_pid == 1005


def test_a_malformed_tree_is_one_clear_error() -> None:
    broken = copy.deepcopy(SIDE_BY_SIDE)
    broken[0]["rect"] = {"x": 0, "y": "25", "width": 576, "height": 695}
    with pytest.raises(DriverError, match=r"^cannot read the window tree: window 5 has a malformed 'rect'$"):
        windows_of(tree(broken))


# --- the IPC socket ---


def _stacking_of(shape: dict[str, Any]) -> SwayStacking:
    stacking = SwayStacking(Path("/nonexistent"))
    stacking.top_windows = lambda: windows_of(shape)  # type: ignore[method-assign]
    return stacking


def _minus(rect: Rect, cover: Rect) -> list[Rect]:
    from sandbox.geometry import subtract

    return subtract(rect, [cover])


def serve_once(path: Path, reply: bytes) -> threading.Thread:
    """A socket at `path` that answers one connection with `reply`, whatever is asked."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(4)

    def answer() -> None:
        with server:
            conn, _ = server.accept()
            with conn:
                conn.recv(64)
                conn.sendall(reply)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    return thread


def test_a_socket_that_does_not_speak_swaysipc_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "sway-ipc.0.1.sock"
    thread = serve_once(path, b"HTTP/1.1 400 Bad Request\r\n\r\n")
    with pytest.raises(DriverError, match=r"does not speak Sway's IPC$"):
        read_tree(path)
    thread.join(5)


def test_a_reply_that_is_not_json_is_refused_in_one_line(tmp_path: Path) -> None:
    import struct

    path = tmp_path / "ipc.sock"
    thread = serve_once(path, b"i3-ipc" + struct.pack("=II", 5, 4) + b"{oops")
    with pytest.raises(DriverError, match=r"^cannot read the window tree from .*: not JSON"):
        read_tree(path)
    thread.join(5)


def test_the_socket_is_swaysock_else_the_one_live_socket_in_the_runtime_dir(tmp_path: Path) -> None:
    assert find_socket({"SWAYSOCK": "/run/x/sway-ipc.sock", "XDG_RUNTIME_DIR": str(tmp_path)}) == Path(
        "/run/x/sway-ipc.sock"
    )
    assert find_socket({"XDG_RUNTIME_DIR": str(tmp_path)}) is None
    (tmp_path / "sway-ipc.1000.11.sock").touch()  # a compositor that is gone left its socket behind
    live = tmp_path / "sway-ipc.1000.12.sock"
    first = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    first.bind(str(live))
    first.listen(4)
    with first:
        assert find_socket({"XDG_RUNTIME_DIR": str(tmp_path)}) == live
        second = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        second.bind(str(tmp_path / "sway-ipc.1000.13.sock"))
        second.listen(4)
        with second:
            assert find_socket({"XDG_RUNTIME_DIR": str(tmp_path)}) is None  # two compositors: which is ours?
    assert find_socket({}) is None

"""Where deskpilot is: an X11 session, a Wayland session (and which compositor), or no desktop at all.

Wayland when $WAYLAND_DISPLAY or $XDG_SESSION_TYPE says so. $DISPLAY is then XWayland's, which shows only the
X11 apps and drops input meant for native ones, so it is never taken for the desktop (the peers' commonest
Wayland bug: input "delivered" into XWayland and lost, with success reported).

The compositor is named from what the session says ($SWAYSOCK, $HYPRLAND_INSTANCE_SIGNATURE,
$XDG_CURRENT_DESKTOP), else from the program that owns the Wayland socket (its peer credentials).
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sandbox.desktops.wayland_wire import WaylandError, socket_path

SessionKind = Literal["x11", "wayland", "none"]
WLROOTS_COMPOSITORS = frozenset({"sway", "hyprland", "labwc", "river", "niri", "wayfire", "cage"})
# $XDG_CURRENT_DESKTOP entries and socket owners' program names -> deskpilot's compositor name
_NAMES = {
    "sway": "sway",
    "hyprland": "hyprland",
    "labwc": "labwc",
    "river": "river",
    "niri": "niri",
    "wayfire": "wayfire",
    "cage": "cage",
    "gnome": "gnome",
    "gnome-shell": "gnome",
    "mutter": "gnome",
    "ubuntu": "gnome",
    "kde": "kde",
    "kwin_wayland": "kde",
    "weston": "weston",
    "cosmic": "cosmic",
    "cosmic-comp": "cosmic",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Session:
    kind: SessionKind
    compositor: str | None  # Wayland's compositor; None on X11 or when it cannot be told
    wayland_socket: Path | None
    x_display: str | None  # on Wayland: XWayland's, never acted on

    @property
    def wlroots(self) -> bool:
        return self.compositor in WLROOTS_COMPOSITORS


def detect_session(env: Mapping[str, str] | None = None) -> Session:
    env = os.environ if env is None else env
    x_display = env.get("DISPLAY") or None
    session_type = env.get("XDG_SESSION_TYPE", "").strip().lower()
    if env.get("WAYLAND_DISPLAY") or session_type == "wayland":
        try:
            path: Path | None = socket_path(dict(env))
        except WaylandError:
            path = None
        return Session(kind="wayland", compositor=_compositor(env, path), wayland_socket=path, x_display=x_display)
    if x_display:
        return Session(kind="x11", compositor=None, wayland_socket=None, x_display=x_display)
    return Session(kind="none", compositor=None, wayland_socket=None, x_display=None)


def _compositor(env: Mapping[str, str], path: Path | None) -> str | None:
    if env.get("SWAYSOCK"):
        return "sway"
    if env.get("HYPRLAND_INSTANCE_SIGNATURE"):
        return "hyprland"
    for entry in env.get("XDG_CURRENT_DESKTOP", "").lower().split(":"):
        if entry.strip() in _NAMES:
            return _NAMES[entry.strip()]
    program = socket_owner(path) if path is not None else None
    return _NAMES.get(program.lower(), program.lower()) if program else None


def socket_owner(path: Path) -> str | None:
    """The program name of the process serving the Unix socket `path` (SO_PEERCRED, /proc); None when unknown."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            sock.connect(str(path))
            creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        pid = struct.unpack("3i", creds)[0]
        return Path(f"/proc/{pid}/comm").read_text().strip() or None
    except (OSError, AttributeError):
        return None

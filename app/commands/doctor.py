"""Say what this desktop offers a run and what is missing (`--json` for a program); exit 0 when a run can act.

Readiness is checked, never assumed: the route app/desktop.py would choose is asked for its monitors, and on
Wayland the same probes choose the route (wlroots protocols, Mutter's RemoteDesktop, the XDG desktop portal),
so "ready" means the same thing a run will meet. Nothing is acted on and nobody is asked: the portal's consent
dialog comes with the first run, so the portal route's monitors are not read here. The slow parts are capped: torch is imported only here (a few seconds where it is
installed), the model server gets at most SERVER_TIMEOUT_S.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import shutil
import urllib.error
import urllib.request
from typing import Any

from app.cli import EXIT_FAILED, EXIT_OK
from app.desktop import choose_wayland, desktop_route
from sandbox.desktops.pipewire_frame import INSTALL as GST_PACKAGES
from sandbox.desktops.portal import read_token, token_file
from sandbox.desktops.session import Session, detect_session
from sandbox.desktops.wlroots import RouteCheck, probe_stacking
from sandbox.errors import SandboxError, first_line
from sandbox.stop import DEFAULT_STOP_KEY, runs_dir

SERVER_TIMEOUT_S = 3.0
STOP_BINDING_HINT = {
    "sway": "bindsym $mod+Escape exec deskpilot stop   (in ~/.config/sway/config)",
    "hyprland": "bind = SUPER, Escape, exec, deskpilot stop   (in ~/.config/hypr/hyprland.conf)",
    "gnome": "Settings > Keyboard > Custom Shortcuts: command `deskpilot stop`",
    "kde": "System Settings > Keyboard > Shortcuts > Add New > Command: `deskpilot stop`",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")


def run(args: argparse.Namespace) -> int:
    report = diagnose()
    if args.json:
        print(json.dumps(report, ensure_ascii=False), flush=True)
    else:
        for line in report_lines(report):
            print(line, flush=True)
    return EXIT_OK if report["ready"] else EXIT_FAILED


def diagnose(session: Session | None = None) -> dict[str, Any]:
    session = session or detect_session()
    next_steps: list[str] = []
    monitors: list[dict[str, Any]] = []
    route: str | None = None
    if session.kind == "wayland":
        choice = choose_wayland(session)
        capture, input_check, route = choice.capture, choice.input, choice.route.name
        if not capture.ok or not input_check.ok:
            next_steps += _wayland_steps(session, capture, input_check)
        elif route == "portal" and read_token() is None:
            next_steps.append(
                "the first run asks once in the desktop portal's dialog (allow keyboard and pointer and share "
                f"every screen); deskpilot keeps that consent in {token_file()}"
            )
    elif session.kind == "x11":
        capture, input_check = _x11_checks(session)
        route = "x11"
        if not capture.ok:
            next_steps.append(f"check that the X display {session.x_display} is running and allows this user")
    else:
        missing = "no desktop session: neither WAYLAND_DISPLAY nor DISPLAY is set"
        capture = input_check = RouteCheck(route=None, ok=False, why=missing)
        next_steps.append("run inside a desktop session, or use `deskpilot run --isolated` (Xephyr/Xvfb)")
    if capture.ok and route != "portal":  # the portal's monitors come only with its consent: at a run's start
        try:
            with contextlib.closing(desktop_route(session=session).capture()) as screen:
                monitors = [monitor.to_json() for monitor in screen.geometry().monitors]
        except SandboxError as exc:
            capture = RouteCheck(route=capture.route, ok=False, why=first_line(exc))
    stop_key = _stop_check(session)
    own_windows = _own_windows_check(session, route)
    ready = capture.ok and input_check.ok
    if session.kind == "wayland" and stop_key.ok and ready:
        hint = STOP_BINDING_HINT.get(session.compositor or "", "see your compositor's key bindings")
        next_steps.append(f"to stop a run from the keyboard, bind `deskpilot stop` to a key: {hint}")
    return {
        "session": session.kind,
        "compositor": session.compositor,
        "route": route if capture.ok and input_check.ok else None,
        "xwayland": session.x_display if session.kind == "wayland" else None,
        "capture": capture.to_json(),
        "input": input_check.to_json(),
        "stop_key": stop_key.to_json(),
        "own_windows": own_windows.to_json(),
        "accessibility": _accessibility(),
        "monitors": monitors,
        "gpu": _gpu(),
        "models": _models(),
        "server": _server(),
        "ready": ready,
        "next_steps": next_steps,
    }


def _own_windows_check(session: Session, route: str | None) -> RouteCheck:
    """Whether deskpilot's own windows (its panel, other deskpilot processes') are greyed out and never clicked."""
    if session.kind == "x11":
        return RouteCheck(route="x11 stacking", ok=True)
    if route == "wlroots":
        return probe_stacking()
    why = "this desktop does not say where windows are: deskpilot's own windows are not greyed out or protected"
    return RouteCheck(route=None, ok=False, why=why)


def _wayland_steps(session: Session, capture: RouteCheck, input_check: RouteCheck) -> list[str]:
    why = " ".join(check.why or "" for check in (capture, input_check))
    steps = []
    if session.compositor in ("gnome", "kde"):
        if "PipeWire is not running" in why:
            steps.append("start PipeWire (apt install pipewire; it runs with every GNOME session)")
        if "GStreamer" in why:
            steps.append(
                f"install GStreamer's PipeWire source to read Mutter's screen cast: apt install {GST_PACKAGES}"
            )
        if "portal" in why:
            backend = "xdg-desktop-portal-gnome" if session.compositor == "gnome" else "xdg-desktop-portal-kde"
            steps.append(f"install and run the desktop portal: apt install xdg-desktop-portal {backend}")
        if "declined" in why:
            steps.append("run again and allow keyboard, pointer and screen sharing in the portal's dialog")
        return steps or [
            f"{session.compositor.upper()} on Wayland offers deskpilot neither Mutter's RemoteDesktop nor the "
            "desktop portal here: log in to an Xorg session, or use `deskpilot run --isolated`"
        ]
    if capture.route == "grim" and not capture.ok:
        return ["install grim (apt install grim)"]
    return [
        f"this compositor ({session.compositor or 'unknown'}) offers no wlroots screencopy / virtual input "
        "protocols and no desktop portal with RemoteDesktop: use Sway, Hyprland, labwc or river, GNOME or KDE, "
        "an Xorg session, or `deskpilot run --isolated`"
    ]


def _x11_checks(session: Session) -> tuple[RouteCheck, RouteCheck]:
    try:
        import Xlib.display

        connection = Xlib.display.Display(session.x_display)
    except Exception as exc:  # noqa: BLE001 - Xlib raises many kinds; any means the display cannot be reached
        failed = RouteCheck(route=None, ok=False, why=f"cannot open the X display {session.x_display}: {exc}")
        return failed, failed
    try:
        has_xtest = connection.query_extension("XTEST") is not None
    finally:
        connection.close()
    capture = RouteCheck(route="mss", ok=True)
    input_check = RouteCheck(route="xtest", ok=has_xtest, why=None if has_xtest else "the X server lacks XTEST")
    return capture, input_check


def _stop_check(session: Session) -> RouteCheck:
    if session.kind == "x11":
        if importlib.util.find_spec("pynput") is None:
            return RouteCheck(route=None, ok=False, why="pynput is not installed")
        return RouteCheck(route=f"hotkey {DEFAULT_STOP_KEY} (pynput)", ok=True)
    folder = runs_dir()
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        return RouteCheck(route="deskpilot stop", ok=False, why=f"cannot make {folder}: {exc.strerror}")
    if shutil.which("deskpilot") is None:
        return RouteCheck(route="deskpilot stop", ok=True, why="`deskpilot` is not on PATH for a key binding")
    return RouteCheck(route="deskpilot stop", ok=True)


def _accessibility() -> dict[str, Any]:
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS") and not os.environ.get("AT_SPI_BUS_ADDRESS"):
        return {"ok": False, "why": "no session bus (DBUS_SESSION_BUS_ADDRESS is not set)"}
    from sandbox.accessibility.bus import open_bus

    bus = open_bus(a11y_address=os.environ.get("AT_SPI_BUS_ADDRESS"), enable=False)
    if bus is None:
        return {"ok": False, "why": "no accessibility bus (at-spi2-core): elements are judged by pixels alone"}
    bus.close()
    return {"ok": True, "why": None}


def _gpu() -> dict[str, Any]:
    if importlib.util.find_spec("torch") is None:
        return {"torch": False, "cuda": False, "device": None}
    try:
        import torch
    except Exception as exc:  # noqa: BLE001 - a broken install is reported, not raised
        return {"torch": False, "cuda": False, "device": None, "why": first_line(exc)}
    cuda = bool(torch.cuda.is_available())
    return {"torch": True, "cuda": cuda, "device": torch.cuda.get_device_name(0) if cuda else None}


def _models() -> list[dict[str, str]]:
    from agent.backends.transformers.discovery import find_local_models

    return [{"name": model.name, "family": model.family, "path": str(model.path)} for model in find_local_models()]


def _server() -> dict[str, Any]:
    from app.settings import load_settings

    try:
        settings = load_settings()
    except Exception as exc:  # noqa: BLE001 - a broken settings file is reported, not raised
        return {"endpoint": None, "ok": False, "why": f"settings: {first_line(exc)}"}
    endpoint = settings.endpoint.strip() or None
    if endpoint is None:
        return {"endpoint": None, "ok": None, "why": f"no endpoint configured (backend {settings.backend})"}
    try:
        with urllib.request.urlopen(endpoint.rstrip("/") + "/models", timeout=SERVER_TIMEOUT_S):
            pass
    except urllib.error.HTTPError:
        pass  # it answered: reachable
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return {"endpoint": endpoint, "ok": False, "why": f"not reachable within {SERVER_TIMEOUT_S:g} s ({reason})"}
    return {"endpoint": endpoint, "ok": True, "why": None}


def report_lines(report: dict[str, Any]) -> list[str]:
    where = report["session"] + (f" ({report['compositor']})" if report["compositor"] else "")
    lines = [f"session: {where}" + (f", route {report['route']}" if report["route"] else "")]
    for part in ("capture", "input", "stop_key", "own_windows"):
        check = report[part]
        state = "ok" if check["ok"] else "MISSING"
        lines.append(f"{part}: {check['route'] or '-'} {state}" + (f": {check['why']}" if check["why"] else ""))
    for monitor in report["monitors"]:
        lines.append(
            f"monitor {monitor['name'] or '?'}: {monitor['width']}x{monitor['height']} at "
            f"{monitor['x']},{monitor['y']}, scale {monitor['scale']:g}"
        )
    access = report["accessibility"]
    lines.append("accessibility: " + ("ok" if access["ok"] else f"off: {access['why']}"))
    gpu = report["gpu"]
    lines.append(f"gpu: {gpu['device']}" if gpu["cuda"] else f"gpu: none (torch {'yes' if gpu['torch'] else 'no'})")
    lines.append(f"models in the Hugging Face cache: {len(report['models'])}")
    server = report["server"]
    if server["endpoint"]:
        lines.append(f"server {server['endpoint']}: " + ("reachable" if server["ok"] else server["why"]))
    lines.append("ready: a run can act here" if report["ready"] else "NOT READY: a run would refuse here")
    lines += [f"next: {step}" for step in report["next_steps"]]
    return lines

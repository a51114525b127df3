"""Serve deskpilot's guarded desktop to other agents over MCP (stdio, or streamable HTTP with a token).

Configuration for Claude Code, Codex and Cursor: README.md, "Use deskpilot from other agents (MCP)"; the
contract: docs/CONTRACT.md, `mcp`.

With a display (and without `--no-panel`) the person sees every call: this process becomes a Qt application
showing the run panel and the overlay on its main thread (app/gui/mcp_view.py), and serves MCP on a worker thread.
Without one, it serves on the main thread as a command without a window, and no one can be asked.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
import secrets
import signal
import stat
import sys
import threading
from pathlib import Path
from typing import Any

from agent.errors import ConfigError
from app.cli import EXIT_OK, UsageError, say
from app.commands.common import add_backend_arguments, backend_from_arguments
from app.desktop import RESUME_AFTER_IDLE_S, DesktopOptions
from app.settings import MAX_MCP_PREVIEW_MS, load_settings, settings_path
from sandbox.drivers import DRIVER_NAMES
from sandbox.errors import SandboxError
from sandbox.files import read_regular
from sandbox.stop import DEFAULT_STOP_KEY

TOKEN_FILE = "mcp-token"  # in the config folder, beside settings.toml
TOKEN_FILE_LIMIT_BYTES = 4096
MIN_TOKEN_CHARS = 16
SHUTDOWN_WAIT_S = 10.0


def http_address(text: str) -> tuple[str, int]:
    """`HOST:PORT`, `[IPv6]:PORT` or `:PORT` (127.0.0.1)."""
    match = re.fullmatch(r"(?:\[([0-9A-Fa-f:.]+)\]|([^:\[\]\s]*)):(\d{1,5})", text.strip())
    if not match or int(match.group(3)) > 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT such as 127.0.0.1:8765, got {text!r}")
    host = match.group(1) or match.group(2) or "127.0.0.1"
    return host, int(match.group(3))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_backend_arguments(parser, script_help='scripted: JSONL file, one {"raw": "..."} per step (for run_task)')
    parser.add_argument(
        "--http",
        type=http_address,
        default=None,
        metavar="HOST:PORT",
        help="serve streamable HTTP at http://HOST:PORT/mcp instead of stdio (a bearer token is required)",
    )
    parser.add_argument(
        "--allow-remote", action="store_true", help="with --http: allow a HOST other than this machine's loopback"
    )
    parser.add_argument(
        "--token",
        default=None,
        help=f"with --http: the bearer token (default: generated once, kept in the config folder as {TOKEN_FILE})",
    )
    parser.add_argument("--policy", type=Path, default=None, metavar="FILE")
    parser.add_argument("--yes", action="store_true", help="perform actions whose verdict is 'confirm'")
    parser.add_argument("--no-ask", action="store_true", help="never ask the person: a 'confirm' verdict is refused")
    parser.add_argument("--driver", choices=[d for d in DRIVER_NAMES if d != "dry-run"], default="pyautogui")
    parser.add_argument("--stop-key", default=DEFAULT_STOP_KEY, help=f"global stop key (default {DEFAULT_STOP_KEY})")
    parser.add_argument("--no-record", action="store_true", help="do not record sessions")
    parser.add_argument(
        "--no-panel", action="store_true", help="show no run panel or overlay, even where there is a display"
    )
    parser.add_argument(
        "--preview-ms",
        type=preview_ms,
        default=None,
        metavar="MS",
        help="how long the overlay draws each action before it happens (default: the settings' mcp_preview_ms, 400)",
    )


def preview_ms(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_MCP_PREVIEW_MS:
        raise argparse.ArgumentTypeError(f"expected 0 to {MAX_MCP_PREVIEW_MS} milliseconds, got {text!r}")
    return value


def token_path() -> Path:
    return settings_path().parent / TOKEN_FILE


def bearer_token(given: str | None) -> str:
    """`--token`, else the kept one, else a new one kept with mode 0600 and printed once."""
    if given is not None:
        if len(given) < MIN_TOKEN_CHARS or any(c.isspace() or not c.isprintable() for c in given):
            raise UsageError(f"--token: at least {MIN_TOKEN_CHARS} printable characters and no spaces")
        return given
    path = token_path()
    try:
        data = read_regular(path, limit=TOKEN_FILE_LIMIT_BYTES)
    except FileNotFoundError:
        return _new_token(path)
    except OSError as exc:
        raise SandboxError(f"{path}: cannot read the token: {exc.strerror or exc}") from None
    if os.name == "posix" and stat.S_IMODE(path.stat().st_mode) & 0o077:
        raise SandboxError(f"{path}: others can read the token; make it yours alone (chmod 600) or delete it")
    token = data.decode("utf-8", "replace").strip()
    if len(token) < MIN_TOKEN_CHARS:
        raise SandboxError(f"{path}: the token is shorter than {MIN_TOKEN_CHARS} characters; delete the file")
    say(f"mcp: the bearer token is in {path}")
    return token


def _new_token(path: Path) -> str:
    token = secrets.token_urlsafe(32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            stream.write(token + "\n")
    except OSError as exc:
        raise SandboxError(f"{path}: cannot keep the token: {exc.strerror or exc}") from None
    say(f"mcp: new bearer token (kept in {path}, mode 0600; shown only now): {token}")
    return token


def _local(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _display_to_show_on() -> bool:
    """Whether a run panel can be shown: an X display that answers (Qt would abort the process on one that does
    not), or a Wayland session."""
    if os.environ.get("WAYLAND_DISPLAY"):
        return True
    if not os.environ.get("DISPLAY"):
        return False
    try:
        from Xlib import display

        display.Display().close()
    except Exception:  # noqa: BLE001 - no display that answers: no panel, and the desktop says why
        return False
    return True


def _preview_ms(given: int | None) -> int:
    if given is not None:
        return given
    try:
        return load_settings().mcp_preview_ms
    except ConfigError as exc:
        say(f"warning: {exc}; the overlay draws each action for 400 ms")
        return 400


def run(args: argparse.Namespace) -> int:
    from app.mcp.hands import Hands, HandsOptions, StderrOnlooker
    from app.mcp.server import ToolServer, serve_http, serve_stdio

    if args.http is None and (args.allow_remote or args.token is not None):
        raise UsageError("deskpilot mcp: --allow-remote and --token go with --http HOST:PORT")
    if args.http is not None and not _local(args.http[0]) and not args.allow_remote:
        raise UsageError(
            f"deskpilot mcp: --http {args.http[0]}:{args.http[1]} listens beyond this machine: "
            "add --allow-remote to mean it (the token still guards every request)"
        )
    token = bearer_token(args.token) if args.http is not None else ""
    backend, family = backend_from_arguments(args)
    desktop_options = DesktopOptions(
        policy_file=args.policy, stop_key=args.stop_key, driver=args.driver, resume_after_idle_s=RESUME_AFTER_IDLE_S
    )
    options = HandsOptions(
        yes=args.yes,
        ask=not args.no_ask,
        record=not args.no_record,
        model_name=args.model,
        min_pixels=args.min_pixels,
        max_pixels=args.max_pixels,
    )

    def serve(tools: ToolServer) -> None:
        if args.http is None:
            serve_stdio(tools)
        else:
            serve_http(tools, host=args.http[0], port=args.http[1], token=token, say=say)

    if args.no_panel or not _display_to_show_on():
        hands = Hands(
            backend=backend,
            family=family,
            desktop_options=desktop_options,
            options=options,
            onlooker=StderrOnlooker(say),
            say=say,
        )
        serve(ToolServer(hands, say=say))
        return EXIT_OK
    return _serve_with_panel(
        args, serve, backend=backend, family=family, desktop_options=desktop_options, options=options
    )


def _serve_with_panel(args: argparse.Namespace, serve: Any, **facts: Any) -> int:
    """The panel and overlay on this (the main) thread, the server on a worker thread; either ending ends both."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app.gui.mcp_view import McpView, PanelOnlooker
    from app.gui.run.x_mark import mark_deskpilot_windows
    from app.mcp.hands import Hands
    from app.mcp.server import ToolServer

    x_name = ("-name", "deskpilot") if sys.platform.startswith("linux") else ()  # as app/gui/app.py
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication([sys.argv[0], *x_name])
    app.setApplicationName("deskpilot")
    app.setQuitOnLastWindowClosed(False)
    mark_deskpilot_windows()  # the panel is deskpilot's for every other deskpilot process too
    view = McpView(stop_key=args.stop_key, say=say)
    hands = Hands(
        onlooker=PanelOnlooker(view, preview_ms=_preview_ms(args.preview_ms)),
        say=say,
        own_windows=view.own_windows,
        **facts,
    )
    view.hands = hands
    tools = ToolServer(hands, say=say)
    failure: list[BaseException] = []

    def serving() -> None:
        try:
            serve(tools)
        except BaseException as exc:  # noqa: BLE001 - raised again on the main thread
            failure.append(exc)
        finally:
            view.post(app.quit)

    interrupted: list[int] = []

    def interrupt(number: int, _frame: object) -> None:
        interrupted.append(number)
        app.quit()

    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, interrupt)
    heartbeat = QTimer()  # Python's signal handlers run only when the interpreter has control
    heartbeat.timeout.connect(lambda: None)
    heartbeat.start(200)
    view.show()
    worker = threading.Thread(target=serving, name="deskpilot-mcp-server", daemon=True)
    worker.start()
    app.exec()
    heartbeat.stop()
    if worker.is_alive():  # interrupted: the HTTP server ends by itself; a stdio pipe still open is left behind
        hands.stop("the MCP server is shutting down")
        tools.shutdown()
        worker.join(SHUTDOWN_WAIT_S)
        if worker.is_alive():
            hands.close()
    view.close()
    if failure:
        raise failure[0]
    if interrupted:
        raise KeyboardInterrupt
    return EXIT_OK

"""Serve deskpilot's guarded desktop to other agents over MCP (stdio, or streamable HTTP with a token).

Configuration for Claude Code, Codex and Cursor: README.md, "Use deskpilot from other agents (MCP)"; the
contract: docs/CONTRACT.md, `mcp`.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
import secrets
import stat
from pathlib import Path

from app.cli import EXIT_OK, UsageError, say
from app.commands.common import add_backend_arguments, backend_from_arguments
from app.desktop import RESUME_AFTER_IDLE_S, DesktopOptions
from app.settings import settings_path
from sandbox.drivers import DRIVER_NAMES
from sandbox.errors import SandboxError
from sandbox.files import read_regular
from sandbox.stop import DEFAULT_STOP_KEY

TOKEN_FILE = "mcp-token"  # in the config folder, beside settings.toml
TOKEN_FILE_LIMIT_BYTES = 4096
MIN_TOKEN_CHARS = 16


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
    hands = Hands(
        backend=backend,
        family=family,
        desktop_options=desktop_options,
        options=options,
        onlooker=StderrOnlooker(say),
        say=say,
    )
    tools = ToolServer(hands, say=say)
    if args.http is None:
        serve_stdio(tools)
    else:
        serve_http(tools, host=args.http[0], port=args.http[1], token=token, say=say)
    return EXIT_OK

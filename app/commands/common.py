"""Argument types shared by several subcommands."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from pathlib import Path

from agent.backends.base import Backend, Capabilities
from agent.backends.registry import (
    BACKENDS,
    DEFAULT_BACKEND,
    DEFAULT_SERVER,
    SERVERS,
    BackendSettings,
    backend_family,
    capabilities_of,
    make_backend,
)
from agent.errors import ConfigError
from agent.families import FAMILIES, Family, get_family
from agent.waits import MAX_CHANGE_WAIT_S


def screen_size(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match or int(match.group(1)) <= 0 or int(match.group(2)) <= 0:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 1920x1080, got {text!r}")
    return int(match.group(1)), int(match.group(2))


def origin(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(-?\d+)\s*,\s*(-?\d+)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"expected X,Y such as 0,0 or -1920,0 (write --origin=X,Y), got {text!r}")
    return int(match.group(1)), int(match.group(2))


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def seconds(text: str) -> float:
    """A wait in seconds: 0 up to MAX_CHANGE_WAIT_S (agent/waits.py)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0 <= value <= MAX_CHANGE_WAIT_S:
        raise argparse.ArgumentTypeError(f"expected 0 to {MAX_CHANGE_WAIT_S:g} seconds, got {text!r}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def family_name(text: str) -> str:
    """A preset's name; any other name is refused with get_family's reason (and the closest preset)."""
    try:
        return get_family(text).name
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_family_arguments(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument(
        "--family",
        required=required,
        type=family_name,
        metavar="FAMILY",
        help=f"model family: {', '.join(FAMILIES)}",
    )
    parser.add_argument("--min-pixels", type=positive_int, default=None, help="override the family's min_pixels")
    parser.add_argument("--max-pixels", type=positive_int, default=None, help="override the family's max_pixels")


def add_backend_arguments(parser: argparse.ArgumentParser, *, script_help: str) -> None:
    """The model backend and its family, the same for every command that asks a model (run, calibrate, ...)."""
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default=DEFAULT_BACKEND,
        help=f"model backend (default: {DEFAULT_BACKEND}, no model needed)",
    )
    parser.add_argument(
        "--model", default=None, help="transformers: model directory or Hugging Face id; openai: served model name"
    )
    parser.add_argument("--endpoint", default=None, help="openai: base URL such as http://localhost:8000/v1")
    parser.add_argument("--script", type=Path, default=None, help=script_help)
    parser.add_argument(
        "--image-format",
        choices=["jpeg", "png"],
        default="jpeg",
        help="openai: screenshots as JPEG q95 (default, 6 ms) or lossless PNG (35-60 ms at 1080p)",
    )
    parser.add_argument(
        "--server",
        choices=SERVERS,
        default=DEFAULT_SERVER,
        help="openai: the server behind --endpoint, for its image size limit (docs/serving.md); "
        "default generic: deskpilot asks the server with a few 1-token requests",
    )
    speed = parser.add_argument_group("transformers speed-ups (opt-in; bench/gpu_step.py measures them)")
    speed.add_argument(
        "--compile", action="store_true", help="static KV cache + torch.compile of decoding (the first step compiles)"
    )
    speed.add_argument(
        "--stop-at-call-end",
        action="store_true",
        help="end a reply at its first complete </tool_call> (later calls in the same reply are lost)",
    )
    speed.add_argument(
        "--max-thought-tokens",
        type=positive_int,
        default=None,
        metavar="N",
        help="end a reply that has not started an action after N tokens (it then counts as unusable)",
    )
    add_family_arguments(parser, required=False)


def backend_from_arguments(args: argparse.Namespace) -> tuple[Backend, Family]:
    """The backend (not yet loaded) and the family its replies are read as. ConfigError for a bad combination."""
    capabilities = capabilities_of(args.backend)
    if args.server != DEFAULT_SERVER and not capabilities.server_options:
        raise ConfigError(
            "--server names the server behind --endpoint: it goes with "
            f"{_backends_that(lambda c: c.server_options)}, not {args.backend}"
        )
    speed_ups = [flag for flag, on in _speed_ups(args).items() if on]
    if speed_ups and not capabilities.speed_ups:
        raise ConfigError(
            f"{', '.join(speed_ups)}: speed-ups of the in-process model, "
            f"for {_backends_that(lambda c: c.speed_ups)} only"
        )
    settings = BackendSettings(
        name=args.backend,
        model=args.model,
        endpoint=args.endpoint,
        script=args.script,
        min_pixels=args.min_pixels,
        max_pixels=args.max_pixels,
        image_format=args.image_format,
        server=args.server,
        compile=args.compile,
        stop_at_call_end=args.stop_at_call_end,
        max_thought_tokens=args.max_thought_tokens,
    )
    family = backend_family(args.backend, args.family)
    return make_backend(settings, family=family), family


def _backends_that(can: Callable[[Capabilities], bool]) -> str:
    """The backends with a capability, as a flag would name them: `--backend openai`."""
    return " or ".join(f"--backend {name}" for name in BACKENDS if can(capabilities_of(name)))


def _speed_ups(args: argparse.Namespace) -> dict[str, bool]:
    return {
        "--compile": args.compile,
        "--stop-at-call-end": args.stop_at_call_end,
        "--max-thought-tokens": args.max_thought_tokens is not None,
    }

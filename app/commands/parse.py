"""Parse one raw model reply into actions in screen coordinates (prints JSON)."""

from __future__ import annotations

import argparse
import json
import sys

from agent.errors import AgentError, ParseError
from agent.families import get_family, model_frame
from agent.parsing import parse_reply
from app.cli import EXIT_BAD_INPUT, EXIT_OK, fail
from app.commands.common import add_family_arguments, origin, positive_float, screen_size
from sandbox.errors import SandboxError
from sandbox.text import valid_text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_family_arguments(parser, required=True)
    parser.add_argument(
        "--screen",
        type=screen_size,
        required=True,
        metavar="WxH",
        help="size of the screenshot the model was given, in its own (physical) pixels",
    )
    parser.add_argument(
        "--origin",
        type=origin,
        default=(0, 0),
        metavar="X,Y",
        help="that monitor's top-left in virtual-desktop coordinates (write --origin=X,Y)",
    )
    parser.add_argument("--scale", type=positive_float, default=1.0, help="physical pixels per logical pixel")
    parser.add_argument("raw", nargs="?", default="-", help="the reply; stdin when absent or -")


def run(args: argparse.Namespace) -> int:
    raw = _read_stdin() if args.raw == "-" else args.raw
    family = get_family(args.family)
    width, height = args.screen
    try:
        frame = model_frame(
            family,
            width,
            height,
            origin=args.origin,
            scale=args.scale,
            min_pixels=args.min_pixels,
            max_pixels=args.max_pixels,
        )
        reply = parse_reply(raw, family=family, frame=frame)
    except (AgentError, SandboxError) as exc:  # a malformed reply (ParseError) or an impossible size
        message = valid_text(str(exc))[0]
        print(json.dumps({"error": message}, ensure_ascii=False))
        return fail(f"parse: {message}" if isinstance(exc, ParseError) else message, EXIT_BAD_INPUT)
    print(json.dumps(reply.to_json(), ensure_ascii=False))
    return EXIT_OK


def _read_stdin() -> str:
    """The reply on stdin; bytes that are not UTF-8 come in as lone surrogates (surrogateescape), which
    parse_reply replaces and counts, as it does a `\\ud800` in an argument."""
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:  # a text stream put in place of stdin
        return sys.stdin.read()
    data: bytes = stream.read()
    return data.decode("utf-8", "surrogateescape")

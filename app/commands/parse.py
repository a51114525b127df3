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
    raw = sys.stdin.read() if args.raw == "-" else args.raw
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
        print(json.dumps({"error": str(exc)}, ensure_ascii=False))
        return fail(f"parse: {exc}" if isinstance(exc, ParseError) else str(exc), EXIT_BAD_INPUT)
    print(json.dumps(reply.to_json(), ensure_ascii=False))
    return EXIT_OK

"""Argument types shared by several subcommands."""

from __future__ import annotations

import argparse
import re

from agent.families import FAMILIES


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


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def add_family_arguments(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument(
        "--family",
        required=required,
        choices=list(FAMILIES),
        metavar="FAMILY",
        help=f"model family: {', '.join(FAMILIES)}",
    )
    parser.add_argument("--min-pixels", type=positive_int, default=None, help="override the family's min_pixels")
    parser.add_argument("--max-pixels", type=positive_int, default=None, help="override the family's max_pixels")

"""`deskpilot` command line: one subcommand per capability (docs/CONTRACT.md).

Exit codes: 0 done, 1 ended without success, 2 bad input, 3 refused or stopped.
Errors are one stderr line starting `error: `; `--debug` adds the traceback. Every line that may hold model
or session text goes out through `say`/`fail`, which escape terminal control characters (app/terminal.py).
Logging (loguru) is configured here, once: plain lines on stderr, escaped the same way.
Commands that need no window never import Qt.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from agent.errors import AgentError
from app.terminal import printable
from sandbox.errors import SandboxError, StoppedError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_REFUSED = 0, 1, 2, 3
# how a run (success, failure) or a replay (done, mismatch) ended -> the exit code; both can be refused, stopped
EXIT_FOR_OUTCOME = {
    "success": EXIT_OK,
    "done": EXIT_OK,
    "failure": EXIT_FAILED,
    "mismatch": EXIT_FAILED,
    "refused": EXIT_REFUSED,
    "stopped": EXIT_REFUSED,
    "error": EXIT_BAD_INPUT,
}

# subcommand -> module under app.commands that defines add_arguments(parser) and run(args) -> int
COMMANDS: dict[str, str] = {
    "gui": "gui",
    "parse": "parse",
    "act": "act",
    "run": "run",
    "bench": "bench",
    "calibrate": "calibrate",
    "eval": "eval",
    "replay": "replay",
    "export": "export",
    "sessions": "sessions",
    "inspect": "inspect",
    "mcp": "mcp",
    "doctor": "doctor",
    "stop": "stop",
}


class UsageError(Exception):
    """A wrong flag or value on the command line (exit 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Every subcommand's parser, or with `only` just that one's: its module alone is imported (`deskpilot stop`
    bound to a key must not wait for the others' imports, nor `parse` or `sessions` for the window's)."""
    parser = _Parser(prog="deskpilot", description="Plain-language tasks done on your desktop by a local VLM.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, module in COMMANDS.items():
        if only is not None and name != only:
            continue
        command = importlib.import_module(f"app.commands.{module}")
        sub_parser = sub.add_parser(name, help=command.__doc__.splitlines()[0] if command.__doc__ else None)
        sub_parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
        command.add_arguments(sub_parser)
        sub_parser.set_defaults(_run=command.run)
    return parser


def say(line: str) -> None:
    """One progress line on stderr, terminal control characters escaped."""
    print(printable(line), file=sys.stderr, flush=True)


def fail(message: str, code: int = EXIT_BAD_INPUT) -> int:
    """Print the contract's one-line error (control characters escaped) and return its exit code."""
    print(f"error: {printable(message)}", file=sys.stderr, flush=True)
    return code


def configure_logging() -> None:
    """loguru, once: what backends log (a retry, a warning) becomes a plain, escaped line on stderr."""
    from loguru import logger

    logger.remove()
    logger.add(lambda message: say(str(message).rstrip("\n")), level="INFO", format="{message}")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    command = next((arg for arg in argv if not arg.startswith("-")), None)  # --debug is the only global flag
    only = command if command in COMMANDS else None
    if only != "stop":  # from a key binding: log nothing
        configure_logging()
    try:
        args = build_parser(only).parse_args(argv)
        if args.command is None:
            if "gui" in COMMANDS:
                args = build_parser().parse_args(["gui", *argv])
            else:
                raise UsageError("deskpilot: a command is required (try --help)")
        return int(args._run(args))
    except UsageError as exc:
        return fail(str(exc))
    except StoppedError as exc:  # the stop key (or a stop from outside) ended a command
        return fail(str(exc), EXIT_REFUSED)
    except (AgentError, SandboxError) as exc:  # deliberate errors carry their own one-line message
        return fail(str(exc))
    except KeyboardInterrupt:
        return fail("interrupted", EXIT_REFUSED)
    except Exception as exc:  # the last line of defence: one line, no traceback unless --debug
        if debug:
            import traceback  # only here: `deskpilot stop` from a key binding starts without it

            traceback.print_exc()
        return fail(f"{type(exc).__name__}: {exc}")


if __name__ == "__main__":
    sys.exit(main())

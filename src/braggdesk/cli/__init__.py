"""The ``braggdesk`` command: subcommands in the style of git, one module each.

Every long job shows progress (a bar on a terminal, plain lines when piped);
``--json FILE`` (``-`` for standard output) writes a machine-readable summary.
Bad input ends with one line on stderr naming the file and the problem, and a
non-zero exit, never a traceback.

A subcommand module has ``register(subparsers)``, which adds its parser and sets
``func`` to the function that runs it; add new ones to ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from .._version import __version__
from ..errors import BraggdeskError
from . import bench, convert, demo, gamma, gui, info, phantom, plan, qa, remote, robust, run, tracks, worker

COMMANDS = (demo, phantom, run, plan, qa, robust, info, gamma, convert, gui, bench, remote, worker, tracks)

EXIT_DONE = 0
EXIT_FAILURE = 1
EXIT_INPUT = 2
EXIT_PARTIAL = 3

EXIT_CODES_HELP = """exit codes:
  0  done
  1  failure: the device, the network or the disk failed (a result that could not be written is kept in a
     rescue folder the message names), or the run was interrupted before any batch finished
  2  bad usage or input: an option, a file or a folder that cannot be used (one line names it and the problem)
  3  cancelled or cut short with a partial result written (marked PARTIAL)"""


def main(argv: Sequence[str] | None = None) -> int:
    """The ``braggdesk`` command; returns the exit code (see ``EXIT_CODES_HELP``), never raises."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help, --version (0) or a bad option (2, its one line already printed)
        return int(exc.code or 0)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_INPUT
    from ..engine.memory import tune_memory
    from .quiet import quiet_library_warnings

    tune_memory()  # before the first grid-sized array (see engine/memory.py)
    try:
        with quiet_library_warnings():
            check_json_target(args)
            return int(args.func(args) or 0)
    except BraggdeskError as exc:
        print(f"braggdesk {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"braggdesk {args.command}: interrupted; nothing was written", file=sys.stderr)
        return EXIT_FAILURE
    except OSError as exc:  # a file or the network failed where no reader turned it into our error
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"braggdesk {args.command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILURE
    except Exception as exc:  # a bug: one line, the traceback only on request
        if os.environ.get("BRAGGDESK_DEBUG"):
            raise
        print(f"braggdesk {args.command}: internal error: {type(exc).__name__}: {exc} (a bug in braggdesk; set "
              f"BRAGGDESK_DEBUG=1 for the traceback and report it)", file=sys.stderr)
        return EXIT_FAILURE


def check_json_target(args: argparse.Namespace) -> None:
    """``--json FILE`` checked before any work: a folder or an unwritable place is refused now, not at the end."""
    target = getattr(args, "json", None)
    if target and target != "-":
        from ..io.safe_write import check_output_path

        check_output_path(target, "JSON summary")


class _Parser(argparse.ArgumentParser):
    """argparse with a two-line error (the problem, then where the help is) instead of the full usage block."""

    def error(self, message: str):
        self.exit(EXIT_INPUT, f"{self.prog}: error: {message}\n(see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="braggdesk", description="Monte Carlo proton dose calculation workstation",
                                epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"braggdesk {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
    for subparser in sub.choices.values():  # every subcommand's --help ends with the exit codes too
        if subparser.epilog is None and subparser.formatter_class is argparse.HelpFormatter:
            subparser.epilog = EXIT_CODES_HELP
            subparser.formatter_class = argparse.RawDescriptionHelpFormatter
    return p

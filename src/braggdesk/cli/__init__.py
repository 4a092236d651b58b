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
import sys
from typing import Sequence

from .. import __version__
from ..errors import BraggdeskError
from . import bench, convert, demo, gamma, gui, info, phantom, plan, qa, remote, robust, run, tracks, worker

COMMANDS = (demo, phantom, run, plan, qa, robust, info, gamma, convert, gui, bench, remote, worker, tracks)

EXIT_INPUT = 2
EXIT_INTERRUPTED = 130


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    from ..engine.memory import tune_memory

    tune_memory()  # before the first grid-sized array (see engine/memory.py)
    try:
        return int(args.func(args) or 0)
    except BraggdeskError as exc:
        print(f"braggdesk {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print(f"braggdesk {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="braggdesk", description="Monte Carlo proton dose calculation workstation")
    p.add_argument("--version", action="version", version=f"braggdesk {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
    return p

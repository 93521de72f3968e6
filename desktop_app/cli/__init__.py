"""Hearth's command line: a thin front over ``desktop_app.core`` for scripts.

Each module in COMMAND_MODULES adds its subcommands with ``register(subparsers)``;
a command function returns the exit status. HearthError becomes a one-line message
on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from desktop_app.core.errors import Cancelled, HearthError

COMMAND_MODULES = [
    "desktop_app.cli.models",
    "desktop_app.cli.chat",
    "desktop_app.cli.compare",
    "desktop_app.cli.hub",
    "desktop_app.cli.docs",
    "desktop_app.cli.fit",
    "desktop_app.cli.conversations",
    "desktop_app.cli.runs",
    "desktop_app.cli.serve",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hearth", description="Run open LLMs privately on this computer.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def run(argv: Sequence[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(list(argv))
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except HearthError as exc:
        print(f"hearth: {exc}", file=sys.stderr)
        return 2
    except (Cancelled, KeyboardInterrupt):
        print("hearth: stopped.", file=sys.stderr)
        return 130

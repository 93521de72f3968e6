"""Hearth's command line: a thin front over ``desktop_app.core`` for scripts.

Each module in COMMAND_MODULES adds its subcommands with ``register(subparsers)``;
a command function returns the exit status. HearthError becomes a one-line message
on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import os
import sqlite3
import sys
import traceback
from collections.abc import Sequence

from desktop_app.core.errors import Cancelled, HearthError

log = logging.getLogger(__name__)

COMMAND_MODULES = [
    "desktop_app.cli.models",
    "desktop_app.cli.chat",
    "desktop_app.cli.compare",
    "desktop_app.cli.hub",
    "desktop_app.cli.docs",
    "desktop_app.cli.fit",
    "desktop_app.cli.conversations",
    "desktop_app.cli.runs",
    "desktop_app.cli.judge",
    "desktop_app.cli.sweep",
    "desktop_app.cli.serve",
    "desktop_app.cli.servers",
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
    earlier = list(logging.getLogger().handlers)  # a host's own (a test's log capture): left as they are
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr)
    if not args.verbose:  # a warning is one line on the terminal; its traceback only with -v
        for handler in logging.getLogger().handlers:
            if handler not in earlier:
                handler.setFormatter(_OneLineFormatter())
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        _start_checks()
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # here, so that a reader gone away (`| head`) is a quiet end, not an error at exit
        return status
    except HearthError as exc:
        print(f"hearth: {exc}", file=sys.stderr)
        return 2
    except (Cancelled, KeyboardInterrupt):
        print("hearth: stopped.", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `hearth docs list --json | head`: the reader has had enough
        _quiet_stdout()
        return 0
    except (OSError, sqlite3.DatabaseError) as exc:  # the environment, not a bug: no traceback
        return _environment_failure(exc, args.verbose)


class _OneLineFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(levelname)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info or record.stack_info:  # a copy without them: other handlers keep the details
            record = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None, "stack_info": None})
        return super().format(record)


def _start_checks() -> None:
    """Checks (and if need be repairs) the database before any command, saying what was done."""
    from desktop_app.core import db

    db.connect().close()
    for notice in db.take_notices():
        print(f"hearth: {notice}", file=sys.stderr)
    try:
        db.backup_if_due()  # the daily copy Settings can restore
    except HearthError as exc:
        log.warning("No backup of the database today: %s", exc)


def _quiet_stdout() -> None:
    """Points stdout at nothing, so Python's own flush at exit does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _environment_failure(exc: BaseException, verbose: bool) -> int:
    if isinstance(exc, BrokenPipeError):
        _quiet_stdout()
        return 0
    if verbose:
        traceback.print_exc()
    log.debug("failure", exc_info=exc)
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        where = f" (“{exc.filename}”)" if exc.filename else ""
        print(f"hearth: The disk is full{where}. What was saved before is kept. Free some space, then try again.",
              file=sys.stderr)
        return 2
    if isinstance(exc, sqlite3.DatabaseError):
        from desktop_app.core import db, paths

        print(f"hearth: {db.database_error(paths.db_path(), exc)}", file=sys.stderr)
        return 2
    print(f"hearth: {exc}", file=sys.stderr)
    return 2

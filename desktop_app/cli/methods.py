"""`hearth runs methods RUN`: a methods section for a paper, in Markdown, from what the run
recorded (core/runs/methods.py)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from desktop_app.core.runs.storage import RunStore


def register(rsub: Any) -> None:
    p = rsub.add_parser("methods", help="a methods section for a paper: the run's every number in plain words")
    p.add_argument("run_id", type=int)
    p.add_argument("--compare", type=int, metavar="RUN_B", help="also compare it with this run (McNemar's test)")
    p.add_argument("-o", "--output", type=Path, help="write it to this file (Markdown) instead of printing it")
    p.set_defaults(func=cmd_methods)


def cmd_methods(args: argparse.Namespace) -> int:
    from desktop_app.core.atomic_files import write_text_atomically
    from desktop_app.core.runs.methods import methods

    with RunStore() as store:
        text = methods(store, args.run_id, args.compare)
    if args.output:
        write_text_atomically(args.output.expanduser(), text)
        print(f"Wrote {args.output}")
    else:
        print(text)
    return 0

"""`hearth sweep DATASET …`: several prompts × models on one dataset, each cell an ordinary run,
with a development/test split and the statistics to choose between them; `hearth sweep resume
ID`, `show ID`, `list`, `delete ID`.

The dataset, the labels or schema and the task options are read as `hearth run` reads them
(cli/runs.py). Each model is loaded once for all its cells. Ctrl+C pauses the sweep (the rows
done stay stored); `hearth sweep resume ID` continues it with the same cells.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from desktop_app.cli.output import print_json
from desktop_app.cli.runs import (
    _indices,
    _load,
    _release,
    _remote,
    _text_arg,
    add_output_arguments,
    task_from_args,
)
from desktop_app.core import settings as settings_store
from desktop_app.core.cancel import CancelToken
from desktop_app.core.errors import HearthError
from desktop_app.core.runs import sweep
from desktop_app.core.runs.generators import RowGenerator
from desktop_app.core.runs.storage import RunStore
from desktop_app.core.runs.sweep_results import results
from desktop_app.core.runs.sweep_split import FewShot
from desktop_app.core.units import human_duration

ACTIONS = ("resume", "show", "list", "delete")


def register(sub: Any) -> None:
    p = sub.add_parser(
        "sweep",
        help="several prompts × models on one dataset, compared fairly (also: sweep resume|show|list|delete)",
        description="Runs every combination of the prompts, system prompts, examples and models given, each as an "
        "ordinary run. `hearth sweep resume ID`, `show ID`, `list` and `delete ID` act on stored sweeps.",
    )
    p.add_argument("dataset", help="a CSV, TSV, JSONL or XLSX file (or one of: resume, show, list, delete)")
    p.add_argument("sweep_id", nargs="?", type=int, help="with resume, show or delete: the sweep's number")
    p.add_argument("--prompt", action="append", default=[], help="a template with {column} fields, or @FILE; repeat")
    p.add_argument("--system", action="append", default=[], help="a system prompt, or @FILE; repeat ('' for none)")
    p.add_argument("--model", action="append", default=[], help="a .gguf path or a local model's name; repeat")
    p.add_argument(
        "--server-model", action="append", default=[], metavar="SERVER=MODEL",
        help="a model on a server added in Settings › Servers; repeat",
    )  # fmt: skip
    add_output_arguments(p, "the column holding the expected answer (required)")
    p.add_argument("--few-shot", action="append", default=[], help="comma-separated example rows; repeat")
    p.add_argument("--shots", action="append", type=int, default=[], help="K examples drawn from development rows")
    p.add_argument("--dev-fraction", type=float, default=None, help="choose on this share of rows, report on the rest")
    p.add_argument("--seed", type=int, default=0, help="the split's, the drawn examples' and the runs' seed")
    p.add_argument("--id-column", help="the column naming each row (default: 'id' when there is one)")
    p.add_argument("--temp", type=float, default=None, help="default 0: the most likely answer")
    p.add_argument("--max-tokens", type=int, default=None)
    p.add_argument("--ctx", type=int, default=None)
    p.add_argument("--estimate", action="store_true", help="only estimate how long it would take (nothing stored)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_sweep)


# -- building the spec -----------------------------------------------------------------------------


def _models(args: argparse.Namespace, config: settings_store.Settings) -> list[sweep.ModelRef]:
    from desktop_app.core.models import library

    models = []
    for name in args.model:
        path = library.resolve(name, config.extra_model_paths)
        models.append(sweep.ModelRef(path.name, str(path)))
    for value in args.server_model:
        server, _, model_id = value.partition("=")
        if not server.strip() or not model_id.strip():
            raise HearthError(f"“{value}” is not SERVER=MODEL.", "Write the server's name, '=', then the model's id.")
        models.append(sweep.ModelRef(f"{model_id.strip()} on {server.strip()}", None, server.strip(), model_id.strip()))
    return models


def spec_from_args(args: argparse.Namespace, config: settings_store.Settings) -> sweep.SweepSpec:
    if not args.prompt:
        raise HearthError("Give at least one prompt template with --prompt.", "Use @FILE to read one from a file.")
    if not args.model and not args.server_model:
        raise HearthError("Give at least one model with --model (or --server-model).")
    if not args.reference:
        raise HearthError("A sweep needs --reference: the column holding the right answers.")
    base = argparse.Namespace(**{
        **vars(args), "prompt": args.prompt[0], "system": "", "few_shot": None, "collection": None, "k": None,
        "source_column": None, "page_column": None, "limit": None, "server": None,
    })  # fmt: skip
    task = task_from_args(base)
    shots = [FewShot(rows=_indices(rows)) for rows in args.few_shot] + [FewShot(k=k) for k in args.shots if k > 0]
    if (args.few_shot or args.shots) and 0 in args.shots:
        shots.insert(0, FewShot())  # --shots 0: "no examples" as one of the choices
    return sweep.SweepSpec(
        dataset=str(Path(args.dataset).expanduser()),
        task=task,
        prompts=[_text_arg(p) for p in args.prompt],
        models=_models(args, config),
        systems=[_text_arg(s) for s in args.system] or [""],
        shots=shots or [FewShot()],
        dev_fraction=args.dev_fraction,
        seed=args.seed,
    )


# -- models ----------------------------------------------------------------------------------------


class _Models:
    """Opens a sweep's models as the CLI does for `hearth run` (a local file with the user's
    settings and template; a server from Settings › Servers)."""

    def __init__(self, ctx: int | None = None) -> None:
        self.config = settings_store.load()
        self.ctx = ctx

    def open(self, model: sweep.ModelRef) -> RowGenerator:
        if model.server:
            backend: RowGenerator = _remote(self.config, model.server, model.model_id or "")
            return backend
        if not model.path or not Path(model.path).is_file():
            raise HearthError(f"The model file of “{model.name}” is no longer at {model.path}.", "Put it back there.")
        path = Path(model.path)
        load = self.config.load
        if self.ctx:
            load.n_ctx = self.ctx
        return _load(path, load, self.config.template_for(path))

    @staticmethod
    def close(backend: RowGenerator) -> None:
        _release(backend)


class _SweepProgress:
    """Cell by cell on stderr: which cell, rows of the whole sweep, time left."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = 0.0
        self.cell = -1

    def __call__(self, progress: sweep.SweepProgress) -> None:
        now = time.monotonic()
        new_cell = progress.cell != self.cell
        final = progress.run.done >= progress.run.total
        if not (new_cell or final) and now - self.last < (0.2 if self.tty else 5.0):
            return
        self.last, self.cell = now, progress.cell
        eta = progress.eta_s
        left = f", {human_duration(eta)} left" if eta is not None and progress.rows_done < progress.rows_total else ""
        line = (
            f"cell {progress.cell + 1}/{progress.cells} ({progress.label}): {progress.run.done:,}/"
            f"{progress.run.total:,} rows; sweep {progress.rows_done:,}/{progress.rows_total:,}{left}"
        )
        sys.stderr.write(("\r" + line.ljust(80)) if self.tty else line + "\n")
        if self.tty and final:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _run(store: RunStore, sweep_id: int, models: _Models, as_json: bool) -> int:
    cancel = CancelToken()
    try:
        sweep.run(store, sweep_id, models.open, models.close, _SweepProgress(), cancel)
    except KeyboardInterrupt:
        cancel.cancel()
        print(f"\nPaused. Continue with: hearth sweep resume {sweep_id}", file=sys.stderr)
        raise
    _print(store, sweep_id, as_json)
    return 0


def _print(store: RunStore, sweep_id: int, as_json: bool) -> None:
    found = results(store, sweep_id)
    if as_json:
        print_json(found.to_dict())
    else:
        print(found.describe())


# -- commands --------------------------------------------------------------------------------------


def cmd_sweep(args: argparse.Namespace) -> int:
    if args.dataset in ACTIONS and not Path(args.dataset).exists():
        return _action(args)
    if args.sweep_id is not None:
        raise HearthError(f"“{args.sweep_id}” after the dataset is not understood.", "Give options with --.")
    config = settings_store.load()
    checked = sweep.plan(spec_from_args(args, config))  # refused here, before any model loads
    models = _Models(args.ctx)
    split = checked.split
    words = f"{len(split.dev):,} rows"
    if split.test:
        words = f"{len(split.dev):,} development and {len(split.test):,} test rows"
    print(f"{checked.dataset.name}: {len(checked.cells)} cells on {words}.", file=sys.stderr)
    if args.estimate:
        found = sweep.estimate(checked, models.open, models.close)
        if args.json:
            print_json({"seconds": found.total_s, "rows": found.rows, "seconds_per_row": found.seconds_per_row})
        else:
            print(f"About {human_duration(found.total_s)} for {found.rows:,} rows in all.")
        return 0
    with RunStore() as store:
        sweep_id = sweep.create(checked, store)
        print(f"Sweep {sweep_id}.", file=sys.stderr)
        return _run(store, sweep_id, models, args.json)


def _action(args: argparse.Namespace) -> int:
    with RunStore() as store:
        if args.dataset == "list":
            records = sweep.all_sweeps(store)
            if args.json:
                print_json([{"sweep_id": r.id, "title": r.title, "status": r.state, "cells": len(r.cells)}
                            for r in records])  # fmt: skip
            elif not records:
                print("No sweeps yet. Start one with: hearth sweep DATASET --prompt A --prompt B --model M …")
            for record in [] if args.json else records:
                print(f"{record.id:5}  {record.state:11} {len(record.cells):3} cells  {record.title}")
            return 0
        if args.sweep_id is None:
            raise HearthError(f"`hearth sweep {args.dataset}` needs the sweep's number.", "See `hearth sweep list`.")
        record = sweep.get(store, args.sweep_id)
        if args.dataset == "show":
            _print(store, record.id, args.json)
            return 0
        if args.dataset == "delete":
            sweep.delete(store, record.id)
            print(f"Deleted sweep {record.id} (its runs are kept).")
            return 0
        if record.status == "running" and not record.interrupted:
            raise HearthError(f"Sweep {record.id} is running already (process {record.pid}).")
        left = sweep.pending(store, record)
        print(f"Resuming sweep {record.id}: {len(record.cells) - len(left)} of {len(record.cells)} cells done.",
              file=sys.stderr)  # fmt: skip
        return _run(store, record.id, _Models(args.ctx), args.json)

"""`hearth run` (a model over every row of a dataset, scored) and `hearth runs …` (list, show,
resume, replay, compare, export, import, delete).

Progress goes to stderr, results to stdout (``--json`` for scripts). A bad dataset or task is
refused before the model loads, with nothing stored (exit status 2). Ctrl+C pauses a run:
`hearth runs resume ID` continues it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from desktop_app.cli import coding as coding_cli
from desktop_app.cli import methods as methods_cli
from desktop_app.cli.output import ProgressLine, print_json
from desktop_app.core import settings as settings_store
from desktop_app.core.cancel import CancelToken
from desktop_app.core.errors import HearthError
from desktop_app.core.inference.engine_process import EngineProcess
from desktop_app.core.runs import exchange, provenance, replay, runner
from desktop_app.core.runs import paired as run_compare
from desktop_app.core.runs.generators import LocalGenerator
from desktop_app.core.runs.manifest import LoadRecord
from desktop_app.core.runs.storage import ROW_FILTERS, RunStore
from desktop_app.core.runs.summary import summarize
from desktop_app.core.runs.tasks import Task, run_sampling
from desktop_app.core.settings import LoadSettings
from desktop_app.core.units import human_duration


def add_output_arguments(p: argparse.ArgumentParser, reference_help: str) -> None:
    """What every output must be, and how it is scored (`hearth run` and `hearth sweep`)."""
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--labels", help="comma-separated labels: every output is one of them")
    kind.add_argument("--schema", type=Path, help="a JSON schema file: every output is JSON matching it")
    kind.add_argument("--number", action="store_true", help="every output is a number")
    p.add_argument("--reference", help=reference_help)
    p.add_argument("--scorer", help="exact, normalized, contains, regex, label, numeric, token_f1, fields")
    p.add_argument("--tolerance", type=float, default=0.0, help="numeric scorer: how far off still counts")
    p.add_argument("--threshold", type=float, default=0.5, help="token_f1: the F1 that counts as correct")


def register(sub: Any) -> None:
    p = sub.add_parser("run", help="run a model over every row of a dataset and score it")
    p.add_argument("dataset", help="a CSV, TSV, JSONL or XLSX file")
    p.add_argument("--model", required=True, help="a .gguf path or a local model's name (with --server: its id there)")
    p.add_argument(
        "--server", help="a server added in Settings › Servers (its name or id): the rows go there, several at once"
    )
    p.add_argument("--prompt", required=True, help="the template, with {column} fields (or @FILE to read it)")
    p.add_argument("--system", default="", help="system prompt (or @FILE)")
    add_output_arguments(p, "the column holding the expected answer")
    p.add_argument("--few-shot", help="comma-separated row indices shown as examples (not scored)")
    p.add_argument("--collection", help="answer each row's question from this document collection")
    p.add_argument("--k", type=int, default=None, help="passages retrieved per question")
    p.add_argument("--source-column", help="document runs: the file each question should be answered from")
    p.add_argument("--page-column", help="document runs: … and its page")
    p.add_argument("--id-column", help="the column naming each row (default: 'id' when there is one)")
    p.add_argument("--seed", type=int, default=None, help="default 0; -1 draws one (recorded)")
    p.add_argument("--temp", type=float, default=None, help="default 0: the most likely answer")
    p.add_argument("--max-tokens", type=int, default=None)
    p.add_argument("--ctx", type=int, default=None)
    p.add_argument("--limit", type=int, default=None, help="run only the first N rows")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_run)

    runs = sub.add_parser("runs", help="dataset runs: list, show, resume, replay, compare, export")
    rsub = runs.add_subparsers(dest="runs_command", metavar="ACTION")
    runs.set_defaults(func=lambda _args: (runs.print_help(), 1)[1])

    p = rsub.add_parser("peek", help="a dataset's columns and first rows, as a run would read them")
    p.add_argument("dataset")
    p.add_argument("--rows", type=int, default=5)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_peek)

    p = rsub.add_parser("list", help="every run, newest first")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)

    p = rsub.add_parser("show", help="a run's summary, manifest and rows")
    p.add_argument("run_id", type=int)
    p.add_argument("--rows", choices=ROW_FILTERS, default="all", help="which rows to list")
    p.add_argument("--prompts", action="store_true", help="include each row's rendered prompt")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_show)

    p = rsub.add_parser("resume", help="continue a paused, cancelled or killed run")
    p.add_argument("run_id", type=int)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_resume)

    p = rsub.add_parser("replay", help="run a stored run again from its manifest and compare the rows")
    p.add_argument("run_id", type=int)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_replay)

    p = rsub.add_parser("compare", help="two runs on the same dataset, with McNemar's exact test")
    p.add_argument("a", type=int)
    p.add_argument("b", type=int)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_compare)

    p = rsub.add_parser("export", help="a run as CSV + manifest (.csv), an archive (.zip) or the manifest (.json)")
    p.add_argument("run_id", type=int)
    p.add_argument("-o", "--output", type=Path, required=True)
    p.set_defaults(func=cmd_export)

    p = rsub.add_parser("import", help="add a run from an archive another Hearth exported")
    p.add_argument("archive", type=Path)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_import)

    p = rsub.add_parser("delete", help="delete a run and its rows")
    p.add_argument("run_id", type=int)
    p.set_defaults(func=cmd_delete)

    # Human coding and agreement (codes, codebook, agreement, review, adjudicate): cli/coding.py.
    coding_cli.register(rsub)
    methods_cli.register(rsub)  # hearth runs methods RUN: cli/methods.py


# -- helpers --------------------------------------------------------------------------------------


def _text_arg(value: str) -> str:
    if value.startswith("@"):
        path = Path(value[1:]).expanduser()
        try:
            return path.read_text(encoding="utf-8")
        except OSError as exc:
            raise HearthError(f"“{path}” could not be read: {exc.strerror or exc}.") from None
    return value


def _schema(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise HearthError(f"The schema file “{path}” could not be read: {exc.strerror or exc}.") from None
    except ValueError as exc:
        raise HearthError(f"The schema file “{path.name}” is not valid JSON: {exc}.") from None
    if not isinstance(data, dict):
        raise HearthError(f"The schema file “{path.name}” does not hold a JSON object.")
    return data


def _indices(text: str | None) -> list[int]:
    if not text:
        return []
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise HearthError(f"“{text}” is not a list of row numbers.", "Write them like 0,4,7.") from None


def task_from_args(args: argparse.Namespace) -> Task:
    kind = "labels" if args.labels else "json" if args.schema else "number" if args.number else "text"
    return Task(
        prompt=_text_arg(args.prompt),
        system=_text_arg(args.system),
        kind=kind,
        labels=[label.strip() for label in args.labels.split(",")] if args.labels else [],
        schema=_schema(args.schema) if args.schema else None,
        reference=args.reference,
        scorer=args.scorer or "",
        tolerance=args.tolerance,
        threshold=args.threshold,
        few_shot=_indices(args.few_shot),
        collection=args.collection,
        k=args.k,
        source_column=args.source_column,
        page_column=args.page_column,
        id_column=args.id_column,
        limit=args.limit,
        sampling=run_sampling(temperature=args.temp, seed=args.seed, max_tokens=args.max_tokens),
    )


def _row_progress(progress: runner.RunProgress, _tty: bool) -> str:
    """Rows done, rows/s and time left."""
    eta = progress.eta_s
    left = f", {human_duration(eta)} left" if eta is not None and progress.done < progress.total else ""
    return f"{progress.done:,}/{progress.total:,} rows, {progress.rows_per_s:.2f} rows/s{left}"


def _row_printer() -> ProgressLine[runner.RunProgress]:
    """Rewritten in place on a terminal, every few seconds elsewhere."""
    return ProgressLine(_row_progress, lambda p: p.done >= p.total, tty_every=0.2, log_every=5.0, pad=50)


def _load(path: Path, load: LoadSettings, template: str) -> LocalGenerator:
    from desktop_app.core.models.fingerprint import cached_sha256

    engine = EngineProcess()
    print(f"Loading {path.name}…", file=sys.stderr)
    engine.load(path, load, template=template)
    return LocalGenerator(engine, cached_sha256(path))


def _load_for(store: RunStore, run_id: int) -> Any:
    """The model a stored run was made with: a local one found by its sha256 and loaded with its
    settings, or the same model on the same server (storage: resume on a server)."""
    record = store.get(run_id)
    model = record.manifest.model
    if model.kind == "remote":
        from desktop_app.core.runs.remote_generator import for_run

        where = model.endpoint or model.url
        print(f"Sending rows to {model.model_id} on {where}…", file=sys.stderr)
        return for_run(model, settings_store.load().endpoints)
    if not model.local:
        raise HearthError(f"Run {run_id} was made with a {model.kind} model; the CLI runs local models.")
    config = settings_store.load()
    path = provenance.locate_model(model, config.extra_model_paths)
    saved = model.load or LoadRecord()
    load = LoadSettings(
        n_ctx=4096 if saved.n_ctx is None else saved.n_ctx,
        n_gpu_layers=-1 if saved.n_gpu_layers is None else saved.n_gpu_layers,
        flash_attn=True if saved.flash_attn is None else saved.flash_attn,
    )
    return _load(path, load, provenance.template_preference(model, config.template_for(path)))


def _remote(config: settings_store.Settings, server: str, model_id: str) -> Any:
    """The model ``model_id`` on a server added in Settings (by its name or id)."""
    from desktop_app.core.runs.remote_generator import RemoteGenerator

    wanted = server.strip().lower()
    endpoint = next((e for e in config.endpoints if wanted in (e.id.lower(), e.name.lower())), None)
    if endpoint is None:
        names = ", ".join(e.name or e.id for e in config.endpoints) or "none yet"
        raise HearthError(f"There is no server “{server}” in Settings › Servers ({names}).", "Add it there first.")
    print(f"Sending rows to {model_id} on {endpoint.name or endpoint.url}…", file=sys.stderr)
    return RemoteGenerator.for_endpoint(endpoint, model_id)


def _release(backend: Any) -> None:
    if isinstance(backend, LocalGenerator):
        backend.engine.unload()
    else:
        backend.close()


def _run_cancellable(work: Any) -> Any:
    """Runs ``work(cancel, progress)``; Ctrl+C pauses the run (the finished rows stay stored)."""
    cancel = CancelToken()
    try:
        return work(cancel, _row_printer())
    except KeyboardInterrupt:
        cancel.cancel()
        raise


def _print_summary(summary: Any, as_json: bool) -> None:
    if as_json:
        print_json(summary.to_dict())
    else:
        print(summary.describe())


# -- commands -------------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    from desktop_app.core.models import library

    config = settings_store.load()
    plan = runner.plan_run(Path(args.dataset), task_from_args(args))  # refused here, before anything loads
    backend: Any
    if getattr(args, "server", None):
        backend = _remote(config, args.server, args.model)
    else:
        path = library.resolve(args.model, config.extra_model_paths)
        load = config.load
        if args.ctx:
            load.n_ctx = args.ctx
        backend = _load(path, load, config.template_for(path))
    print(f"{plan.dataset.name}: {plan.n:,} rows, {plan.dataset.sha256[:12]}…", file=sys.stderr)
    created: list[int] = []
    try:
        summary = _run_cancellable(
            lambda cancel, progress: runner.start(plan, backend, None, progress, cancel, on_created=created.append)
        )
    except KeyboardInterrupt:
        if created:
            print(f"\nPaused. Continue with: hearth runs resume {created[0]}", file=sys.stderr)
        raise
    except HearthError:  # a full disk, a server gone: the finished rows are stored
        if created:
            print(f"The finished rows are kept. Continue with: hearth runs resume {created[0]}", file=sys.stderr)
        raise
    finally:
        _release(backend)
    _print_summary(summary, args.json)
    return 0


def cmd_peek(args: argparse.Namespace) -> int:
    from desktop_app.core.runs.datasets import open_dataset

    dataset = open_dataset(Path(args.dataset))
    rows = dataset.preview(max(0, args.rows))
    if args.json:
        print_json({**dataset.to_dict(), "rows": rows})
        return 0
    encoding = f", {dataset.encoding}" if dataset.encoding else ""
    print(f"{dataset.name}: {dataset.n_rows:,} rows ({dataset.format}{encoding}), sha256 {dataset.sha256}")
    print(
        "Columns: "
        + ", ".join(dataset.columns)
        + (f" (rows named by {dataset.id_column})" if dataset.id_column else "")
    )
    for i, row in enumerate(rows):
        cells = "  ".join(f"{k}={' '.join(v.split())[:40]!r}" for k, v in row.items())
        print(f"  {i}: {cells}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    with RunStore() as store:
        records = store.all_runs()
        accuracies = store.accuracies()
        if args.json:
            print_json([{**record.to_dict(), "accuracy": accuracies.get(record.id)} for record in records])
            return 0
        if not records:
            print("No runs yet. Start one with: hearth run DATASET --model MODEL --prompt TEMPLATE")
        for record in records:
            accuracy = accuracies.get(record.id)
            score = f"{accuracy:6.1%}" if accuracy is not None else "     —"
            print(f"{record.id:5}  {record.state:11} {record.done:>7,}/{record.n:<7,} {score}  {record.title}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    with RunStore() as store:
        record = store.get(args.run_id)
        summary = summarize(store, record.id, record)
        rows = []
        for row in store.iter_rows(record.id, args.rows):
            data = row.to_dict()
            if not args.prompts:
                data.pop("prompt")
            rows.append(data)
        if args.json:
            print_json({**summary.to_dict(), "manifest": record.manifest.to_dict(), "rows": rows})
            return 0
        print(summary.describe())
        for data in rows:
            mark = {True: "✓", False: "✗", None: " "}[data["correct"]]
            issue = f"  [{data['error']}]" if data["error"] else ("" if data["valid"] else "  [invalid]")
            reference = "" if data["reference"] is None else f"   (expected {data['reference']!r})"
            print(f"{mark} {data['id']:>8}  {data['output'].strip()[:80]!r}{reference}{issue}")
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    with RunStore() as store:
        record = store.get(args.run_id)
        if not record.resumable:
            if record.status == "running":
                raise HearthError(f"Run {args.run_id} is running already (process {record.pid}).")
            _print_summary(summarize(store, record.id, record), args.json)
            return 0
        runner.plan_for(store, args.run_id)  # the dataset is checked before the model loads
        backend = _load_for(store, args.run_id)
        print(f"Resuming run {record.id}: {record.done:,} of {record.n:,} rows done.", file=sys.stderr)
        try:
            summary = _run_cancellable(
                lambda cancel, progress: runner.resume(args.run_id, backend, store, progress, cancel)
            )
        except KeyboardInterrupt:
            print(f"\nPaused. Continue with: hearth runs resume {args.run_id}", file=sys.stderr)
            raise
        except HearthError:
            print(f"The finished rows are kept. Continue with: hearth runs resume {args.run_id}", file=sys.stderr)
            raise
        finally:
            _release(backend)
    _print_summary(summary, args.json)
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    with RunStore() as store:
        runner.plan_for(store, args.run_id)
        backend = _load_for(store, args.run_id)
        try:
            report = _run_cancellable(
                lambda cancel, progress: replay.replay(args.run_id, backend, store, progress, cancel)
            )
        finally:
            _release(backend)
    if args.json:
        print_json(report.to_dict())
    else:
        print(report.describe())
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    with RunStore() as store:
        result = run_compare.compare(store, args.a, args.b)
    if args.json:
        print_json(result.to_dict())
        return 0

    def accuracy(value: float | None, ci: tuple[float, float]) -> str:
        return "—" if value is None else f"{value:.1%} (95% interval {ci[0]:.1%} – {ci[1]:.1%})"

    print(f"A: run {result.a} {result.a_title}\n   {accuracy(result.a_accuracy, result.a_ci)}")
    print(f"B: run {result.b} {result.b_title}\n   {accuracy(result.b_accuracy, result.b_ci)}")
    print(
        f"On {result.n_paired:,} rows scored in both: both right {result.both:,}, only A {result.only_a:,}, "
        f"only B {result.only_b:,}, neither {result.neither:,}."
    )
    print(f"McNemar's exact test: p = {result.p_value:.4g}. {result.verdict}")
    for row in result.disagreements[:20]:
        print(f"  row {row.id}: A {row.a_output.strip()[:40]!r}  B {row.b_output.strip()[:40]!r}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    with RunStore() as store:
        written = exchange.export(store, args.run_id, args.output.expanduser())
    for path in written:
        print(f"Wrote {path}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    with RunStore() as store:
        run_id = exchange.import_archive(store, args.archive.expanduser())
        record = store.get(run_id)
    if args.json:
        print_json(record.to_dict())
    else:
        print(f"Imported as run {run_id}: {record.title} ({record.done:,} of {record.n:,} rows).")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    with RunStore() as store:
        record = store.get(args.run_id)
        store.delete(args.run_id)
    print(f"Deleted run {record.id} ({record.done:,} rows).")
    return 0

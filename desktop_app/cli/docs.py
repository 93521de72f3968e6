"""`hearth docs ...` (collections of documents) and `hearth ask` (answers with citations).

Progress goes to stderr, results to stdout (``--json`` for scripts).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from desktop_app.cli.chat import apply_overrides
from desktop_app.cli.output import ProgressLine, print_json, stream_to_stdout
from desktop_app.core import settings
from desktop_app.core.cancel import CancelToken
from desktop_app.core.errors import Cancelled, HearthError
from desktop_app.core.inference.engine_process import EngineProcess
from desktop_app.core.models import library
from desktop_app.core.rag import answer as rag_answer
from desktop_app.core.rag import documents_settings as rag_config
from desktop_app.core.rag import index_report, ingest, model_change, ocr_switch, retrieve
from desktop_app.core.rag.embed_backends import BACKENDS
from desktop_app.core.rag.parsers.pictures import found_no_text
from desktop_app.core.rag.store import DocumentStore
from desktop_app.core.rag.watch import PollingWatcher
from desktop_app.core.units import plural

NO_TEXT_NAMED = 3  # pictures with no text named in `hearth docs add`'s report before "and N more"


def register(sub: Any) -> None:
    docs = sub.add_parser("docs", help="collections of documents to ask questions about")
    dsub = docs.add_subparsers(dest="docs_command", metavar="ACTION")
    docs.set_defaults(func=lambda _args: (docs.print_help(), 1)[1])

    p = dsub.add_parser("add", help="add files or folders to a collection (created if new) and index them")
    p.add_argument("collection")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--watch", action="store_true", help="keep added folders up to date (see `hearth docs watch`)")
    p.add_argument("--no-ocr", action="store_true", help="leave scanned pages and pictures unread (hearth docs ocr)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_add)

    p = dsub.add_parser("list", help="the collections, or one collection's files")
    p.add_argument("collection", nargs="?")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)

    p = dsub.add_parser("remove", help="take a file or folder out of a collection")
    p.add_argument("collection")
    p.add_argument("path")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_remove)

    p = dsub.add_parser("drop", help="delete a collection and its index (your files are not touched)")
    p.add_argument("collection")
    p.set_defaults(func=cmd_drop)

    p = dsub.add_parser("rename", help="rename a collection")
    p.add_argument("collection")
    p.add_argument("new_name")
    p.set_defaults(func=cmd_rename)

    p = dsub.add_parser("sync", help="index new and changed files, drop deleted ones (resumes an interrupted run)")
    p.add_argument("collection", nargs="?", help="default: every collection")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_sync)

    p = dsub.add_parser(
        "rebuild", help="index a damaged collection again from its files, keeping its settings and sources"
    )
    p.add_argument("collection")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_rebuild)

    p = dsub.add_parser("watch", help="keep a collection up to date until stopped (Ctrl+C)")
    p.add_argument("collection")
    p.add_argument("--interval", type=float, default=None, help="seconds between scans")
    p.set_defaults(func=cmd_watch)

    p = dsub.add_parser("search", help="the passages that best match a query")
    p.add_argument("collection")
    p.add_argument("query")
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_search)

    p = dsub.add_parser("model", help="switch a collection's embedding model or backend (shows the cost first)")
    p.add_argument("collection")
    p.add_argument("model", help="a sentence-transformers folder, or a model name in the local cache")
    p.add_argument("--backend", choices=sorted(BACKENDS), help="onnx (default for new collections), torch, …")
    p.add_argument("--yes", action="store_true", help="re-embed without asking")
    p.set_defaults(func=cmd_model)

    p = dsub.add_parser("ocr", help="read scanned pages and pictures by text recognition (OCR): on (default) or off")
    p.add_argument("collection")
    p.add_argument("state", nargs="?", choices=("on", "off"), help="leave out to see which it is")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_ocr)

    p = sub.add_parser("ask", help="ask a question answered from a collection, with citations")
    p.add_argument("collection", help="a collection (several: separate them with commas)")
    p.add_argument("question")
    p.add_argument("--model", required=True, help="a .gguf path or a local model's name")
    p.add_argument("--k", type=int, default=None, help="passages to retrieve (default 5)")
    p.add_argument("--open-answers", action="store_true", help="let the model add what is not in the documents")
    p.add_argument("--temp", type=float, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--max-tokens", type=int, default=None)
    p.add_argument("--ctx", type=int, default=None)
    p.add_argument("--inspect", action="store_true", help="include the retrieval inspector (with --json)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_ask)


def _indexing_words(progress: index_report.IndexProgress, _tty: bool) -> str:
    if progress.phase in ("loading", "scanning", "removing", "waiting"):
        return progress.message + "…"
    final = progress.phase == "done"
    return progress.describe() + (f" — {progress.message}" if progress.message and not final else "")


def _store() -> DocumentStore:
    return DocumentStore()


def _run_indexing(job: Any) -> index_report.IngestReport:
    """Runs ``job(cancel, progress, report)``; Ctrl+C stops between files (what is done stays done)."""
    cancel = CancelToken()
    # One line, rewritten in place on a terminal, at most twice a second elsewhere.
    printer = ProgressLine(
        _indexing_words, lambda p: p.phase == "done", phase=lambda p: p.phase, tty_every=0.1, log_every=2.0
    )
    report = index_report.IngestReport("")
    try:
        return job(cancel, printer, report)
    except KeyboardInterrupt:
        cancel.cancel()
        raise
    except Cancelled:
        printer.close()
        raise


def _print_report(report: index_report.IngestReport, as_json: bool) -> None:
    if as_json:
        print_json(report.to_dict())
        return
    print(f"{report.collection}: {report.summary()}.")
    for item in report.skipped:
        print(f"  skipped  {item.path}: {item.reason}")
    if report.no_text:  # photos, most likely: one quiet line, not a failure per picture (--json lists them)
        names = ", ".join(Path(p).name for p in report.no_text[:NO_TEXT_NAMED])
        more = f" and {len(report.no_text) - NO_TEXT_NAMED:,} more" if len(report.no_text) > NO_TEXT_NAMED else ""
        print(f"  no text  {plural(len(report.no_text), 'picture')} left out ({names}{more})")
    for item in report.notes:
        print(f"  note     {item.path}: {item.reason}")
    for path in report.missing_sources:
        print(f"  missing  {path}: not reachable now; its files are kept until it is back")
    if report.ignored:
        kinds = ", ".join(f"{ext} ×{n}" for ext, n in sorted(report.ignored.items(), key=lambda kv: -kv[1])[:8])
        print(f"  ignored  {plural(sum(report.ignored.values()), 'file')} of types Hearth does not read ({kinds})")


def cmd_add(args: argparse.Namespace) -> int:
    store = _store()
    if args.no_ocr:
        ocr_switch.set_ocr_enabled(store, ingest.ensure_collection(store, args.collection), False)
    report = _run_indexing(
        lambda cancel, progress, report: ingest.add_paths(
            store, args.collection, args.paths, args.watch or None, cancel, progress, report
        )
    )
    _print_report(report, args.json)
    return 0


def cmd_ocr(args: argparse.Namespace) -> int:
    """Text recognition for one collection: shown, or switched on or off (kept with the collection)."""
    store = _store()
    info = store.collection(args.collection)
    if args.state is not None:
        ocr_switch.set_ocr_enabled(store, info, args.state == "on")
    enabled = ocr_switch.ocr_enabled(store, info)
    if args.json:
        print_json({"collection": info.name, "ocr": enabled})
        return 0
    state = "on: scanned pages and pictures are read" if enabled else "off: scanned pages and pictures are left out"
    print(f"Text recognition (OCR) for “{info.name}” is {state}.")
    if args.state == "on":
        print(f"Files left out while it was off are read at the next update: hearth docs sync {info.name}")
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    store = _store()
    names = [args.collection] if args.collection else [c.name for c in store.list_collections()]
    reports = []
    failed: list[HearthError] = []
    for name in names:
        try:
            reports.append(
                _run_indexing(
                    lambda cancel, progress, report, name=name: ingest.index_collection(
                        store, name, None, cancel, progress, report
                    )
                )
            )
        except HearthError as exc:
            if len(names) == 1:
                raise
            failed.append(exc)  # one damaged collection does not keep the others from their update
            print(f"hearth: {exc}", file=sys.stderr)
    if args.json:
        print_json([r.to_dict() for r in reports])
    else:
        for report in reports:
            _print_report(report, False)
    return 2 if failed else 0


def cmd_rebuild(args: argparse.Namespace) -> int:
    store = _store()
    info = store.collection(args.collection)
    print(f"Rebuilding {info.name}: its vectors are dropped and its files indexed again.", file=sys.stderr)
    report = _run_indexing(
        lambda cancel, progress, report: ingest.rebuild_collection(store, info.name, cancel, progress, report)
    )
    _print_report(report, args.json)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    store = _store()
    if not args.collection:
        collections = store.list_collections()
        healths = [store.health(c) for c in collections]
        if args.json:
            print_json([{**c.to_dict(), "health": h.to_dict()} for c, h in zip(collections, healths, strict=True)])
            return 0
        if not collections:
            print("No collections yet. Add documents with: hearth docs add NAME PATH…")
        for c, health in zip(collections, healths, strict=True):
            skipped = f", {c.skipped} unreadable" if c.skipped else ""
            skipped += f", {plural(c.no_text, 'picture')} without text" if c.no_text else ""
            model = f"model {c.embed_model} ({c.embed_backend})"
            flag = f"   [{health.flag}: {health.reason}]" if health.flag else ""
            print(f"{c.name:30} {plural(c.files, 'file'):>12} {plural(c.chunks, 'chunk'):>15}{skipped}   {model}{flag}")
        for c, health in zip(collections, healths, strict=True):
            if health.state in ("damaged", "interrupted"):
                print(f"  {c.name}: {health.advice(c.name)}", file=sys.stderr)
        return 0
    info = store.collection(args.collection)
    files = store.files(info)
    sources = store.sources(info)
    health = store.health(info)
    if args.json:
        print_json(
            {
                "collection": {**info.to_dict(), "health": health.to_dict()},
                "sources": [s.to_dict() for s in sources],
                "files": [f.to_dict() for f in files],
            }
        )
        return 0
    counts = f"{plural(info.files, 'file')}, {plural(info.chunks, 'chunk')}"
    print(f"{info.name}: {counts}, model {info.embed_model} ({info.embed_backend})")
    if health.flag:
        print(f"  {health.flag}: {health.reason}. {health.advice(info.name)}".rstrip())
    for s in sources:
        flag = "excluded" if s.mode == "exclude" else ("watched" if s.watch else "")
        print(f"  source   {s.path} {flag}".rstrip())
    for f in files:
        if f.status == "indexed":
            pages = f", {plural(f.pages, 'page')}" if f.pages else ""
            print(f"  indexed  {f.path} ({plural(f.chunks, 'chunk')}{pages})")
        elif found_no_text(f.reason):
            print(f"  no text  {f.path}")
        else:
            print(f"  skipped  {f.path}: {f.reason}")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    store = _store()
    info = store.collection(args.collection)
    removed = store.remove_source(info, args.path)
    if args.json:
        print_json({"collection": info.name, "removed": removed})
    else:
        print(f"Removed {plural(len(removed), 'file')} from {info.name}.")
    return 0


def cmd_drop(args: argparse.Namespace) -> int:
    store = _store()
    info = store.collection(args.collection)
    store.delete_collection(info.name)
    print(
        f"Deleted the collection {info.name} ({plural(info.files, 'file')}, {plural(info.chunks, 'chunk')}). "
        "Your files are untouched."
    )
    return 0


def cmd_rename(args: argparse.Namespace) -> int:
    info = _store().rename_collection(args.collection, args.new_name)
    print(f"Renamed to {info.name}.")
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    store = _store()
    info = store.collection(args.collection)
    interval = args.interval or rag_config.load().watch_interval_s
    cancel = CancelToken()

    said: list[str] = []

    def tick() -> None:
        try:
            report = ingest.index_collection(store, info.name, None, cancel)
        except HearthError as exc:  # damaged, a full disk…: said once, in words; the watch goes on
            if str(exc) not in said:
                said.append(str(exc))
                print(f"hearth: {exc}", file=sys.stderr, flush=True)
            return
        said.clear()
        if report.indexed or report.removed or report.skipped:
            stamp = time.strftime("%H:%M:%S")
            print(f"[{stamp}] {report.summary()}", flush=True)

    print(f"Watching {info.name} every {interval:g} s (Ctrl+C to stop).", file=sys.stderr)
    watcher = PollingWatcher(interval, tick)
    watcher.start()
    try:
        while watcher.join(1.0):
            pass
    except KeyboardInterrupt:
        cancel.cancel()
        watcher.stop()
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    result = retrieve.search(_store(), [args.collection], args.query, args.k)
    if args.json:
        print_json(
            [
                {
                    "source": h.source,
                    "page": h.page,
                    "page_label": h.page_label,
                    "heading": h.heading,
                    "text": h.text,
                    "score": round(h.score, 6),
                    "vector_score": None if h.vector_score is None else round(h.vector_score, 4),
                    "keyword_score": round(h.keyword_score, 4),
                    "relevant": h.relevant,
                    "start": h.start,
                    "end": h.end,
                }
                for h in result.hits
            ]
        )
        return 0
    if not result.hits:
        print("Nothing found.")
    for n, hit in enumerate(result.hits, start=1):
        note = "" if hit.relevant else "  (weak match)"
        print(f"[{n}] {hit.location}{' — ' + hit.heading if hit.heading else ''}{note}")
        print("    " + rag_answer.snippet(hit.text, 300))
    return 0


def cmd_model(args: argparse.Namespace) -> int:
    store = _store()
    plan = model_change.plan_model_change(store, args.collection, args.model, args.backend)
    print(plan.describe(), file=sys.stderr)
    if not args.yes and plan.reembed:
        if not sys.stdin.isatty():
            raise HearthError("Nothing was changed.", "Add --yes to re-embed the collection.")
        if input("Go ahead? [y/N] ").strip().lower() not in ("y", "yes"):
            print("Nothing was changed.")
            return 1
    model_change.change_model(store, args.collection, args.model, args.backend)
    if not plan.reembed:
        return 0
    report = _run_indexing(
        lambda cancel, progress, report: ingest.index_collection(store, args.collection, None, cancel, progress, report)
    )
    _print_report(report, False)
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    config = apply_overrides(settings.load(), args)
    rag_settings = rag_config.load()
    store = _store()
    collections = [c.strip() for c in args.collection.split(",") if c.strip()]
    for name in collections:
        store.collection(name)  # a wrong name fails before the model loads
    path = library.resolve(args.model, config.extra_model_paths)
    load, sampling = config.load, config.sampling
    engine = EngineProcess()
    print(f"Loading {path.name}…", file=sys.stderr)
    engine.load(path, load)
    options = rag_answer.AskOptions(
        k=args.k,
        documents_only=False if args.open_answers else None,
        system_prompt=config.system_prompt,
    )
    cancel = CancelToken()
    stream = rag_answer.answer_stream(
        engine, store, collections, args.question, sampling, cancel, options, rag_settings
    )
    try:
        result = stream_to_stdout(stream, rag_answer.RagAnswer, not args.json, cancel)
    finally:
        engine.unload()
    if args.json:
        data = result.to_dict()
        data["citations"] = [
            {
                "number": c.number,
                "source": c.source,
                "page": c.page,
                "page_label": c.page_label,
                "heading": c.heading,
                "text": c.text,
                "score": round(c.score, 6),
                "cited": c.cited,
                "matches_answer": c.matches_answer,
            }
            for c in result.citations
        ]
        if not args.inspect:
            data.pop("inspector")
        print_json(data)
        return 0
    sys.stdout.write("\n")
    cited = result.cited
    if cited:
        print("\nSources:")
        for c in cited:
            print(f"  [{c.number}] {c.location} — {c.source}")
    others = [c for c in result.citations if not c.cited]
    if others and not result.no_answer:
        print("Also retrieved, not cited: " + "; ".join(f"[{c.number}] {c.location}" for c in others))
    for warning in result.warnings:
        print(f"Note: {warning}", file=sys.stderr)
    return 0

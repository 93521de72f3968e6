"""`hearth hub search`, `hearth hub files`, `hearth pull`: GGUF models on the Hugging Face Hub."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from desktop_app.cli.output import ProgressLine, bar, print_json
from desktop_app.core import settings
from desktop_app.core.cancel import Progress
from desktop_app.core.hub import client as hub_client
from desktop_app.core.hub.downloads import DownloadItem, DownloadQueue, DownloadState
from desktop_app.core.units import human_bytes, human_duration


def register(sub: Any) -> None:
    p = sub.add_parser("hub", help="browse GGUF models on the Hugging Face Hub")
    p.set_defaults(func=lambda _args: _usage(p))
    hub_sub = p.add_subparsers(dest="hub_command", metavar="COMMAND")

    s = hub_sub.add_parser("search", help="search GGUF model repositories")
    s.add_argument("query", help='words in the repository name (may be empty: "")')
    s.add_argument(
        "--sort", choices=list(hub_client.SORTS), default="downloads", help="best first by (default: downloads)"
    )
    s.add_argument("--limit", type=int, default=20, help="how many results (default: 20)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_search)

    f = hub_sub.add_parser("files", help="a repository's GGUF files, their quant, size and fit on this computer")
    f.add_argument("repo", help="owner/name or a Hub address")
    f.add_argument("--ctx", type=int, default=None, help="context length for the fit (default: the one in Settings)")
    f.add_argument("--no-fit", action="store_true", help="list the files without reading their headers")
    f.add_argument("--json", action="store_true")
    f.set_defaults(func=cmd_files)

    pull = sub.add_parser("pull", help="download a GGUF model from the Hub (Ctrl+C pauses; run again to resume)")
    pull.add_argument("repo", help="owner/name or a Hub address")
    pull.add_argument("file", help="a file name, a split model's name, or a quant such as Q4_K_M")
    where = pull.add_mutually_exclusive_group()
    where.add_argument("--hf-cache", action="store_true", help="save into the shared Hugging Face cache")
    where.add_argument("--models-folder", action="store_true", help="save into Hearth's models folder")
    pull.set_defaults(func=cmd_pull)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 1


def cmd_search(args: argparse.Namespace) -> int:
    results = hub_client.search(args.query, sort=args.sort, limit=args.limit)
    if args.json:
        print_json([r.to_dict() for r in results])
        return 0
    if not results:
        print("No GGUF repositories match.")
        return 0
    print(f"{'repository':56} {'downloads':>10} {'likes':>6}  updated")
    for r in results:
        updated = r.last_modified.date().isoformat() if r.last_modified else ""
        gated = "  (gated)" if r.gated else ""
        print(f"{r.repo_id:56} {r.downloads:>10,} {r.likes:>6,}  {updated}{gated}")
    return 0


def cmd_files(args: argparse.Namespace) -> int:
    n_ctx = args.ctx or settings.load().load.n_ctx
    page = hub_client.open_repo(args.repo)
    if args.json:
        data = page.to_dict()
        data["n_ctx"] = n_ctx
        if not args.no_fit:
            fits = hub_client.badges(page, n_ctx)
            for model in data["models"]:
                model["fit"] = fits[model["name"]].to_dict()
        print_json(data)
        return 0
    _print_card(page)
    if not page.models:
        print("This repository has no GGUF model files.")
        return 0
    if not args.no_fit:
        print(f"Fit on this computer at a context of {n_ctx:,} tokens:", file=sys.stderr)
    for group in page.groups:
        print(f"\n{group.quant}")
        for model in group.models:
            parts = f" ({len(model.parts)} parts)" if model.is_split else ""
            line = f"  {model.name}{parts:<4}  {human_bytes(model.size):>9}"
            if args.no_fit:
                print(line)
                continue
            print(line, end="", flush=True)
            badge = hub_client.badges(_single(page, model), n_ctx)[model.name]
            detail = f" ({badge.detail})" if badge.detail else ""
            print(f"  {badge.label}{detail}")
    for name in page.refused:
        print(f"\nRefused (unsafe file name): {name}")
    return 0


def _single(page: hub_client.RepoPage, model: hub_client.ModelFile) -> hub_client.RepoPage:
    """The page with one model, so each badge prints as soon as its header is read."""
    import dataclasses

    return dataclasses.replace(page, models=[model])


def _print_card(page: hub_client.RepoPage) -> None:
    print(page.repo_id)
    facts = page.card_facts()
    if facts:
        print("  " + ", ".join(facts))
    if page.base_models:
        print(f"  based on {', '.join(page.base_models)}")
    print(f"  revision {page.revision[:12]}, {page.downloads:,} downloads, {page.likes:,} likes")
    if page.gated:
        print(f"  {page.gated_message}")


def download_bar(item: DownloadItem) -> ProgressLine[Progress]:
    """A one-line progress bar on stderr, redrawn at most ten times a second (every 10 % in a log)."""

    def words(progress: Progress, tty: bool) -> str:
        fraction = progress.fraction or 0.0
        done = f"{human_bytes(progress.done)} / {human_bytes(progress.total or 0)}"
        text = f"{item.name[:40]:40} {fraction:4.0%} {bar(fraction, 24, '█', '░')} {done}  {progress.message}"
        return text[:160] if tty else text

    return ProgressLine(
        words, lambda p: (p.fraction or 0.0) >= 1.0, fraction=lambda p: p.fraction or 0.0, by_tenths=True, pad=120,
        end_line_when_final=False,
    )  # fmt: skip


def cmd_pull(args: argparse.Namespace) -> int:
    queue = DownloadQueue()
    to_cache = True if args.hf_cache else False if args.models_folder else None  # None: the saved preference
    items = queue.request(args.repo, args.file, to_hf_cache=to_cache)
    for item in items:
        if item.state == DownloadState.DONE and item.path:
            print(f"Already downloaded: {item.path}", file=sys.stderr)
            print(item.path)
            continue
        if item.downloaded:
            print(
                f"Resuming {item.name} at {human_bytes(item.downloaded)} of {human_bytes(item.size)}…", file=sys.stderr
            )
        shown = download_bar(item)
        started = time.monotonic()
        try:
            path = queue.run(item.id, progress=shown)
        except KeyboardInterrupt:
            shown.close()
            state = queue.get(item.id)
            print(
                f"Paused {state.name} at {human_bytes(state.downloaded)} of {human_bytes(state.size)}. "
                "Run the same command again to resume.",
                file=sys.stderr,
            )
            raise
        finally:
            shown.close()
        took = time.monotonic() - started
        print(
            f"Downloaded and verified {item.name} ({human_bytes(item.size)} in {human_duration(took)}), "
            f"revision {item.revision[:12]}.",
            file=sys.stderr,
        )
        print(path)
    return 0

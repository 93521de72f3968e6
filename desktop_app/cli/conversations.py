"""`hearth conversations`, `hearth export ID`: the saved conversations, exported to cite them."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from desktop_app.cli.output import print_json
from desktop_app.core.conversations import export
from desktop_app.core.conversations.store import ConversationStore
from desktop_app.core.errors import HearthError


def register(sub: Any) -> None:
    p = sub.add_parser("conversations", help="the saved conversations, newest first")
    p.add_argument("--search", default="", metavar="TEXT", help="only those whose title or messages contain TEXT")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_conversations)

    p = sub.add_parser(
        "export",
        help="a conversation as Markdown or JSON, with what produced each answer",
        description="Exports conversation ID (see `hearth conversations`) with, for each answer, the model "
        "file and its sha256, the llama.cpp version, the seed, every setting and the timings, and the sources "
        "of answers from documents. Markdown reads well; JSON keeps every stored field.",
    )
    p.add_argument("id", type=int, help="the conversation's id")
    p.add_argument(
        "--format", choices=export.FORMATS, default=None, help="md or json (default: from -o's suffix, else md)"
    )
    p.add_argument("-o", "--output", type=Path, default=None, metavar="FILE", help="write FILE instead of stdout")
    p.set_defaults(func=cmd_export)


def cmd_conversations(args: argparse.Namespace) -> int:
    store = ConversationStore()
    try:
        conversations = store.list(args.search)
        counts = store.message_counts()
    finally:
        store.close()
    if args.json:
        print_json(
            [
                {
                    "id": c.id,
                    "title": c.title,
                    "created_at": c.created_at,
                    "updated_at": c.updated_at,
                    "updated": export.iso_time(c.updated_at),
                    "messages": counts.get(c.id, 0),
                }
                for c in conversations
            ]
        )
        return 0
    if not conversations:
        print("No conversations match." if args.search.strip() else "No conversations yet.")
    for c in conversations:
        updated = time.strftime("%Y-%m-%d %H:%M", time.localtime(c.updated_at))
        print(f"{c.id:>5}  {updated}  {counts.get(c.id, 0):>4} msgs  {c.title}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    store = ConversationStore()
    try:
        try:
            store.get(args.id)
        except HearthError:
            raise HearthError(
                f"There is no conversation with id {args.id}.", "`hearth conversations` lists them."
            ) from None
        if args.output is None:
            sys.stdout.write(export.render(store, args.id, args.format or "md"))
            return 0
        path = export.write_export(store, args.id, args.output, args.format)
    finally:
        store.close()
    print(f"Exported conversation {args.id} to {path}", file=sys.stderr)
    return 0

"""`hearth serve`: Hearth's OpenAI-compatible server in the foreground, until Ctrl+C.

Loopback only unless --host says otherwise; another address needs the API key (``--new-key``
creates one, prints it once and keeps it in the keyring, or a private file without one).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from desktop_app.core import secrets
from desktop_app.core import settings as settings_store
from desktop_app.core.server import access


def register(sub: Any) -> None:
    p = sub.add_parser("serve", help="serve the local models over an OpenAI-compatible API")
    p.add_argument("--host", default=None, help="address to listen on (default: 127.0.0.1, this computer only)")
    p.add_argument("--port", type=int, default=None, help="port (default: the one in Settings, 8765)")
    p.add_argument("--model", default=None, help="load this model now rather than at the first request")
    p.add_argument("--new-key", action="store_true", help="create a new API key, print it once, and require it")
    p.add_argument("--no-key", action="store_true", help="forget the API key (loopback only, then)")
    p.add_argument(
        "--no-conversations",
        action="store_true",
        help="keep answers in the request log only, not as “API: …” conversations (a client may still ask)",
    )
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    from desktop_app.core.server.model_access import EngineQueue
    from desktop_app.core.server.runner import LocalServer

    config = settings_store.load()
    host = args.host or config.server.host
    port = config.server.port if args.port is None else args.port
    if args.no_key:
        access.forget_key()
    key = access.new_key() if args.new_key else access.stored_key()
    access.check_bind(host, key)  # refused before any model loads
    if args.new_key:
        print(f"API key (shown once, kept in {secrets.where()}):\n  {key}", file=sys.stderr)
    models = EngineQueue(config)

    def defaults() -> settings_store.Settings:  # read per request, as the window does
        current = settings_store.load()
        if args.no_conversations:
            current.server.save_conversations = False
        return current

    try:
        server = LocalServer(models, host, port, key, defaults=defaults)
        if args.model:
            print(f"Loading {args.model}…", file=sys.stderr)
            models.preload(args.model)
        guarded = "an API key is required" if key else "no API key"

        def listening(url: str) -> None:
            print(f"Hearth is serving on {url} ({guarded}). Ctrl+C stops.", file=sys.stderr, flush=True)

        try:
            server.serve_forever(listening)
        except KeyboardInterrupt:  # uvicorn has shut down cleanly, then passes Ctrl+C on
            pass
        print("Hearth's server stopped.", file=sys.stderr)
    finally:
        models.close()
    return 0

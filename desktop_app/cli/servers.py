"""`hearth servers …`: the OpenAI-compatible servers Hearth can use (llama-server, vLLM, Ollama,
another Hearth) — the same list as Settings › Servers, kept in the settings file (keys in the
keyring or the private secrets file, never in settings)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from desktop_app.cli.output import print_json
from desktop_app.core import secrets, settings
from desktop_app.core.errors import HearthError
from desktop_app.core.inference import remote
from desktop_app.core.settings import RemoteEndpoint


def register(sub: Any) -> None:
    servers = sub.add_parser("servers", help="the OpenAI-compatible servers Hearth can use (as in Settings)")
    ssub = servers.add_subparsers(dest="servers_command", metavar="ACTION")
    servers.set_defaults(func=lambda _args: (servers.print_help(), 1)[1])

    p = ssub.add_parser("list", help="the servers added")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)

    p = ssub.add_parser("add", help="add a server (then test it)")
    p.add_argument("name")
    p.add_argument("url", help="its address, e.g. http://192.168.1.20:8080")
    p.add_argument("--key-stdin", action="store_true", help="read its API key from stdin (kept out of settings)")
    p.add_argument("--ctx", type=int, default=0, help="its context size, if it does not report it")
    p.add_argument("--concurrency", type=int, default=RemoteEndpoint().concurrency, help="rows a run sends at once")
    p.add_argument("--no-test", action="store_true", help="do not ask the server anything now")
    p.set_defaults(func=cmd_add)

    p = ssub.add_parser("test", help="ask a server what it is and which models it has")
    p.add_argument("server", help="its name, id or address")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_test)

    p = ssub.add_parser("remove", help="forget a server (and its key)")
    p.add_argument("server", help="its name, id or address")
    p.set_defaults(func=cmd_remove)


def find(endpoints: list[RemoteEndpoint], text: str) -> RemoteEndpoint:
    """A server by its id, name (any case) or address."""
    wanted = text.strip()
    for endpoint in endpoints:
        if wanted in (endpoint.id, endpoint.url) or wanted.casefold() == endpoint.name.casefold():
            return endpoint
    with_url = next((e for e in endpoints if _same_url(e.url, wanted)), None)
    if with_url is not None:
        return with_url
    names = ", ".join(e.name for e in endpoints) or "none yet"
    raise HearthError(f"There is no server “{text}” (servers: {names}).", "See them with: hearth servers list")


def _same_url(url: str, text: str) -> bool:
    try:
        return remote.normalise_url(text) == url
    except HearthError:
        return False


def cmd_list(args: argparse.Namespace) -> int:
    endpoints = settings.load().endpoints
    if args.json:
        print_json([{"id": e.id, "name": e.name, "url": e.url, "has_key": e.has_key, "n_ctx": e.n_ctx,
                     "concurrency": e.concurrency} for e in endpoints])  # fmt: skip
        return 0
    if not endpoints:
        print("No servers yet. Add one with: hearth servers add NAME URL")
    for e in endpoints:
        key = " · key" if e.has_key else ""
        print(f"{e.name:24} {e.url}{key}   (id {e.id})")
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    config = settings.load()
    url = remote.normalise_url(args.url)
    name = args.name.strip() or url.split("://", 1)[-1]
    clash = next((e for e in config.endpoints if e.name.casefold() == name.casefold() or e.url == url), None)
    if clash is not None:
        raise HearthError(
            f"A server “{clash.name}” ({clash.url}) is already added.", "Remove it first, or pick another name."
        )
    key = sys.stdin.readline().strip() if args.key_stdin else ""
    if args.ctx < 0 or args.concurrency < 1:
        raise HearthError("The context size must be 0 or more, and requests at once 1 or more.")
    endpoint = RemoteEndpoint(
        id=remote.new_endpoint_id(), name=name, url=url, has_key=bool(key), n_ctx=args.ctx,
        concurrency=args.concurrency,
    )  # fmt: skip
    if key:
        secrets.put(remote.key_name(endpoint.id), key)
    config.endpoints.append(endpoint)
    settings.save(config)
    print(f"Added {endpoint.name} ({endpoint.url}).")
    if args.no_test:
        return 0
    try:
        print(_describe(_test(endpoint)))
    except HearthError as exc:
        print(f"It does not answer yet: {exc}", file=sys.stderr)
    return 0


def _test(endpoint: RemoteEndpoint) -> dict[str, Any]:
    client = remote.RemoteClient.for_endpoint(endpoint)
    try:
        models = client.model_ids()
        kind = client.kind()
    finally:
        client.close()
    return {"name": endpoint.name, "url": endpoint.url, "kind": remote.KINDS.get(kind, kind), "models": models}


def _describe(result: dict[str, Any]) -> str:
    models = result["models"]
    listed = ", ".join(models[:6]) + (f" and {len(models) - 6} more" if len(models) > 6 else "")
    return f"Reached: {result['kind']}, {len(models)} model{'s' if len(models) != 1 else ''}: {listed or 'none'}."


def cmd_test(args: argparse.Namespace) -> int:
    endpoint = find(settings.load().endpoints, args.server)
    result = _test(endpoint)
    if args.json:
        print_json(result)
    else:
        print(f"{endpoint.name} ({endpoint.url}): {_describe(result)}")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    config = settings.load()
    endpoint = find(config.endpoints, args.server)
    secrets.delete(remote.key_name(endpoint.id))
    config.endpoints = [e for e in config.endpoints if e.id != endpoint.id]
    settings.save(config)
    print(f"Removed {endpoint.name} ({endpoint.url}).")
    return 0

"""`hearth chat`: one question to a local model, streamed or as JSON with its provenance."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from desktop_app.cli.output import print_json, stream_to_stdout
from desktop_app.core import settings
from desktop_app.core.cancel import CancelToken
from desktop_app.core.conversations.chat import make_provenance
from desktop_app.core.inference.engine import Message, Reply
from desktop_app.core.inference.engine_process import EngineProcess
from desktop_app.core.models import library
from desktop_app.core.models.fingerprint import cached_sha256

BASE_MODEL_NOTE = (
    "this looks like a base model: it continues text rather than following instructions, so the "
    "prompt is given to it as plain text to continue, and its reply may not answer it. If it is really "
    "an instruction-tuned model, choose a chat template for it in the window's side panel."
)


def register(sub: Any) -> None:
    p = sub.add_parser("chat", help="ask a local model one question")
    p.add_argument("model", help="a .gguf path or a local model's name")
    p.add_argument("-p", "--prompt", required=True)
    p.add_argument("--system", default=None, help="system prompt (default: the one in Settings)")
    p.add_argument("--temp", type=float, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--max-tokens", type=int, default=None)
    p.add_argument("--ctx", type=int, default=None)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_chat)


def apply_overrides(config: settings.Settings, args: argparse.Namespace) -> settings.Settings:
    """The saved settings with the command line's --ctx/--temp/--seed/--max-tokens on top."""
    if getattr(args, "ctx", None):
        config.load.n_ctx = args.ctx
    if getattr(args, "temp", None) is not None:
        config.sampling.temperature = args.temp
    if getattr(args, "seed", None) is not None:
        config.sampling.seed = args.seed
    if getattr(args, "max_tokens", None) is not None:
        config.sampling.max_tokens = args.max_tokens
    return config


def cmd_chat(args: argparse.Namespace) -> int:
    config = apply_overrides(settings.load(), args)
    path = library.resolve(args.model, config.extra_model_paths)
    load, sampling = config.load, config.sampling
    system = config.system_prompt if args.system is None else args.system
    engine = EngineProcess()
    model = engine.load(path, load)
    if model.template.continuation:  # said as the window says it, but on stderr (stdout is the reply)
        print(f"hearth: {BASE_MODEL_NOTE}", file=sys.stderr)
    sha256 = cached_sha256(path)
    messages = [Message("system", system)] if system.strip() else []
    messages.append(Message("user", args.prompt))
    cancel = CancelToken()
    reply = stream_to_stdout(engine.stream_chat(messages, sampling, cancel), Reply, not args.json, cancel)
    if args.json:
        provenance = make_provenance(model, sha256, sampling, system, reply)
        print_json(
            {
                "text": reply.text,
                "finish": reply.finish,
                "model": {"path": str(path), "name": model.name, "sha256": sha256, "quant": model.info.quant},
                "settings": provenance.settings,
                "llama_cpp_version": model.llama_cpp_version,
                "timings": reply.timings.to_dict(),
            }
        )
    else:
        t = reply.timings
        sys.stdout.write("\n")
        print(
            f"[{t.prompt_tokens} prompt tokens at {t.prompt_tok_s:.0f} tok/s, {t.gen_tokens} generated at "
            f"{t.gen_tok_s:.1f} tok/s, first token after {t.ttft_s:.2f} s; seed {reply.seed}]",
            file=sys.stderr,
        )
    engine.unload()
    return 0

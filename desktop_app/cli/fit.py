"""`hearth fit MODEL`: will this model run here, on what, at which context, and why."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from desktop_app.cli.output import print_json
from desktop_app.core import hardware, settings
from desktop_app.core.fit import plan as fit_plan
from desktop_app.core.fit.breakdown import memory_rows
from desktop_app.core.fit.result import FitResult, Verdict
from desktop_app.core.models import gguf_meta, library
from desktop_app.core.models.gguf_meta import GGUFInfo
from desktop_app.core.units import human_bytes

VERDICT_WORDS = {
    Verdict.FULL_GPU: "runs fully on the GPU",
    Verdict.PARTIAL_GPU: "runs partly on the GPU",
    Verdict.CPU: "runs on the CPU",
    Verdict.TOO_LARGE: "does not fit in this computer's memory",
}


def register(sub: Any) -> None:
    p = sub.add_parser(
        "fit",
        help="will a model fit this computer's RAM/VRAM at a context length (and why)",
        description="Plans a model's memory from its GGUF header: weights per layer, KV cache, compute "
        "buffers, per device. MODEL is a .gguf path, a local model's name, an http(s) URL of a "
        ".gguf file, or hf://OWNER/REPO/FILE.gguf[@REVISION] (only the header is read).",
    )
    p.add_argument("model", help="a .gguf path, a local model's name, a URL or hf://owner/repo/file.gguf")
    p.add_argument("--ctx", type=int, default=None, help="context length in tokens (default: the one in Settings)")
    p.add_argument("--kv", choices=fit_plan.KV_TYPES, default="f16", help="KV cache type (default f16)")
    p.add_argument(
        "--measure",
        action="store_true",
        help="also load the model (local files only), measure what it really uses and record the error",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_fit)


def read_model(spec: str, extra_paths: list[str]) -> tuple[GGUFInfo, str, Path | None]:
    """(header, display name, local path or None) for a path, a local name, a URL or hf://..."""
    if spec.startswith(("http://", "https://")):
        info = gguf_meta.read_remote(spec, _headers_for(spec))
        return info, spec.rsplit("/", 1)[-1], None
    if spec.startswith("hf://"):
        rest, _, revision = spec.removeprefix("hf://").partition("@")
        parts = rest.split("/")
        if len(parts) < 3:
            from desktop_app.core.errors import HearthError

            raise HearthError(f"“{spec}” is not hf://OWNER/REPO/FILE.gguf.")
        repo_id, filename = "/".join(parts[:2]), "/".join(parts[2:])
        info = gguf_meta.read_hub(repo_id, filename, revision or "main")
        return info, filename, None
    path = library.resolve(spec, extra_paths)
    return library.read_header(path), path.name, path


def _headers_for(url: str) -> dict[str, str]:
    """The Hub token goes only to the Hub (or the HF_ENDPOINT mirror), never to other servers."""
    from huggingface_hub import constants

    return gguf_meta.hub_auth_headers() if url.startswith(constants.ENDPOINT.rstrip("/") + "/") else {}


def cmd_fit(args: argparse.Namespace) -> int:
    config = settings.load()
    n_ctx = args.ctx or config.load.n_ctx
    info, name, path = read_model(args.model, config.extra_model_paths)
    hw = hardware.detect()
    result = fit_plan.plan(info, hw, n_ctx, args.kv)
    measured: dict[str, Any] | None = None
    if args.measure:
        measured = _measure(path, name, result, args.kv)
    if args.json:
        data = result.to_dict()
        data["model"] = {"name": info.name or name, "source": str(path) if path else args.model, **info.summary()}
        if measured is not None:
            data["measured"] = measured
        print_json(data)
        return 0
    _print_plan(result, info, name, hw)
    if measured is not None:
        err = measured["ram_error"]
        print(
            f"\nMeasured: {human_bytes(measured['ram_bytes'])} of RAM after loading and a "
            f"{measured['prompt_tokens']}-token prompt; the plan said {human_bytes(result.ram_bytes)} "
            f"({err:+.1%})."
        )
    return 0


def _measure(path: Path | None, name: str, result: FitResult, kv_type: str) -> dict[str, Any]:
    from desktop_app.core.errors import HearthError
    from desktop_app.core.fit import calibration
    from desktop_app.core.inference import probe as load_probe

    if path is None:
        raise HearthError("--measure needs a local model file.", "Download it first, or leave out --measure.")
    if kv_type != "f16":
        raise HearthError("--measure loads with Hearth's engine, which uses an f16 KV cache.", "Leave out --kv.")
    if result.verdict is Verdict.TOO_LARGE:
        raise HearthError(f"“{name}” does not fit in memory at {result.n_ctx:,} tokens; not loading it.")
    m = load_probe.measure(path, result.n_ctx)
    calibration.record(path, result.n_ctx, kv_type, result, m.ram_bytes, m.vram_bytes)
    data = m.to_dict()
    data["ram_error"] = (result.ram_bytes - m.ram_bytes) / m.ram_bytes if m.ram_bytes else 0.0
    return data


def _print_plan(result: FitResult, info: GGUFInfo, name: str, hw: hardware.HardwareInfo) -> None:
    title = info.name or name
    print(f"{title} ({info.quant}, {info.architecture}) at {result.n_ctx:,} tokens, KV cache {result.kv_type}")
    verdict = VERDICT_WORDS[result.verdict]
    if result.verdict is Verdict.PARTIAL_GPU:
        verdict += f": {result.gpu_layers} of {result.n_layers} layers on the GPU"
    print(f"Verdict: {verdict}")
    with_gpu = bool(result.gpu_layers) and result.breakdown.gpu is not None
    print(f"{'':16}{'RAM':>12}" + (f"{'GPU':>12}" if with_gpu else ""))
    for row in memory_rows(result):
        print(f"{row.short:16}{_cell(row.ram):>12}" + (f"{_cell(row.gpu):>12}" if with_gpu else ""))
    full_gpu = f"{result.max_ctx_full_gpu:,}" if result.max_ctx_full_gpu else "none"
    print(f"Largest context: {result.max_ctx:,} tokens (fully on the GPU: {full_gpu})")
    if not hw.gpus:
        print("GPU: none found" + ("" if hw.gpu_offload else f"; this llama.cpp build runs on the {hw.backend}"))
    for note in result.notes:
        print(f"- {note}")


def _cell(value: int | None) -> str:
    if value is None:
        return "—"
    return human_bytes(max(0, value))

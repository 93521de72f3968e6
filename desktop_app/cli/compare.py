"""`hearth compare` and `hearth quantize`: the quantisation lab from the command line."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from desktop_app.cli.output import ProgressLine, bar, print_json
from desktop_app.core import settings
from desktop_app.core.cancel import Progress
from desktop_app.core.models import library
from desktop_app.core.quantlab import saved as saved_comparisons
from desktop_app.core.quantlab.measure import EvalText, run_comparison
from desktop_app.core.quantlab.quantize import QUANT_TYPES, quantize
from desktop_app.core.quantlab.results import CompareSettings, ComparisonRun, VariantResult
from desktop_app.core.units import human_bytes


def register(sub: Any) -> None:
    p = sub.add_parser(
        "compare",
        help="measure variants of a model: memory, speed, perplexity, KL divergence against the best one",
        description="Measures each model on this machine, each in a fresh process, and saves the run. "
        "The reference (for KL divergence and top-1 agreement) is the variant with the most bits per "
        "weight unless --reference names another.",
    )
    p.add_argument("models", nargs="+", metavar="MODEL", help="a .gguf path or a local model's name")
    p.add_argument("--reference", metavar="MODEL", help="the variant the others are measured against")
    p.add_argument("--text", metavar="FILE", help="evaluation text (default: the bundled sample)")
    p.add_argument("--tokens", type=int, default=None, help="tokens of the text to evaluate (default: the whole text)")
    p.add_argument(
        "--kl-top-k",
        type=int,
        default=None,
        metavar="K",
        help="approximate KL divergence from the reference's top K tokens (default: exact, full distributions)",
    )
    p.add_argument("--window", type=int, default=None, help="tokens per evaluation window (default 512)")
    p.add_argument("--ctx", type=int, default=None, help="context the models are loaded with (default 2048)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: physical cores)")
    p.add_argument("--prompt", help="a prompt every variant answers, with the same seed and settings")
    p.add_argument("--seed", type=int, default=None, help="seed for the answers (default: random, recorded)")
    p.add_argument("--max-tokens", type=int, default=None, help="longest answer (default 256)")
    p.add_argument("--export", metavar="FILE", help="also write the run to FILE (.csv or .json)")
    p.add_argument("--json", action="store_true", help="print one JSON row per model")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser(
        "quantize",
        help="make a quantised variant of a local model with llama.cpp",
        description=f"Types: {', '.join(QUANT_TYPES)}.",
    )
    p.add_argument("model", help="a .gguf path or a local model's name (best: an F16/BF16 file)")
    p.add_argument("type", metavar="TYPE", help="the quantisation type, e.g. Q4_K_M")
    p.add_argument("-o", "--output", help="output file (default: beside the model, named after the type)")
    p.add_argument(
        "--allow-requantize",
        action="store_true",
        help="allow quantising an already-quantised model (worse than quantising the original)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (default: all)")
    p.set_defaults(func=cmd_quantize)


def progress_bar() -> ProgressLine[Progress]:
    """A one-line progress bar on a terminal; whole lines (every 10 %) elsewhere."""

    def words(progress: Progress, tty: bool) -> str:
        fraction = progress.fraction or 0.0
        if tty:
            return f"[{bar(fraction, 28)}] {fraction:4.0%} {progress.message}"[:109]
        return f"{fraction:4.0%} {progress.message}"

    return ProgressLine(
        words, lambda p: (p.fraction or 0.0) >= 1.0, fraction=lambda p: p.fraction or 0.0, by_tenths=True, pad=109,
        end_line_when_final=False,
    )  # fmt: skip


def cmd_quantize(args: argparse.Namespace) -> int:
    config = settings.load()
    source = library.resolve(args.model, config.extra_model_paths)
    shown = progress_bar()
    try:
        result = quantize(
            source,
            args.output,
            args.type,
            allow_requantize=args.allow_requantize,
            overwrite=args.overwrite,
            n_threads=args.threads,
            progress=shown,
        )
    finally:
        shown.close()
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"{result.path}  ({result.quant}, {human_bytes(result.size_bytes)})")
    return 0


def build_settings(args: argparse.Namespace) -> CompareSettings:
    config = settings.load()
    s = CompareSettings(system_prompt=config.system_prompt)
    s.sampling = config.sampling
    s.sampling.seed = -1
    s.sampling.max_tokens = 256
    if args.tokens is not None:
        s.tokens = args.tokens
    if args.kl_top_k is not None:
        s.kl_top_k = args.kl_top_k
    if args.window is not None:
        s.window = args.window
    if args.ctx is not None:
        s.n_ctx = args.ctx
    if s.window > s.n_ctx:
        s.window = s.n_ctx
    if args.threads is not None:
        s.n_threads = args.threads
    if args.prompt:
        s.prompt = args.prompt
    if args.seed is not None:
        s.sampling.seed = args.seed
    if args.max_tokens is not None:
        s.sampling.max_tokens = args.max_tokens
    return s


def json_row(run: ComparisonRun, r: VariantResult, with_answer: bool) -> dict[str, Any]:
    row: dict[str, Any] = {
        "model": {"path": r.path, "name": r.name, "sha256": r.sha256, "quant": r.quant},
        "reference": r.is_reference,
        "bits_per_weight": r.bits_per_weight,
        "size_bytes": r.size_bytes,
        "load_s": r.load_s,
        "peak_rss_bytes": r.peak_rss_bytes,
        "model_rss_bytes": r.model_rss_bytes,
        "vram_bytes": r.vram_bytes,
        "prompt_tok_s": r.prompt_tok_s,
        "gen_tok_s": r.gen_tok_s,
        "speed_rounds": r.speed_runs,
        "perplexity": r.perplexity,
        "perplexity_unc": r.perplexity_unc,
        "ppl_ratio": r.ppl_ratio,
        "ppl_ratio_unc": r.ppl_ratio_unc,
        "kl_divergence": r.kl_divergence,
        "kl_unc": r.kl_unc,
        "kl_p99": r.kl_p99,
        "kl_p999": r.kl_p999,
        "kl_max": r.kl_max,
        "rms_dp": r.rms_dp,
        "rms_dp_unc": r.rms_dp_unc,
        "top1_agreement": r.top1_agreement,
        "top1_unc": r.top1_unc,
        "kl_method": r.kl_method or run.kl_method,
        "n_scored": r.n_scored,
        "text_tokens": run.n_text_tokens,
        "error": r.error,
        "notes": r.notes,
        "run_id": run.id,
    }
    if with_answer:
        row["answer"] = r.answer
    return row


def _fmt(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def _pm(value: float | None, unc: float | None, spec: str, scale: float = 1.0) -> str:
    """A figure with its uncertainty, as llama-perplexity prints it: 12.345 ± 0.067."""
    if value is None:
        return "—"
    text = format(value * scale, spec)
    return text if unc is None else f"{text} ± {format(unc * scale, spec)}"


def print_table(run: ComparisonRun) -> None:
    header = f"{'model':34} {'quant':7} {'size':>9} {'load':>6} {'peak RAM':>9} {'prompt':>8} {'gen':>7} " + (
        f"{'PPL':>17} {'KL':>17} {'top-1 %':>13}"
    )
    print(header)
    print("-" * len(header))
    for r in run.results:
        name = (r.name + (" *" if r.is_reference else ""))[:34]
        if r.error:
            print(f"{name:34} {r.quant:7} {human_bytes(r.size_bytes):>9}  failed: {r.error}")
            continue
        print(
            f"{name:34} {r.quant:7} {human_bytes(r.size_bytes):>9} {_fmt(r.load_s, '.2f'):>5}s "
            f"{human_bytes(r.peak_rss_bytes or 0):>9} {_fmt(r.prompt_tok_s, '.0f'):>8} {_fmt(r.gen_tok_s, '.1f'):>7} "
            f"{_pm(r.perplexity, r.perplexity_unc, '.3f'):>17} {_pm(r.kl_divergence, r.kl_unc, '.4f'):>17} "
            f"{_pm(r.top1_agreement, r.top1_unc, '.1f', 100):>13}"
        )
    print()
    print(
        f"* reference. Speeds in tokens/s (prompt: one batch; gen: one token at a time). "
        f"Perplexity and KL over {run.results[0].n_scored if run.results else 0} scored tokens "
        f"({run.n_text_tokens} tokens of {run.text_source}, windows of {run.settings.window}, as llama-perplexity "
        f"scores them); ± is one standard error; KL {run.kl_method}."
    )
    if run.id is not None:
        print(f"Saved as run {run.id}.")


def cmd_compare(args: argparse.Namespace) -> int:
    config = settings.load()
    models = [library.resolve(m, config.extra_model_paths) for m in args.models]
    reference = library.resolve(args.reference, config.extra_model_paths) if args.reference else None
    text = EvalText.from_file(args.text) if args.text else EvalText.sample()
    compare_settings = build_settings(args)
    shown = progress_bar()
    try:
        run = run_comparison(models, compare_settings, text, reference=reference, progress=shown)
    finally:
        shown.close()
    if all(r.error for r in run.results[1:]) and len(run.results) > 1:
        print("hearth: every variant but the reference failed; see the errors below.", file=sys.stderr)
    if args.export:
        saved_comparisons.export(run, args.export)
    if args.json:
        print_json([json_row(run, r, bool(compare_settings.prompt)) for r in run.results])
        return 0
    print_table(run)
    if compare_settings.prompt:
        print(f"\nPrompt: {compare_settings.prompt}  (seed {compare_settings.sampling.seed})")
        for r in run.results:
            print(f"\n== {r.name} ({r.quant}) ==")
            print(r.answer if r.answer is not None else f"(no answer: {r.error})")
    return 0

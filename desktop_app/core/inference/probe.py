"""Measuring a real load in a fresh process: what loading a model and a first reply add to RAM.

The fit plan (``core/fit``) estimates this figure; :mod:`desktop_app.core.fit.calibration`
keeps the record of estimate against measurement. The probe runs as
``hearth --calibration-probe MODEL N_CTX THREADS GPU`` so it also works in a frozen app.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from desktop_app.core.errors import HearthError
from desktop_app.core.memory import peak_rss_bytes, process_vram_bytes, rss_bytes

PROBE_PROMPT_TOKENS = 450


PROBE_NEW_TOKENS = 8


_PROBE_TEXT = (
    "Hearth runs open language models on this computer. It reads the model's header, plans "
    "how much memory the weights, the cache and the compute buffers need, and then loads it. "
)


@dataclass(frozen=True)
class Measurement:
    """One real load, measured in a fresh process."""

    ram_bytes: int  # peak RSS minus the RSS of the interpreter with llama_cpp imported
    baseline_rss: int
    peak_rss: int
    after_load_rss: int
    n_ctx: int
    prompt_tokens: int
    gpu_layers: int
    vram_bytes: int | None
    load_s: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


PROBE_ARGUMENT = "--calibration-probe"  # `hearth --calibration-probe MODEL N_CTX THREADS GPU`: internal


def measure(
    path: str | Path, n_ctx: int, *, n_threads: int = 0, n_gpu_layers: int | None = None, timeout: float = 600
) -> Measurement:
    """Loads ``path`` at ``n_ctx`` in a new Python process and measures what it adds.

    The load uses the app's default LoadSettings; ``n_threads`` and ``n_gpu_layers`` (None:
    the settings' default, every layer the build can offload) override them.
    Raises HearthError when the model cannot be loaded there.
    """
    gpu = "default" if n_gpu_layers is None else str(n_gpu_layers)
    # A frozen app's executable is Hearth itself, which knows the probe as a hidden argument.
    runner = [sys.executable] if getattr(sys, "frozen", False) else [sys.executable, "-m", "desktop_app"]
    cmd = [*runner, PROBE_ARGUMENT, str(path), str(n_ctx), str(n_threads), gpu]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise HearthError(f"Measuring “{Path(path).name}” took longer than {timeout:.0f} s.") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise HearthError(f"Measuring “{Path(path).name}” failed: {last}")
    return Measurement(**json.loads(done.stdout.strip().splitlines()[-1]))


def probe(argv: Sequence[str]) -> int:
    """The measuring process: baseline, load, one long prompt, a few tokens, peak."""
    import gc

    import llama_cpp  # noqa: F401 - part of the baseline, as in the app

    from desktop_app.core.inference.engine import Engine, Message
    from desktop_app.core.settings import LoadSettings, SamplingSettings

    path, n_ctx = argv[0], int(argv[1])
    settings = LoadSettings(n_ctx=n_ctx, n_threads=int(argv[2]) if len(argv) > 2 else 0)
    if len(argv) > 3 and argv[3] != "default":
        settings.n_gpu_layers = int(argv[3])
    gc.collect()
    baseline = rss_bytes()
    engine = Engine()
    started = time.perf_counter()
    model = engine.load(path, settings)
    load_s = time.perf_counter() - started
    after_load = rss_bytes()
    room = min(PROBE_PROMPT_TOKENS, model.n_ctx - PROBE_NEW_TOKENS - 64)
    per_copy = max(1, engine.count_tokens(_PROBE_TEXT))
    text = _PROBE_TEXT * max(1, room // per_copy)
    reply = engine.generate(
        [Message("user", text)], SamplingSettings(max_tokens=PROBE_NEW_TOKENS, temperature=0.0, seed=1)
    )
    peak = peak_rss_bytes()
    result = Measurement(
        ram_bytes=peak - baseline,
        baseline_rss=baseline,
        peak_rss=peak,
        after_load_rss=after_load,
        n_ctx=model.n_ctx,
        prompt_tokens=reply.timings.prompt_tokens,
        gpu_layers=model.n_gpu_layers,
        vram_bytes=process_vram_bytes(),
        load_s=load_s,
    )
    engine.unload()
    sys.stdout.write(json.dumps(result.to_dict()) + "\n")
    return 0

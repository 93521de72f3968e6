"""Memory-fit accuracy: fit_plan.plan's RAM estimate against a real load, per model and context.

Each measurement loads the model in a fresh process with the app's engine and default
settings (layers on the CPU), sends a prompt that fills most of one 512-token batch,
generates 8 tokens, and takes the peak RSS growth over the interpreter with llama_cpp
imported (calibration.measure). Also recorded: the naive "file size + KV cache" guess
other apps make, and how long the plan itself takes to compute.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

CONTEXTS = (512, 2048, 8192)


def _models() -> dict[str, Path]:
    from desktop_app.core.models.library import starter_model_path

    models: dict[str, Path] = {}
    smollm = starter_model_path()
    if smollm is not None:
        models["SmolLM2-135M Q4_1"] = smollm
    gemma = Path(__file__).resolve().parents[1] / ".venv" / "test-models" / "gemma-3-270m-q4_k_m.gguf"
    if gemma.is_file():
        models["Gemma 3 270M Q4_K_M"] = gemma
    return models


def run() -> dict[str, Any]:
    from desktop_app.core import hardware
    from desktop_app.core.fit import calibration
    from desktop_app.core.fit import plan as fit_plan
    from desktop_app.core.models import gguf_meta

    hw = dataclasses.replace(hardware.detect(), gpu_offload=False, gpus=[])
    rows: list[dict[str, Any]] = []
    for name, path in _models().items():
        info = gguf_meta.read_local(path)
        for n_ctx in CONTEXTS:
            started = time.perf_counter()
            estimate = fit_plan.plan(info, hw, n_ctx)
            plan_ms = (time.perf_counter() - started) * 1000
            measured = calibration.measure(path, n_ctx, n_gpu_layers=0)
            naive = path.stat().st_size + estimate.kv_bytes
            rows.append(
                {
                    "model": name,
                    "n_ctx": n_ctx,
                    "predicted_ram_bytes": estimate.ram_bytes,
                    "measured_ram_bytes": measured.ram_bytes,
                    "error": round((estimate.ram_bytes - measured.ram_bytes) / measured.ram_bytes, 4),
                    "naive_file_plus_kv_bytes": naive,
                    "naive_error": round((naive - measured.ram_bytes) / measured.ram_bytes, 4),
                    "prompt_tokens": measured.prompt_tokens,
                    "plan_ms": round(plan_ms, 2),
                    "breakdown": dataclasses.asdict(estimate.breakdown.cpu),
                }
            )
    errors = [abs(r["error"]) for r in rows]
    naive_errors = [abs(r["naive_error"]) for r in rows]
    return {
        "rows": rows,
        "max_abs_error": max(errors) if errors else None,
        "mean_abs_error": sum(errors) / len(errors) if errors else None,
        "naive_mean_abs_error": sum(naive_errors) / len(naive_errors) if naive_errors else None,
        "target": 0.10,
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))

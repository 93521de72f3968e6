"""The memory plan against reality: load each test model in a fresh process and compare.

What is measured (load_probe.measure): a new Python process imports llama_cpp and Hearth's
engine, notes its resident memory, loads the model with the app's Engine and default
LoadSettings (flash attention on, threads = physical cores; layers kept on the CPU, as
the test machines have no GPU), sends a prompt that fills most of one 512-token batch,
generates 8 tokens, and reports its peak resident memory (ru_maxrss) minus the first
figure. fit_plan.plan(...).ram_bytes must be within 10% of that, at 512, 2048 and 8192 tokens.

What counts in that figure: the mapped model file (llama.cpp maps it with MAP_POPULATE
and keeps the range the CPU reads, so all of it for a CPU-only load), the repacked copy
of Q4_K weights (Gemma, on AVX2), the KV cache (llama.cpp clears it, so every page is
written), the part of the compute buffer a batch touches, and the runtime's tables.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from desktop_app.core import hardware
from desktop_app.core.fit import calibration
from desktop_app.core.fit import plan as fit_plan
from desktop_app.core.inference import probe as load_probe
from desktop_app.core.models import gguf_meta

pytestmark = pytest.mark.slow

CONTEXTS = [512, 2048, 8192]


@pytest.fixture(scope="module")
def cpu_machine() -> hardware.HardwareInfo:
    # The measurement keeps every layer on the CPU, so the plan is asked about the CPU too.
    return dataclasses.replace(hardware.detect(), gpu_offload=False, gpus=[])


@pytest.mark.parametrize("n_ctx", CONTEXTS)
@pytest.mark.parametrize("model", ["smollm2_path", "gemma_path"])
def test_ram_estimate_within_10_percent(
    model: str, n_ctx: int, cpu_machine: hardware.HardwareInfo, request: pytest.FixtureRequest
) -> None:
    path: Path = request.getfixturevalue(model)
    estimate = fit_plan.plan(gguf_meta.read_local(path), cpu_machine, n_ctx)
    assert estimate.verdict == "cpu"
    measured = load_probe.measure(path, n_ctx, n_gpu_layers=0)
    assert measured.n_ctx == estimate.n_ctx
    assert measured.gpu_layers == 0
    assert measured.prompt_tokens > 300  # the prompt really filled most of a batch
    error = (estimate.ram_bytes - measured.ram_bytes) / measured.ram_bytes
    assert abs(error) <= 0.10, (
        f"{path.name} at {n_ctx}: estimated {estimate.ram_bytes:,} B, measured {measured.ram_bytes:,} B "
        f"({error:+.1%}); breakdown {estimate.breakdown.cpu}"
    )
    # The weights and the KV cache alone are most of it: a file-size guess would miss the rest.
    assert estimate.weights_bytes + estimate.kv_bytes < measured.ram_bytes

    # The record the app keeps after real loads, and its error summary.
    row = calibration.record(path, n_ctx, "f16", estimate, measured.ram_bytes, measured.vram_bytes)
    (kept,) = calibration.history(path)
    assert kept.id == row
    assert kept.measured_ram == measured.ram_bytes
    assert kept.estimated_ram == estimate.ram_bytes
    assert kept.ram_error == pytest.approx(error)
    assert kept.architecture == gguf_meta.read_local(path).architecture
    summary = calibration.error_summary([kept])
    assert summary["ram"]["count"] == 1
    assert summary["ram"]["worst"] == pytest.approx(error)

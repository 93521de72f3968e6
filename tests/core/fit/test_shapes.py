"""A planned header from a model's published figures (core/fit/shapes.py) is the header a real file
has: built from Gemma 3 270M's config it matches the test model's tensor table byte for byte,
so the fit of a model not downloaded yet is the fit code's own, not a guess beside it."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop_app.core.errors import HearthError
from desktop_app.core.fit import plan as fit_plan
from desktop_app.core.fit.result import Verdict
from desktop_app.core.fit.shapes import ModelShape, header_for
from desktop_app.core.hardware import HardwareInfo
from desktop_app.core.models import gguf_meta

GIB = 1024**3
# Gemma 3 270M's config.json: 18 layers of width 640, 4 heads of 256 sharing one KV head, a
# 2048-wide feed-forward, 262,144 tokens, tied embeddings, a 512-token sliding window.
GEMMA_270M = ModelShape("gemma3", 18, 640, 4, 1, 256, 2048, 262144, 32768, tied_embeddings=True, sliding_window=512)


def laptop(ram_gib: float) -> HardwareInfo:
    ram = int(ram_gib * GIB)
    return HardwareInfo("Linux", "x86_64", ram, ram, 4, 8, ["AVX2"], "CPU", False, "0.3.36")


def test_gemma_270m_figures_give_the_real_files_tensor_table(gemma_path: Path) -> None:
    real = gguf_meta.read_local(gemma_path)
    planned = header_for(GEMMA_270M, "Q4_K_M", "Gemma 3 270m")
    assert [(t.name, t.shape, t.type_name, t.n_bytes) for t in sorted(planned.tensors, key=lambda t: t.name)] == [
        (t.name, t.shape, t.type_name, t.n_bytes) for t in sorted(real.tensors, key=lambda t: t.name)
    ]  # Q4_K, Q6_K in the blocks use_more_bits picks, and the fallbacks for 640-wide rows (Q5_0, Q8_0)
    assert planned.quant == real.quant == "Q4_K_M"
    for key in ("context_length", "block_count", "attention.head_count_kv", "attention.sliding_window"):
        assert planned.arch_get(key) == real.arch_get(key), key
    for n_ctx in (2048, 8192):
        assert fit_plan.plan(planned, laptop(8), n_ctx) == fit_plan.plan(real, laptop(8), n_ctx)


def test_a_planned_header_follows_the_machine_like_a_file_does() -> None:
    qwen3_8b = ModelShape("qwen3", 36, 4096, 32, 8, 128, 12288, 151936, 32768)
    header = header_for(qwen3_8b)
    assert 8.1e9 < header.n_params < 8.3e9  # Qwen3 8B's published parameter count
    assert 4.6 * GIB < header.weights_bytes < 5.0 * GIB  # a Q4_K_M file of it is about 5 GB
    assert fit_plan.plan(header, laptop(4), 4096).verdict is Verdict.TOO_LARGE
    assert fit_plan.plan(header, laptop(16), 4096).verdict is Verdict.CPU


def test_only_known_file_types_are_planned() -> None:
    with pytest.raises(HearthError, match="cannot plan a IQ2_XS file"):
        header_for(GEMMA_270M, "IQ2_XS")

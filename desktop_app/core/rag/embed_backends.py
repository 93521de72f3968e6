"""The ways Hearth can run an embedding model, and which of them make the same vectors.

Measured on a 2-core CPU with all-MiniLM-L6-v2 (issue 13; ``benchmarks/bench_rag.py``):

``onnx``        the model exported once to ONNX (eager attention, graph-fused) and run by
                onnxruntime: about 1.8x PyTorch, the same vectors (cosine 1.0000). The default.
``torch``       sentence-transformers on PyTorch, fp32: the reference, and the fallback.
``torch-bf16``  PyTorch under bfloat16 autocast, on CPUs with bf16 instructions (AVX512-BF16,
                AMX): faster, vectors a little off (top-5 neighbours 0.98-0.99 kept).
``onnx-int8``   the ONNX export with int8 weights (dynamic, per channel): fastest, least exact
                (cosine about 0.99, top-5 neighbours about 0.9 kept). Only on request.

The two *exact* backends make interchangeable vectors (a test holds them to cosine >= 0.999 and
the same top 5), so they share one vector space: a collection can switch between them without
re-embedding. The others each have a space of their own (``vector_space``): a collection never
mixes them, and a switch re-embeds it.
"""

from __future__ import annotations

import functools
import importlib.util
import platform
from dataclasses import dataclass
from pathlib import Path

from desktop_app.core.errors import HearthError

DEFAULT_BACKEND = "onnx"


@dataclass(frozen=True)
class Backend:
    name: str
    label: str  # what the settings and the Documents section show
    exact: bool  # makes the reference (fp32 PyTorch) vectors
    batch_size: int  # texts per model call (ONNX is fastest at 16, measured; PyTorch at 64)
    space: str  # suffix of the vector space; empty for the exact backends

    @property
    def family(self) -> str:
        return self.name.split("-")[0]


BACKENDS: dict[str, Backend] = {
    b.name: b
    for b in (
        Backend("onnx", "ONNX Runtime, fp32 (fast, exact)", True, 16, ""),
        Backend("torch", "PyTorch, fp32 (reference)", True, 64, ""),
        Backend("torch-bf16", "PyTorch, bfloat16 (faster, slightly less exact)", False, 64, "bf16"),
        Backend("onnx-int8", "ONNX Runtime, int8 (fastest, less exact)", False, 16, "int8"),
    )
}


def backend(name: str) -> Backend:
    found = BACKENDS.get(name.strip().lower())
    if found is None:
        raise HearthError(f"“{name}” is not an embedding backend.", f"Choose one of: {', '.join(sorted(BACKENDS))}.")
    return found


def vector_space(model_id: str, backend_name: str) -> str:
    """The id of the vectors ``backend_name`` makes with ``model_id``: the model id itself for
    the exact backends (their vectors are interchangeable), ``model_id+bf16`` and the like for
    the others. Stored with every file and in every chunk id."""
    space = backend(backend_name).space
    return f"{model_id}+{space}" if space else model_id


def same_vectors(a: str, b: str) -> bool:
    """Whether two backends make interchangeable vectors (switching needs no re-embedding)."""
    return backend(a).space == backend(b).space


@functools.cache
def cpu_has_bf16() -> bool:
    """Whether the CPU has bfloat16 instructions PyTorch uses (x86: AVX512-BF16 or AMX).
    Read from /proc/cpuinfo; elsewhere unknown, so not offered."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[-1].split())
            return bool(flags & {"avx512_bf16", "amx_bf16"})
    return False


def unavailable_reason(name: str) -> str:
    """Why ``name`` cannot run here, in plain words; empty when it can."""
    chosen = backend(name)
    if chosen.family == "onnx" and importlib.util.find_spec("onnxruntime") is None:
        return "onnxruntime is not installed."
    if chosen.name == "torch-bf16" and not cpu_has_bf16():
        return "This processor has no bfloat16 instructions (AVX512-BF16 or AMX)."
    return ""


def available(name: str) -> bool:
    return not unavailable_reason(name)


def for_new_collection(name: str) -> str:
    """The backend a new collection gets when ``name`` is asked for: the same, or, when it cannot
    run here, PyTorch fp32 (before any vector exists, so nothing is mixed)."""
    try:
        chosen = backend(name)
    except HearthError:
        return DEFAULT_BACKEND if available(DEFAULT_BACKEND) else "torch"
    return chosen.name if available(chosen.name) else "torch"

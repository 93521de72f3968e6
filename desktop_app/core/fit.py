"""Will this model fit this machine? A memory plan from the GGUF tensor table.

INTERFACE STUB written by the lead so the hub/downloads work can code against it;
the fit helper replaces the body (keep these names and fields).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from desktop_app.core.gguf_meta import GGUFInfo
from desktop_app.core.hardware import HardwareInfo


@dataclass(frozen=True)
class FitResult:
    verdict: str  # "full_gpu" | "partial_gpu" | "cpu" | "too_large"
    gpu_layers: int  # recommended layers to offload (llama.cpp offloads the *last* layers)
    n_layers: int
    ram_bytes: int
    vram_bytes: int
    weights_bytes: int
    kv_bytes: int
    compute_bytes: int
    max_ctx: int  # largest context that fits at all with the recommended plan
    max_ctx_full_gpu: int  # largest context that fits fully on the GPU (0 when none)
    n_ctx: int
    kv_type: str
    breakdown: dict[str, Any] = field(default_factory=dict)  # per device: weights/kv/compute/margin

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError


def plan(info: GGUFInfo, hw: HardwareInfo, n_ctx: int, kv_type: str = "f16") -> FitResult:
    """The memory plan for ``info`` at ``n_ctx`` on ``hw``."""
    raise NotImplementedError

"""What a memory plan says (core/fit/plan.py makes it): where the model runs, how much it takes
on each device and why, and the largest context that fits. Read by the badges, the fit dialog,
`hearth fit` and the first-run page."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any


class Verdict(str, enum.Enum):
    """Where a model runs at a context length, from the plan; UNKNOWN when it could not be planned."""

    FULL_GPU = "full_gpu"
    PARTIAL_GPU = "partial_gpu"
    CPU = "cpu"
    TOO_LARGE = "too_large"
    UNKNOWN = "unknown"
    REMOTE = "remote"  # a model on a server: this computer's fit does not apply

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class DeviceMemory:
    """One device's share of a plan, in bytes (the rows of the fit dialog and of `hearth fit`)."""

    weights: int = 0
    weights_repacked: int = 0  # the CPU's second, rearranged copy of some weights
    kv: int = 0
    compute: int = 0  # as it occupies memory (CPU: the touched part)
    compute_reserved: int = 0  # what llama.cpp reserves for it
    runtime: int = 0
    reclaimable: int = 0  # file pages read once while loading (see _Usage)
    total: int = 0
    required: int = 0  # the total less the reclaimable pages
    budget: int = 0  # what the device can give the model now, less a margin


@dataclass(frozen=True)
class RamShare(DeviceMemory):
    available: int = 0
    total_ram: int = 0


@dataclass(frozen=True)
class GpuShare(DeviceMemory):
    free: int = 0
    total_vram: int = 0
    name: str = ""
    unified_memory: bool = False


@dataclass(frozen=True)
class LayerPlacement:
    blocks: int
    offloadable: int  # the blocks + the output layer
    gpu: int
    first_gpu_block: int | None
    token_embd_on: str  # "cpu"
    output_on: str  # "gpu" or "cpu"
    tied_output: bool


@dataclass(frozen=True)
class KvLayout:
    type: str
    cells: int
    swa_cells: int | None
    swa_layers: int
    sliding_window: int | None
    swa_full: bool
    bytes_per_token: int


@dataclass(frozen=True)
class PlanAssumptions:
    n_batch: int
    n_ubatch: int
    flash_attn: bool
    mmap: bool
    cpu_features: list[str]


@dataclass(frozen=True)
class MemoryBreakdown:
    """A plan per device, with the layout and assumptions behind it."""

    cpu: RamShare
    layers: LayerPlacement
    kv: KvLayout
    assumptions: PlanAssumptions
    gpu: GpuShare | None = None  # None: no GPU this llama.cpp build can use

    def to_dict(self) -> dict[str, Any]:
        """As `hearth fit --json` prints it (no "gpu" key without a GPU)."""
        data = {"cpu": asdict(self.cpu), "layers": asdict(self.layers), "kv": asdict(self.kv)}
        data["assumptions"] = asdict(self.assumptions)
        if self.gpu is not None:
            data["gpu"] = asdict(self.gpu)
        return data


@dataclass(frozen=True)
class FitResult:
    verdict: Verdict
    gpu_layers: int  # recommended n_gpu_layers (llama.cpp offloads the *last* layers; the output counts as one)
    n_layers: int  # offloadable layers as llama.cpp counts them: the blocks + the output layer
    ram_bytes: int  # what the process will hold in RAM (peak RSS growth on a CPU-only run)
    vram_bytes: int  # what llama.cpp will allocate on the GPU(s), runtime included; 0 on the CPU
    weights_bytes: int  # weights resident on all devices (repacked and tied-output copies included)
    kv_bytes: int  # KV cache on all devices
    compute_bytes: int  # compute buffers as they occupy memory (CPU: the touched part; GPU: all of it)
    max_ctx: int  # largest context that fits at all on this machine (0 when none)
    max_ctx_full_gpu: int  # largest context that fits fully on the GPU (0 when none)
    n_ctx: int  # the context planned for (padded to 256 like llama.cpp; capped at the trained length)
    kv_type: str
    breakdown: MemoryBreakdown  # per device: weights/kv/compute/runtime/budget
    notes: list[str] = field(default_factory=list)  # plain-words explanations and warnings
    # What must stay in RAM: ``ram_bytes`` less the file pages read once while loading, which the
    # system drops when memory runs short. The verdict compares *this* with the RAM free, so a
    # figure shown beside a verdict is this one (``ram_bytes`` is the peak the memory use shows).
    ram_required: int = 0

    @property
    def fits(self) -> bool:
        return self.verdict is not Verdict.TOO_LARGE

    @property
    def summary(self) -> str:
        """One line for a list row or a status bar."""
        if self.verdict is Verdict.FULL_GPU:
            return f"Runs fully on the GPU at {self.n_ctx:,} tokens"
        if self.verdict is Verdict.PARTIAL_GPU:
            return f"Runs partly on the GPU ({self.gpu_layers} of {self.n_layers} layers) at {self.n_ctx:,} tokens"
        if self.verdict is Verdict.CPU:
            return f"Runs on the CPU at {self.n_ctx:,} tokens"
        if self.max_ctx:
            return f"Too large at {self.n_ctx:,} tokens; fits up to {self.max_ctx:,}"
        return "Too large for this computer"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["breakdown"] = self.breakdown.to_dict()
        data["summary"] = self.summary
        return data

"""A fit plan's memory per device, as rows in plain words (the fit dialog's table)."""

from __future__ import annotations

from dataclasses import dataclass

from desktop_app.core.fit.plan import FitResult, Verdict

# (label, key in the plan's per-device breakdown, what it is)
_ROWS: tuple[tuple[str, str, str], ...] = (
    ("Weights", "weights", "the model's parameters, as stored in the file"),
    ("Rearranged copy", "weights_repacked", "weights kept a second time in a layout the CPU computes faster with"),
    ("Conversation memory (KV cache)", "kv", "what the model remembers of the conversation, for the whole context"),
    ("Working memory", "compute", "scratch space for one batch of tokens"),
    ("llama.cpp itself", "runtime", "the library, its threads and tables"),
    ("Total", "total", ""),
    ("Free for the model now", "budget", "what this computer can give it now, less a safety margin"),
)


@dataclass(frozen=True)
class MemoryRow:
    label: str
    ram: int | None  # bytes in RAM; None: not on this device
    gpu: int | None  # bytes on the GPU; None without a GPU in the plan
    tip: str = ""


@dataclass(frozen=True)
class Breakdown:
    """What the dialog shows: the rows, whether a GPU column applies, its name, and the layers."""

    rows: list[MemoryRow]
    gpu_name: str  # "" when the plan has no GPU
    layers: str  # e.g. "20 of 31 layers on the GPU"


def breakdown(result: FitResult) -> Breakdown:
    cpu = result.breakdown.get("cpu", {})
    gpu = result.breakdown.get("gpu")
    rows = []
    for label, key, tip in _ROWS:
        if key == "weights_repacked" and not cpu.get(key):
            continue
        ram = cpu.get(key)
        rows.append(MemoryRow(label, int(ram) if ram is not None else None, _gpu_value(gpu, key, result), tip))
    if gpu is None:
        layers = "No GPU this llama.cpp build can use: every layer runs on the CPU"
    elif result.verdict is Verdict.TOO_LARGE:
        layers = "It does not fit, however the layers are shared out."
    else:
        layers = f"{result.gpu_layers} of {result.n_layers} layers on the GPU, the rest on the CPU"
        if result.gpu_layers == result.n_layers:
            layers = f"All {result.n_layers} layers on the GPU"
    return Breakdown(rows, str(gpu.get("name", "GPU")) if gpu is not None else "", layers)


def _gpu_value(gpu: dict[str, object] | None, key: str, result: FitResult) -> int | None:
    if gpu is None:
        return None
    if key != "budget" and not result.gpu_layers:
        return 0  # nothing on the GPU in this plan
    value = gpu.get(key)
    return int(value) if isinstance(value, int | float) else None

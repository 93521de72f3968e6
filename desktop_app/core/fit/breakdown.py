"""A fit plan's memory per device, as rows in plain words: the one table behind the fit dialog
and `hearth fit`."""

from __future__ import annotations

from dataclasses import dataclass

from desktop_app.core.fit.result import DeviceMemory, FitResult, Verdict

# (label, the terse label `hearth fit` prints, field of the plan's DeviceMemory, what it is)
_ROWS: tuple[tuple[str, str, str, str], ...] = (
    ("Weights", "weights", "weights", "the model's parameters, as stored in the file"),
    (
        "Rearranged copy",
        "  repacked copy",
        "weights_repacked",
        "weights kept a second time in a layout the CPU computes faster with",
    ),
    (
        "Conversation memory (KV cache)",
        "KV cache",
        "kv",
        "what the model remembers of the conversation, for the whole context",
    ),
    ("Working memory", "compute", "compute", "scratch space for one batch of tokens"),
    ("llama.cpp itself", "runtime", "runtime", "the library, its threads and tables"),
    ("Total", "total", "total", ""),
    ("Free for the model now", "can use", "budget", "what this computer can give it now, less a safety margin"),
)


@dataclass(frozen=True)
class MemoryRow:
    label: str
    ram: int | None  # bytes in RAM; None: not on this device
    gpu: int | None  # bytes on the GPU; None without a GPU in the plan
    tip: str = ""
    short: str = ""  # the label in `hearth fit`'s table
    key: str = ""  # the field of the plan's DeviceMemory


@dataclass(frozen=True)
class Breakdown:
    """What the dialog shows: the rows, whether a GPU column applies, its name, and the layers."""

    rows: list[MemoryRow]
    gpu_name: str  # "" when the plan has no GPU
    layers: str  # e.g. "20 of 31 layers on the GPU"


def memory_rows(result: FitResult) -> list[MemoryRow]:
    """Every row of the table, the rearranged copy included even when it is nothing."""
    cpu, gpu = result.breakdown.cpu, result.breakdown.gpu
    return [
        MemoryRow(label, int(getattr(cpu, key)), _gpu_value(gpu, key, result), tip, short, key)
        for label, short, key, tip in _ROWS
    ]


def breakdown(result: FitResult) -> Breakdown:
    rows = [row for row in memory_rows(result) if row.key != "weights_repacked" or row.ram]
    gpu = result.breakdown.gpu
    if gpu is None:
        layers = "No GPU this llama.cpp build can use: every layer runs on the CPU"
    elif result.verdict is Verdict.TOO_LARGE:
        layers = "It does not fit, however the layers are shared out."
    else:
        layers = f"{result.gpu_layers} of {result.n_layers} layers on the GPU, the rest on the CPU"
        if result.gpu_layers == result.n_layers:
            layers = f"All {result.n_layers} layers on the GPU"
    return Breakdown(rows, gpu.name if gpu is not None else "", layers)


def _gpu_value(gpu: DeviceMemory | None, key: str, result: FitResult) -> int | None:
    if gpu is None:
        return None
    if key != "budget" and not result.gpu_layers:
        return 0  # nothing on the GPU in this plan
    return int(getattr(gpu, key))

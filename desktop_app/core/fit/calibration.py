"""How right is the memory plan? Measure real loads and keep a record of the error.

Two ways to measure:

* :func:`desktop_app.core.inference.probe.measure` loads a model in a fresh Python process, the way the app does
  (:class:`~desktop_app.core.inference.engine.Engine` with default :class:`LoadSettings`), feeds it a
  prompt that fills most of one 512-token batch, generates a few tokens, and reports the
  growth of the process's peak resident memory over the same interpreter with llama_cpp
  imported. That is the figure ``fit_plan.plan(...).ram_bytes`` estimates; the accuracy test and
  the benchmark use it.
* Inside the app, after ``Engine.load`` and the first reply: take :func:`rss_bytes` before
  loading (after any previous model is unloaded) and after the reply, and pass the growth to
  :func:`record` together with the plan. :func:`process_vram_bytes` gives this process's
  GPU memory on NVIDIA.

What counts in RSS: the mapped pages of the model file (llama.cpp maps it with
MAP_POPULATE and keeps the range the CPU uses), anonymous memory that was written
(KV cache, which llama.cpp clears; repacked weights; touched parts of the compute buffer),
and the runtime's own tables. Pages of the compute buffer that a batch never touches do
not count, which is why the reserve llama.cpp logs overstates CPU memory.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from desktop_app.core import db as dbmod
from desktop_app.core.errors import HearthError
from desktop_app.core.fit.result import FitResult
from desktop_app.core.memory import process_vram_bytes, rss_bytes

log = logging.getLogger(__name__)

# The probe's prompt: about this many tokens (never more than the context leaves room for).


@dataclass(frozen=True)
class CalibrationRecord:
    id: int
    created_at: float
    model_path: str
    model_name: str
    architecture: str
    quant: str
    n_ctx: int
    kv_type: str
    gpu_layers: int
    backend: str
    llama_cpp_version: str
    estimated_ram: int
    measured_ram: int
    estimated_vram: int
    measured_vram: int | None

    @property
    def ram_error(self) -> float:
        """(estimate - measured) / measured: positive when the plan overestimates."""
        return (self.estimated_ram - self.measured_ram) / self.measured_ram if self.measured_ram else 0.0

    @property
    def vram_error(self) -> float | None:
        if not self.measured_vram:
            return None
        return (self.estimated_vram - self.measured_vram) / self.measured_vram

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ram_error"] = self.ram_error
        data["vram_error"] = self.vram_error
        return data


# -- reading this process's memory ----------------------------------------------------------------


# -- measuring a load in a fresh process ------------------------------------------------------------


# -- the record -------------------------------------------------------------------------------------


def record(
    model_path: str | Path,
    n_ctx: int,
    kv_type: str,
    estimate: FitResult,
    measured_ram: int,
    measured_vram: int | None,
    *,
    backend: str = "",
    llama_cpp_version: str = "",
    db: sqlite3.Connection | None = None,
) -> int:
    """Stores a plan next to what the load really used; returns the row id."""
    from desktop_app.core.models import library

    model_path = Path(model_path).resolve()

    name = architecture = quant = ""
    try:
        info = library.read_header(Path(model_path))
        name, architecture, quant = info.name or Path(model_path).stem, info.architecture, info.quant
    except (HearthError, OSError):
        name = Path(model_path).stem
    if not llama_cpp_version or not backend:
        from desktop_app.core import hardware

        found_backend, _offload, version, _features = hardware.llama_backend()
        backend = backend or (found_backend if estimate.gpu_layers else "CPU")
        llama_cpp_version = llama_cpp_version or version
    conn = db or dbmod.connect()
    try:
        with conn:
            cursor = conn.execute(
                "INSERT INTO fit_calibration (created_at, model_path, model_name, architecture, quant, n_ctx,"
                " kv_type, gpu_layers, backend, llama_cpp_version, estimated_ram, measured_ram, estimated_vram,"
                " measured_vram, estimate_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    time.time(),
                    str(model_path),
                    name,
                    architecture,
                    quant,
                    int(n_ctx),
                    kv_type,
                    estimate.gpu_layers,
                    backend,
                    llama_cpp_version,
                    estimate.ram_bytes,
                    int(measured_ram),
                    estimate.vram_bytes,
                    None if measured_vram is None else int(measured_vram),
                    json.dumps(estimate.to_dict(), default=str),
                ),
            )
        return int(cursor.lastrowid or 0)
    finally:
        if db is None:
            conn.close()


def history(
    model_path: str | Path | None = None, limit: int = 200, db: sqlite3.Connection | None = None
) -> list[CalibrationRecord]:
    """Recorded estimates and measurements, newest first (for one model, or all)."""
    conn = db or dbmod.connect()
    try:
        columns = (
            "id, created_at, model_path, model_name, architecture, quant, n_ctx, kv_type, gpu_layers, backend,"
            " llama_cpp_version, estimated_ram, measured_ram, estimated_vram, measured_vram"
        )
        if model_path is None:
            rows = conn.execute(
                f"SELECT {columns} FROM fit_calibration ORDER BY created_at DESC, id DESC LIMIT ?", (limit,)
            ).fetchall()
        else:
            rows = conn.execute(
                f"SELECT {columns} FROM fit_calibration WHERE model_path = ? ORDER BY created_at DESC, id DESC LIMIT ?",
                (str(Path(model_path).resolve()), limit),
            ).fetchall()
        return [CalibrationRecord(*tuple(row)) for row in rows]
    finally:
        if db is None:
            conn.close()


def error_summary(records: Sequence[CalibrationRecord]) -> dict[str, Any]:
    """How far off the plan has been: count, mean and worst relative RAM error (and VRAM's)."""
    ram = [r.ram_error for r in records if r.measured_ram]
    vram = [e for e in (r.vram_error for r in records) if e is not None]

    def stats(values: list[float]) -> dict[str, float | int]:
        if not values:
            return {"count": 0, "mean_abs": 0.0, "worst": 0.0, "mean": 0.0}
        return {
            "count": len(values),
            "mean_abs": sum(abs(v) for v in values) / len(values),
            "mean": sum(values) / len(values),
            "worst": max(values, key=abs),
        }

    return {"ram": stats(ram), "vram": stats(vram)}


def _rss_of(pid: int | None) -> int:
    if pid is None:
        return rss_bytes()
    import psutil

    return int(psutil.Process(pid).memory_info().rss)


def record_real_load(
    model_path: Path, n_ctx: int, gpu_layers: int, flash_attn: bool, baseline_rss: int, pid: int | None = None
) -> None:
    """Called once per load, after its first reply: the plan against what the process gained
    (``pid``: the engine process that holds the model; default this one).

    ``baseline_rss`` is the RSS taken after the previous model was freed and llama_cpp was
    imported, so the growth is what this model's load and first reply cost. Never raises:
    a failed calibration must not disturb a chat.
    """
    from desktop_app.core import hardware
    from desktop_app.core.fit import plan as fit_plan
    from desktop_app.core.models import gguf_meta

    try:
        hw = hardware.detect()
        estimate = fit_plan.plan(gguf_meta.read_local(model_path), hw, n_ctx, flash_attn=flash_attn)
        record(
            model_path,
            n_ctx,
            "f16",
            estimate,
            _rss_of(pid) - baseline_rss,
            process_vram_bytes(pid) if gpu_layers else None,
        )
    except Exception:  # calibration is best effort by design
        log.warning("Could not record the fit calibration for %s", model_path, exc_info=True)


def error_words(records: Sequence[CalibrationRecord]) -> str:
    """The estimate's error on this computer in a sentence (the fit dialog), or what will make it
    known: the figure itself, not the claim that there is one."""
    ram = error_summary(records)["ram"]
    if not ram["count"]:
        return "No model has been loaded here yet: after the first load, how far off the estimate was is shown here."
    loads = "load" if ram["count"] == 1 else "loads"
    return (
        f"Over the last {ram['count']} {loads} on this computer the memory estimate was off by "
        f"{ram['mean_abs']:.0%} on average (at most {abs(ram['worst']):.0%}, "
        f"{'over' if ram['worst'] > 0 else 'under'} the measured figure)."
    )

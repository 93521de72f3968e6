"""What a run records about how it was made (its manifest), and finding its model again.

The manifest holds everything a reviewer needs to reproduce a run: the dataset's path and
sha256, the task (template, few-shot rows, output kind with its labels or schema, scorer),
the model (file, sha256, quant, chat template, llama.cpp version, load settings), sampling
with the seed rule, Hearth's version, the machine, and when each session of the run started
and ended (a resumed run has several).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
import random
import time
from collections.abc import Iterable
from pathlib import Path

from desktop_app.core import hardware
from desktop_app.core.errors import HearthError
from desktop_app.core.runs.manifest import GpuRecord, MachineRecord, ModelRecord, RunManifest, RunSession

SEED_RULE = "row seed = first 4 bytes of sha256('<run seed>:<row index>') as an integer, mod 2**31"


def hearth_version() -> str:
    try:
        return importlib.metadata.version("hearth")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def run_seed(seed: int) -> int:
    """The run's seed: the one asked for, or a fresh one drawn now (and recorded) for -1."""
    return seed if seed >= 0 else random.randrange(2**31)


def row_seed(seed: int, index: int) -> int:
    """Each row's own seed, from the run's seed and the row's index: the same row gets the same
    seed in a resumed or replayed run, whatever order rows finish in."""
    digest = hashlib.sha256(f"{seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 2**31


def machine() -> MachineRecord:
    info = hardware.detect()
    return MachineRecord(
        os=info.os,
        machine=info.machine,
        python=platform.python_version(),
        cpu=platform.processor() or info.machine,
        cpu_physical_cores=info.cpu_physical_cores,
        cpu_logical_cores=info.cpu_logical_cores,
        cpu_features=info.cpu_features,
        ram_total=info.ram_total,
        backend=info.backend,
        llama_cpp_version=info.llama_cpp_version,
        gpus=[GpuRecord(g.name, g.vendor, g.vram_total) for g in info.gpus],
    )


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def session(model: ModelRecord) -> RunSession:
    """One stretch of running (the first, or a resume): when, with which engine."""
    return RunSession(
        started_at=now_iso(),
        hearth_version=hearth_version(),
        backend=model.backend,
        llama_cpp_version=model.llama_cpp_version,
        model_sha256=model.sha256,
    )


def differences(original: RunManifest, now: RunManifest) -> list[str]:
    """What differs between two manifests' model and machine that can change outputs, in words."""
    notes = []
    a, b = original.model, now.model
    checks = (
        (a.backend, b.backend, "the backend"),
        (a.llama_cpp_version, b.llama_cpp_version, "the llama.cpp version"),
        (a.sha256, b.sha256, "the model file"),
        (a.context, b.context, "the context size"),
    )
    for left, right, words in checks:
        if left != right:
            notes.append(f"{words.capitalize()} differs: {left} then, {right} now.")
    template_a, template_b = a.template, b.template
    if (template_a and template_a.sha256) != (template_b and template_b.sha256):
        notes.append(
            f"The chat template differs: {template_a and template_a.name} then, {template_b and template_b.name} now."
        )
    if original.hearth_version != now.hearth_version:
        notes.append(f"Hearth's version differs: {original.hearth_version} then, {now.hearth_version} now.")
    if a.backend != "CPU" or b.backend != "CPU":
        notes.append("Outputs are expected to be identical on the CPU; on a GPU, small differences are normal.")
    return notes


def template_preference(model: ModelRecord, preference: str) -> str:
    """The chat template to load a run's model with: the one the user had chosen when the run was
    made, if they had chosen one, else their choice for the file now (``preference``)."""
    template = model.template
    if template is not None and template.source == "user" and template.name:
        return template.name
    return preference


def locate_model(model: ModelRecord, extra_paths: Iterable[str] = ()) -> Path:
    """The model file a manifest names: at its recorded path if its sha256 still matches, else
    any local model of the same size and sha256 (a copy, or the file moved)."""
    from desktop_app.core.models import library
    from desktop_app.core.models.fingerprint import cached_sha256

    sha256 = model.sha256
    recorded = Path(model.path or "")
    if not sha256:
        if recorded.is_file():
            return recorded
        raise HearthError(f"The model “{model.name}” of this run is not at {recorded}.")
    if recorded.is_file() and cached_sha256(recorded) == sha256:
        return recorded
    size = model.size_bytes
    for candidate in library.list_models(extra_paths):
        path = candidate.path
        if size is not None and path.stat().st_size != size:
            continue
        if cached_sha256(path) == sha256:
            return path
    raise HearthError(
        f"The model of this run (“{model.name}”, sha256 {sha256[:12]}…) is not on this computer.",
        "Download or copy the same file into Hearth's models folder, then try again.",
    )

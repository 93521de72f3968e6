"""Make a quantised variant of a local model with llama.cpp's own quantiser.

``llama_model_quantize`` has neither a progress nor an abort callback, so it runs in
a child process (:mod:`.subproc`) that the parent kills to cancel. Progress comes
from llama.cpp's log: before each tensor it logs ``[  i/  n] name - [shape], type
= ...``. The child hooks llama.cpp's log callback, parses those lines and sends the
tensor's name; the parent weighs each finished tensor by its element count from the
source's tensor table, so the bar moves in proportion to the work, not the tensor
count (the token embedding is often 20 % of a small model). Watching the output
file grow would also work, but llama.cpp writes a zeroed header placeholder first
and knows the final size only as it goes; the log lines are exact.

The output is written as ``<name>.partial`` and renamed only when llama.cpp has
finished and the file reads back as a whole GGUF; on cancel or failure the partial
file is deleted.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from desktop_app.core import paths
from desktop_app.core.cancel import CancelToken, Progress, ProgressCallback
from desktop_app.core.errors import HearthError
from desktop_app.core.llama_cpu_libs import load_llama_cpu_libs
from desktop_app.core.models import gguf_meta
from desktop_app.core.models.files import write_sidecar
from desktop_app.core.quantlab.subproc import ChildSender, Message, run_child
from desktop_app.core.quantlab.variants import is_quantized

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QuantType:
    name: str
    ftype: int  # llama.cpp's LLAMA_FTYPE_MOSTLY_* value
    approx_bpw: float  # typical bits per weight of a 7B model, for size estimates
    description: str


# The types worth offering without an importance matrix (IQ types need one).
QUANT_TYPES: dict[str, QuantType] = {
    q.name: q
    for q in (
        QuantType("F16", 1, 16.0, "16-bit floats: no quality loss, twice the size of Q8_0"),
        QuantType("BF16", 32, 16.0, "bfloat16: no quality loss where the original was bf16"),
        QuantType("Q8_0", 7, 8.5, "almost lossless, about half of F16"),
        QuantType("Q6_K", 18, 6.56, "very small loss"),
        QuantType("Q5_K_M", 17, 5.69, "small loss, a good choice when memory allows"),
        QuantType("Q5_K_S", 16, 5.54, "small loss"),
        QuantType("Q5_0", 8, 5.5, "legacy 5-bit"),
        QuantType("Q4_K_M", 15, 4.89, "the usual balance of size and quality"),
        QuantType("Q4_K_S", 14, 4.58, "a bit smaller than Q4_K_M, a bit worse"),
        QuantType("Q4_0", 2, 4.5, "legacy 4-bit, fast on many CPUs"),
        QuantType("Q3_K_M", 12, 3.91, "noticeable loss"),
        QuantType("Q3_K_S", 11, 3.5, "large loss"),
        QuantType("Q2_K", 10, 3.0, "very large loss: only when nothing else fits"),
    )
}
REQUANTIZE_WARNING = (
    "This model is already quantised. Quantising it again stacks a second rounding "
    "on top of the first: the result is worse than the same type made from the "
    "original F16/BF16 file. Use it only to experiment, or when no original is available."
)
_TENSOR_LINE = re.compile(r"\[\s*(\d+)/\s*(\d+)\]\s+(\S+)")
_FALLBACK_LINE = re.compile(r"(\d+) of (\d+) tensor\(s\) required fallback quantization")


@dataclass
class QuantizeResult:
    path: Path
    quant: str
    size_bytes: int
    source: Path
    requantized: bool
    warnings: list[str] = field(default_factory=list)


def quant_type(name: str) -> QuantType:
    key = name.strip().upper()
    if key not in QUANT_TYPES:
        raise HearthError(
            f"“{name}” is not a quantisation type Hearth can make.",
            f"Pick one of {', '.join(QUANT_TYPES)}.",
        )
    return QUANT_TYPES[key]


def default_output_path(source: Path, qtype: str) -> Path:
    """``Model-F16.gguf`` + Q4_K_M -> ``Model-Q4_K_M.gguf`` (the source's quant label replaced
    when the file name carries it, appended otherwise), in Hearth's models folder: the
    library lists it there, and the source may sit somewhere read-only."""
    stem = source.stem
    label = quant_type(qtype).name
    try:
        current = gguf_meta.read_local(source).quant
    except HearthError:
        current = ""
    if current and re.search(re.escape(current), stem, flags=re.IGNORECASE):
        new_stem = re.sub(re.escape(current), label, stem, flags=re.IGNORECASE)
    else:
        new_stem = f"{stem}-{label}"
    return paths.models_dir() / f"{new_stem}.gguf"


def estimate_size(info: gguf_meta.GGUFInfo, qtype: QuantType) -> int:
    """A rough output size: matrices at the type's typical bits per weight, vectors as they are."""
    size = float(info.data_offset)
    for t in info.tensors:
        size += t.n_elements * qtype.approx_bpw / 8 if len(t.shape) >= 2 else t.n_bytes
    return int(size)


def quantize(
    source: str | Path,
    output: str | Path | None,
    qtype: str,
    *,
    allow_requantize: bool = False,
    overwrite: bool = False,
    n_threads: int = 0,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> QuantizeResult:
    """Quantises ``source`` to ``qtype`` into ``output`` (default: :func:`default_output_path`).

    An already-quantised source is refused unless ``allow_requantize`` (see
    REQUANTIZE_WARNING, which the result then carries). Raises HearthError in plain
    words, Cancelled when ``cancel`` fires; either way no partial file is left.
    """
    source = Path(source)
    qt = quant_type(qtype)
    info = gguf_meta.read_local(source)
    requantized = is_quantized(info)
    if requantized and not allow_requantize:
        raise HearthError(
            f"“{source.name}” is already quantised ({info.quant}).",
            "Quantise from an F16 or BF16 file for the best result, or allow requantising "
            "if you accept the extra loss.",
        )
    if info.quant.upper() == qt.name:
        raise HearthError(f"“{source.name}” is already {qt.name}.", "Pick another type.")
    out = Path(output) if output else default_output_path(source, qt.name)
    if out.resolve() == source.resolve():
        raise HearthError("The output would overwrite the source model.", "Choose another output file.")
    if out.exists() and not overwrite:
        raise HearthError(f"“{out}” already exists.", "Choose another name, or delete the old file first.")
    out.parent.mkdir(parents=True, exist_ok=True)
    needed = estimate_size(info, qt)
    free = shutil.disk_usage(out.parent).free
    if free < needed * 1.1:
        raise HearthError(
            f"Not enough disk space: the {qt.name} file needs about {needed / 1e9:.1f} GB, "
            f"{free / 1e9:.1f} GB are free on that disk.",
            "Free some space or choose another folder.",
        )
    partial = out.with_name(out.name + ".partial")
    sizes = {t.name: t.n_elements for t in info.tensors}
    total = sum(sizes.values()) or 1
    done = [0]
    current = [""]

    def on_message(message: Message) -> None:
        if message.get("event") != "tensor" or progress is None:
            return
        if current[0]:
            done[0] += sizes.get(current[0], 0)
        current[0] = str(message["name"])
        progress(Progress(done[0], total, f"Quantising {current[0]} ({message['index']}/{message['count']})"))

    job = {
        "source": str(source),
        "output": str(partial),
        "ftype": qt.ftype,
        "allow_requantize": requantized,
        "n_threads": n_threads,
    }
    if progress:
        progress(Progress(0, total, f"Starting llama.cpp's quantiser ({qt.name})"))
    try:
        result = run_child(_quantize_in_child, job, on_message, cancel, what="Quantising")
        gguf_meta.read_local(partial)  # a whole, readable GGUF before it gets its real name
        os.replace(partial, out)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    # What it was made from, beside the file: a variant made from an already-quantised file is never
    # the reference, and says so wherever it is shown (quantlab/variants.py reads this).
    try:
        write_sidecar(out, {"origin": "quantize", "made_from": str(source), "source_quant": info.quant,
                            "requantized": requantized})  # fmt: skip
    except HearthError as exc:  # the file is made; only its note of origin is missing
        log.warning("Could not record where %s came from: %s", out.name, exc.message)
    if progress:
        progress(Progress(total, total, f"Made {out.name}"))
    warnings = list(result.get("warnings", []))
    if requantized:
        warnings.insert(0, REQUANTIZE_WARNING)
    return QuantizeResult(out, qt.name, out.stat().st_size, source, requantized, warnings)


def _quantize_in_child(job: dict[str, Any], conn: Any) -> None:
    """Child process: runs llama_model_quantize, reporting each tensor from the log."""
    sender = ChildSender(conn)

    def work(send: ChildSender) -> dict[str, Any]:
        import llama_cpp

        errors: list[str] = []
        warnings: list[str] = []
        buffer = [""]

        def on_log(level: int, text: bytes, _user_data: ctypes.c_void_p) -> None:
            piece = text.decode("utf-8", errors="replace")
            match = _TENSOR_LINE.search(piece)
            if match:
                send.send("tensor", index=int(match.group(1)), count=int(match.group(2)), name=match.group(3))
            buffer[0] += piece
            while "\n" in buffer[0]:
                line, buffer[0] = buffer[0].split("\n", 1)
                line = line.strip()
                fallback = _FALLBACK_LINE.search(line)
                if fallback:
                    warnings.append(
                        f"{fallback.group(1)} of {fallback.group(2)} tensors have shapes this type cannot "
                        "hold and were stored in a nearby type instead (llama.cpp's fallback)."
                    )
                if level == 3 and line and not line.startswith("="):  # GGML_LOG_LEVEL_ERROR
                    errors.append(line)

        callback = llama_cpp.llama_log_callback(on_log)
        llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))
        load_llama_cpu_libs()
        llama_cpp.llama_backend_init()
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = int(job["ftype"])
        params.allow_requantize = bool(job["allow_requantize"])
        params.nthread = int(job["n_threads"])
        status = llama_cpp.llama_model_quantize(
            str(job["source"]).encode("utf-8"), str(job["output"]).encode("utf-8"), ctypes.byref(params)
        )
        if status != 0:
            detail = errors[-1] if errors else "no reason given"
            detail = detail.removeprefix("llama_model_quantize: failed to quantize: ")
            raise HearthError(f"llama.cpp could not quantise this model: {detail}.")
        return {"warnings": warnings}

    sender.run(work)

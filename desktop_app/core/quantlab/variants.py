"""Variants of one model: which local files are quantisations of the same base model,
and which of them is the best (highest-precision) one to measure the others against.

Everything here comes from the GGUF header (metadata and tensor table); no weights
are read.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from desktop_app.core.cancel import CancelToken
from desktop_app.core.errors import HearthError
from desktop_app.core.models import gguf_meta, library
from desktop_app.core.models.files import read_sidecar

log = logging.getLogger(__name__)

# Quant labels and size tags that file names and general.name often carry.
_QUANT_TOKEN = re.compile(
    r"(?i)(?:^|[-_. ])(?:u?q\d(?:_[a-z0-9]+)*|iq\d(?:_[a-z0-9]+)*|f16|f32|bf16|fp16|fp32|gguf|"
    r"tq\d_\d|mxfp4(?:_moe)?|\d+(?:\.\d+)?[bm])(?=$|[-_. ])"
)
_FLOAT_TYPES = {"F32", "F16", "BF16", "F64"}


@dataclass(frozen=True)
class Variant:
    """One local GGUF file seen as a variant of its base model."""

    path: Path
    name: str  # the file's stem, what the user sees in lists
    base: str  # the base model's name, variants of one model share it
    architecture: str
    n_params: int
    quant: str
    size_bytes: int
    bits_per_weight: float  # from the tensor table: weight bytes * 8 / parameters
    n_vocab: int
    quantized: bool  # True when the large weights are not F32/F16/BF16
    # Made by quantising an already-quantised file: the quant it was made from (e.g. "Q4_1"), else
    # "". It holds no more information than that file, whatever its bits per weight say.
    requantized_from: str = ""

    @property
    def label(self) -> str:
        """The name as shown everywhere: a re-quantised variant says what it was made from."""
        return f"{self.name} (made from {self.requantized_from})" if self.requantized_from else self.name

    @property
    def group_key(self) -> tuple[str, str, int]:
        return (self.architecture, self.base.lower(), self.n_params)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "name": self.name,
            "base": self.base,
            "architecture": self.architecture,
            "parameters": self.n_params,
            "quant": self.quant,
            "size_bytes": self.size_bytes,
            "bits_per_weight": round(self.bits_per_weight, 3),
            "n_vocab": self.n_vocab,
            "quantized": self.quantized,
            "requantized_from": self.requantized_from,
        }


@dataclass
class VariantGroup:
    """Variants of one base model, best (highest bits per weight) first."""

    base: str
    architecture: str
    n_params: int
    variants: list[Variant] = field(default_factory=list)

    @property
    def reference(self) -> Variant:
        return pick_reference(self.variants)


def base_name(info: gguf_meta.GGUFInfo, path: Path) -> str:
    """The base model's name: general.basename, else general.name or the file name
    without its quantisation and size tags."""
    basename = str(info.get("general.basename", "") or "").strip()
    if basename:
        # A fine-tune (Instruct, a chat tune...) is another model with the same basename.
        extras = [str(info.get(key, "") or "").strip() for key in ("general.size_label", "general.finetune")]
        return " ".join([basename, *(e for e in extras if e)])
    raw = info.name.strip() or path.stem
    stripped = _QUANT_TOKEN.sub(" ", raw)
    # Run twice: adjacent tags share their separator, so one pass misses every other one.
    stripped = _QUANT_TOKEN.sub(" ", stripped)
    cleaned = re.sub(r"[-_. ]+", " ", stripped).strip()
    return cleaned or raw


def is_quantized(info: gguf_meta.GGUFInfo) -> bool:
    """True when any matrix (2-D or larger tensor) is stored in a quantised type."""
    return any(len(t.shape) >= 2 and t.type_name not in _FLOAT_TYPES for t in info.tensors)


def bits_per_weight(info: gguf_meta.GGUFInfo) -> float:
    n = info.n_params
    return info.weights_bytes * 8 / n if n else 0.0


def _n_vocab(info: gguf_meta.GGUFInfo) -> int:
    tokens = info.get("tokenizer.ggml.tokens")
    if tokens is not None:
        return len(tokens)
    return int(info.arch_get("vocab_size", 0) or 0)


def describe_variant(path: str | Path) -> Variant:
    """Reads a model's header. Raises ModelLoadError for a broken file."""
    path = Path(path)
    info = gguf_meta.read_local(path)
    return variant_from_info(path, info)


def local_variants(extra_paths: Sequence[str | Path] = (), cancel: CancelToken | None = None) -> list[Variant]:
    """Every local model (the library plus ``extra_paths``) as a variant; a file whose header
    cannot be read is logged and left out. Reads headers: call it off the GUI thread."""
    found: list[Variant] = []
    for model in library.list_models([str(p) for p in extra_paths]):
        if cancel:
            cancel.raise_if_cancelled()
        try:
            found.append(describe_variant(model.path))
        except HearthError as exc:
            log.warning("Skipping %s: %s", model.path, exc.message)
    return found


def _requantized_from(path: Path) -> str:
    """The source's quant when Hearth made ``path`` from an already-quantised file (its sidecar)."""
    sidecar = read_sidecar(path) or {}
    return str(sidecar.get("source_quant") or "?") if sidecar.get("requantized") is True else ""


def variant_from_info(path: Path, info: gguf_meta.GGUFInfo) -> Variant:
    return Variant(
        path=path,
        name=path.stem,
        base=base_name(info, path),
        architecture=info.architecture,
        n_params=info.n_params,
        quant=info.quant,
        size_bytes=path.stat().st_size,
        bits_per_weight=bits_per_weight(info),
        n_vocab=_n_vocab(info),
        quantized=is_quantized(info),
        requantized_from=_requantized_from(path),
    )


def pick_reference(variants: Sequence[Variant]) -> Variant:
    """The variant with the most information: an original file before any made by re-quantising
    (a Q8_0 made from a Q4_1 holds only the Q4_1's information, so measured against it the Q4_1
    would look lossless), then the most bits per weight (ties: the larger file)."""
    if not variants:
        raise ValueError("no variants")
    return max(variants, key=lambda v: (not v.requantized_from, round(v.bits_per_weight, 3), v.size_bytes))


def group_variants(variants: Iterable[Variant]) -> list[VariantGroup]:
    """Groups variants of the same base model (same name, architecture and parameter
    count). Groups and their variants come best first; groups by name."""
    groups: dict[tuple[str, str, int], VariantGroup] = {}
    for v in variants:
        group = groups.get(v.group_key)
        if group is None:
            group = groups[v.group_key] = VariantGroup(v.base, v.architecture, v.n_params)
        group.variants.append(v)
    for group in groups.values():
        group.variants.sort(key=lambda v: (bool(v.requantized_from), -v.bits_per_weight, v.name.lower()))
    return sorted(groups.values(), key=lambda g: (g.base.lower(), g.n_params))


def same_model(variants: Sequence[Variant]) -> bool:
    """True when all of them are variants of one base model."""
    return len({v.group_key for v in variants}) <= 1

"""What a comparison holds: its settings, each variant's measured figures, the whole run.

Plain data shared by the measuring code (``measure``) and the saved runs (``runs``).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from desktop_app.core.errors import HearthError
from desktop_app.core.settings import SamplingSettings


def _default_sampling() -> SamplingSettings:
    return SamplingSettings(max_tokens=256, seed=-1)


@dataclass
class CompareSettings:
    """How a comparison is run. Every field is saved with the run."""

    tokens: int = 0  # text tokens evaluated for perplexity and KL divergence (at most); 0: the whole text
    window: int = 512  # tokens per evaluation window; the second half of each is scored
    n_ctx: int = 2048  # context the models are loaded with (same for all variants)
    n_threads: int = 0  # 0: physical cores
    n_gpu_layers: int = -1  # -1: as many as the build can offload
    flash_attn: bool = True
    speed_prompt_tokens: int = 256  # prompt speed: one batch of this many tokens
    speed_gen_tokens: int = 32  # generation speed: this many tokens, one at a time
    # Speed is measured this many times per variant, each after a warm-up, the rounds in
    # alternating variant order (the first round forwards, the next backwards...): the median
    # is shown, with the spread. A single round is what users then quote wrongly.
    speed_rounds: int = 3
    kl_top_k: int = 0  # 0: exact (the reference's full distributions on disk); K > 0: the top-K approximation
    prompt: str = ""  # when set, every variant answers it (same seed and settings)
    system_prompt: str = ""
    sampling: SamplingSettings = field(default_factory=_default_sampling)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CompareSettings:
        known = {f.name for f in fields(cls)} - {"sampling"}
        settings = cls(**{k: v for k, v in data.items() if k in known})
        sampling = data.get("sampling")
        if isinstance(sampling, dict):
            names = {f.name for f in fields(SamplingSettings)}
            settings.sampling = SamplingSettings(**{k: v for k, v in sampling.items() if k in names})
        return settings

    def validate(self) -> None:
        if not 1 <= self.speed_rounds <= 9:
            raise HearthError("Measure speed between 1 and 9 times.")
        if 0 < self.tokens < 16:
            raise HearthError("Evaluate at least 16 tokens.", "Raise the number of tokens, or evaluate the whole text.")
        if self.window < 16 or self.window > self.n_ctx:
            raise HearthError(
                f"The evaluation window ({self.window}) must be between 16 tokens and the context ({self.n_ctx}).",
                "Make the window smaller or the context larger.",
            )


@dataclass
class VariantResult:
    """What was measured for one variant. Metrics are None when not measured (or failed)."""

    path: str
    name: str
    sha256: str
    quant: str
    bits_per_weight: float
    size_bytes: int
    is_reference: bool = False
    load_s: float | None = None
    peak_rss_bytes: int | None = None
    baseline_rss_bytes: int | None = None  # the child process before loading: Python and llama.cpp
    vram_bytes: int | None = None
    prompt_tok_s: float | None = None
    gen_tok_s: float | None = None
    perplexity: float | None = None
    kl_divergence: float | None = None
    kl_p99: float | None = None
    top1_agreement: float | None = None
    n_scored: int = 0
    # Uncertainty (one standard error) and llama-perplexity's other figures; see metrics.QualityStats.
    perplexity_unc: float | None = None
    ppl_ratio: float | None = None
    ppl_ratio_unc: float | None = None
    kl_unc: float | None = None
    kl_p999: float | None = None
    kl_max: float | None = None
    rms_dp: float | None = None
    rms_dp_unc: float | None = None
    top1_unc: float | None = None
    kl_method: str = ""  # "exact …" or the approximation used, on every row
    answer: str | None = None
    answer_timings: dict[str, Any] | None = None
    rating: int | None = None  # the user's 1–5 rating in side-by-side
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)  # backend, threads, n_ctx, llama.cpp version...

    @property
    def speed_runs(self) -> list[dict[str, float]]:
        """Each speed round: prompt_tok_s, gen_tok_s and the CPU share other programs used."""
        return list(self.details.get("speed_rounds", []))

    def speed_spread(self, key: str) -> tuple[float, float] | None:
        """(lowest, highest) of ``key`` ("prompt_tok_s" or "gen_tok_s") over the rounds."""
        values = [float(r[key]) for r in self.speed_runs if r.get(key)]
        return (min(values), max(values)) if len(values) > 1 else None

    @property
    def model_rss_bytes(self) -> int | None:
        if self.peak_rss_bytes is None or self.baseline_rss_bytes is None:
            return None
        return max(0, self.peak_rss_bytes - self.baseline_rss_bytes)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["model_rss_bytes"] = self.model_rss_bytes
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VariantResult:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class MachineInfo:
    """The machine a comparison ran on, stored with it as JSON (``to_dict``/``from_dict``)."""

    ram_total: int = 0
    cpu_physical_cores: int = 0
    os: str = ""
    backend: str = ""
    llama_cpp_version: str = ""
    notes: tuple[str, ...] = ()  # what the figures should be read with ("a busy machine…")

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "ram_total": self.ram_total,
            "cpu_physical_cores": self.cpu_physical_cores,
            "os": self.os,
            "backend": self.backend,
            "llama_cpp_version": self.llama_cpp_version,
        }
        if self.notes:
            data["notes"] = list(self.notes)
        return data

    @classmethod
    def from_dict(cls, data: Any) -> MachineInfo:
        """Tolerant of what older Hearths stored: missing keys take defaults, unknown keys are ignored."""
        if not isinstance(data, dict):
            return cls()
        notes = data.get("notes")
        return cls(
            ram_total=int(data.get("ram_total") or 0),
            cpu_physical_cores=int(data.get("cpu_physical_cores") or 0),
            os=str(data.get("os") or ""),
            backend=str(data.get("backend") or ""),
            llama_cpp_version=str(data.get("llama_cpp_version") or ""),
            notes=tuple(str(n) for n in notes) if isinstance(notes, list) else (),
        )


@dataclass
class ComparisonRun:
    """One comparison: its settings, the text, the machine, and a result per variant
    (reference first). ``id`` is set once saved."""

    settings: CompareSettings
    text_source: str
    text_sha256: str
    n_text_tokens: int
    kl_method: str
    results: list[VariantResult]
    machine: MachineInfo
    created_at: float = field(default_factory=time.time)
    duration_s: float = 0.0
    title: str = ""
    id: int | None = None

    @property
    def reference(self) -> VariantResult | None:
        return next((r for r in self.results if r.is_reference), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "created_at": self.created_at,
            "duration_s": self.duration_s,
            "settings": self.settings.to_dict(),
            "text": {"source": self.text_source, "sha256": self.text_sha256, "tokens": self.n_text_tokens},
            "kl_method": self.kl_method,
            "machine": self.machine.to_dict(),
            "results": [r.to_dict() for r in self.results],
        }


# Stored with each result beside MEASURED_METRICS (in its extra JSON).
QUALITY_FIELDS = (
    "perplexity_unc",
    "ppl_ratio",
    "ppl_ratio_unc",
    "kl_unc",
    "kl_p999",
    "kl_max",
    "rms_dp",
    "rms_dp_unc",
    "top1_unc",
    "kl_method",
)

MEASURED_METRICS = (
    "load_s",
    "peak_rss_bytes",
    "baseline_rss_bytes",
    "vram_bytes",
    "prompt_tok_s",
    "gen_tok_s",
    "perplexity",
    "kl_divergence",
    "kl_p99",
    "top1_agreement",
)

"""Open models to try after the starter model: a curated list, kept here as data, with the fit of
each on this computer computed by the fit code from the model's published architecture.

Nothing here touches the network: the list, its one-line cards and the fits are local, so the
first-run page can show them before the user has asked the Hub anything. Each entry names a
Hub repository of GGUF files; opening it (Models → Browse) reads the Hub's own card and the real
files' headers, whose fit then replaces this estimate.

Openness is said as it is: every model here has downloadable weights, but only some publish
what they were trained on. The licence, size, context and openness below are Hearth's
summary of each model's own card and report, marked "from Hearth's list" where shown; the
Hub's card data (licence, datasets) is shown instead once the repository is opened.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from desktop_app.core.fit.badges import FitBadge, badge_for, machine
from desktop_app.core.fit.result import Verdict
from desktop_app.core.fit.shapes import ModelShape, header_for
from desktop_app.core.units import human_bytes, human_parameters

if TYPE_CHECKING:
    from desktop_app.core.hardware import HardwareInfo
    from desktop_app.core.hub.client import RepoPage

QUANT = "Q4_K_M"  # the quantisation the estimate is for: the usual first download
SMALLER_QUANT = "Q3_K_M"  # what is suggested when Q4_K_M does not fit: smaller, a little less accurate
MIN_USEFUL_CTX = 2048  # a shorter context than this is not offered as the way to make a model fit
SOURCE_NOTE = "from Hearth's list"


class Openness(str, enum.Enum):
    """What the makers published besides the weights."""

    FULL = "full"  # weights, the training data and the training code
    WEIGHTS = "weights"  # weights only: the training data is described at most, not published

    def __str__(self) -> str:
        return self.value


OPENNESS_WORDS = {
    Openness.FULL: "open weights and open training data",
    Openness.WEIGHTS: "open weights; training data not published",
}

LICENCE_NAMES = {
    "apache-2.0": "Apache 2.0",
    "mit": "MIT",
    "llama3.1": "Llama 3.1 Community Licence",
    "llama3.2": "Llama 3.2 Community Licence",
    "gemma": "Gemma Terms of Use",
}
PERMISSIVE = {"apache-2.0", "mit"}


@dataclass(frozen=True)
class RecommendedModel:
    repo_id: str  # a Hub repository of GGUF files
    name: str
    maker: str
    parameters: int  # as the makers count them
    licence: str  # the Hub's licence id
    openness: Openness
    note: str  # one plain sentence: what it is good for, what is published
    shape: ModelShape

    @property
    def context_length(self) -> int:
        return self.shape.context_length

    @property
    def licence_words(self) -> str:
        name = LICENCE_NAMES.get(self.licence, self.licence)
        return name if self.licence in PERMISSIVE else f"{name} (custom terms with conditions on use)"

    def card_line(self) -> str:
        """The one-line model card: licence, parameters, context, openness."""
        return (
            f"{self.licence_words} · {human_parameters(self.parameters)} parameters · "
            f"{self.context_length:,} tokens of context · {OPENNESS_WORDS[self.openness]}"
        )


def _m(
    repo_id: str,
    name: str,
    maker: str,
    parameters: float,
    licence: str,
    openness: Openness,
    note: str,
    *shape: int,
    arch: str,
    tied: bool = False,
    window: int = 0,
) -> RecommendedModel:
    n_layer, n_embd, n_head, n_head_kv, head_dim, n_ff, n_vocab, ctx = shape
    return RecommendedModel(
        repo_id,
        name,
        maker,
        int(parameters),
        licence,
        openness,
        note,
        ModelShape(arch, n_layer, n_embd, n_head, n_head_kv, head_dim, n_ff, n_vocab, ctx, tied, window),
    )


W, F = Openness.WEIGHTS, Openness.FULL
_OLMO_DATA = "Ai2 publishes its training data (OLMo mix, Dolmino, Tülu 3), code, logs and checkpoints."

# Architecture figures from each model's config.json: layers, width, heads, KV heads, head size,
# feed-forward width, vocabulary, trained context.
RECOMMENDED: tuple[RecommendedModel, ...] = (
    _m("HuggingFaceTB/SmolLM2-1.7B-Instruct-GGUF", "SmolLM2 1.7B Instruct", "Hugging Face", 1.7e9, "apache-2.0", F,
       "The starter model's bigger sibling; Hugging Face publishes the datasets it was trained on.",
       24, 2048, 32, 32, 64, 8192, 49152, 8192, arch="llama", tied=True),
    _m("Qwen/Qwen3-0.6B-GGUF", "Qwen3 0.6B", "Alibaba (Qwen)", 0.6e9, "apache-2.0", W,
       "Very small and quick; follows instructions far better than the starter model.",
       28, 1024, 16, 8, 128, 3072, 151936, 32768, arch="qwen3", tied=True),
    _m("Qwen/Qwen3-1.7B-GGUF", "Qwen3 1.7B", "Alibaba (Qwen)", 1.7e9, "apache-2.0", W,
       "Small, multilingual, good for short document questions on modest laptops.",
       28, 2048, 16, 8, 128, 6144, 151936, 32768, arch="qwen3", tied=True),
    _m("Qwen/Qwen3-4B-GGUF", "Qwen3 4B", "Alibaba (Qwen)", 4.0e9, "apache-2.0", W,
       "A strong all-rounder for 8 GB of memory.",
       36, 2560, 32, 8, 128, 9728, 151936, 32768, arch="qwen3", tied=True),
    _m("Qwen/Qwen3-8B-GGUF", "Qwen3 8B", "Alibaba (Qwen)", 8.2e9, "apache-2.0", W,
       "Good answers from documents; wants 16 GB of memory or a GPU.",
       36, 4096, 32, 8, 128, 12288, 151936, 32768, arch="qwen3"),
    _m("Qwen/Qwen3-14B-GGUF", "Qwen3 14B", "Alibaba (Qwen)", 14.8e9, "apache-2.0", W,
       "Noticeably better reasoning; slow without a GPU.",
       40, 5120, 40, 8, 128, 17408, 151936, 32768, arch="qwen3"),
    _m("Qwen/Qwen3-32B-GGUF", "Qwen3 32B", "Alibaba (Qwen)", 32.8e9, "apache-2.0", W,
       "For workstations with a large GPU or 32 GB of memory and patience.",
       64, 5120, 64, 8, 128, 25600, 151936, 32768, arch="qwen3"),
    _m("bartowski/Llama-3.2-1B-Instruct-GGUF", "Llama 3.2 1B Instruct", "Meta", 1.24e9, "llama3.2", W,
       "Small with a long context.",
       16, 2048, 32, 8, 64, 8192, 128256, 131072, arch="llama", tied=True),
    _m("bartowski/Llama-3.2-3B-Instruct-GGUF", "Llama 3.2 3B Instruct", "Meta", 3.21e9, "llama3.2", W,
       "A capable small model with a long context.",
       28, 3072, 24, 8, 128, 8192, 128256, 131072, arch="llama", tied=True),
    _m("bartowski/Meta-Llama-3.1-8B-Instruct-GGUF", "Llama 3.1 8B Instruct", "Meta", 8.03e9, "llama3.1", W,
       "Widely used and well understood; long context.",
       32, 4096, 32, 8, 128, 14336, 128256, 131072, arch="llama"),
    _m("ggml-org/gemma-3-1b-it-GGUF", "Gemma 3 1B", "Google", 1.0e9, "gemma", W,
       "Small and fluent in many languages.",
       26, 1152, 4, 1, 256, 6912, 262144, 32768, arch="gemma3", tied=True, window=512),
    _m("ggml-org/gemma-3-4b-it-GGUF", "Gemma 3 4B", "Google", 4.3e9, "gemma", W,
       "Strong for its size, 140 languages; this text model leaves out the image part.",
       34, 2560, 8, 4, 256, 10240, 262208, 131072, arch="gemma3", tied=True, window=1024),
    _m("ggml-org/gemma-3-12b-it-GGUF", "Gemma 3 12B", "Google", 12.2e9, "gemma", W,
       "Very good answers; wants a GPU or a fast computer.",
       48, 3840, 16, 8, 256, 15360, 262208, 131072, arch="gemma3", tied=True, window=1024),
    _m("ggml-org/gemma-3-27b-it-GGUF", "Gemma 3 27B", "Google", 27.4e9, "gemma", W,
       "Google's largest open Gemma 3; for big GPUs.",
       62, 5376, 32, 16, 128, 21504, 262208, 131072, arch="gemma3", tied=True, window=1024),
    _m("bartowski/Mistral-7B-Instruct-v0.3-GGUF", "Mistral 7B Instruct v0.3", "Mistral AI", 7.25e9, "apache-2.0", W,
       "A classic 7B with a permissive licence.",
       32, 4096, 32, 8, 128, 14336, 32768, 32768, arch="llama"),
    _m("bartowski/Mistral-Nemo-Instruct-2407-GGUF", "Mistral NeMo 12B", "Mistral AI and NVIDIA", 12.2e9,
       "apache-2.0", W, "Long context and a permissive licence.",
       40, 5120, 32, 8, 128, 14336, 131072, 131072, arch="llama"),
    _m("unsloth/Mistral-Small-3.2-24B-Instruct-2506-GGUF", "Mistral Small 3.2 24B", "Mistral AI", 23.6e9,
       "apache-2.0", W, "Mistral's best open model for a single large GPU.",
       40, 5120, 32, 8, 128, 32768, 131072, 131072, arch="llama"),
    _m("unsloth/Phi-4-mini-instruct-GGUF", "Phi-4 mini", "Microsoft", 3.8e9, "mit", W,
       "Small, good at reasoning and maths; MIT licence.",
       32, 3072, 24, 8, 128, 8192, 200064, 131072, arch="phi3", tied=True),
    _m("microsoft/phi-4-gguf", "Phi-4 14B", "Microsoft", 14.7e9, "mit", W,
       "Strong reasoning for its size; a short 16k context.",
       40, 5120, 40, 10, 128, 17920, 100352, 16384, arch="phi3"),
    _m("allenai/OLMo-2-0425-1B-Instruct-GGUF", "OLMo 2 1B Instruct", "Ai2", 1.48e9, "apache-2.0", F,
       f"Fully open and small. {_OLMO_DATA}",
       16, 2048, 16, 16, 128, 8192, 100352, 4096, arch="olmo2"),
    _m("allenai/OLMo-2-1124-7B-Instruct-GGUF", "OLMo 2 7B Instruct", "Ai2", 7.3e9, "apache-2.0", F,
       f"Fully open: the model to choose when you must say what it learnt from. {_OLMO_DATA}",
       32, 4096, 32, 32, 128, 11008, 100352, 4096, arch="olmo2"),
    _m("allenai/OLMo-2-1124-13B-Instruct-GGUF", "OLMo 2 13B Instruct", "Ai2", 13.7e9, "apache-2.0", F,
       f"Fully open and stronger; a short 4k context. {_OLMO_DATA}",
       40, 5120, 40, 40, 128, 13824, 100352, 4096, arch="olmo2"),
)  # fmt: skip


@dataclass(frozen=True)
class Recommendation:
    """A recommended model with its estimated fit on this computer."""

    model: RecommendedModel
    badge: FitBadge
    n_ctx: int
    remedy: str = ""  # too large: what would make it fit here (a shorter context, a smaller file)

    @property
    def fits(self) -> bool:
        return self.badge.verdict not in (Verdict.TOO_LARGE, Verdict.UNKNOWN)


# The tiers the first-run page groups by, best place to run first.
TIERS: tuple[tuple[Verdict, str], ...] = (
    (Verdict.FULL_GPU, "Fit on your GPU"),
    (Verdict.PARTIAL_GPU, "Partly on your GPU (slower)"),
    (Verdict.CPU, "Run on your CPU"),
    (Verdict.TOO_LARGE, "Need more memory than this computer has"),
)


def recommend(
    n_ctx: int, hw: HardwareInfo | None = None, models: tuple[RecommendedModel, ...] = RECOMMENDED
) -> list[Recommendation]:
    """Every listed model with its fit at ``n_ctx`` (capped at what each was trained for), smallest
    first. Pure computation: the planned header of a Q4_K_M file, never a download."""
    hw = hw or machine()
    out = []
    for model in sorted(models, key=lambda m: (m.parameters, m.name)):
        ctx = min(n_ctx, model.context_length)
        badge = badge_for(header_for(model.shape, QUANT, model.name), ctx, hw)
        remedy = _remedy(model, badge, ctx, hw) if badge.verdict is Verdict.TOO_LARGE else ""
        out.append(Recommendation(model, badge, ctx, remedy))
    return out


def _remedy(model: RecommendedModel, badge: FitBadge, ctx: int, hw: HardwareInfo) -> str:
    """What would make a model that is too large fit here, from the same plan: a shorter context
    (when a useful one fits), a smaller quantisation, else how much memory is missing."""
    result = badge.result
    ways = []
    if result is not None and result.max_ctx >= MIN_USEFUL_CTX:
        ways.append(f"a shorter context (up to {result.max_ctx:,} tokens, in Settings)")
    smaller = badge_for(header_for(model.shape, SMALLER_QUANT, model.name), ctx, hw)
    if smaller.result is not None and smaller.verdict is not Verdict.TOO_LARGE:
        ways.append(
            f"a smaller {SMALLER_QUANT} file (about {human_bytes(smaller.result.ram_required)} of RAM; "
            "answers a little less accurately)"
        )
    if ways:
        return "Would fit with " + " or ".join(ways) + "."
    if result is None:
        return ""
    short = result.ram_required - max(0, result.breakdown.cpu.budget)
    return f"Needs about {human_bytes(max(short, 0))} more free memory than this computer has now."


def find(repo_id: str, models: tuple[RecommendedModel, ...] = RECOMMENDED) -> RecommendedModel | None:
    wanted = repo_id.lower()
    return next((m for m in models if m.repo_id.lower() == wanted), None)


def openness_facts(page: RepoPage, listed: RecommendedModel | None) -> str:
    """What the opened repository says about its training data: the Hub card's ``datasets``
    where it names them, else Hearth's list (marked as such), else that nothing is known."""
    if page.datasets:
        return f"Training data named on its Hub card: {', '.join(page.datasets)}"
    if listed is not None:
        return f"Training data is not named on its Hub card; {SOURCE_NOTE}: {OPENNESS_WORDS[listed.openness]}."
    return "Its Hub card does not name its training data."


def memory_words(rec: Recommendation) -> str:
    """What the estimate says it needs, in a few words (beside the card's fit badge): the figure
    the verdict is decided by (``ram_required``), so the number and the verdict always agree."""
    result = rec.badge.result
    if result is None:
        return rec.badge.detail
    if rec.badge.verdict is Verdict.TOO_LARGE:
        usable = max(0, result.breakdown.cpu.budget)
        return (
            f"needs about {human_bytes(result.ram_required + result.vram_bytes)} of memory at {rec.n_ctx:,} "
            f"tokens; {human_bytes(usable)} can be used now"
        )
    ram, vram = human_bytes(result.ram_required), human_bytes(result.vram_bytes)
    if rec.badge.verdict is Verdict.FULL_GPU:
        return f"about {vram} of GPU memory at {rec.n_ctx:,} tokens"
    if rec.badge.verdict is Verdict.PARTIAL_GPU:
        return f"about {vram} of GPU memory and {ram} of RAM at {rec.n_ctx:,} tokens"
    return f"about {ram} of RAM at {rec.n_ctx:,} tokens"


def peak_words(rec: Recommendation) -> str:
    """Why the memory in use can show more than the card's figure for a while (a tooltip)."""
    result = rec.badge.result
    if result is None or result.ram_bytes - result.ram_required < 256 * 1024**2:
        return ""
    return (
        f"While it loads, the memory in use can show up to {human_bytes(result.ram_bytes)}: part of the model file "
        "is read once and kept only until the system needs the memory for something else."
    )

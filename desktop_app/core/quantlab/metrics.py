"""The numbers of the lab, in numpy: evaluation windows, perplexity, KL divergence, top-1 agreement,
each with its uncertainty — the same quantities as llama.cpp's ``llama-perplexity``
(``tools/perplexity/perplexity.cpp`` of the llama.cpp that llama-cpp-python vendors).

Windows: the text's tokens (BOS first when the model adds one) are cut into consecutive windows of
``window`` tokens; the first token of every window is overwritten with BOS when the model adds one;
only whole windows count; the second half of each window is scored, so every scored token has at
least half a window of context.

The reference's distributions are computed once and kept on disk, written and read a block of
positions at a time with plain file I/O (:class:`ReferenceStore`), then read back for each variant.
By default they are kept whole, in
llama.cpp's own 16-bit form (per position: a scale and an offset, then each token's log-probability
as a 16-bit step within 32 nats of the most likely token — llama.cpp keeps 16), so the KL divergence is exact for any
vocabulary and text length (llama-perplexity --kl-divergence's figure, from its 16-nat form that skips the
tokens below e^-16, reads about 0.1% off on a small Q4 model; its other figures are the same). Only when the user asks
(or the disk cannot hold the full distributions) are just each position's top-K log-probabilities
kept; the KL divergence is then computed between the two distributions coarsened to K+1 outcomes
(the reference's top K tokens, and "any other token"), which by the data-processing inequality never
exceeds the exact value: it is named as an approximation everywhere it is shown.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int32]

DEFAULT_TOP_K = 256
DISK_MARGIN_BYTES = 256 * 1024 * 1024  # left free on the disk after the reference's distributions
# Nats below the most likely token that the 16-bit form resolves. llama.cpp's base file resolves 16 and
# its KL sum skips tokens below e^-16; on SmolLM2 Q4_0 that put the KL divergence ~0.1% off the exact value
# (the tail of a 49k vocabulary), so the lab keeps 32 (a step of 0.0005 nats) and sums every token.
LOG_PROB_RANGE = 32.0
BLOCK_ROWS = 64  # positions handled at once: memory stays bounded for a 262k vocabulary


@dataclass(frozen=True)
class Window:
    """One evaluation window: the tokens fed to the model and the positions scored."""

    tokens: list[int]
    first_scored: int  # logits at positions first_scored .. len(tokens)-2 predict the next token

    @property
    def n_scored(self) -> int:
        return len(self.tokens) - 1 - self.first_scored

    @property
    def targets(self) -> list[int]:
        return self.tokens[self.first_scored + 1 :]


def plan_windows(tokens: Sequence[int], window: int, bos: int | None) -> list[Window]:
    """Cuts ``tokens`` (the text, without BOS) into the windows ``llama-perplexity`` scores.

    With ``bos`` the sequence is BOS + the text, and each window's first token is overwritten with
    BOS (the text token there is not fed): window k holds sequence positions k*window ... so both
    tools score the same tokens with the same context. A text shorter than one window gives one
    shorter window (llama-perplexity refuses such a text; the lab measures it, saying how many
    tokens were scored).
    """
    if window < 8:
        raise ValueError("window too small")
    sequence = [bos, *tokens] if bos is not None else list(tokens)
    whole = len(sequence) // window
    if whole == 0:
        return [Window(sequence, len(sequence) // 2)] if len(sequence) >= 4 else []
    windows = []
    for k in range(whole):
        chunk = sequence[k * window : (k + 1) * window]
        if bos is not None:
            chunk[0] = bos
        windows.append(Window(chunk, window // 2))
    return windows


def log_softmax(logits: npt.NDArray[np.floating]) -> FloatArray:
    """Row-wise log-softmax in float64 internally, returned as float32."""
    x = np.asarray(logits, dtype=np.float64)
    x = x - x.max(axis=-1, keepdims=True)
    out = x - np.log(np.exp(x).sum(axis=-1, keepdims=True))
    return out.astype(np.float32)


def token_nll(logprobs: FloatArray, targets: Sequence[int]) -> npt.NDArray[np.float64]:
    """Negative log-likelihood of each target token."""
    idx = np.asarray(targets, dtype=np.int64)
    return -logprobs[np.arange(len(idx)), idx].astype(np.float64)


def nll_of_logits(logits: npt.NDArray[np.floating], targets: Sequence[int]) -> npt.NDArray[np.float64]:
    """Negative log-likelihood of each target from raw logits, a block of rows at a time."""
    out = np.empty(len(targets), dtype=np.float64)
    for lo in range(0, len(targets), BLOCK_ROWS):
        hi = min(lo + BLOCK_ROWS, len(targets))
        out[lo:hi] = token_nll(log_softmax(logits[lo:hi]), targets[lo:hi])
    return out


def kl_full(ref_logprobs: FloatArray, logprobs: FloatArray) -> npt.NDArray[np.float64]:
    """KL(P_ref || Q) per row, from full log-distributions."""
    p = np.exp(ref_logprobs.astype(np.float64))
    kl = (p * (ref_logprobs.astype(np.float64) - logprobs.astype(np.float64))).sum(axis=-1)
    return np.maximum(kl, 0.0)


def kl_top_k(ref_idx: IntArray, ref_lp: FloatArray, logprobs: FloatArray) -> npt.NDArray[np.float64]:
    """KL(P_ref || Q) per row between the distributions coarsened to the reference's top K
    tokens plus one "rest" outcome. A lower bound of the exact value (see the module doc)."""
    rows = np.arange(ref_idx.shape[0])[:, None]
    lp_ref = ref_lp.astype(np.float64)
    lq = logprobs[rows, ref_idx].astype(np.float64)
    p = np.exp(lp_ref)
    q = np.exp(lq)
    head = (p * (lp_ref - lq)).sum(axis=-1)
    p_rest = np.clip(1.0 - p.sum(axis=-1), 0.0, 1.0)
    q_rest = np.clip(1.0 - q.sum(axis=-1), 1e-30, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        tail = np.where(p_rest > 1e-12, p_rest * (np.log(np.maximum(p_rest, 1e-30)) - np.log(q_rest)), 0.0)
    return np.maximum(head + tail, 0.0)


def top_k(logprobs: FloatArray, k: int) -> tuple[IntArray, FloatArray]:
    """Indices and values of each row's k largest log-probabilities (unordered)."""
    idx = np.argpartition(-logprobs, k - 1, axis=-1)[:, :k].astype(np.int32)
    rows = np.arange(logprobs.shape[0])[:, None]
    return idx, logprobs[rows, idx]


def quantize_log_probs(logits: npt.NDArray[np.floating]) -> tuple[npt.NDArray[np.uint16], FloatArray, FloatArray]:
    """llama.cpp's 16-bit form of each row's log-softmax (``log_softmax`` with a ``uint16_t`` output in
    perplexity.cpp): (steps, scale, offset) with log p_i = scale * steps_i + offset, resolving the
    LOG_PROB_RANGE nats below the row's most likely token; lower tokens get step 0."""
    x = np.asarray(logits, dtype=np.float32)
    max_logit = x.max(axis=-1)
    min_logit = np.maximum(x.min(axis=-1), max_logit - np.float32(LOG_PROB_RANGE))
    log_sum_exp = np.log(np.exp((x - max_logit[:, None]).astype(np.float64)).sum(axis=-1)).astype(np.float32)
    offset = (min_logit - max_logit - log_sum_exp).astype(np.float32)
    scale = ((max_logit - min_logit) / np.float32(65535.0)).astype(np.float32)
    safe = np.where(scale > 0, scale, np.float32(1.0))
    steps = np.rint((x - min_logit[:, None]) / safe[:, None])
    steps = np.where((x > min_logit[:, None]) & (scale[:, None] > 0), steps, 0.0)
    return np.clip(steps, 0, 65535).astype(np.uint16), scale, offset


def dequantize_log_probs(steps: npt.NDArray[np.uint16], scale: FloatArray, offset: FloatArray) -> FloatArray:
    """The log-probabilities back from their 16-bit form, renormalised: rounding each to its step leaves
    the row summing to 1 only within ~1e-4, and a distribution that sums to 1 keeps the KL divergence
    at or above 0 (the reference against itself gives ~1e-8, not ±1e-5)."""
    lp = scale[:, None].astype(np.float64) * steps.astype(np.float64) + offset[:, None].astype(np.float64)
    top = lp.max(axis=-1, keepdims=True)
    lp -= top + np.log(np.exp(lp - top).sum(axis=-1, keepdims=True))
    return lp.astype(np.float32)


def kl_from_quantized(base_lp: FloatArray, logprobs: FloatArray) -> npt.NDArray[np.float64]:
    """KL(P_base || Q) per row over the whole vocabulary, the base read back from its 16-bit form
    (tokens below its floor carry under e^-32 each)."""
    lp_base = base_lp.astype(np.float64)
    return (np.exp(lp_base) * (lp_base - logprobs.astype(np.float64))).sum(axis=-1)


@dataclass(frozen=True)
class StoreMeta:
    method: str  # "full" (16-bit, exact) | "top-k"
    k: int  # 0 for "full"
    n_vocab: int
    n_positions: int
    reason: str = ""  # why top-K: "asked" or "disk"


def full_store_bytes(n_positions: int, n_vocab: int) -> int:
    return n_positions * (n_vocab * 2 + 12)  # 16-bit steps, scale, offset, argmax


class DiskArray:
    """Rows of a 2-D array in a raw file, read and written a block at a time with plain file I/O.

    Not memory-mapped: pages of a mapping stay resident (and count as the process's memory) once
    touched, so a mapped reference grew the lab's peak memory with the text."""

    def __init__(self, path: Path, dtype: Any, width: int) -> None:
        self.path = path
        self.dtype = np.dtype(dtype)
        self.width = width
        self._row_bytes = self.dtype.itemsize * width

    def create(self, n_rows: int) -> DiskArray:
        with open(self.path, "wb") as f:
            f.truncate(n_rows * self._row_bytes)  # sparse until written
        return self

    def write(self, start: int, block: npt.NDArray[Any]) -> None:
        data = np.ascontiguousarray(block, dtype=self.dtype).reshape(-1, self.width)
        with open(self.path, "r+b") as f:
            f.seek(start * self._row_bytes)
            f.write(data.tobytes())

    def read(self, start: int, stop: int) -> npt.NDArray[Any]:
        count = (stop - start) * self.width
        rows = np.fromfile(self.path, dtype=self.dtype, count=count, offset=start * self._row_bytes)
        return rows.reshape(stop - start, self.width)


class ReferenceStore:
    """The reference's distributions at every scored position, in a folder of raw files.

    Written by the reference's child process, read by each variant's, a block of positions at a
    time: memory does not grow with the text.
    """

    def __init__(self, folder: Path, meta: StoreMeta) -> None:
        self.folder = folder
        self.meta = meta
        full = meta.method == "full"
        self._argmax = DiskArray(folder / "argmax.i32", np.int32, 1)
        self._nll = DiskArray(folder / "nll.f64", np.float64, 1)
        self._steps = DiskArray(folder / "steps.u16", np.uint16, meta.n_vocab) if full else None
        self._scale = DiskArray(folder / "scale.f32", np.float32, 2) if full else None
        self._idx = None if full else DiskArray(folder / "topk_idx.i32", np.int32, meta.k)
        self._lp = None if full else DiskArray(folder / "topk_lp.f32", np.float32, meta.k)

    @staticmethod
    def choose(n_positions: int, n_vocab: int, top_k_setting: int = 0, free_bytes: int | None = None) -> StoreMeta:
        """Full distributions (exact KL divergence) unless ``top_k_setting`` > 0 asks for the top-K
        approximation, or ``free_bytes`` (the disk's free space) cannot hold them."""
        if top_k_setting > 0:
            return StoreMeta("top-k", min(top_k_setting, n_vocab), n_vocab, n_positions, "asked")
        if free_bytes is not None and full_store_bytes(n_positions, n_vocab) + DISK_MARGIN_BYTES > free_bytes:
            return StoreMeta("top-k", min(DEFAULT_TOP_K, n_vocab), n_vocab, n_positions, "disk")
        return StoreMeta("full", 0, n_vocab, n_positions)

    @classmethod
    def create(cls, folder: Path, meta: StoreMeta) -> ReferenceStore:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "meta.json").write_text(json.dumps(asdict(meta)), encoding="utf-8")
        store = cls(folder, meta)
        for array in (store._argmax, store._nll, store._steps, store._scale, store._idx, store._lp):
            if array is not None:
                array.create(meta.n_positions)
        return store

    @classmethod
    def open(cls, folder: Path) -> ReferenceStore:
        meta = StoreMeta(**json.loads((folder / "meta.json").read_text(encoding="utf-8")))
        return cls(folder, meta)

    def write(self, start: int, logits: npt.NDArray[np.floating], targets: Sequence[int]) -> npt.NDArray[np.float64]:
        """Stores the reference's rows for positions start...; returns their negative log-likelihoods."""
        nll_all = np.empty(len(targets), dtype=np.float64)
        for lo in range(0, len(targets), BLOCK_ROWS):
            hi = min(lo + BLOCK_ROWS, len(targets))
            rows = np.asarray(logits[lo:hi], dtype=np.float32)
            logprobs = log_softmax(rows)
            nll = token_nll(logprobs, targets[lo:hi])
            nll_all[lo:hi] = nll
            a = start + lo
            self._nll.write(a, nll)
            if self._steps is not None and self._scale is not None:
                steps, scale, offset = quantize_log_probs(rows)
                self._steps.write(a, steps)
                self._scale.write(a, np.stack([scale, offset], axis=1))
                self._argmax.write(a, steps.argmax(axis=-1))  # as llama-perplexity reads it back
            else:
                assert self._idx is not None and self._lp is not None
                self._argmax.write(a, logprobs.argmax(axis=-1))
                idx, lp = top_k(logprobs, self.meta.k)
                self._idx.write(a, idx)
                self._lp.write(a, lp)
        return nll_all

    def flush(self) -> None:
        """Nothing is buffered: every block is written when it is given (kept for the callers)."""

    def compare(self, start: int, logits: npt.NDArray[np.floating], targets: Sequence[int], acc: Accumulator) -> None:
        """Adds the variant's rows for positions start... (raw logits) against the stored reference."""
        for lo in range(0, len(targets), BLOCK_ROWS):
            hi = min(lo + BLOCK_ROWS, len(targets))
            a, b = start + lo, start + hi
            logprobs = log_softmax(np.asarray(logits[lo:hi], dtype=np.float32))
            nll = token_nll(logprobs, targets[lo:hi])
            same = self._argmax.read(a, b)[:, 0] == logprobs.argmax(axis=-1)
            if self._steps is not None and self._scale is not None:
                scale = self._scale.read(a, b)
                base = dequantize_log_probs(self._steps.read(a, b), scale[:, 0], scale[:, 1])
                kl = kl_from_quantized(base, logprobs)
                rows = np.arange(hi - lo)
                nll_base = -base[rows, np.asarray(targets[lo:hi], dtype=np.int64)].astype(np.float64)
            else:
                assert self._idx is not None and self._lp is not None
                kl = kl_top_k(self._idx.read(a, b), self._lp.read(a, b), logprobs)
                nll_base = self._nll.read(a, b)[:, 0]
            acc.add(nll, kl, same, nll_base)

    @property
    def description(self) -> str:
        return describe_method(self.meta)


def describe_method(meta: StoreMeta) -> str:
    if meta.method == "full":
        return "exact (full distributions, 16-bit as llama.cpp stores them)"
    why = " — the disk could not hold the full distributions" if meta.reason == "disk" else ""
    return f"top-{meta.k} approximation (a lower bound of the exact value{why})"


def mean_and_uncertainty(total: float, total2: float, count: int) -> tuple[float, float]:
    """llama-perplexity's mean and its standard error from a sum and a sum of squares."""
    if count < 1:
        return 0.0, 0.0
    mean = total / count
    var = total2 / count - mean * mean
    return mean, (math.sqrt(var / (count - 1)) if var > 0 and count > 10 else 0.0)


def covariance(sum_a: float, sum_b: float, sum_ab: float, count: int) -> float:
    """llama-perplexity's covariance of two means (for the PPL ratio's uncertainty)."""
    if count < 10:
        return 0.0
    return (sum_ab / count - (sum_a / count) * (sum_b / count)) / (count - 1)


def percentile(sorted_values: npt.NDArray[np.float64], fraction: float) -> float:
    """llama-perplexity's percentile: linear between the two nearest sorted values."""
    if fraction <= 0:
        return float(sorted_values[0])
    if fraction >= 1:
        return float(sorted_values[-1])
    p = fraction * (len(sorted_values) - 1)
    i = int(p)
    p -= i
    return float((1 - p) * sorted_values[i] + p * sorted_values[min(i + 1, len(sorted_values) - 1)])


@dataclass(frozen=True)
class QualityStats:
    """A variant's quality figures with their uncertainty (one standard error, "±"), as
    llama-perplexity prints them. The KL figures are None for the reference itself."""

    n: int
    perplexity: float
    perplexity_unc: float
    ppl_ratio: float | None = None  # PPL(variant) / PPL(reference), over the same tokens
    ppl_ratio_unc: float | None = None
    kl_divergence: float | None = None
    kl_unc: float | None = None
    kl_p99: float | None = None
    kl_p999: float | None = None
    kl_max: float | None = None
    rms_dp: float | None = None  # root mean square of the change in the right token's probability
    rms_dp_unc: float | None = None
    top1_agreement: float | None = None
    top1_unc: float | None = None


@dataclass
class Accumulator:
    """Running sums over the scored positions of all windows (llama-perplexity's, plus the KL values
    kept for percentiles: 8 bytes a position)."""

    n: int = 0
    sum_nll: float = 0.0
    sum_nll2: float = 0.0
    sum_nll_base: float = 0.0
    sum_nll_base2: float = 0.0
    sum_nll_nll_base: float = 0.0
    sum_kld: float = 0.0
    sum_kld2: float = 0.0
    sum_p_diff2: float = 0.0
    sum_p_diff4: float = 0.0
    same_top1: int = 0
    kl_parts: list[npt.NDArray[np.float64]] = field(default_factory=list)

    def add(
        self,
        nll: npt.NDArray[np.float64],
        kl: npt.NDArray[np.float64] | None = None,
        same: npt.NDArray[np.bool_] | None = None,
        nll_base: npt.NDArray[np.float64] | None = None,
    ) -> None:
        nll = np.asarray(nll, dtype=np.float64)
        self.n += len(nll)
        self.sum_nll += float(nll.sum())
        self.sum_nll2 += float((nll * nll).sum())
        if kl is None or same is None:
            return
        kl = np.asarray(kl, dtype=np.float64)
        self.kl_parts.append(kl)
        self.sum_kld += float(kl.sum())
        self.sum_kld2 += float((kl * kl).sum())
        self.same_top1 += int(np.asarray(same).sum())
        if nll_base is not None:
            base = np.asarray(nll_base, dtype=np.float64)
            self.sum_nll_base += float(base.sum())
            self.sum_nll_base2 += float((base * base).sum())
            self.sum_nll_nll_base += float((nll * base).sum())
            p_diff = np.exp(-nll) - np.exp(-base)
            self.sum_p_diff2 += float((p_diff**2).sum())
            self.sum_p_diff4 += float((p_diff**4).sum())

    @property
    def perplexity(self) -> float:
        return math.exp(self.sum_nll / self.n) if self.n else float("nan")

    @property
    def kl_mean(self) -> float | None:
        return self.sum_kld / self.n if self.kl_parts and self.n else None

    @property
    def kl_p99(self) -> float | None:
        return self.stats().kl_p99

    @property
    def top1_agreement(self) -> float | None:
        return self.same_top1 / self.n if self.kl_parts and self.n else None

    def stats(self) -> QualityStats:
        """Every figure with its uncertainty, by llama-perplexity's formulas (perplexity.cpp,
        ``kl_divergence``): errors of the means, the PPL ratio through the covariance of the two
        log-likelihoods, RMS Δp from the mean of Δp² and Δp⁴, top-1 as a binomial proportion."""
        n = self.n
        log_ppl, log_ppl_unc = mean_and_uncertainty(self.sum_nll, self.sum_nll2, n)
        ppl = math.exp(log_ppl) if n else float("nan")
        if not self.kl_parts or not n:
            return QualityStats(n, ppl, ppl * log_ppl_unc)
        log_base, log_base_unc = mean_and_uncertainty(self.sum_nll_base, self.sum_nll_base2, n)
        cov = covariance(self.sum_nll, self.sum_nll_base, self.sum_nll_nll_base, n)
        log_ratio = log_ppl - log_base
        log_ratio_unc = math.sqrt(max(0.0, log_ppl_unc**2 + log_base_unc**2 - 2.0 * cov))
        kl_mean, kl_unc = mean_and_uncertainty(self.sum_kld, self.sum_kld2, n)
        ordered = np.sort(np.concatenate(self.kl_parts))
        mse, mse_unc = mean_and_uncertainty(self.sum_p_diff2, self.sum_p_diff4, n)
        rms = math.sqrt(mse)
        top1 = self.same_top1 / n
        return QualityStats(
            n=n,
            perplexity=ppl,
            perplexity_unc=ppl * log_ppl_unc,
            ppl_ratio=math.exp(log_ratio),
            ppl_ratio_unc=math.exp(log_ratio) * log_ratio_unc,
            kl_divergence=kl_mean,
            kl_unc=kl_unc,
            kl_p99=percentile(ordered, 0.99),
            kl_p999=percentile(ordered, 0.999),
            kl_max=float(ordered[-1]),
            rms_dp=rms,
            rms_dp_unc=0.5 / rms * mse_unc if rms > 0 else 0.0,
            top1_agreement=top1,
            top1_unc=math.sqrt(top1 * (1.0 - top1) / (n - 1)) if n > 1 else 0.0,
        )

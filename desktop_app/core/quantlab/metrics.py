"""The numbers of the lab, in numpy: evaluation windows, perplexity, KL divergence, top-1 agreement.

Windows follow llama.cpp's ``llama-perplexity``: the text's tokens are cut into
non-overlapping windows of ``window`` tokens (the first one the BOS token when the
model adds one), and only the second half of each window is scored, so every
scored token has at least half a window of context.

The reference's distributions are computed once and stored on disk
(:class:`ReferenceStore`), then read back for each variant. When the full
distributions fit the budget they are stored whole and the KL divergence is
exact; otherwise only each position's top-K log-probabilities are kept, and the KL
divergence is computed between the two distributions coarsened to K+1 outcomes
(the reference's top K tokens, and "any other token"). By the data-processing
inequality that value never exceeds the exact KL divergence; with K = 256 the mass
outside the top K is small for a trained model and the two agree closely.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int32]

FULL_BUDGET_BYTES = 512 * 1024 * 1024  # full reference distributions up to this size on disk
DEFAULT_TOP_K = 256


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
    """Cuts ``tokens`` (the text, without BOS) into scored windows of ``window`` tokens.

    With ``bos`` each window is BOS + window-1 text tokens, so no text token is lost.
    A text shorter than one window gives one shorter window.
    """
    if window < 8:
        raise ValueError("window too small")
    text_per_window = window - 1 if bos is not None else window
    windows: list[Window] = []
    for start in range(0, len(tokens), text_per_window):
        chunk = list(tokens[start : start + text_per_window])
        if windows and len(chunk) < text_per_window:
            break  # a short tail would be scored with less context than the rest
        if len(chunk) < 4:
            break
        fed = [bos, *chunk] if bos is not None else chunk
        windows.append(Window(fed, len(fed) // 2))
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


@dataclass(frozen=True)
class StoreMeta:
    method: str  # "full" | "top-k"
    k: int  # 0 for "full"
    n_vocab: int
    n_positions: int


class ReferenceStore:
    """The reference's distributions at every scored position, in a folder of .npy files.

    Written by the reference's child process, read (memory-mapped) by each variant's.
    """

    def __init__(self, folder: Path, meta: StoreMeta) -> None:
        self.folder = folder
        self.meta = meta
        self._argmax: IntArray | None = None
        self._full: FloatArray | None = None
        self._idx: IntArray | None = None
        self._lp: FloatArray | None = None

    @staticmethod
    def choose(n_positions: int, n_vocab: int, top_k_setting: int = 0) -> StoreMeta:
        """Full distributions when they fit FULL_BUDGET_BYTES (or top_k_setting is 0 and
        they fit), else top-K. ``top_k_setting`` > 0 forces top-K with that K."""
        if top_k_setting <= 0 and n_positions * n_vocab * 4 <= FULL_BUDGET_BYTES:
            return StoreMeta("full", 0, n_vocab, n_positions)
        k = top_k_setting if top_k_setting > 0 else DEFAULT_TOP_K
        return StoreMeta("top-k", min(k, n_vocab), n_vocab, n_positions)

    @classmethod
    def create(cls, folder: Path, meta: StoreMeta) -> ReferenceStore:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "meta.json").write_text(json.dumps(asdict(meta)), encoding="utf-8")
        store = cls(folder, meta)
        n = meta.n_positions
        store._argmax = np.lib.format.open_memmap(folder / "argmax.npy", mode="w+", dtype=np.int32, shape=(n,))
        if meta.method == "full":
            store._full = np.lib.format.open_memmap(
                folder / "logprobs.npy", mode="w+", dtype=np.float32, shape=(n, meta.n_vocab)
            )
        else:
            store._idx = np.lib.format.open_memmap(
                folder / "topk_idx.npy", mode="w+", dtype=np.int32, shape=(n, meta.k)
            )
            store._lp = np.lib.format.open_memmap(
                folder / "topk_lp.npy", mode="w+", dtype=np.float32, shape=(n, meta.k)
            )
        return store

    @classmethod
    def open(cls, folder: Path) -> ReferenceStore:
        meta = StoreMeta(**json.loads((folder / "meta.json").read_text(encoding="utf-8")))
        store = cls(folder, meta)
        store._argmax = np.load(folder / "argmax.npy", mmap_mode="r")
        if meta.method == "full":
            store._full = np.load(folder / "logprobs.npy", mmap_mode="r")
        else:
            store._idx = np.load(folder / "topk_idx.npy", mmap_mode="r")
            store._lp = np.load(folder / "topk_lp.npy", mmap_mode="r")
        return store

    def write(self, start: int, logprobs: FloatArray) -> None:
        assert self._argmax is not None
        end = start + logprobs.shape[0]
        self._argmax[start:end] = logprobs.argmax(axis=-1)
        if self._full is not None:
            self._full[start:end] = logprobs
        else:
            assert self._idx is not None and self._lp is not None
            idx, lp = top_k(logprobs, self.meta.k)
            self._idx[start:end] = idx
            self._lp[start:end] = lp

    def flush(self) -> None:
        for array in (self._argmax, self._full, self._idx, self._lp):
            if isinstance(array, np.memmap):
                array.flush()

    def compare(self, start: int, logprobs: FloatArray) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
        """(KL per position, same top-1 token per position) of ``logprobs`` against the stored rows."""
        assert self._argmax is not None
        end = start + logprobs.shape[0]
        same = np.asarray(self._argmax[start:end]) == logprobs.argmax(axis=-1)
        if self._full is not None:
            kl = kl_full(np.asarray(self._full[start:end]), logprobs)
        else:
            assert self._idx is not None and self._lp is not None
            kl = kl_top_k(np.asarray(self._idx[start:end]), np.asarray(self._lp[start:end]), logprobs)
        return kl, same

    @property
    def description(self) -> str:
        if self.meta.method == "full":
            return "exact (full distributions)"
        return f"top-{self.meta.k} approximation (a lower bound of the exact value)"


@dataclass
class Accumulator:
    """Running sums over the scored positions of all windows."""

    n: int = 0
    nll_sum: float = 0.0
    kl_values: list[float] | None = None
    same_top1: int = 0

    def add(
        self,
        nll: npt.NDArray[np.float64],
        kl: npt.NDArray[np.float64] | None = None,
        same: npt.NDArray[np.bool_] | None = None,
    ) -> None:
        self.n += len(nll)
        self.nll_sum += float(nll.sum())
        if kl is not None and same is not None:
            if self.kl_values is None:
                self.kl_values = []
            self.kl_values.extend(float(x) for x in kl)
            self.same_top1 += int(same.sum())

    @property
    def perplexity(self) -> float:
        return math.exp(self.nll_sum / self.n) if self.n else float("nan")

    @property
    def kl_mean(self) -> float | None:
        return float(np.mean(self.kl_values)) if self.kl_values else None

    @property
    def kl_p99(self) -> float | None:
        return float(np.percentile(self.kl_values, 99)) if self.kl_values else None

    @property
    def top1_agreement(self) -> float | None:
        return self.same_top1 / len(self.kl_values) if self.kl_values else None

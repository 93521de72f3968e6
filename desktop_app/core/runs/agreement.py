"""Agreement between raters (a model and human coders): percent agreement, Cohen's κ, Fleiss' κ
and Krippendorff's α, each with a seeded bootstrap 95% interval.

Codes are strings (labels, or numbers written as text); ``None`` is a missing code. The level
of measurement decides how far apart two different codes are:

- ``nominal``: different is different (Cohen's κ unweighted, α's nominal metric);
- ``ordinal``: codes in the codebook's order (Cohen's κ linearly weighted, α's ordinal metric);
- ``interval``: codes as numbers (Cohen's κ quadratically weighted, α's interval metric); a
  scale whose codes are not all numbers is read as equally spaced positions in its order.

Under ordinal and interval levels a code that is not on the scale counts as missing.

The bootstrap resamples *units* (rows) with replacement. Resampling n units is the same as
drawing, once, how many times each distinct unit appears (a multinomial over the distinct
patterns with their frequencies), so every statistic is computed from small tables: a
10,000-row run takes no longer than a 100-row one. A pair of raters has K×K patterns (its
contingency table); a group of raters has its distinct per-unit count vectors.

References: Cohen (1960, 1968); Fleiss (1971) "Measuring nominal scale agreement among many
raters"; Krippendorff (2011) "Computing Krippendorff's alpha-reliability".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

LEVELS = ("nominal", "ordinal", "interval")
BOOTSTRAP_SAMPLES = 1000
BOOTSTRAP_SEED = 0

Code = str | None
Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class AgreementEstimate:
    """A statistic and its bootstrap 95% interval; ``None`` where it is not defined (for κ and
    α: every code the same, so there is no disagreement that chance could explain)."""

    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None

    def to_dict(self) -> dict[str, float | None]:
        return {"value": self.value, "ci_low": self.ci_low, "ci_high": self.ci_high}


# -- the scale ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scale:
    """The categories in order, with where each lies (its rank, or its number)."""

    level: str
    categories: tuple[str, ...]
    positions: tuple[float, ...]

    def index(self, code: Code) -> int:
        """The category's index, or -1 (missing, or off the scale)."""
        if code is None:
            return -1
        try:
            return self.categories.index(code)
        except ValueError:
            return -1


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def make_scale(codes: Sequence[Sequence[Code]], level: str = "nominal", order: Sequence[str] = ()) -> Scale:
    """The scale of ``codes`` (every rater's codes): the categories of ``order`` (a codebook's
    labels), then, at the nominal level, any other code seen (sorted); at the ordinal and
    interval levels only ``order`` counts, or, without one, the codes seen, numbers by value."""
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}")
    seen = {code for rater in codes for code in rater if code is not None}
    categories = list(dict.fromkeys(order))
    if level == "nominal" or not categories:
        extra = sorted(seen - set(categories))
        if all(_number(c) is not None for c in extra):
            extra.sort(key=lambda c: _number(c) or 0.0)
        categories += extra
    numbers = [_number(c) for c in categories]
    if level == "interval" and categories and all(n is not None for n in numbers):
        positions = tuple(float(n or 0.0) for n in numbers)
    else:
        positions = tuple(float(i) for i in range(len(categories)))
    return Scale(level, tuple(categories), positions)


def encode(codes: Sequence[Code], scale: Scale) -> npt.NDArray[np.int64]:
    lookup = {c: i for i, c in enumerate(scale.categories)}
    return np.array([lookup.get(c, -1) if c is not None else -1 for c in codes], dtype=np.int64)


# -- distance between categories ------------------------------------------------------------------


def _kappa_weights(scale: Scale) -> Array:
    """Cohen's disagreement weights: 1 off the diagonal (nominal); |i-j| (ordinal, linear);
    (x_i-x_j)² (interval, quadratic); scaled so the largest is 1."""
    k = len(scale.categories)
    pos = np.asarray(scale.positions, dtype=np.float64)
    if scale.level == "nominal" or k < 2:
        return 1.0 - np.eye(k)
    if scale.level == "ordinal":
        ranks = np.arange(k, dtype=np.float64)
        w = np.abs(ranks[:, None] - ranks[None, :])
    else:
        w = (pos[:, None] - pos[None, :]) ** 2
    top = w.max()
    return w / top if top > 0 else w


def _alpha_delta(scale: Scale, n_c: Array) -> Array:
    """Krippendorff's δ² for every pair of categories (the ordinal metric needs the marginals
    ``n_c``, shape (..., K))."""
    k = len(scale.categories)
    if scale.level == "nominal":
        return np.broadcast_to(1.0 - np.eye(k), (*n_c.shape[:-1], k, k))
    if scale.level == "interval":
        pos = np.asarray(scale.positions, dtype=np.float64)
        return np.broadcast_to((pos[:, None] - pos[None, :]) ** 2, (*n_c.shape[:-1], k, k))
    cum = np.cumsum(n_c, axis=-1)
    lo = np.minimum.outer(np.arange(k), np.arange(k))
    hi = np.maximum.outer(np.arange(k), np.arange(k))
    between = cum[..., hi] - cum[..., lo] + n_c[..., lo]  # n_lo + ... + n_hi
    half = (n_c[..., :, None] + n_c[..., None, :]) / 2
    delta: Array = (between - half) ** 2
    return delta


# -- statistics from tables (vectorised over a leading bootstrap axis) ----------------------------


def _safe_div(num: Array, den: Array) -> Array:
    with np.errstate(divide="ignore", invalid="ignore"):
        out: Array = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return out


def _percent_from_table(t: Array) -> Array:
    total = t.sum(axis=(-2, -1))
    return _safe_div(np.trace(t, axis1=-2, axis2=-1), total)


def _kappa_from_table(t: Array, w: Array) -> Array:
    """Cohen's (weighted) κ from contingency tables t[..., a, b]: 1 - Σw·observed / Σw·expected."""
    total = t.sum(axis=(-2, -1))
    p = _safe_div(t, total[..., None, None])
    row, col = p.sum(axis=-1), p.sum(axis=-2)
    expected = row[..., :, None] * col[..., None, :]
    observed_d = (w * p).sum(axis=(-2, -1))
    expected_d = (w * expected).sum(axis=(-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = expected_d > 1e-12
        out: Array = np.where(ok, 1.0 - observed_d / np.where(ok, expected_d, 1.0), np.nan)
    return out


def _alpha_from_coincidence(o: Array, scale: Scale) -> Array:
    """α = 1 - (n-1) Σ o_ck δ²_ck / Σ n_c n_k δ²_ck from coincidence matrices o[..., c, k]."""
    n_c = o.sum(axis=-1)
    n = n_c.sum(axis=-1)
    delta = _alpha_delta(scale, n_c)
    observed = (o * delta).sum(axis=(-2, -1))
    expected = (n_c[..., :, None] * n_c[..., None, :] * delta).sum(axis=(-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = (expected > 1e-12) & (n > 1)
        out: Array = np.where(ok, 1.0 - (n - 1) * observed / np.where(ok, expected, 1.0), np.nan)
    return out


def _pair_coincidence(t: Array) -> Array:
    """Two raters: each unit both coded adds its pair in both orders (m_u - 1 = 1)."""
    return t + np.swapaxes(t, -1, -2)


def _unit_coincidence(counts: Array) -> Array:
    """Each unit's contribution to the coincidence matrix: (N Nᵀ - diag N) / (m - 1) for units
    with two or more codes, zero otherwise; counts (U, K) -> (U, K, K)."""
    m = counts.sum(axis=1)
    w = np.where(m > 1, 1.0 / np.where(m > 1, m - 1, 1), 0.0)
    outer = counts[:, :, None] * counts[:, None, :]
    diag = np.einsum("uk,kj->ukj", counts, np.eye(counts.shape[1]))
    out: Array = (outer - diag) * w[:, None, None]
    return out


def _fleiss_from_counts(counts: Array, weights: Array) -> tuple[Array, Array]:
    """Fleiss' κ overall and per category from distinct rows ``counts`` (P, K) (every row with
    the same number of raters n) repeated ``weights`` (..., P) times."""
    n = counts.sum(axis=1)[0]
    subjects = weights.sum(axis=-1)
    agree_i = (counts * (counts - 1)).sum(axis=1) / (n * (n - 1))  # P_i
    p_bar = _safe_div(weights @ agree_i, subjects)
    p_j = _safe_div(weights @ counts, (subjects * n)[..., None])
    p_e = (p_j**2).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        overall: Array = np.where(p_e < 1 - 1e-12, (p_bar - p_e) / np.where(p_e < 1 - 1e-12, 1 - p_e, 1.0), np.nan)
        # κ_j = 1 - Σ_i n_ij (n - n_ij) / (N n (n-1) p_j q_j)   (Fleiss 1971, eq. 9)
        spread = weights @ (counts * (n - counts))
        den = (subjects * n * (n - 1))[..., None] * p_j * (1 - p_j)
        per: Array = np.where(den > 1e-12, 1.0 - spread / np.where(den > 1e-12, den, 1.0), np.nan)
    return overall, per


# -- the bootstrap --------------------------------------------------------------------------------


def _draws(frequencies: npt.NDArray[np.int64], samples: int, seed: int) -> Array:
    """``samples`` bootstrap resamples of the units, as how often each distinct pattern comes up."""
    total = int(frequencies.sum())
    rng = np.random.default_rng(seed)
    if total == 0 or samples <= 0:
        return np.zeros((0, len(frequencies)))
    return rng.multinomial(total, frequencies / total, size=samples).astype(np.float64)


def _interval(value: float, boot: Array) -> AgreementEstimate:
    if not math.isfinite(value):
        return AgreementEstimate(None)
    finite = boot[np.isfinite(boot)]
    # An interval needs most resamples to define the statistic; otherwise say there is none.
    if finite.size < max(1, boot.size // 2):
        return AgreementEstimate(float(value))
    low, high = np.percentile(finite, [2.5, 97.5])
    return AgreementEstimate(float(value), float(low), float(high))


def _estimates(point: Array, boot: Array) -> list[AgreementEstimate]:
    """One AgreementEstimate per last-axis entry of ``point`` (shape (..., X)) from ``boot`` (B, ..., X)."""
    flat_point = point.reshape(-1)
    flat_boot = boot.reshape(boot.shape[0], flat_point.size)
    return [_interval(float(flat_point[i]), flat_boot[:, i]) for i in range(flat_point.size)]


# -- plain functions (the published formulas, one number each) ------------------------------------


def _nan_to_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _pair_table(a: Sequence[Code], b: Sequence[Code], scale: Scale) -> Array:
    if len(a) != len(b):
        raise ValueError("two raters must code the same units")
    k = len(scale.categories)
    x, y = encode(a, scale), encode(b, scale)
    both = (x >= 0) & (y >= 0)
    table = np.bincount(x[both] * k + y[both], minlength=k * k).astype(np.float64)
    return table.reshape(k, k)


def percent_agreement(a: Sequence[Code], b: Sequence[Code]) -> float | None:
    """The share of units both raters coded on which they gave the same code."""
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    return sum(x == y for x, y in pairs) / len(pairs) if pairs else None


def cohen_kappa(
    a: Sequence[Code], b: Sequence[Code], weights: str | None = None, order: Sequence[str] = ()
) -> float | None:
    """Cohen's κ of two raters over the units both coded; ``weights`` "linear" or "quadratic"
    for ordered codes (in ``order``, else numbers by value)."""
    level = {None: "nominal", "linear": "ordinal", "quadratic": "interval"}[weights]
    scale = make_scale([a, b], level, order)
    if weights == "quadratic":  # quadratic weights on ranks, as Cohen (1968) has them
        scale = Scale("interval", scale.categories, tuple(float(i) for i in range(len(scale.categories))))
    table = _pair_table(a, b, scale)
    return _nan_to_none(float(_kappa_from_table(table, _kappa_weights(scale))))


def krippendorff_alpha(
    data: Sequence[Sequence[Code]], level: str = "nominal", order: Sequence[str] = ()
) -> float | None:
    """Krippendorff's α of ``data[rater][unit]`` (``None`` missing) at ``level``."""
    scale = make_scale(data, level, order)
    counts = unit_counts(data, scale)
    o = _unit_coincidence(counts).sum(axis=0)
    return _nan_to_none(float(_alpha_from_coincidence(o, scale)))


def fleiss_kappa(counts: Sequence[Sequence[float]]) -> float | None:
    """Fleiss' κ of a subjects × categories table of how many raters chose each category (every
    row the same number of raters, at least two)."""
    table = np.asarray(counts, dtype=np.float64)
    overall, _per = _fleiss_from_counts(table, np.ones(table.shape[0]))
    return _nan_to_none(float(overall))


def fleiss_kappa_per_category(counts: Sequence[Sequence[float]]) -> list[float | None]:
    table = np.asarray(counts, dtype=np.float64)
    _overall, per = _fleiss_from_counts(table, np.ones(table.shape[0]))
    return [_nan_to_none(float(v)) for v in per]


def unit_counts(data: Sequence[Sequence[Code]], scale: Scale) -> Array:
    """How many raters gave each category to each unit: (units, K)."""
    k = len(scale.categories)
    units = len(data[0]) if data else 0
    counts = np.zeros((units, k))
    for rater in data:
        if len(rater) != units:
            raise ValueError("every rater must have a code (or None) for every unit")
        codes = encode(rater, scale)
        ok = codes >= 0
        np.add.at(counts, (np.nonzero(ok)[0], codes[ok]), 1.0)
    return counts


# -- agreement of a pair, and of a group, with intervals ------------------------------------------


@dataclass
class LabelAgreement:
    """One label against all others (both raters' codes made yes/no for it)."""

    label: str
    a_count: int  # units rater a gave this label (of those both coded)
    b_count: int
    percent: AgreementEstimate
    cohen_kappa: AgreementEstimate
    krippendorff_alpha: AgreementEstimate

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "a_count": self.a_count,
            "b_count": self.b_count,
            "percent": self.percent.to_dict(),
            "cohen_kappa": self.cohen_kappa.to_dict(),
            "krippendorff_alpha": self.krippendorff_alpha.to_dict(),
        }


@dataclass
class PairAgreement:
    a: str
    b: str
    n: int  # units both coded
    level: str
    percent: AgreementEstimate
    cohen_kappa: AgreementEstimate
    krippendorff_alpha: AgreementEstimate
    per_label: list[LabelAgreement] = field(default_factory=list)
    table: list[list[int]] = field(default_factory=list)  # table[a's category][b's category]
    categories: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "n": self.n,
            "level": self.level,
            "percent": self.percent.to_dict(),
            "cohen_kappa": self.cohen_kappa.to_dict(),
            "krippendorff_alpha": self.krippendorff_alpha.to_dict(),
            "per_label": [label.to_dict() for label in self.per_label],
            "categories": self.categories,
            "table": self.table,
        }


def _binary_tables(t: Array) -> Array:
    """Per category c, the 2×2 table of (a said c, b said c) from K×K tables: (..., K, 2, 2)."""
    diag = np.diagonal(t, axis1=-2, axis2=-1)
    row, col = t.sum(axis=-1), t.sum(axis=-2)
    total = t.sum(axis=(-2, -1))[..., None]
    yes_yes = diag
    yes_no = row - diag
    no_yes = col - diag
    no_no = total - row - col + diag
    return np.stack([np.stack([yes_yes, yes_no], -1), np.stack([no_yes, no_no], -1)], -2)


_BINARY = Scale("nominal", ("yes", "no"), (0.0, 1.0))


def pair_agreement(
    a_name: str,
    b_name: str,
    a: Sequence[Code],
    b: Sequence[Code],
    level: str = "nominal",
    order: Sequence[str] = (),
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> PairAgreement:
    """Percent agreement, Cohen's κ (weighted by ``level``) and Krippendorff's α of two raters
    over the units both coded, overall and per label, with bootstrap 95% intervals."""
    scale = make_scale([a, b], level, order)
    k = len(scale.categories)
    table = _pair_table(a, b, scale)
    n = int(table.sum())
    weights = _kappa_weights(scale)
    boot = _draws(table.reshape(-1).astype(np.int64), samples, seed).reshape(-1, k, k)

    def stats(t: Array) -> Array:
        alpha = _alpha_from_coincidence(_pair_coincidence(t), scale)
        return np.stack([_percent_from_table(t), _kappa_from_table(t, weights), alpha], axis=-1)

    overall = _estimates(stats(table), stats(boot) if len(boot) else np.zeros((0, 3)))
    binary_weights = _kappa_weights(_BINARY)

    def label_stats(t: Array) -> Array:
        bt = _binary_tables(t)
        return np.stack(
            [_percent_from_table(bt), _kappa_from_table(bt, binary_weights),
             _alpha_from_coincidence(_pair_coincidence(bt), _BINARY)],
            axis=-1,
        )  # fmt: skip

    labels = _estimates(label_stats(table), label_stats(boot) if len(boot) else np.zeros((0, k, 3)))
    row, col = table.sum(axis=1), table.sum(axis=0)
    per_label = [
        LabelAgreement(scale.categories[c], int(row[c]), int(col[c]), labels[3 * c], labels[3 * c + 1],
                       labels[3 * c + 2])
        for c in range(k)
    ]  # fmt: skip
    return PairAgreement(
        a_name, b_name, n, level, overall[0], overall[1], overall[2], per_label=per_label,
        table=[[int(v) for v in r] for r in table], categories=list(scale.categories),
    )  # fmt: skip


@dataclass(frozen=True)
class GroupLabelAgreement:
    """One label against all others, all the human coders together."""

    label: str
    count: int  # codes given with this label
    krippendorff_alpha: AgreementEstimate
    fleiss_kappa: AgreementEstimate

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "count": self.count,
            "krippendorff_alpha": self.krippendorff_alpha.to_dict(),
            "fleiss_kappa": self.fleiss_kappa.to_dict(),
        }


@dataclass
class GroupAgreement:
    """All the human coders together."""

    raters: list[str]
    level: str
    units: int  # units with two or more codes (what α uses)
    complete: int  # units every rater coded (what Fleiss' κ uses)
    krippendorff_alpha: AgreementEstimate
    fleiss_kappa: AgreementEstimate
    per_label: list[GroupLabelAgreement] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "raters": self.raters,
            "level": self.level,
            "units": self.units,
            "complete": self.complete,
            "krippendorff_alpha": self.krippendorff_alpha.to_dict(),
            "fleiss_kappa": self.fleiss_kappa.to_dict(),
            "per_label": [label.to_dict() for label in self.per_label],
        }


def _patterns(counts: Array) -> tuple[Array, npt.NDArray[np.int64]]:
    if counts.shape[0] == 0:
        return counts, np.zeros(0, dtype=np.int64)
    unique, freq = np.unique(counts, axis=0, return_counts=True)
    return unique, freq.astype(np.int64)


def group_agreement(
    names: Sequence[str],
    data: Sequence[Sequence[Code]],
    level: str = "nominal",
    order: Sequence[str] = (),
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> GroupAgreement:
    """Krippendorff's α over every unit with two or more codes (missing codes allowed) and
    Fleiss' κ (nominal) over the units every rater coded, overall and per label, with bootstrap
    95% intervals."""
    scale = make_scale(data, level, order)
    k = len(scale.categories)
    counts = unit_counts(data, scale)
    m = counts.sum(axis=1)
    pairable = counts[m > 1]
    complete = counts[m == len(data)] if len(data) >= 2 else counts[:0]

    # α: each distinct unit pattern's coincidences, weighted by how often it is drawn.
    pat, freq = _patterns(pairable)
    per_pattern = _unit_coincidence(pat) if len(pat) else np.zeros((0, k, k))
    draws = _draws(freq, samples, seed)

    def alpha_of(weights: Array) -> tuple[Array, Array]:
        o = np.tensordot(weights, per_pattern, axes=([-1], [0]))
        bt = _binary_tables(o)  # per category: (this one, any other)
        return _alpha_from_coincidence(o, scale), _alpha_from_coincidence(bt, _BINARY)

    alpha, alpha_labels = alpha_of(freq.astype(np.float64))
    boot_alpha, boot_alpha_labels = alpha_of(draws) if len(draws) else (np.zeros(0), np.zeros((0, k)))

    # Fleiss' κ: nominal, over complete units.
    fpat, ffreq = _patterns(complete)
    if len(fpat) and len(data) >= 2:
        kappa, kappa_labels = _fleiss_from_counts(fpat, ffreq.astype(np.float64))
        fdraws = _draws(ffreq, samples, seed + 1)
        boot_kappa, boot_kappa_labels = (
            _fleiss_from_counts(fpat, fdraws) if len(fdraws) else (np.zeros(0), np.zeros((0, k)))
        )
    else:
        kappa, kappa_labels = np.array(np.nan), np.full(k, np.nan)
        boot_kappa, boot_kappa_labels = np.zeros(0), np.zeros((0, k))

    (alpha_est,) = _estimates(np.atleast_1d(alpha), boot_alpha.reshape(-1, 1))
    (kappa_est,) = _estimates(np.atleast_1d(kappa), boot_kappa.reshape(-1, 1))
    alpha_per = _estimates(alpha_labels, boot_alpha_labels)
    kappa_per = _estimates(kappa_labels, boot_kappa_labels)
    per_label = [
        GroupLabelAgreement(scale.categories[c], int(counts[:, c].sum()), alpha_per[c], kappa_per[c]) for c in range(k)
    ]
    return GroupAgreement(list(names), level, len(pairable), len(complete), alpha_est, kappa_est, per_label)


def bootstrap(
    statistic: Callable[[Sequence[int]], float | None],
    units: int,
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> AgreementEstimate:
    """A statistic of any units (given their indices) with a bootstrap 95% interval: resamples
    of ``units`` drawn with replacement. The general, slower form of what the functions above
    do from tables; for statistics that have no table form (a judge's scores, say)."""
    value = statistic(list(range(units)))
    rng = np.random.default_rng(seed)
    boot = np.array(
        [
            np.nan if (v := statistic(rng.integers(0, units, size=units).tolist())) is None else v
            for _ in range(samples if units else 0)
        ]
    )
    return _interval(np.nan if value is None else float(value), boot)


# -- in plain words -------------------------------------------------------------------------------


def strength(value: float | None) -> str:
    """κ or α in words: Landis and Koch's (1977) bands for κ, which Krippendorff's own advice
    (α ≥ 0.8 to rely on, ≥ 0.667 for tentative conclusions) falls within."""
    if value is None:
        return "not defined (every code the same)"
    if value < 0:
        return "worse than chance"
    for bound, words in ((0.2, "slight"), (0.4, "fair"), (0.6, "moderate"), (0.8, "substantial")):
        if value < bound:
            return words
    return "almost perfect"


def reliable(value: float | None) -> str:
    """Krippendorff's advice on α, in words."""
    if value is None:
        return "cannot tell"
    if value >= 0.8:
        return "reliable"
    if value >= 0.667:
        return "tentative only"
    return "too low to rely on"

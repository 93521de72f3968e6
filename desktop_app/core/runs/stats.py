"""The statistics a run reports: accuracy with its Wilson interval, per-label precision and
recall with the confusion matrix, McNemar's exact test for two runs on the same rows, Holm's
correction when one run is tested against several, and the rows McNemar's test would need."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

Z_95 = 1.959963984540054  # the normal quantile for a two-sided 95% interval


def wilson(correct: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval for ``correct`` successes out of ``n`` (0, 1 when n is 0).

    Unlike the textbook p ± z·sqrt(p(1-p)/n), it stays inside [0, 1] and does not collapse to
    a point at 0% or 100%, which small evaluation sets reach often."""
    if n <= 0:
        return 0.0, 1.0
    p = correct / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # Exactly 0 with none right and 1 with all right (the float arithmetic leaves ~1e-17 there).
    return (0.0 if correct <= 0 else max(0.0, centre - half)), (1.0 if correct >= n else min(1.0, centre + half))


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value: the rows where just one of two runs is right, as a
    binomial(only_a + only_b, 1/2). 1.0 when they never disagree."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    k = min(only_a, only_b)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


@dataclass(frozen=True)
class LabelStats:
    label: str
    precision: float | None  # None: the label was never predicted
    recall: float | None  # None: the label never occurs in the references
    f1: float | None
    support: int  # rows whose reference is this label
    predicted: int


def confusion(pairs: Iterable[tuple[str, str]], labels: Sequence[str]) -> dict[str, dict[str, int]]:
    """counts[reference][output] over (reference, output) pairs; every label appears, and an
    invalid output (not a label) under its own key."""
    matrix: dict[str, dict[str, int]] = {ref: dict.fromkeys(labels, 0) for ref in labels}
    for reference, output in pairs:
        row = matrix.setdefault(reference, dict.fromkeys(labels, 0))
        row[output] = row.get(output, 0) + 1
    return matrix


def per_label(matrix: dict[str, dict[str, int]], labels: Sequence[str]) -> list[LabelStats]:
    stats = []
    for label in labels:
        tp = matrix.get(label, {}).get(label, 0)
        support = sum(matrix.get(label, {}).values())
        predicted = sum(row.get(label, 0) for row in matrix.values())
        precision = tp / predicted if predicted else None
        recall = tp / support if support else None
        f1 = (
            2 * precision * recall / (precision + recall)
            if precision is not None and recall is not None and precision + recall > 0
            else (0.0 if precision is not None and recall is not None else None)
        )
        stats.append(LabelStats(label, precision, recall, f1, support, predicted))
    return stats


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down correction for several tests at once: each p-value, adjusted, in the order
    given. The smallest is multiplied by m, the next by m - 1, ..., each kept at least as large as
    the one before it and at most 1 (Holm 1979). Rejecting where the adjusted p < α keeps the
    chance of any false "better" at α, however many comparisons there are."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def mcnemar_rows_needed(only_a: float, only_b: float, alpha: float = 0.05, power: float = 0.8) -> int | None:
    """Paired rows needed for McNemar's test to tell two runs apart at this gap, by Connor's (1987)
    normal approximation: n = (z₁₋α/₂·√ψ + z₁₋β·√(ψ − δ²))² / δ², where ψ is the share of rows
    where just one run is right and δ = p(only A) − p(only B); ``only_a`` and ``only_b`` are those
    shares of the paired rows. None when the runs never differ or are right equally often: no
    number of rows tells them apart then."""
    from statistics import NormalDist

    if only_a < 0 or only_b < 0:
        raise ValueError("shares of rows cannot be negative")
    total = only_a + only_b
    if total <= 0 or only_a == only_b:
        return None
    if total > 1:
        raise ValueError("shares of the paired rows add up to at most 1")
    psi, delta = total, abs(only_a - only_b)
    normal = NormalDist()
    z_alpha, z_beta = normal.inv_cdf(1 - alpha / 2), normal.inv_cdf(power)
    n = (z_alpha * math.sqrt(psi) + z_beta * math.sqrt(max(0.0, psi - delta * delta))) ** 2 / (delta * delta)
    return max(1, math.ceil(n - 1e-9))

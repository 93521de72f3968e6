"""The statistics a run reports: accuracy with its Wilson interval, per-label precision and
recall with the confusion matrix, and McNemar's exact test for two runs on the same rows."""

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
    return max(0.0, centre - half), min(1.0, centre + half)


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

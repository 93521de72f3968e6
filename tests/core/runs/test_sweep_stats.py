"""The sweep's statistics and split without a model: Holm's correction on constructed p-values
against a hand computation, the rows McNemar's test needs against Connor's formula worked by
hand and against the exact test's power computed independently here, and the seeded,
stratified development/test split."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from desktop_app.core.errors import HearthError
from desktop_app.core.runs import stats
from desktop_app.core.runs.sweep_split import FewShot, draw_examples, make_split, split_rows


def test_holm_against_a_hand_computation() -> None:
    # Sorted: 0.005 (x4 = 0.02), 0.01 (x3 = 0.03), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04 -> kept at 0.06).
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # Capped at 1, and monotone: a larger p never gets a smaller adjusted p.
    assert stats.holm([0.5, 0.2, 0.9]) == pytest.approx([1.0, 0.6, 1.0])
    assert stats.holm([0.02]) == [0.02]
    assert stats.holm([]) == []
    # Ties keep equal adjusted values.
    assert stats.holm([0.01, 0.01]) == pytest.approx([0.02, 0.02])


def test_holm_never_rejects_more_than_unadjusted_and_controls_bonferroni() -> None:
    p = [0.001, 0.012, 0.013, 0.04, 0.2, 0.0125]
    adjusted = stats.holm(p)
    assert all(a >= q for a, q in zip(adjusted, p, strict=True))
    assert all(a <= min(1.0, q * len(p)) + 1e-12 for a, q in zip(adjusted, p, strict=True))  # Holm <= Bonferroni
    # By hand: 0.001*6=0.006, 0.012*5=0.06, 0.0125*4=0.05->0.06, 0.013*3=0.039->0.06, 0.04*2=0.08, 0.2.
    assert adjusted == pytest.approx([0.006, 0.06, 0.06, 0.08, 0.2, 0.06])


def _exact_power(n: int, p10: float, p01: float, alpha: float = 0.05) -> float:
    """The exact McNemar test's power, computed directly: the discordant count d ~ Bin(n, p10 +
    p01), and given d the rows only A got right ~ Bin(d, p10 / (p10 + p01)); sum the probability of
    every outcome the exact test rejects."""
    psi = p10 + p01
    share = p10 / psi
    total = 0.0
    for d in range(n + 1):
        weight = math.comb(n, d) * psi**d * (1 - psi) ** (n - d)
        if weight < 1e-15:
            continue
        reject = sum(
            math.comb(d, x) * share**x * (1 - share) ** (d - x)
            for x in range(d + 1)
            if min(1.0, 2 * sum(math.comb(d, i) for i in range(min(x, d - x) + 1)) / 2**d) <= alpha
        )
        total += weight * reject
    return total


def test_rows_needed_by_connors_formula_worked_by_hand() -> None:
    # p10 = 0.2, p01 = 0.1: psi = 0.3, delta = 0.1; z = 1.959964, z_power = 0.841621;
    # (1.959964 * sqrt(0.3) + 0.841621 * sqrt(0.29))^2 / 0.01 = (1.073516 + 0.453227)^2 / 0.01 = 233.09 -> 234.
    assert stats.mcnemar_rows_needed(0.2, 0.1) == 234
    assert stats.mcnemar_rows_needed(0.1, 0.2) == 234  # which one is better does not matter
    assert stats.mcnemar_rows_needed(0.1, 0.1) is None  # no gap: no number of rows
    assert stats.mcnemar_rows_needed(0.0, 0.0) is None
    with pytest.raises(ValueError):
        stats.mcnemar_rows_needed(0.8, 0.4)


@pytest.mark.parametrize(("p10", "p01"), [(0.2, 0.1), (0.15, 0.05), (0.3, 0.1)])
def test_rows_needed_give_about_the_power_asked_for_by_the_exact_test(p10: float, p01: float) -> None:
    n = stats.mcnemar_rows_needed(p10, p01)
    assert n is not None
    # The normal approximation is close, not exact (the exact test is conservative): within a few points of 80%.
    assert 0.72 <= _exact_power(n, p10, p01) <= 0.88
    assert _exact_power(n // 2, p10, p01) < 0.7  # half the rows: clearly less


def test_split_is_seeded_stratified_and_complete() -> None:
    references = {i: ("positive" if i % 3 else "negative") for i in range(30)}  # 20 positive, 10 negative
    dev, test = split_rows(references, 0.5, seed=7)
    assert sorted(dev + test) == list(range(30)) and not set(dev) & set(test)
    assert len(dev) == 15
    counts = Counter(references[i] for i in dev)
    assert counts == {"positive": 10, "negative": 5}  # each label keeps its share
    assert split_rows(references, 0.5, seed=7) == (dev, test)  # the same seed: the same rows
    assert split_rows(references, 0.5, seed=8) != (dev, test)
    # Shares that do not divide evenly: the whole side is round(fraction * n), each label within one row.
    odd = {i: "abc"[i % 3] for i in range(25)}
    dev, test = split_rows(odd, 0.3, seed=1)
    assert len(dev) == round(0.3 * 25)
    for label, total in Counter(odd.values()).items():
        assert abs(sum(odd[i] == label for i in dev) - 0.3 * total) < 1


def test_split_refuses_what_cannot_be_split() -> None:
    with pytest.raises(HearthError, match="one part would be empty"):
        split_rows({0: "a", 1: "b"}, 0.1, seed=0)
    with pytest.raises(HearthError, match="between 0 and 1"):
        split_rows({0: "a", 1: "b"}, 1.5, seed=0)


def test_examples_are_never_scored_and_draws_come_from_development_rows() -> None:
    references = {i: ("yes" if i % 2 else "no") for i in range(20)}
    shots = [FewShot(), FewShot(rows=[0, 1]), FewShot(k=3)]
    split = make_split(references, 20, shots, 0.5, seed=3, stratify=True)
    chosen, drawn = split.shots[1], split.shots[2]
    assert chosen == [0, 1] and len(drawn) == 3
    assert split.shots[0] == []
    scored = set(split.dev) | set(split.test)
    assert not scored & {0, 1} and not scored & set(drawn)  # no cell is scored on an example
    assert not set(drawn) & set(split.test)  # drawn from development rows only
    assert make_split(references, 20, shots, 0.5, seed=3, stratify=True) == split
    assert draw_examples(list(range(10)), 3, seed=3, choice=0) == draw_examples(list(range(10)), 3, 3, 0)
    with pytest.raises(HearthError, match="cannot be drawn"):
        make_split(references, 20, [FewShot(k=50)], 0.5, seed=3, stratify=True)
    with pytest.raises(HearthError, match="no row 99"):
        make_split(references, 20, [FewShot(rows=[99])], None, seed=3, stratify=False)

"""The agreement statistics against published worked examples and against independent
computations written here from the textbook definitions (plain loops, no shared code)."""

from __future__ import annotations

import itertools
import random

import pytest

from desktop_app.core.runs import agreement as ag

N = None


def _ci(est: ag.AgreementEstimate) -> tuple[float, float, float]:
    assert est.value is not None and est.ci_low is not None and est.ci_high is not None
    return est.ci_low, est.value, est.ci_high


# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: four observers,
# twelve units, values 1-5, missing values. His results: nominal .743, ordinal .815, interval .849.
KRIPPENDORFF_2011 = [
    ["1", "2", "3", "3", "2", "1", "4", "1", "2", N, N, N],
    ["1", "2", "3", "3", "2", "2", "4", "1", "2", "5", N, "3"],
    [N, "3", "3", "3", "2", "3", "4", "2", "2", "5", "1", N],
    ["1", "2", "3", "3", "2", "4", "4", "1", "2", "5", "1", N],
]

# Fleiss (1971), Table 1: 30 patients, 6 psychiatrists each, counts per diagnosis (depression,
# personality disorder, schizophrenia, neurosis, other). His κ = .430; per category .245, .245,
# .520, .471, .566.
FLEISS_1971 = [
    [0, 0, 0, 6, 0], [0, 3, 0, 0, 3], [0, 1, 4, 0, 1], [0, 0, 0, 0, 6], [0, 3, 0, 3, 0],
    [2, 0, 4, 0, 0], [0, 0, 4, 0, 2], [2, 0, 3, 1, 0], [2, 0, 0, 4, 0], [0, 0, 0, 0, 6],
    [1, 0, 0, 5, 0], [1, 1, 0, 4, 0], [0, 3, 3, 0, 0], [1, 0, 0, 5, 0], [0, 2, 0, 3, 1],
    [0, 0, 5, 0, 1], [3, 0, 0, 1, 2], [5, 1, 0, 0, 0], [0, 2, 0, 4, 0], [1, 0, 2, 0, 3],
    [0, 0, 0, 0, 6], [0, 1, 0, 5, 0], [0, 2, 0, 1, 3], [2, 0, 0, 4, 0], [1, 0, 0, 4, 1],
    [0, 5, 0, 1, 0], [4, 0, 0, 0, 2], [0, 2, 0, 4, 0], [1, 0, 5, 0, 0], [0, 0, 0, 0, 6],
]  # fmt: skip

# Wikipedia's "Fleiss' kappa" worked example: 10 subjects, 14 raters, 5 categories; κ = 0.210.
WIKIPEDIA_FLEISS = [
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
]  # fmt: skip


@pytest.mark.parametrize(("level", "published"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849)])
def test_krippendorffs_own_example(level: str, published: float) -> None:
    assert ag.krippendorff_alpha(KRIPPENDORFF_2011, level) == pytest.approx(published, abs=0.0005)


def test_fleiss_1971_table() -> None:
    assert ag.fleiss_kappa(FLEISS_1971) == pytest.approx(0.430, abs=0.0005)
    per = ag.fleiss_kappa_per_category(FLEISS_1971)
    assert per == pytest.approx([0.245, 0.245, 0.520, 0.471, 0.566], abs=0.0005)
    assert ag.fleiss_kappa(WIKIPEDIA_FLEISS) == pytest.approx(0.210, abs=0.0005)


def _rows_from_counts(counts: list[list[int]]) -> list[list[str]]:
    """Counts per category -> one code per rater (raters × subjects)."""
    per_subject = [[str(c) for c, k in enumerate(row) for _ in range(k)] for row in counts]
    return [list(codes) for codes in zip(*per_subject, strict=True)]


def test_group_agreement_gives_fleiss_from_raw_codes_with_an_interval() -> None:
    raters = _rows_from_counts(FLEISS_1971)
    group = ag.group_agreement([f"r{i}" for i in range(6)], raters, order=[str(c) for c in range(5)])
    assert group.complete == 30
    assert group.fleiss_kappa.value == pytest.approx(0.430, abs=0.0005)
    low, _value, high = _ci(group.fleiss_kappa)
    assert low < 0.430 < high
    assert [label.fleiss_kappa.value for label in group.per_label] == pytest.approx(
        [0.245, 0.245, 0.520, 0.471, 0.566], abs=0.0005
    )
    # The same seed gives the same interval; another seed another.
    again = ag.group_agreement([f"r{i}" for i in range(6)], raters, order=[str(c) for c in range(5)])
    assert again.fleiss_kappa == group.fleiss_kappa
    other = ag.group_agreement([f"r{i}" for i in range(6)], raters, order=[str(c) for c in range(5)], seed=7)
    assert other.fleiss_kappa.ci_low != group.fleiss_kappa.ci_low


def test_group_alpha_on_krippendorffs_example_allows_missing_codes() -> None:
    group = ag.group_agreement(list("ABCD"), KRIPPENDORFF_2011, "ordinal")
    assert group.units == 11  # unit 12 has one value only: not pairable
    assert group.complete == 8  # units 1, 10, 11 and 12 lack a code from someone
    assert group.krippendorff_alpha.value == pytest.approx(0.815, abs=0.0005)
    low, _value, high = _ci(group.krippendorff_alpha)
    assert low <= 0.815 <= high


# -- an independent computation, by hand ----------------------------------------------------------


def _cohen_by_hand(a: list[str], b: list[str], weights: str | None = None, order: list[str] | None = None) -> float:
    """Cohen's κ from its definition: 1 - Σ w·p_observed / Σ w·p_expected, loops only."""
    cats = order or sorted(set(a) | set(b))
    k = len(cats)
    n = len(a)
    observed = [[0.0] * k for _ in range(k)]
    for x, y in zip(a, b, strict=True):
        observed[cats.index(x)][cats.index(y)] += 1 / n
    row = [sum(observed[i]) for i in range(k)]
    col = [sum(observed[i][j] for i in range(k)) for j in range(k)]

    def w(i: int, j: int) -> float:
        if weights is None:
            return 0.0 if i == j else 1.0
        d = abs(i - j) / (k - 1)
        return d if weights == "linear" else d * d

    num = sum(w(i, j) * observed[i][j] for i in range(k) for j in range(k))
    den = sum(w(i, j) * row[i] * col[j] for i in range(k) for j in range(k))
    return 1 - num / den


def _alpha_by_hand(data: list[list[str | None]]) -> float:
    """Nominal α from pairable values: 1 - D_o / D_e over all pairs within units."""
    units = [[v for v in unit if v is not None] for unit in zip(*data, strict=True)]
    units = [u for u in units if len(u) > 1]
    values = [v for u in units for v in u]
    n = len(values)
    d_o = sum(sum(x != y for x, y in itertools.permutations(u, 2)) / (len(u) - 1) for u in units) / n
    d_e = sum(x != y for x, y in itertools.permutations(values, 2)) / (n * (n - 1))
    return 1 - d_o / d_e


def test_cohen_kappa_against_a_hand_computation() -> None:
    rng = random.Random(3)
    labels = ["low", "mid", "high"]
    a = [rng.choice(labels) for _ in range(60)]
    b = [x if rng.random() < 0.6 else rng.choice(labels) for x in a]
    assert ag.cohen_kappa(a, b) == pytest.approx(_cohen_by_hand(a, b), abs=1e-12)
    for weights in ("linear", "quadratic"):
        assert ag.cohen_kappa(a, b, weights, order=labels) == pytest.approx(
            _cohen_by_hand(a, b, weights, labels), abs=1e-12
        )
    # Cohen (1960)'s bound: κ is 1 for identical codes and 0 when b ignores a.
    assert ag.cohen_kappa(a, a) == 1.0
    assert ag.cohen_kappa(["x", "y", "x", "y"], ["x", "x", "y", "y"]) == 0.0


def test_pair_agreement_matches_the_hand_computations_and_skips_missing_codes() -> None:
    rng = random.Random(5)
    a: list[str | None] = [rng.choice("abc") for _ in range(80)]
    b: list[str | None] = [x if rng.random() < 0.7 else rng.choice("abc") for x in a]
    a[3] = b[10] = None
    both = [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    pair = ag.pair_agreement("model", "ann", a, b)
    assert pair.n == len(both) == 78
    assert pair.percent.value == pytest.approx(sum(x == y for x, y in both) / 78)
    hand = _cohen_by_hand([x for x, _ in both], [y for _, y in both])
    assert pair.cohen_kappa.value == pytest.approx(hand, abs=1e-12)
    assert pair.krippendorff_alpha.value == pytest.approx(_alpha_by_hand([a, b]), abs=1e-12)
    for est in (pair.percent, pair.cohen_kappa, pair.krippendorff_alpha):
        low, value, high = _ci(est)
        assert low <= value <= high
    # Per label: each label against the rest, the same statistics on yes/no codes.
    for label in pair.per_label:
        yes_a = ["y" if x == label.label else "n" for x, _ in both]
        yes_b = ["y" if y == label.label else "n" for _, y in both]
        assert label.cohen_kappa.value == pytest.approx(_cohen_by_hand(yes_a, yes_b), abs=1e-12)
        assert label.a_count == yes_a.count("y")


def test_group_alpha_against_a_hand_computation_with_missing_codes() -> None:
    rng = random.Random(9)
    truth = [rng.choice("pqrs") for _ in range(40)]
    data: list[list[str | None]] = [
        [t if rng.random() < 0.75 else rng.choice("pqrs") if rng.random() < 0.8 else None for t in truth]
        for _ in range(3)
    ]
    group = ag.group_agreement(["a", "b", "c"], data)
    assert group.krippendorff_alpha.value == pytest.approx(_alpha_by_hand(data), abs=1e-12)
    assert ag.krippendorff_alpha(data) == pytest.approx(_alpha_by_hand(data), abs=1e-12)


def test_krippendorff_package_agrees_where_it_installs() -> None:
    """A second, independent implementation (the `krippendorff` package, a test dependency)."""
    krippendorff = pytest.importorskip("krippendorff")
    import numpy as np

    numeric = np.array([[np.nan if v is None else float(v) for v in rater] for rater in KRIPPENDORFF_2011])
    for level in ag.LEVELS:
        theirs = krippendorff.alpha(reliability_data=numeric, level_of_measurement=level)
        assert ag.krippendorff_alpha(KRIPPENDORFF_2011, level) == pytest.approx(theirs, abs=1e-9)


def test_the_bootstrap_interval_is_seeded_and_narrows_with_more_rows() -> None:
    rng = random.Random(1)

    def pair(n: int) -> ag.PairAgreement:
        a = [rng.choice("xy") for _ in range(n)]
        b = [x if rng.random() < 0.8 else ("y" if x == "x" else "x") for x in a]
        return ag.pair_agreement("a", "b", a, b, seed=11)

    small, large = pair(40), pair(4000)
    width = [_ci(p.cohen_kappa)[2] - _ci(p.cohen_kappa)[0] for p in (small, large)]
    assert width[1] < width[0] / 4  # about 1/sqrt(100) as wide
    # The general bootstrap gives the same kind of interval for any statistic of the units.
    a = [rng.choice("xy") for _ in range(200)]
    b = list(a[:150]) + [rng.choice("xy") for _ in range(50)]
    tabled = ag.pair_agreement("a", "b", a, b, samples=2000)
    general = ag.bootstrap(lambda idx: ag.percent_agreement([a[i] for i in idx], [b[i] for i in idx]), 200, 2000)
    assert general.value == tabled.percent.value
    assert general.ci_low == pytest.approx(tabled.percent.ci_low, abs=0.03)
    assert general.ci_high == pytest.approx(tabled.percent.ci_high, abs=0.03)


def test_undefined_statistics_say_so() -> None:
    same = ["a"] * 10
    assert ag.cohen_kappa(same, same) is None  # no variation: chance agreement is total
    pair = ag.pair_agreement("a", "b", same, same)
    assert pair.percent.value == 1.0
    assert pair.cohen_kappa.to_dict() == {"value": None, "ci_low": None, "ci_high": None}
    nobody = ag.pair_agreement("a", "b", [None, "a"], ["b", None])
    assert nobody.n == 0 and nobody.percent.value is None
    assert ag.strength(None).startswith("not defined")
    assert (ag.strength(0.5), ag.reliable(0.85), ag.reliable(0.7), ag.reliable(0.3)) == (
        "moderate", "reliable", "tentative only", "too low to rely on"
    )  # fmt: skip


def test_ordinal_and_interval_scales_take_the_codebooks_order() -> None:
    order = ["never", "sometimes", "often", "always"]
    a = ["never", "sometimes", "often", "always", "often", "never"]
    b = ["sometimes", "sometimes", "always", "always", "often", "never"]
    close = ag.pair_agreement("a", "b", a, b, "ordinal", order)
    far = ag.pair_agreement("a", "b", a, ["always", "sometimes", "never", "always", "often", "never"], "ordinal", order)
    assert _ci(close.cohen_kappa)[1] > _ci(far.cohen_kappa)[1]  # near misses count less
    # Off the scale is missing under an ordered level, a category of its own under nominal.
    odd = ag.pair_agreement("a", "b", ["never", "maybe"], ["never", "never"], "ordinal", order)
    assert odd.n == 1
    assert ag.pair_agreement("a", "b", ["never", "maybe"], ["never", "never"], "nominal", order).n == 2
    # Numbers at the interval level are read as numbers: 1 and 10 are further apart than 1 and 2.
    scale = ag.make_scale([["1", "2", "10"]], "interval")
    assert scale.positions == (1.0, 2.0, 10.0)

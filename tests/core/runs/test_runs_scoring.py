"""Scorers, output parsing and the statistics, each against an independent computation."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import pytest

from desktop_app.core.runs import scoring, stats
from desktop_app.core.runs.scoring import parse_output, score


def _wilson_by_quadratic(k: int, n: int, z: float) -> tuple[float, float]:
    """The interval's bounds as the roots p of (p - k/n)^2 = z^2 p(1-p)/n (its definition)."""
    phat = k / n
    a = 1 + z * z / n
    b = -(2 * phat + z * z / n)
    c = phat * phat
    root = math.sqrt(b * b - 4 * a * c)
    return (-b - root) / (2 * a), (-b + root) / (2 * a)


@pytest.mark.parametrize(("k", "n"), [(0, 5), (3, 7), (7, 7), (52, 100), (1, 1)])
def test_wilson_matches_its_definition(k: int, n: int) -> None:
    low, high = stats.wilson(k, n)
    expected = _wilson_by_quadratic(k, n, 1.959963984540054)
    assert low == pytest.approx(expected[0], abs=1e-12)
    assert high == pytest.approx(expected[1], abs=1e-12)
    assert 0 <= low <= k / n <= high <= 1


def _mcnemar_by_enumeration(b: int, c: int) -> float:
    """Two-sided exact p: the probability, under fair coin flips over the b + c discordant rows,
    of a split at least as uneven as the one seen."""
    n = b + c
    if n == 0:
        return 1.0
    seen = abs(b - c)
    extreme = sum(1 for flips in itertools.product((0, 1), repeat=n) if abs(2 * sum(flips) - n) >= seen)
    return min(1.0, float(Fraction(extreme, 2**n)))


@pytest.mark.parametrize(("b", "c"), [(0, 0), (1, 0), (6, 1), (3, 3), (9, 2), (0, 8)])
def test_mcnemar_exact_matches_enumeration(b: int, c: int) -> None:
    assert stats.mcnemar_exact(b, c) == pytest.approx(_mcnemar_by_enumeration(b, c), abs=1e-12)


def test_confusion_and_per_label() -> None:
    pairs = [("pos", "pos")] * 3 + [("pos", "neg")] + [("neg", "neg")] * 2 + [("neg", "pos")] * 2
    matrix = stats.confusion(pairs, ["pos", "neg"])
    assert matrix == {"pos": {"pos": 3, "neg": 1}, "neg": {"pos": 2, "neg": 2}}
    by_label = {s.label: s for s in stats.per_label(matrix, ["pos", "neg"])}
    assert by_label["pos"].precision == pytest.approx(3 / 5)
    assert by_label["pos"].recall == pytest.approx(3 / 4)
    assert by_label["neg"].precision == pytest.approx(2 / 3)
    assert by_label["neg"].recall == pytest.approx(2 / 4)
    assert by_label["pos"].f1 == pytest.approx(2 * 0.6 * 0.75 / 1.35)


def test_parse_output_by_kind() -> None:
    schema = {"type": "object", "properties": {"year": {"type": "integer"}}, "required": ["year"]}
    assert parse_output("labels", " positive\n", ["positive", "negative"]).valid
    assert parse_output("labels", "Positive", ["positive", "negative"]).reason == "not one of the labels"
    assert parse_output("number", "-3.5").value == -3.5
    assert not parse_output("number", "three").valid
    assert parse_output("json", '{"year": 2001}', schema=schema).value == {"year": 2001}
    bad = parse_output("json", '{"year": "2001"}', schema=schema)
    assert not bad.valid and "does not match the schema" in bad.reason
    assert not parse_output("json", '{"year": 20', schema=schema).valid
    assert parse_output("text", "anything").valid


def _score(name: str, output: str, reference: str, kind: str = "text", **options: float) -> scoring.Score:
    return score(name, output, reference, parse_output(kind, output), **options)


def test_scorers() -> None:
    assert _score("exact", " Paris ", "Paris").correct
    assert not _score("exact", "paris", "Paris").correct
    assert _score("normalized", "Paris!", "  paris ").correct
    assert _score("contains", "It is Paris, France.", "paris").correct
    assert _score("regex", "Answer: 42", r"\b4\d\b").correct
    assert not _score("regex", "Answer: 52", r"\b4\d\b").correct
    assert _score("label", "Positive", "positive").correct
    assert _score("numeric", "3.05", "3", "number", tolerance=0.1).correct
    assert not _score("numeric", "3.5", "3", "number", tolerance=0.1).correct
    f1 = _score("token_f1", "the cat sat", "a cat sat down", threshold=0.5)
    # tokens: out {the, cat, sat}, ref {a, cat, sat, down}: 2 common -> P 2/3, R 2/4
    assert f1.score == pytest.approx(2 * (2 / 3) * (1 / 2) / (2 / 3 + 1 / 2))
    assert f1.correct
    fields = _score("fields", '{"name": "amelie ", "year": 2001}', '{"name": "Amélie", "year": 2001}', "json")
    assert fields.fields == {"name": False, "year": True}  # the accent matters, case and spaces do not
    assert fields.score == 0.5 and not fields.correct
    assert not _score("label", "positive", "negative").correct


def test_references_that_cannot_be_scored_are_named() -> None:
    assert "not one of the labels" in scoring.check_reference("label", "maybe", ["yes", "no"])
    assert scoring.check_reference("label", " YES ", ["yes", "no"]) == ""
    assert "not a number" in scoring.check_reference("numeric", "n/a", [])
    assert "regular expression" in scoring.check_reference("regex", "(unclosed", [])
    assert "JSON object" in scoring.check_reference("fields", "[1, 2]", [])

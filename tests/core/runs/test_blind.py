"""A person's blind A/B comparison: every pair once, in a seeded random order and on random sides,
saved as chosen and resumed where it stopped; the win rate and sign test against scipy."""

from __future__ import annotations

from pathlib import Path

import pytest
from judge_data import GOOD, POOR, judged_run, write_questions
from scipy.stats import binomtest

from desktop_app.core.errors import HearthError
from desktop_app.core.runs import blind, preference, stats
from desktop_app.core.runs.storage import RunStore


def test_a_session_shows_each_pair_once_saves_each_choice_and_resumes(tmp_path: Path, store: RunStore) -> None:
    dataset = write_questions(tmp_path / "q.jsonl")
    a = judged_run(store, dataset, GOOD, "model-a")
    b = judged_run(store, dataset, POOR, "model-b")
    session = blind.BlindComparison.open(store, a, b, "Ana", seed=3)
    assert session.total == 4 and session.next_open() == 0
    pairs = [session.pair(i) for i in range(4)]
    assert sorted(p.index for p in pairs) == [0, 1, 2, 3]
    for p in pairs:
        # Unlabelled: the screen gets two answers, one of each run, on the sides the seed chose.
        assert {p.left, p.right} == {GOOD[p.index], POOR[p.index]}
        assert (p.left == GOOD[p.index]) == p.a_left
    assert {p.a_left for p in pairs} == {True, False}  # run A is on both sides with this seed
    # The person prefers the good answer wherever it is, and calls the last pair a tie.
    for p in pairs[:3]:
        session.choose(p.position, "left" if p.a_left else "right")
    session.choose(pairs[3].position, "tie")
    assert session.side_chosen(pairs[3].position) == "tie"
    assert session.side_chosen(pairs[0].position) == ("left" if pairs[0].a_left else "right")
    # A second person's window opened later: the same session, the same order, nothing lost.
    again = blind.BlindComparison.open(store, a, b, "Ana")
    assert again.session.id == session.session.id
    assert [again.pair(i).index for i in range(4)] == [p.index for p in pairs]
    assert again.next_open() == 4
    assert again.choices() == {pairs[0].index: "a", pairs[1].index: "a", pairs[2].index: "a", pairs[3].index: "tie"}
    result = again.result()
    assert (result.a_wins, result.b_wins, result.ties) == (3, 0, 1)
    assert "first run" in again.describe()
    again.reveal()
    assert f"run {a}" in again.describe()
    assert blind.BlindComparison.open(store, a, b, "Ana").session.revealed
    again.clear(pairs[1].position)
    assert again.next_open() == 1
    # Another coder gets a session of their own.
    assert blind.BlindComparison.open(store, a, b, "Ben").session.id != session.session.id
    assert [s.coder for s in blind.sessions_for(store, a)] == ["Ana", "Ben"]


def test_blind_refuses_the_same_run_or_runs_of_other_datasets(tmp_path: Path, store: RunStore) -> None:
    a = judged_run(store, write_questions(tmp_path / "a.jsonl", 2), GOOD[:2])
    b = judged_run(store, write_questions(tmp_path / "b.jsonl", 3), GOOD[:3])
    with pytest.raises(HearthError, match="two different runs"):
        blind.BlindComparison.open(store, a, a)
    with pytest.raises(HearthError, match="different datasets"):
        blind.BlindComparison.open(store, a, b)


@pytest.mark.parametrize(("a_wins", "b_wins", "ties"), [(7, 2, 3), (0, 0, 4), (30, 12, 0), (1, 0, 0), (50, 50, 9)])
def test_win_rate_interval_and_sign_test_match_an_independent_computation(a_wins: int, b_wins: int, ties: int) -> None:
    result = preference.preference(a_wins, b_wins, ties)
    decided = a_wins + b_wins
    if decided:
        assert result.win_rate == pytest.approx(a_wins / decided)
        assert result.p_value == pytest.approx(binomtest(a_wins, decided, 0.5).pvalue)
        assert (result.ci_low, result.ci_high) == pytest.approx(stats.wilson(a_wins, decided))
    else:
        assert result.win_rate is None and result.p_value == 1.0
    sentence = result.sentence("run 1", "run 2")
    assert (str(ties) in sentence) and (("beyond chance" in sentence) == (result.p_value < 0.05))

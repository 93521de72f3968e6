"""Which of two runs is preferred, pair by pair (a judge's verdicts, or a person's blind choices):
the win rate among the pairs that were decided, its Wilson interval, and the two-sided sign test."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from desktop_app.core.runs import stats

ALPHA = 0.05


def sign_test(wins: int, losses: int) -> float:
    """Two-sided exact sign test: ties left out, wins ~ binomial(wins + losses, 1/2) if neither
    is better. The same binomial test as McNemar's exact test on the discordant rows."""
    return stats.mcnemar_exact(wins, losses)


@dataclass(frozen=True)
class Preference:
    a_wins: int
    b_wins: int
    ties: int
    win_rate: float | None  # A's share of the decided pairs (ties left out)
    ci_low: float
    ci_high: float
    p_value: float  # the sign test

    @property
    def decided(self) -> int:
        return self.a_wins + self.b_wins

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "decided": self.decided}

    def sentence(self, a: str = "A", b: str = "B") -> str:
        """The result in plain words, with every number."""
        if not self.decided:
            return f"No pair was decided ({self.ties:,} ties), so nothing can be said about {a} against {b}."
        rate = self.win_rate or 0.0
        numbers = (
            f"{a} was preferred in {self.a_wins:,} of {self.decided:,} decided pairs ({rate:.0%}, 95% interval "
            f"{self.ci_low:.0%}–{self.ci_high:.0%}; {self.ties:,} ties left out); sign test p = {self.p_value:.3g}."
        )
        if self.p_value < ALPHA:
            better = a if self.a_wins > self.b_wins else b
            return f"{numbers} {better.capitalize()} is better beyond chance."
        return f"{numbers} The difference is within chance."


def preference(a_wins: int, b_wins: int, ties: int) -> Preference:
    decided = a_wins + b_wins
    low, high = stats.wilson(a_wins, decided)
    rate = a_wins / decided if decided else None
    return Preference(a_wins, b_wins, ties, rate, low, high, sign_test(a_wins, b_wins))

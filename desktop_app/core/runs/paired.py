"""Two runs on the same dataset side by side: each one's accuracy on the rows both scored, the
rows where they disagree, and McNemar's exact test of whether the difference is more than chance.

This answers the quantisation lab's question on the user's own task ("is Q4_K_M worse than
Q8_0 here?"), and the same for two models or two prompts."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from desktop_app.core.errors import HearthError
from desktop_app.core.runs import stats
from desktop_app.core.runs.storage import RunStore

SIGNIFICANCE = 0.05
MAX_LISTED = 1000


@dataclass
class RowDisagreement:
    id: str
    index: int
    reference: str | None
    a_output: str
    b_output: str
    a_correct: bool | None
    b_correct: bool | None


@dataclass
class Comparison:
    a: int
    b: int
    a_title: str
    b_title: str
    n_paired: int  # rows both runs scored
    both: int
    only_a: int  # rows only run a got right
    only_b: int
    neither: int
    a_accuracy: float | None
    b_accuracy: float | None
    a_ci: tuple[float, float]
    b_ci: tuple[float, float]
    p_value: float
    n_disagree: int  # rows whose outputs differ (scored or not)
    disagreements: list[RowDisagreement] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        if self.n_paired == 0:
            return "The two runs have no scored row in common."
        if self.only_a + self.only_b == 0:
            return "The two runs are right and wrong on exactly the same rows."
        better = "A" if self.only_a > self.only_b else "B"
        if self.p_value < SIGNIFICANCE:
            return f"Run {better} is better on this task, more than chance would explain (p = {self.p_value:.3g})."
        return (
            f"The difference could be chance (p = {self.p_value:.3g}): on these {self.n_paired:,} rows neither "
            "run is shown to be better."
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["a_ci_low"], data["a_ci_high"] = self.a_ci
        data["b_ci_low"], data["b_ci_high"] = self.b_ci
        data["verdict"] = self.verdict
        return data


def compare(store: RunStore, a: int, b: int) -> Comparison:
    run_a, run_b = store.get(a), store.get(b)
    if a == b:
        raise HearthError("A run compared with itself says nothing.", "Choose two different runs.")
    if run_a.dataset_sha256 != run_b.dataset_sha256:
        raise HearthError(
            f"Runs {a} and {b} are on different datasets, so their rows cannot be paired.",
            "Compare runs made on the same file.",
        )
    both = only_a = only_b = neither = n_disagree = 0
    listed: list[RowDisagreement] = []
    for row_a, row_b in store.pairs(a, b):
        if row_b is None:
            continue
        if row_a.correct is not None and row_b.correct is not None:
            if row_a.correct and row_b.correct:
                both += 1
            elif row_a.correct:
                only_a += 1
            elif row_b.correct:
                only_b += 1
            else:
                neither += 1
        if row_a.output.strip() != row_b.output.strip() or row_a.correct != row_b.correct:
            n_disagree += 1
            if len(listed) < MAX_LISTED:
                listed.append(
                    RowDisagreement(
                        row_a.key, row_a.index, row_a.reference, row_a.output, row_b.output,
                        row_a.correct, row_b.correct,
                    )
                )  # fmt: skip
    n = both + only_a + only_b + neither
    return Comparison(
        a=a,
        b=b,
        a_title=run_a.title,
        b_title=run_b.title,
        n_paired=n,
        both=both,
        only_a=only_a,
        only_b=only_b,
        neither=neither,
        a_accuracy=(both + only_a) / n if n else None,
        b_accuracy=(both + only_b) / n if n else None,
        a_ci=stats.wilson(both + only_a, n),
        b_ci=stats.wilson(both + only_b, n),
        p_value=stats.mcnemar_exact(only_a, only_b),
        n_disagree=n_disagree,
        disagreements=listed,
    )

"""A judge is checked against people before it is trusted.

People rate a sample of the judged run's rows on one of the rubric's criteria (in the coding
screen, or imported from a column of a file: core/runs/coding.py stores both); the judge's scores for the same
rows are compared with theirs: percent agreement, Cohen's κ and Krippendorff's α (at the
criterion's level: ordinal for numbers, nominal for words), each with its bootstrap 95% interval
(:func:`~desktop_app.core.runs.agreement.pair_agreement`). Then one plain sentence on whether the
judge can stand in for them, by Krippendorff's (2004) thresholds on α: 0.800 or more to rely on
it, 0.667 to 0.800 for tentative conclusions only, below 0.667 not at all, and not when too few
rows were rated to tell.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from desktop_app.core.errors import HearthError
from desktop_app.core.runs import judge
from desktop_app.core.runs.coding import PASS_FAIL, Codebook, CodebookLabel, CodeStore
from desktop_app.core.runs.rubric import Criterion
from desktop_app.core.runs.storage import RunStore

if TYPE_CHECKING:  # agreement needs numpy: imported when a judge is checked
    from desktop_app.core.runs.agreement import AgreementEstimate, PairAgreement

RELIABLE = 0.800  # Krippendorff (2004): rely on the data
TENTATIVE = 0.667  # ... tentative conclusions only, below it none
MIN_ROWS = 10  # fewer rated rows than this: nothing can be said
# Rows to rate: enough for the share of agreement to be known within ±10 points (95%) when the
# judge and the person agree on about 80% of rows: 1.96² × 0.8 × 0.2 / 0.1² ≈ 62.
PLANNED_AGREEMENT = 0.8
PLANNED_HALF_WIDTH = 0.10


def suggested_rows(available: int) -> int:
    """How many rows a person should rate to check a judge (all of them when there are fewer)."""
    z = 1.959963984540054
    need = math.ceil(z * z * PLANNED_AGREEMENT * (1 - PLANNED_AGREEMENT) / PLANNED_HALF_WIDTH**2)
    return min(available, need)


def sample_rows(store: RunStore, judge_run: int, n: int | None = None, seed: int = 0) -> list[int]:
    """Which judged rows to rate: drawn at random (seeded), in row order."""
    judged = sorted(judge.scores(store, judge_run))
    n = suggested_rows(len(judged)) if n is None else min(n, len(judged))
    return sorted(random.Random(seed).sample(judged, n))


@dataclass
class Validation:
    judge_run: int
    judged_run: int
    criterion: str
    coder: str
    rated: int  # rows the person rated
    suggested: int  # rows they should rate
    agreement: PairAgreement  # judge ("judge") against the person, on the rows both rated
    verdict: str  # "reliable" | "tentative" | "unreliable" | "too few"
    sentence: str

    @property
    def alpha(self) -> AgreementEstimate:
        return self.agreement.krippendorff_alpha

    def to_dict(self) -> dict[str, Any]:
        return {
            "judge_run": self.judge_run,
            "judged_run": self.judged_run,
            "criterion": self.criterion,
            "coder": self.coder,
            "rated": self.rated,
            "suggested": self.suggested,
            "verdict": self.verdict,
            "sentence": self.sentence,
            "thresholds": {"reliable": RELIABLE, "tentative": TENTATIVE, "min_rows": MIN_ROWS},
            **{k: v for k, v in self.agreement.to_dict().items() if k not in ("a", "b")},
        }

    def describe(self) -> str:
        a = self.agreement

        def fmt(e: AgreementEstimate, percent: bool = False) -> str:
            if e.value is None:
                return "—"
            spec = ".0%" if percent else ".3f"
            ci = f" (95% interval {e.ci_low:{spec}} – {e.ci_high:{spec}})" if e.ci_low is not None else ""
            return f"{e.value:{spec}}{ci}"

        return "\n".join([
            f"Judge run {self.judge_run} against {self.coder} on “{self.criterion}”: {a.n:,} rows rated by both "
            f"({a.level} scale).",
            f"  agreement {fmt(a.percent, True)}; Cohen's κ {fmt(a.cohen_kappa)}; "
            f"Krippendorff's α {fmt(a.krippendorff_alpha)}",
            "  " + self.sentence,
        ])  # fmt: skip


def _verdict(alpha: AgreementEstimate, n: int, suggested: int) -> tuple[str, str]:
    more = f"Rate at least {suggested:,} rows (Hearth suggests a random sample)."
    if n < MIN_ROWS:
        return "too few", (
            f"Only {n:,} rows were rated by both: too few to tell whether the judge can be relied on. {more}"
        )
    if alpha.value is None:
        return "too few", "α cannot be computed: every rating on these rows is the same. " + more
    value = alpha.value
    low = alpha.ci_low if alpha.ci_low is not None else value
    if value >= RELIABLE:
        if low < TENTATIVE:
            return "tentative", (
                f"α = {value:.3f} reaches the 0.800 that Krippendorff asks for, but its interval goes down to "
                f"{low:.3f}, below 0.667: rate more rows before relying on this judge. {more}"
            )
        return "reliable", (
            f"α = {value:.3f} (interval from {low:.3f}) is at least 0.800: the judge agrees with the person well "
            "enough to be relied on for this criterion (Krippendorff's threshold)."
        )
    if value >= TENTATIVE:
        return "tentative", (
            f"α = {value:.3f} is between 0.667 and 0.800: the judge's scores support tentative conclusions only "
            "(Krippendorff), not firm ones."
        )
    return "unreliable", (
        f"α = {value:.3f} is below 0.667: the judge does not agree with the person well enough to be relied on. "
        "Do not report its scores in place of people's; change the rubric, the prompt or the judge model."
    )


def validate(
    store: RunStore,
    judge_run: int,
    coder: str,
    criterion: str | None = None,
    human: dict[int, str | None] | None = None,
) -> Validation:
    """The judge against one person's ratings: ``human`` (the judged row index -> their rating),
    else their codes on the judged run as stored."""
    info = judge.judge_info(store, judge_run)
    if info.mode != "rubric":
        raise HearthError("Only a judge that scored one run (not a pairwise one) can be checked against ratings.")
    chosen = info.rubric.criterion(criterion)
    if human is None:
        human = human_codes(store, info.judged[0], coder)
    judged = judge.scores(store, judge_run)
    rows = sorted(set(judged) & {i for i, v in human.items() if v is not None and str(v).strip()})
    judge_codes = [str(judged[i][chosen.name]) for i in rows]
    person = [str(human[i]).strip() for i in rows]
    scale = [str(v) for v in chosen.scale]
    off = sorted({c for c in person if c not in scale})
    if off:
        raise HearthError(
            f"{coder}'s ratings include {', '.join(repr(c) for c in off[:5])}, which are not on the scale of "
            f"“{chosen.name}” ({', '.join(scale)}).",
            "Rate with the rubric's scale.",
        )
    from desktop_app.core.runs.agreement import pair_agreement

    result = pair_agreement("judge", coder, judge_codes, person, chosen.level, scale)
    suggested = suggested_rows(len(judged))
    verdict, sentence = _verdict(result.krippendorff_alpha, result.n, suggested)
    return Validation(judge_run, info.judged[0], chosen.name, coder, len(rows), suggested, result, verdict, sentence)


def codebook_for(criterion: Criterion) -> Codebook:
    """What a person rates with in the coding screen: the criterion's own scale."""
    labels = [CodebookLabel(str(v)) for v in criterion.scale]
    if criterion.numeric:
        kind = "scale"
    else:
        kind = "pass_fail" if {str(v) for v in criterion.scale} == set(PASS_FAIL) else "labels"
    return Codebook(kind, labels, f"{criterion.name}: {criterion.description}".strip(": "))


def prepare_coding(store: RunStore, judge_run: int, criterion: str | None = None) -> int:
    """Makes the judged run's codebook the criterion's scale, so people rate on it in the coding
    screen (Code rows…); returns the judged run. A codebook already in use is left as it is."""
    info = judge.judge_info(store, judge_run)
    chosen = info.rubric.criterion(criterion)
    codes = CodeStore(store)
    judged = info.judged[0]
    if not codes.coders(judged):
        codes.set_codebook(judged, codebook_for(chosen))
    return judged


def human_codes(store: RunStore, judged_run: int, coder: str) -> dict[int, str | None]:
    """One person's codes on the judged run's rows (what the coding screen or an import stored)."""
    raters = CodeStore(store).rater_codes(judged_run, include_model=False)
    if coder not in raters.names:
        known = ", ".join(raters.names) or "nobody yet"
        raise HearthError(
            f"{coder} has rated no row of run {judged_run} (rated by: {known}).",
            "Rate a sample in Code rows…, or import a column with `hearth runs codes import`.",
        )
    mine = raters.codes[raters.names.index(coder)]
    return dict(zip(raters.indices, mine, strict=True))

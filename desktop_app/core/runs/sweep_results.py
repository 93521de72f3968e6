"""A sweep's numbers: each cell's accuracy with its Wilson interval, each cell against the best by
McNemar's exact test with Holm's correction, a plain sentence, and the rows it would take to
tell the best two apart.

The comparisons are paired (the same development rows for every cell), which is what McNemar's
test needs and why it is much more sensitive than comparing two intervals. Holm's correction
keeps the chance of calling any cell worse by accident at 5% however many cells there are.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from desktop_app.core.runs import stats
from desktop_app.core.runs.paired import SIGNIFICANCE, Comparison, compare
from desktop_app.core.runs.storage import RunStore
from desktop_app.core.runs.sweep import PHASE_WORDS, Cell, SweepRecord, best_cell, get

POWER = 0.8
POWER_METHOD = (
    "Connor's (1987) sample size for McNemar's test: two-sided 5% level, 80% power, the shares of rows "
    "where just one of the two is right taken as observed"
)


@dataclass
class CellResult:
    position: int
    phase: str  # dev | test | all
    rows: str  # the phase in words
    label: str
    prompt: str
    system: str
    few_shot: list[int]
    model: str
    run_id: int | None
    status: str
    n: int  # rows scored
    correct: int
    accuracy: float | None
    ci_low: float | None
    ci_high: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Pairwise:
    a: int  # the best cell's position
    b: int
    a_label: str
    b_label: str
    n: int  # rows both scored
    only_a: int
    only_b: int
    p_value: float
    p_holm: float

    @property
    def significant(self) -> bool:
        return self.p_holm < SIGNIFICANCE

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "significant": self.significant}


@dataclass
class Power:
    """How many paired rows would tell the best two cells apart at the gap seen here."""

    a: int
    b: int
    only_a: int
    only_b: int
    n: int  # rows they both scored here
    rows_needed: int | None  # None: no gap, so no number of rows would
    method: str = POWER_METHOD

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SplitSummary:
    """How a sweep's rows were split: prompts chosen on ``dev`` rows, reported on ``test`` rows."""

    fraction: float | None  # the development share; None: no split (every cell ran on every row)
    stratified: bool
    seed: int
    dev: int
    test: int
    examples: list[int]  # rows drawn as examples (left out of both)


@dataclass
class SweepResults:
    sweep_id: int
    title: str
    status: str
    dataset: str
    dataset_sha256: str
    split: SplitSummary
    cells: list[CellResult]  # the cells prompts are chosen on (development rows, or all rows)
    best: CellResult | None
    pairwise: list[Pairwise]
    sentence: str
    power: Power | None
    test: CellResult | None  # the chosen cell on the test rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "sweep_id": self.sweep_id,
            "title": self.title,
            "status": self.status,
            "dataset": self.dataset,
            "dataset_sha256": self.dataset_sha256,
            "split": asdict(self.split),
            "cells": [c.to_dict() for c in self.cells],
            "best": self.best.to_dict() if self.best else None,
            "pairwise": [p.to_dict() for p in self.pairwise],
            "sentence": self.sentence,
            "power": self.power.to_dict() if self.power else None,
            "test": self.test.to_dict() if self.test else None,
        }

    def describe(self) -> str:
        """The results as plain text (the CLI without --json)."""
        lines = [f"Sweep {self.sweep_id}: {self.title} ({self.status})"]
        if self.split.fraction is not None:
            lines.append(
                f"Prompts chosen on {self.split.dev:,} development rows; the choice reported on "
                f"{self.split.test:,} test rows it never saw (seed {self.split.seed})."
            )
        for cell in self.cells:
            mark = "*" if self.best and cell.position == self.best.position else " "
            lines.append(f"{mark} {_accuracy_text(cell)}  {cell.label}  (run {cell.run_id})")
        for pair in self.pairwise:
            lines.append(
                f"  {pair.b_label} vs the best: p = {pair.p_value:.3g}, after Holm's correction {pair.p_holm:.3g}"
            )
        lines.append(self.sentence)
        if self.test:
            lines.append(f"On the test rows: {_accuracy_text(self.test)}  {self.test.label}  (run {self.test.run_id})")
        return "\n".join(lines)


def _accuracy_text(cell: CellResult) -> str:
    if cell.accuracy is None or cell.ci_low is None or cell.ci_high is None:
        return "     —".ljust(30)
    return f"{cell.accuracy:6.1%} (95% interval {cell.ci_low:.1%} – {cell.ci_high:.1%}, n {cell.n:,})"


def _cell_result(store: RunStore, record: SweepRecord, cell: Cell) -> CellResult:
    spec = record.spec
    scored = correct = 0
    status = "not started"
    if cell.run_id is not None:
        counts = store.counts(cell.run_id)
        scored, correct = int(counts["scored"]), int(counts["correct"])
        status = store.get(cell.run_id).state
    low, high = stats.wilson(correct, scored) if scored else (None, None)
    return CellResult(
        position=cell.position,
        phase=cell.phase,
        rows=PHASE_WORDS[cell.phase],
        label=cell.label(spec),
        prompt=spec.prompts[cell.prompt],
        system=spec.systems[cell.system],
        few_shot=list(record.split.shots[cell.shots]),
        model=spec.models[cell.model].name,
        run_id=cell.run_id,
        status=status,
        n=scored,
        correct=correct,
        accuracy=correct / scored if scored else None,
        ci_low=low,
        ci_high=high,
    )


def _sentence(best: CellResult | None, pairwise: list[Pairwise], n: int) -> str:
    if best is None or best.accuracy is None:
        return "No cell has a scored row yet."
    if not pairwise:
        return f"Only one cell has results: {best.label}, {best.accuracy:.0%} right."
    worse = [p for p in pairwise if p.significant]
    if not worse:
        rows = f"{n:,} {'development ' if best.phase == 'dev' else ''}rows"
        smallest = min(p.p_holm for p in pairwise)
        return (
            f"The differences are within noise: on these {rows} no cell is shown to be worse than the best "
            f"({best.label}, {best.accuracy:.0%}) once Holm's correction for {len(pairwise)} comparison"
            f"{'s' if len(pairwise) != 1 else ''} is made (smallest corrected p = {smallest:.2g})."
        )
    rest = len(pairwise) - len(worse)
    tail = f"; the other {rest} {'cell is' if rest == 1 else 'cells are'} within noise of it." if rest else "."
    names = ", ".join(p.b_label for p in worse)
    return (
        f"{best.label} ({best.accuracy:.0%}) is better than {names} by more than chance would explain "
        f"(Holm-corrected p < {SIGNIFICANCE:g}){tail}"
    )


def _against_best(
    store: RunStore, best: CellResult | None, cells: list[CellResult]
) -> tuple[list[Pairwise], Power | None]:
    """Each other cell against the best (McNemar, then Holm over them all), and the rows that
    would tell the best from the runner-up."""
    if best is None or best.run_id is None:
        return [], None
    compared: list[tuple[CellResult, Comparison]] = [
        (cell, compare(store, best.run_id, cell.run_id))
        for cell in cells
        if cell.position != best.position and cell.run_id is not None and cell.n
    ]
    if not compared:
        return [], None
    adjusted = stats.holm([c.p_value for _cell, c in compared])
    pairwise = [
        Pairwise(best.position, cell.position, best.label, cell.label, c.n_paired, c.only_a, c.only_b, c.p_value, p)
        for (cell, c), p in zip(compared, adjusted, strict=True)
    ]
    runner_up, comparison = max(compared, key=lambda pair: (pair[0].accuracy or 0.0, -pair[0].position))
    n = comparison.n_paired
    needed = stats.mcnemar_rows_needed(comparison.only_a / n, comparison.only_b / n, SIGNIFICANCE, POWER) if n else None
    return pairwise, Power(best.position, runner_up.position, comparison.only_a, comparison.only_b, n, needed)


def results(store: RunStore, sweep_id: int) -> SweepResults:
    record = get(store, sweep_id)
    chosen_on = [c for c in record.cells if c.phase != "test"]
    cells = [_cell_result(store, record, c) for c in chosen_on]
    best_of = best_cell(store, record)
    best = next((c for c in cells if best_of and c.position == best_of.position), None)
    pairwise, power = _against_best(store, best, cells)
    test_cell = next((c for c in record.cells if c.phase == "test"), None)
    n_rows = len(record.split.dev)
    sentence = _sentence(best, pairwise, n_rows)
    if power is not None and best is not None:
        sentence += " " + power_sentence(power, best, next(c for c in cells if c.position == power.b))
    return SweepResults(
        sweep_id=record.id,
        title=record.title,
        status=record.state,
        dataset=Path(record.dataset_path).name,
        dataset_sha256=record.dataset_sha256,
        split=SplitSummary(
            fraction=record.split.fraction,
            stratified=record.split.stratified,
            seed=record.spec.seed,
            dev=len(record.split.dev),
            test=len(record.split.test),
            examples=sorted({i for shot in record.split.shots for i in shot}),
        ),
        cells=cells,
        best=best,
        pairwise=pairwise,
        sentence=sentence,
        power=power,
        test=_cell_result(store, record, test_cell) if test_cell else None,
    )


def power_sentence(power: Power, best: CellResult, second: CellResult) -> str:
    gap = f"{best.label} and {second.label}"
    if power.rows_needed is None:
        return f"{gap} are right equally often here, so no number of rows would tell them apart at this gap."
    have = f"this sweep has {power.n:,}"
    return (
        f"Telling {gap} apart at the gap seen here ({power.only_a} rows only the first got right, {power.only_b} "
        f"only the second) would take about {power.rows_needed:,} rows; {have} (McNemar's test, 5% level, 80% power)."
    )

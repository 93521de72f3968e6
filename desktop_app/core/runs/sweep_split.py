"""A sweep's rows: the development and test split, and the few-shot examples drawn for it.

Prompts are chosen on the development rows; the chosen one is then reported on the test rows,
which no choice ever saw. The split is seeded and stratified by the reference (each label keeps
its share on both sides), so the same seed always gives the same rows. Few-shot examples are
rows too: chosen ones are set aside before the split, drawn ones come from the development rows,
and neither is ever scored (an example shown with its answer would be scored as right).
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from desktop_app.core.errors import HearthError


@dataclass
class FewShot:
    """One choice of few-shot examples: the rows named, or ``k`` drawn from the development rows."""

    rows: list[int] = field(default_factory=list)
    k: int = 0

    @property
    def label(self) -> str:
        if self.rows:
            return "examples " + ", ".join(str(i) for i in self.rows)
        if self.k:
            return f"{self.k} drawn example{'s' if self.k != 1 else ''}"
        return "no examples"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FewShot:
        return cls([int(i) for i in data.get("rows") or []], int(data.get("k") or 0))


@dataclass
class Split:
    """Row indices (0-based, in the dataset): what each cell runs, and what it is shown."""

    dev: list[int]  # the development rows the cells are scored on (examples taken out)
    test: list[int]  # the held-out rows (empty without a split)
    shots: list[list[int]]  # the example rows of each FewShot choice, in its order
    fraction: float | None = None  # the development share asked for (None: no split)
    stratified: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Split:
        return cls(
            [int(i) for i in data["dev"]], [int(i) for i in data["test"]],
            [[int(i) for i in shot] for shot in data["shots"]], data.get("fraction"), bool(data.get("stratified")),
        )  # fmt: skip


def split_rows(
    references: Mapping[int, str], fraction: float, seed: int, stratify: bool = True
) -> tuple[list[int], list[int]]:
    """(development, test) row indices, sorted. Each reference value (when ``stratify``) gets
    ``fraction`` of its rows on the development side, rounded so that the whole side is
    ``round(fraction · n)`` rows (largest remainders first, ties broken by the seed)."""
    if not 0 < fraction < 1:
        raise HearthError(
            f"The development share must be between 0 and 1, not {fraction:g}.",
            "0.5 puts half the rows in each part.",
        )
    n = len(references)
    target = round(fraction * n)
    if target < 1 or target > n - 1:
        raise HearthError(
            f"{n:,} rows cannot be split {fraction:.0%} / {1 - fraction:.0%}: one part would be empty.",
            "Use more rows, or another development share.",
        )
    rng = random.Random(f"hearth-split:{seed}")
    groups: dict[str, list[int]] = defaultdict(list)
    for index in sorted(references):
        groups[references[index].strip() if stratify else ""].append(index)
    keys = sorted(groups)
    for key in keys:
        rng.shuffle(groups[key])
    quota = {key: fraction * len(groups[key]) for key in keys}
    take = {key: math.floor(quota[key]) for key in keys}
    tiebreak = {key: rng.random() for key in keys}
    for key in sorted(keys, key=lambda k: (-(quota[k] - take[k]), tiebreak[k]))[: target - sum(take.values())]:
        take[key] += 1
    dev = sorted(i for key in keys for i in groups[key][: take[key]])
    test = sorted(i for key in keys for i in groups[key][take[key] :])
    return dev, test


def draw_examples(pool: Sequence[int], k: int, seed: int, choice: int) -> list[int]:
    """``k`` rows of ``pool`` for few-shot choice number ``choice``, the same for the same seed."""
    if k > len(pool):
        raise HearthError(
            f"{k} examples cannot be drawn from {len(pool):,} development rows.", "Draw fewer, or use more rows."
        )
    return sorted(random.Random(f"hearth-shots:{seed}:{choice}").sample(sorted(pool), k))


def make_split(
    references: Mapping[int, str],
    n_rows: int,
    shots: Sequence[FewShot],
    fraction: float | None,
    seed: int,
    stratify: bool,
) -> Split:
    """The split of a dataset whose scorable rows have ``references`` (index -> reference)."""
    chosen: set[int] = set()
    for shot in shots:
        for i in shot.rows:
            if not 0 <= i < n_rows:
                raise HearthError(f"There is no row {i} to use as an example: the dataset has {n_rows:,} rows.")
            chosen.add(i)
    population = {i: ref for i, ref in references.items() if i not in chosen}
    test: list[int] = []
    if fraction is None:
        dev = sorted(population)
    else:
        dev, test = split_rows(population, fraction, seed, stratify)
    rows: list[list[int]] = []
    drawn: set[int] = set()
    for number, shot in enumerate(shots):
        picked = list(shot.rows) if shot.rows else draw_examples(dev, shot.k, seed, number) if shot.k else []
        drawn.update(i for i in picked if not shot.rows)
        rows.append(picked)
    dev = [i for i in dev if i not in drawn]
    if not dev:
        raise HearthError("No development row is left to score once the examples are taken out.", "Use more rows.")
    return Split(dev, test, rows, fraction, stratify and fraction is not None)

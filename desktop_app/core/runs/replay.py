"""Replaying a stored run from its manifest, and telling which rows came out the same.

A replay is a new run (``replay_of`` the original) over the same rows, task, model file and
seeds. On the CPU with a fixed seed every row is expected to be identical; the report says
what differs between the two runs' engines and machines when that could explain a difference.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from desktop_app.core.cancel import CancelToken
from desktop_app.core.runs import provenance
from desktop_app.core.runs.generators import RowGenerator
from desktop_app.core.runs.runner import ProgressFn, RunPlan, check_model, plan_for, start
from desktop_app.core.runs.storage import RunStore

MAX_LISTED = 1000  # differing rows listed in a report (all are counted)


@dataclass
class RowDiff:
    id: str
    index: int
    original: str
    replay: str
    original_error: str = ""
    replay_error: str = ""


@dataclass
class ReplayReport:
    original: int
    replay: int  # the new run
    n: int
    identical: int
    n_differed: int
    differed: list[RowDiff] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["run_id"] = self.replay
        return data

    def describe(self) -> str:
        lines = [f"Replayed run {self.original} as run {self.replay}: {self.identical:,} of {self.n:,} rows identical."]
        for diff in self.differed[:20]:
            lines.append(f"  row {diff.id}: {diff.original!r} then, {diff.replay!r} now")
        if self.n_differed > 20:
            lines.append(f"  … and {self.n_differed - 20:,} more")
        lines.extend(f"Note: {note}" for note in self.notes)
        return "\n".join(lines)


def diff_runs(store: RunStore, original: int, replay: int) -> tuple[int, int, list[RowDiff]]:
    """(rows compared, identical rows, the differing ones) of two runs over the same rows."""
    n = identical = 0
    differed: list[RowDiff] = []
    for row, again in store.pairs(original, replay):
        n += 1
        if again is not None and again.output == row.output and again.error == row.error:
            identical += 1
            continue
        if len(differed) < MAX_LISTED:
            differed.append(
                RowDiff(
                    row.key, row.index, row.output, again.output if again else "",
                    row.error, again.error if again else "not replayed",
                )
            )  # fmt: skip
    return n, identical, differed


def replay(
    run_id: int,
    backend: RowGenerator,
    store: RunStore | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> ReplayReport:
    own = store is None
    store = store or RunStore()
    try:
        record = store.get(run_id)
        check_model(record.manifest.model, backend)
        plan = plan_for(store, run_id)
        done = sorted(store.done_indices(run_id))
        plan = RunPlan(plan.dataset, plan.task, plan.examples, done or plan.indices)
        if record.manifest.seed is not None:
            plan.task.sampling.seed = record.manifest.seed
        summary = start(plan, backend, store, progress, cancel, replay_of=run_id)
        n, identical, differed = diff_runs(store, run_id, summary.run_id)
        again = store.get(summary.run_id)
        notes = provenance.differences(record.manifest, again.manifest)
        if again.status != "done":
            notes.insert(0, f"The replay stopped after {again.done:,} of {again.n:,} rows.")
        count = n - identical
        return ReplayReport(run_id, summary.run_id, n, identical, count, differed, notes)
    finally:
        if own:
            store.close()

"""A run's results from its stored rows: accuracy and its 95% interval, invalid and failed rows,
the confusion matrix and per-label precision/recall (label tasks), per-field accuracy (JSON),
and for document questions recall@k, the share of answers citing a source and the share flagged."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from desktop_app.core.runs import stats
from desktop_app.core.runs.storage import RunRecord, RunStore
from desktop_app.core.runs.tasks import Task


@dataclass(frozen=True)
class FieldAccuracy:
    """A JSON run's one field, scored on its own (the ``fields`` scorer)."""

    correct: int
    n: int
    accuracy: float


@dataclass(frozen=True)
class DocumentsSummary:
    """A run answered from documents: how often the answers cite, are flagged, and find the source."""

    collection: str
    k: int | None  # passages retrieved per question
    answered: int
    cited_share: float | None
    flagged_share: float | None
    with_expected_source: int  # rows that name the file that should be found
    recall_at_k: float | None


@dataclass
class Summary:
    run_id: int
    title: str
    status: str
    kind: str
    scorer: str
    n: int  # rows in the run
    done: int
    n_scored: int
    correct: int
    accuracy: float | None
    ci_low: float | None
    ci_high: float | None
    invalid: int  # outputs that are not valid for the kind (0 under a grammar, unless cut off)
    failed: int  # rows that could not be run (recorded with their reason)
    mean_score: float | None
    prompt_tokens: int
    gen_tokens: int
    seconds: float
    labels: list[str] | None = None
    confusion: dict[str, dict[str, int]] | None = None
    per_label: list[stats.LabelStats] | None = None
    per_field: dict[str, FieldAccuracy] | None = None
    documents: DocumentsSummary | None = None

    @property
    def rows_per_s(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rows_per_s"] = round(self.rows_per_s, 3)
        for key in ("confusion", "per_label", "per_field", "documents", "labels"):
            if data[key] is None:
                del data[key]
        return data

    def describe(self) -> str:
        """The summary in a few lines of plain words (the CLI without --json)."""
        lines = [f"Run {self.run_id}: {self.title} — {self.done:,} of {self.n:,} rows ({self.status})"]
        if self.accuracy is not None:
            lines.append(
                f"Accuracy {self.accuracy:.1%} ({self.correct:,} of {self.n_scored:,} scored, {self.scorer}); "
                f"95% interval {self.ci_low:.1%} – {self.ci_high:.1%}"
            )
        else:
            lines.append("No row has a reference, so nothing was scored.")
        lines.append(f"Invalid outputs: {self.invalid:,}   Failed rows: {self.failed:,}")
        if self.per_label:
            lines.append("Per label (precision / recall / support):")
            for entry in self.per_label:
                p = "—" if entry.precision is None else f"{entry.precision:.2f}"
                r = "—" if entry.recall is None else f"{entry.recall:.2f}"
                lines.append(f"  {entry.label:20} {p:>5} / {r:>5} / {entry.support}")
        if self.per_field:
            lines.append("Per field accuracy:")
            for name, scored in self.per_field.items():
                lines.append(f"  {name:20} {scored.accuracy:.1%} of {scored.n}")
        if self.documents:
            d = self.documents
            if d.recall_at_k is not None:
                lines.append(f"Retrieval recall@{d.k}: {d.recall_at_k:.1%} of {d.with_expected_source} rows")
            if d.cited_share is not None:
                lines.append(
                    f"Answers citing a source: {d.cited_share:.1%}; flagged by the citation check: "
                    f"{d.flagged_share or 0.0:.1%}"
                )
        if self.seconds > 0:
            lines.append(f"{self.rows_per_s:.2f} rows/s, {self.gen_tokens:,} tokens generated")
        return "\n".join(lines)


def summarize(store: RunStore, run_id: int, record: RunRecord | None = None) -> Summary:
    record = record or store.get(run_id)
    task = record.task
    counts = store.counts(run_id)
    n_scored, correct = int(counts["scored"]), int(counts["correct"])
    low, high = stats.wilson(correct, n_scored) if n_scored else (None, None)
    scorer = Task.from_dict(record.manifest.task).scorer or task.scorer
    summary = Summary(
        run_id=run_id,
        title=record.title,
        status=record.state,
        kind=record.kind,
        scorer=scorer,
        n=record.n,
        done=int(counts["done"]),
        n_scored=n_scored,
        correct=correct,
        accuracy=correct / n_scored if n_scored else None,
        ci_low=low,
        ci_high=high,
        invalid=int(counts["invalid"]),
        failed=int(counts["failed"]),
        mean_score=None if counts["mean_score"] is None else float(counts["mean_score"]),
        prompt_tokens=int(counts["prompt_tokens"]),
        gen_tokens=int(counts["gen_tokens"]),
        seconds=float(counts["seconds"]),
    )
    if record.kind == "labels":
        labels = [str(label) for label in task.labels]
        canonical = {label.casefold(): label for label in labels}
        pairs: list[tuple[str, str]] = []
        for reference, output, count in store.label_pairs(run_id):
            ref = canonical.get(reference.casefold(), reference)
            pairs.extend([(ref, output if output in labels else output or "(empty)")] * count)
        matrix = stats.confusion(pairs, labels)
        summary.labels = labels
        summary.confusion = matrix
        summary.per_label = stats.per_label(matrix, labels)
    if record.kind == "json" and scorer == "fields":
        totals: dict[str, list[int]] = {}
        for fields in store.field_results(run_id):
            for name, right in fields.items():
                entry = totals.setdefault(name, [0, 0])
                entry[0] += int(bool(right))
                entry[1] += 1
        summary.per_field = {name: FieldAccuracy(c, n, c / n if n else 0.0) for name, (c, n) in totals.items()}
    if task.collection:
        answered, with_source = int(counts["answered"]), int(counts["with_source"])
        summary.documents = DocumentsSummary(
            collection=task.collection,
            k=record.manifest.documents.k if record.manifest.documents else None,
            answered=answered,
            cited_share=counts["cited"] / answered if answered else None,
            flagged_share=counts["flagged"] / answered if answered else None,
            with_expected_source=with_source,
            recall_at_k=counts["source_hits"] / with_source if with_source else None,
        )
    return summary

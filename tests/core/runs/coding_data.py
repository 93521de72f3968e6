"""A stored labels run to code, without a model: its rows as a run would have stored them (the
runner is tested elsewhere; coding reads only what is in SQLite)."""

from __future__ import annotations

import csv
from pathlib import Path

from desktop_app.core.runs.datasets import sha256_of
from desktop_app.core.runs.manifest import MANIFEST_FORMAT, MANIFEST_VERSION, RunManifest
from desktop_app.core.runs.storage import RowResult, RunStore
from desktop_app.core.runs.tasks import Task

LABELS = ["positive", "negative", "mixed"]


def make_run(store: RunStore, folder: Path, outputs: list[str], references: list[str] | None = None) -> int:
    """A done labels run over len(outputs) rows named r0, r1, ... with these model outputs."""
    references = references or outputs
    dataset = folder / "reviews.csv"
    with dataset.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "text", "label"])
        for i, ref in enumerate(references):
            writer.writerow([f"r{i}", f"Review number {i}, rather {ref}.", ref])
    manifest = {"format": MANIFEST_FORMAT, "version": MANIFEST_VERSION}
    task = {"prompt": "Review: {text}\nLabel?", "kind": "labels", "labels": LABELS, "reference": "label"}
    run_id = store.create(
        "reviews", len(outputs), "labels", str(dataset), sha256_of(dataset), "SmolLM2", None, Task.from_dict(task),
        RunManifest.from_dict(manifest),
        status="done",
    )
    store.add_rows(
        run_id,
        (
            RowResult(
                index=i,
                key=f"r{i}",
                inputs={"text": f"Review number {i}, rather {ref}."},
                prompt="…",
                output=out,
                reference=ref,
                valid=out in LABELS,
                correct=out == ref,
                score=float(out == ref),
            )
            for i, (out, ref) in enumerate(zip(outputs, references, strict=True))
        ),
    )
    return run_id

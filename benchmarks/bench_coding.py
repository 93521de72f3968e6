"""Human coding at scale: a key press in the coding window on a 10,000-row run, and the agreement
report (every pair with its bootstrap intervals) over 10,000 rows and three coders.

A key press is timed from the key event to the window having stored the code, moved to the
next row and painted it (events processed, then a grab of the window, so painting is counted).
Coding goes on from half-way through the run, where finding the next row not coded looks past
5,000 coded ones.
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

N = 10_000
KEY_PRESSES = 150
TARGET_MS = 50.0
LABELS = ["positive", "negative", "mixed"]


def _store_run(store: Any) -> int:
    from desktop_app.core.runs.storage import RowResult

    task = {"prompt": "Review: {text}\nLabel?", "kind": "labels", "labels": LABELS, "reference": "label"}
    run_id = store.create("coding scale", N, "labels", "none.csv", "0" * 64, "model", None, task, {}, status="done")
    rng = random.Random(0)
    text = "A review long enough to wrap over a few lines of the coding window, as real ones do. " * 4
    store.add_rows(
        run_id,
        (
            RowResult(i, f"r{i}", {"text": f"{i}: {text}"}, "prompt", rng.choice(LABELS), rng.choice(LABELS), True,
                      None, None)
            for i in range(N)
        ),
    )  # fmt: skip
    return run_id


def _key_presses(store: Any, run_id: int) -> dict[str, Any]:
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from desktop_app.core.runs.coding import CodeStore
    from desktop_app.ui.runs.coding_view import CodingDialog

    app = QApplication.instance() or QApplication([])
    codes = CodeStore(store)
    with store.db:  # half the run coded already (one transaction: setup, not measured)
        coder_id = codes.coder_id("Ann")
        store.db.executemany(
            "INSERT INTO codes (run_id, idx, coder_id, code, skipped, note, source, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, 0, '', 'bench', 0, 0)",
            [(run_id, i, coder_id, LABELS[i % 3]) for i in range(N // 2)],
        )
    started = time.perf_counter()
    dialog = CodingDialog(store, run_id, "Ann")
    dialog.resize(1280, 800)
    dialog.show()
    app.processEvents()
    open_ms = (time.perf_counter() - started) * 1000
    assert dialog.current == N // 2
    keys = [Qt.Key.Key_1, Qt.Key.Key_2, Qt.Key.Key_3]
    code_ms: list[float] = []
    for i in range(KEY_PRESSES):
        started = time.perf_counter()
        QTest.keyClick(dialog, keys[i % 3])
        app.processEvents()
        dialog.grab()
        code_ms.append((time.perf_counter() - started) * 1000)
    back_ms: list[float] = []
    for _ in range(20):
        started = time.perf_counter()
        QTest.keyClick(dialog, Qt.Key.Key_Left)
        app.processEvents()
        dialog.grab()
        back_ms.append((time.perf_counter() - started) * 1000)
    dialog.note.setFocus()
    note_ms: list[float] = []
    for ch in "a note typed key by key":
        started = time.perf_counter()
        QTest.keyClicks(dialog.note, ch)
        app.processEvents()
        note_ms.append((time.perf_counter() - started) * 1000)
    stored = codes.progress(run_id, "Ann")[0]
    dialog.close()
    dialog.deleteLater()
    app.processEvents()

    def summary(values: list[float]) -> dict[str, float]:
        ordered = sorted(values)
        return {
            "median_ms": round(statistics.median(ordered), 2),
            "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 2),
            "max_ms": round(ordered[-1], 2),
        }

    code = summary(code_ms)
    return {
        "rows": N,
        "open_ms": round(open_ms, 1),
        "code_key": code,
        "back_key": summary(back_ms),
        "note_key": summary(note_ms),
        "codes_stored": stored,
        "target_ms": TARGET_MS,
        "meets_target": code["p95_ms"] < TARGET_MS,
    }


def _agreement(store: Any, run_id: int) -> dict[str, Any]:
    from desktop_app.core.runs.coding import CodeStore, agreement

    codes = CodeStore(store)
    rng = random.Random(1)
    truth = [rng.choice(LABELS) for _ in range(N)]
    with store.db:
        for name, keep in (("Bea", 0.8), ("Cy", 0.7)):
            coder_id = codes.coder_id(name)
            store.db.executemany(
                "INSERT OR REPLACE INTO codes (run_id, idx, coder_id, code, skipped, note, source, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, 0, '', 'bench', 0, 0)",
                [(run_id, i, coder_id, t if rng.random() < keep else rng.choice(LABELS)) for i, t in enumerate(truth)],
            )  # fmt: skip
    started = time.perf_counter()
    report = agreement(codes, run_id).to_dict()
    seconds = time.perf_counter() - started
    return {
        "rows": N,
        "raters": report["raters"],
        "pairs": len(report["pairs"]),
        "bootstrap_samples": report["bootstrap"]["samples"],
        "seconds": round(seconds, 3),
    }


def run() -> dict[str, Any]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from desktop_app.core.runs.storage import RunStore

    with tempfile.TemporaryDirectory() as folder:
        store = RunStore(Path(folder) / "coding.db")
        try:
            run_id = _store_run(store)
            return {"key_press": _key_presses(store, run_id), "agreement": _agreement(store, run_id)}
        finally:
            store.close()


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))

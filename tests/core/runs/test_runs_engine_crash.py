"""A dataset run whose engine process is killed (SIGKILL, as the out-of-memory killer does) pauses;
resumed, it holds exactly the rows of one run straight through."""

from __future__ import annotations

import os
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from runs_data import review_rows, write_csv

from desktop_app.core import paths
from desktop_app.core.inference.engine_crash import EngineCrashError
from desktop_app.core.inference.engine_process import EngineProcess
from desktop_app.core.models.fingerprint import sha256_file
from desktop_app.core.runs import runner
from desktop_app.core.runs.generators import LocalGenerator
from desktop_app.core.runs.storage import RunStore
from desktop_app.core.runs.tasks import Task, run_sampling
from desktop_app.core.settings import LoadSettings


@pytest.fixture
def backend(smollm2_path: Path) -> Iterator[LocalGenerator]:
    engine = EngineProcess()
    engine.load(smollm2_path, LoadSettings(n_ctx=1024))
    yield LocalGenerator(engine, sha256_file(smollm2_path))
    engine.unload()


def _rows(run_id: int) -> list[tuple[int, str, int]]:
    db = sqlite3.connect(paths.db_path())
    try:
        return db.execute("SELECT idx, output, seed FROM run_rows WHERE run_id=? ORDER BY idx", (run_id,)).fetchall()
    finally:
        db.close()


def test_a_killed_engine_pauses_the_run_and_resume_gives_the_same_rows(
    tmp_path: Path, backend: LocalGenerator, hearth_home: Path
) -> None:
    path = write_csv(tmp_path / "reviews.csv", review_rows(3))
    task = Task(
        prompt="Review: {text}\nSummarise it in a few words.", reference="label", scorer="contains",
        sampling=run_sampling(temperature=0.9, seed=11, max_tokens=4),
    )  # fmt: skip
    store = RunStore()
    try:
        straight = runner.start(runner.plan_run(path, task), backend, store)
        engine = backend.engine
        assert isinstance(engine, EngineProcess)

        def kill_after_one(progress: runner.RunProgress) -> None:
            if progress.done == 1:
                assert engine.pid is not None
                os.kill(engine.pid, signal.SIGKILL)

        with pytest.raises(EngineCrashError, match="SIGKILL"):
            runner.start(runner.plan_run(path, task), backend, store, kill_after_one)
        killed = max(r.id for r in store.all_runs())
        record = store.get(killed)
        assert record.status == "paused" and record.resumable and "SIGKILL" in record.message
        resumed = runner.resume(killed, backend, store)  # a fresh engine process, the same model
        assert resumed.status == "done"
        assert [r[0] for r in _rows(killed)] == list(range(3))  # none missing, none twice
        assert _rows(killed) == _rows(straight.run_id)
    finally:
        store.close()

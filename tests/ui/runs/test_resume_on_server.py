"""The window's Resume for a run made on a server: the server (Hearth's own, on loopback) went
away mid-run, comes back, and Resume continues the run there — no local model is loaded, no
row is lost or repeated. Twice: at 1280x800, then again at 1024x700."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

from desktop_app.core import paths
from desktop_app.core import settings as settings_store
from desktop_app.core.errors import HearthError
from desktop_app.core.runs import runner
from desktop_app.core.runs.remote_generator import RemoteGenerator
from desktop_app.core.runs.tasks import Task, run_sampling
from desktop_app.core.settings import LoadSettings, RemoteEndpoint, Settings
from tests.core.runs.runs_data import LABEL_PROMPT, LABEL_SYSTEM, review_rows, write_csv
from tests.ui.runs.test_runs_view import RUN_TIMEOUT_MS, runs_section


def stored(run_id: int) -> list[int]:
    db = sqlite3.connect(paths.db_path())
    try:
        return [r[0] for r in db.execute("SELECT idx FROM run_rows WHERE run_id = ? ORDER BY idx", (run_id,))]
    finally:
        db.close()


def test_resume_continues_on_the_server(
    qtbot: Any, make_window: Any, gui_settings: Settings, tmp_path: Path, smollm2_path: Path
) -> None:
    from desktop_app.core.server.model_access import EngineQueue
    from desktop_app.core.server.runner import LocalServer

    config = Settings(load=LoadSettings(n_ctx=1024))
    queue = EngineQueue(config)
    served = tmp_path / "served.db"
    server = LocalServer(queue, "127.0.0.1", 0, None, defaults=lambda: config, db_path=served)
    server.start()
    port = server.port
    endpoint = RemoteEndpoint(id="lab", name="lab", url=f"http://127.0.0.1:{port}", concurrency=1)
    gui_settings.endpoints = [endpoint]
    settings_store.save(gui_settings)
    rows = review_rows()
    data = write_csv(tmp_path / "reviews.csv", rows)
    task = Task(
        prompt=LABEL_PROMPT, system=LABEL_SYSTEM, kind="labels", labels=["positive", "negative"], reference="label",
        sampling=run_sampling(max_tokens=4),
    )  # fmt: skip
    window = make_window()
    view = runs_section(qtbot, window)
    try:
        for width, height in [(1280, 800), (1024, 700)]:
            window.resize(width, height)
            backend = RemoteGenerator.for_endpoint(endpoint, smollm2_path.stem)

            gone = threading.Event()

            def stop_the_server(progress: runner.RunProgress, running: Any = server, gone: Any = gone) -> None:
                if progress.done >= 2 and not gone.is_set():
                    gone.set()
                    running.stop()  # the server goes away mid-run

            try:
                runner.start(runner.plan_run(data, task), backend, None, stop_the_server)
            except HearthError:
                pass
            backend.close()
            run_id = max(r.id for r in view.store.all_runs())
            assert 2 <= len(stored(run_id)) < len(rows)

            server = LocalServer(queue, "127.0.0.1", port, None, defaults=lambda: config, db_path=served)
            server.start()  # back on the same address
            view.refresh_runs(select=run_id)
            assert view.selected_run_id() == run_id
            with qtbot.waitSignal(view.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
                view.resume_selected()
            assert finished.args[0].status == "done"
            assert stored(run_id) == list(range(len(rows)))  # none lost, none twice
            assert window.context.models.model is None  # it ran there, not on a local model
    finally:
        server.stop()
        queue.close()

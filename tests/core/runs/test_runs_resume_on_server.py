"""A run made on a server, from the CLI: the server is added with `hearth servers add`, killed
mid-run (the CLI stops in plain words and says how to continue), started again on the same
address, and `hearth runs resume N` finishes the run on it — no row lost or repeated."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from runs_data import LABEL_PROMPT, LABEL_SYSTEM, review_rows, write_csv

from desktop_app.core.settings import LoadSettings, Settings

REPO = Path(__file__).resolve().parents[3]


def hearth(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HEARTH_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "desktop_app", *args], capture_output=True, text=True, env=env, cwd=REPO,
        timeout=600, check=False,
    )  # fmt: skip


def stored(home: Path) -> list[int]:
    try:
        db = sqlite3.connect(home / "hearth.db", timeout=5)
        try:
            return [r[0] for r in db.execute("SELECT idx FROM run_rows ORDER BY idx")]
        finally:
            db.close()
    except sqlite3.Error:
        return []


def test_a_run_on_a_killed_server_resumes_there(tmp_path: Path, hearth_home: Path, smollm2_path: Path) -> None:
    from desktop_app.core.server.model_access import EngineQueue
    from desktop_app.core.server.runner import LocalServer

    config = Settings(load=LoadSettings(n_ctx=1024))
    queue = EngineQueue(config)
    server = LocalServer(queue, "127.0.0.1", 0, None, defaults=lambda: config, db_path=tmp_path / "served.db")
    server.start()
    port = server.port
    url = f"http://127.0.0.1:{port}"
    try:
        added = hearth("servers", "add", "lab", url, "--concurrency", "1", home=hearth_home)
        assert added.returncode == 0 and "Reached" in added.stdout, added.stderr
        listed = json.loads(hearth("servers", "list", "--json", home=hearth_home).stdout)
        assert [(s["name"], s["url"]) for s in listed] == [("lab", url)]

        rows = review_rows()
        data = write_csv(tmp_path / "reviews.csv", rows)
        env = {**os.environ, "HEARTH_HOME": str(hearth_home)}
        run = subprocess.Popen(
            [sys.executable, "-m", "desktop_app", "run", str(data), "--model", smollm2_path.stem, "--server", "lab",
             "--prompt", LABEL_PROMPT, "--system", LABEL_SYSTEM, "--labels", "positive,negative",
             "--reference", "label", "--max-tokens", "4"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO,
        )  # fmt: skip
        deadline = time.monotonic() + 300
        while len(stored(hearth_home)) < 2 and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.05)
        server.stop()  # the server goes away mid-run
        _, err = run.communicate(timeout=300)
        assert run.returncode == 2, err
        assert "Traceback" not in err and "hearth runs resume 1" in err
        before = stored(hearth_home)
        assert 2 <= len(before) < len(rows)

        server = LocalServer(queue, "127.0.0.1", port, None, defaults=lambda: config, db_path=tmp_path / "served.db")
        server.start()  # back on the same address
        resumed = hearth("runs", "resume", "1", "--json", home=hearth_home)
        assert resumed.returncode == 0, resumed.stderr
        assert json.loads(resumed.stdout)["status"] == "done"
        assert stored(hearth_home) == list(range(len(rows)))  # none lost, none twice
        tested = hearth("servers", "test", "lab", home=hearth_home)
        assert tested.returncode == 0 and smollm2_path.stem in tested.stdout
    finally:
        server.stop()
        queue.close()
    removed = hearth("servers", "remove", "lab", home=hearth_home)
    assert removed.returncode == 0
    refused = hearth("runs", "resume", "1", home=hearth_home)  # done already: nothing to send anywhere
    assert refused.returncode == 0
    missing = hearth("servers", "test", "lab", home=hearth_home)
    assert missing.returncode == 2 and "no server “lab”" in missing.stderr and "Traceback" not in missing.stderr

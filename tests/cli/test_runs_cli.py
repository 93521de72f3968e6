"""`hearth run` and `hearth runs …` as a script uses them: real subprocesses, the real SmolLM2,
files the test writes. A run killed with SIGKILL half-way resumes to the rows of a run straight
through; replay is identical on the CPU; bad datasets are refused with nothing stored."""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

from tests.cli.hearth_cli import MODEL, REVIEWS, TIMEOUT_S, hearth, hearth_env, hearth_json


def write_reviews(path: Path, encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "text", "label"])
        writer.writerows(REVIEWS)
    return path


def _rows_stored(home: Path) -> int:
    db_path = home / "hearth.db"
    if not db_path.exists():
        return 0
    db = sqlite3.connect(db_path, timeout=30)
    try:
        return int(db.execute("SELECT COUNT(*) FROM run_rows").fetchone()[0])
    except sqlite3.OperationalError:  # tables not created yet
        return 0
    finally:
        db.close()


def test_label_run_prints_the_summary_keys(hearth_home: Path, tmp_path: Path) -> None:
    data = write_reviews(tmp_path / "reviews.csv", encoding="utf-16")
    peeked = hearth_json("runs", "peek", str(data), "--rows", "2", home=hearth_home)
    assert (peeked["encoding"], peeked["n_rows"], peeked["columns"]) == ("utf-16", 10, ["id", "text", "label"])
    assert peeked["rows"][1] == {"id": "a2", "text": REVIEWS[1][1], "label": "negative"}
    summary = hearth_json(
        "run", str(data), "--model", MODEL, "--prompt", "Review: {text}\nPositive or negative?",
        "--labels", "positive,negative", "--reference", "label", "--limit", "6", "--ctx", "512", home=hearth_home,
    )  # fmt: skip
    for key in ("run_id", "n", "n_scored", "correct", "accuracy", "ci_low", "ci_high", "invalid", "confusion"):
        assert key in summary
    assert (summary["n"], summary["n_scored"], summary["invalid"]) == (6, 6, 0)
    assert summary["accuracy"] == summary["correct"] / 6
    assert sum(sum(row.values()) for row in summary["confusion"].values()) == 6
    shown = hearth_json("runs", "show", str(summary["run_id"]), home=hearth_home)
    assert [r["id"] for r in shown["rows"]] == ["a1", "a2", "a3", "a4", "a5", "a6"]
    for row in shown["rows"]:
        assert row["output"] in ("positive", "negative")
        assert row["correct"] == (row["output"] == row["reference"])
    assert shown["manifest"]["dataset"]["encoding"] == "utf-16"
    listed = hearth_json("runs", "list", home=hearth_home)
    assert [(r["run_id"], r["n"], r["done"]) for r in listed] == [(summary["run_id"], 6, 6)]


def test_bad_dataset_or_template_exits_2_and_stores_nothing(hearth_home: Path, tmp_path: Path) -> None:
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("id,text\n1,fine\n2,too,many\n", encoding="utf-8")
    out = hearth("run", str(ragged), "--model", MODEL, "--prompt", "{text}", home=hearth_home)
    assert out.returncode == 2 and out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "line 3 has 3 fields but the header has 2 columns" in lines[0]
    data = write_reviews(tmp_path / "reviews.csv")
    out = hearth("run", str(data), "--model", MODEL, "--prompt", "{review}", home=hearth_home)
    assert out.returncode == 2 and "“review”" in out.stderr and "Traceback" not in out.stderr
    assert hearth_json("runs", "list", home=hearth_home) == []
    assert _rows_stored(hearth_home) == 0


RUN_ARGS = (
    "--model", MODEL, "--prompt", "Review: {text}\nDescribe the reviewer's mood in a few words.",
    "--reference", "label", "--scorer", "contains", "--temp", "0.8", "--seed", "7", "--max-tokens", "10",
    "--ctx", "512", "--limit", "8",
)  # fmt: skip


def test_killed_run_resumes_to_the_same_rows_and_replays_identically(hearth_home: Path, tmp_path: Path) -> None:
    data = write_reviews(tmp_path / "reviews.csv")
    straight = hearth_json("run", str(data), *RUN_ARGS, home=hearth_home)
    assert straight["done"] == 8

    child = subprocess.Popen(
        [sys.executable, "-m", "desktop_app", "run", str(data), *RUN_ARGS],
        env=hearth_env(hearth_home), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while _rows_stored(hearth_home) < 8 + 3 and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert child.poll() is None, "the run finished before it could be killed"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    listed = {r["run_id"]: r for r in hearth_json("runs", "list", home=hearth_home)}
    killed = max(listed)
    assert listed[killed]["status"] == "interrupted"
    assert 3 <= listed[killed]["done"] < 8

    resumed = hearth_json("runs", "resume", str(killed), home=hearth_home)
    assert (resumed["done"], resumed["status"]) == (8, "done")
    a = hearth_json("runs", "show", str(straight["run_id"]), home=hearth_home)["rows"]
    b = hearth_json("runs", "show", str(killed), home=hearth_home)["rows"]
    assert [r["index"] for r in b] == list(range(8))  # none missing, none twice
    assert [(r["id"], r["output"], r["seed"]) for r in b] == [(r["id"], r["output"], r["seed"]) for r in a]

    compared = hearth_json("runs", "compare", str(straight["run_id"]), str(killed), home=hearth_home)
    assert (compared["only_a"], compared["only_b"], compared["p_value"]) == (0, 0, 1.0)
    assert compared["a_accuracy"] == compared["b_accuracy"] == straight["accuracy"]

    replayed = hearth_json("runs", "replay", str(straight["run_id"]), home=hearth_home)
    assert (replayed["identical"], replayed["differed"]) == (8, [])

    archive = tmp_path / "run.zip"
    out = hearth("runs", "export", str(straight["run_id"]), "-o", str(archive), home=hearth_home)
    assert out.returncode == 0, out.stderr
    with zipfile.ZipFile(archive) as z:
        assert {"manifest.json", "rows.jsonl", "results.csv", "dataset/reviews.csv"} <= set(z.namelist())
        manifest = json.loads(z.read("manifest.json"))
    assert manifest["summary"]["accuracy"] == straight["accuracy"] and manifest["seed"] == 7


def test_a_run_on_a_server_added_in_settings(tmp_path: Path, hearth_server: Any) -> None:
    """`hearth run --server NAME`: the rows go to Hearth's own server (started by the fixture on
    127.0.0.1), the run records that server and the model it says answered."""
    home = tmp_path / "home"
    home.mkdir()
    # The endpoint and its key are stored the way the CLI process will read them: by a process of
    # its own (a keyring another test set up in this one would not be the CLI's).
    setup = (
        "import sys\n"
        "from desktop_app.core import secrets, settings\n"
        "from desktop_app.core.inference.remote import key_name\n"
        "from desktop_app.core.settings import RemoteEndpoint\n"
        "config = settings.Settings()\n"
        "config.endpoints = [RemoteEndpoint(id='lab', name='Lab box', url=sys.argv[1], has_key=True)]\n"
        "settings.save(config)\n"
        "secrets.put(key_name('lab'), sys.argv[2])\n"
    )
    stored = subprocess.run(
        [sys.executable, "-c", setup, hearth_server.root, hearth_server.key],
        capture_output=True, text=True, env=hearth_env(home), timeout=TIMEOUT_S, check=False,
    )  # fmt: skip
    assert stored.returncode == 0, stored.stderr
    data = write_reviews(tmp_path / "reviews.csv")
    summary = hearth_json(
        "run", str(data), "--server", "lab box", "--model", hearth_server.model_id, "--prompt", "Review: {text}",
        "--labels", "positive,negative", "--reference", "label", "--limit", "4", "--seed", "3", home=home,
    )  # fmt: skip
    assert summary["n"] == 4 and summary["invalid"] == 0
    shown = hearth_json("runs", "show", str(summary["run_id"]), home=home)
    assert [r["output"] in ("positive", "negative") for r in shown["rows"]] == [True] * 4
    model = shown["manifest"]["model"]
    assert (model["kind"], model["endpoint"], model["model_id"]) == ("remote", "Lab box", hearth_server.model_id)
    assert model["url"].startswith("http://127.0.0.1:")
    missing = hearth("run", str(data), "--server", "nowhere", "--model", "x", "--prompt", "{text}", home=home)
    assert missing.returncode == 2 and "no server “nowhere”" in missing.stderr

"""`hearth docs …` and `hearth ask` as a script uses them: real subprocesses, real models."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.documents_fixtures import Indexed


def hearth(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HEARTH_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "desktop_app", *args], capture_output=True, text=True, env=env, timeout=600, check=False
    )


def test_docs_add_list_search_remove_drop(hearth_home: Path, corpus_template: Path, tmp_path: Path) -> None:
    folder = tmp_path / "papers"
    folder.mkdir()
    for name in ("report.pdf", "notes.md"):
        shutil.copy(corpus_template / name, folder / name)
    shutil.copy(corpus_template / "broken" / "locked.pdf", folder / "locked.pdf")

    out = hearth("docs", "add", "Papers", str(folder), "--json", home=hearth_home)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["collection"] == "Papers"
    assert sorted(Path(p).name for p in report["indexed"]) == ["notes.md", "report.pdf"]
    assert report["files_indexed"] == 2 and report["chunks"] >= 4
    assert [(Path(s["path"]).name, "password" in s["reason"]) for s in report["skipped"]] == [("locked.pdf", True)]
    assert "files" in out.stderr  # progress went to stderr

    out = hearth("docs", "search", "Papers", "centrifuge speed for plasma", "--k", "2", "--json", home=hearth_home)
    assert out.returncode == 0, out.stderr
    hits = json.loads(out.stdout)
    assert len(hits) == 2
    assert Path(hits[0]["source"]).name == "report.pdf" and hits[0]["page"] == 2
    assert "4,500 rpm" in hits[0]["text"] and hits[0]["score"] > 0
    assert {h["page"] for h in hits if h["source"].endswith("notes.md")} <= {None}

    out = hearth("docs", "list", "--json", home=hearth_home)
    collections = json.loads(out.stdout)
    assert [(c["name"], c["files"], c["skipped"]) for c in collections] == [("Papers", 2, 1)]

    out = hearth("docs", "remove", "Papers", str(folder / "notes.md"), home=hearth_home)
    assert out.returncode == 0, out.stderr
    out = hearth("docs", "list", "Papers", "--json", home=hearth_home)
    files = {Path(f["path"]).name: f["status"] for f in json.loads(out.stdout)["files"]}
    assert files == {"report.pdf": "indexed", "locked.pdf": "skipped"}

    out = hearth("docs", "drop", "Papers", home=hearth_home)
    assert out.returncode == 0, out.stderr
    out = hearth("docs", "search", "Papers", "anything", home=hearth_home)
    assert out.returncode == 2 and "no document collection" in out.stderr


def test_ask_json_has_answer_and_citations(hearth_home: Path, indexed: Indexed, tmp_path: Path) -> None:
    folder = tmp_path / "one"
    folder.mkdir()
    shutil.copy(indexed.folder / "safety.html", folder / "safety.html")
    assert hearth("docs", "add", "Safety", str(folder), home=hearth_home).returncode == 0
    out = hearth(
        "ask", "Safety", "Where is the fire extinguisher?", "--model", "SmolLM2-135M-Instruct.Q4_1",
        "--temp", "0", "--max-tokens", "40", "--ctx", "2048", "--json", "--inspect", home=hearth_home,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["answer"].strip()
    assert data["citations"], data
    first = data["citations"][0]
    assert Path(first["source"]).name == "safety.html"
    assert first["page"] is None and "fire extinguisher" in first["text"]
    assert set(first) >= {"source", "page", "text", "score", "cited"}
    assert isinstance(first["cited"], bool)
    assert data["inspector"]["prompt"]["tokens"] == data["budget"]["prompt"]

"""`hearth judge …` and `hearth runs methods` as a script uses them: real subprocesses, the real
SmolLM2 as the answering model and as the judge (its mechanics, not its wisdom), a person's
ratings imported from a CSV, and a methods text holding the run's every number."""

from __future__ import annotations

import csv
import json
import sqlite3
import zipfile
from pathlib import Path

from desktop_app.core.runs import stats
from tests.cli.hearth_cli import MODEL, hearth, hearth_json

QUESTIONS = [("q1", "What is the capital of France?", "Paris"), ("q2", "How many legs has a spider?", "eight")]


def test_judge_a_run_compare_two_validate_and_write_the_methods(hearth_home: Path, tmp_path: Path) -> None:
    data = tmp_path / "questions.csv"
    with data.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([("id", "question", "answer"), *QUESTIONS])
    runs = [
        hearth_json(
            "run", str(data), "--model", MODEL, "--prompt", prompt, "--reference", "answer", "--scorer", "contains",
            "--max-tokens", "6", "--ctx", "512", home=hearth_home,
        )["run_id"]
        for prompt in ("Answer in a word: {question}", "{question}")
    ]  # fmt: skip
    rubric = tmp_path / "rubric.txt"
    rubric.write_text("correct | 1-3 | agrees with the reference\n", encoding="utf-8")

    shown = hearth_json("judge", str(runs[0]), "--rubric", str(rubric), "--show-prompt", home=hearth_home)
    assert "{output}" in shown["prompt"] and 'c0 ::= "1" | "2" | "3"' in shown["grammar"]
    report = hearth_json(
        "judge", str(runs[0]), "--model", MODEL, "--rubric", str(rubric), "--ctx", "1024", home=hearth_home
    )
    judge_run = report["run_id"]
    assert (report["mode"], report["judged"], report["done"], report["valid"]) == ("rubric", [runs[0]], 2, 2)
    db = sqlite3.connect(hearth_home / "hearth.db")
    outputs = [json.loads(r[0]) for r in db.execute("SELECT output FROM run_rows WHERE run_id=? ORDER BY idx",
                                                    (judge_run,))]  # fmt: skip
    db.close()
    assert all(set(o) == {"correct"} and o["correct"] in (1, 2, 3) for o in outputs)
    assert report["criteria"][0]["counts"] == {str(v): [o["correct"] for o in outputs].count(v) for v in (1, 2, 3)}

    pairwise = hearth_json(
        "judge", "pairwise", str(runs[0]), str(runs[1]), "--model", MODEL, "--rubric", str(rubric), "--limit", "1",
        "--ctx", "1024", home=hearth_home,
    )  # fmt: skip
    assert (pairwise["mode"], pairwise["n"], pairwise["done"]) == ("pairwise", 2, 2)  # one pair, both orders
    assert pairwise["pairwise"][0]["pairs"] == 1 and pairwise["pairwise"][0]["flips"] in (0, 1)

    # A person rates the same rows: the codebook becomes the scale, their ratings come from a CSV.
    prepared = hearth("judge", "validate", str(judge_run), "--prepare", home=hearth_home)
    assert prepared.returncode == 0 and "Rate these 2 rows" in prepared.stdout, prepared.stderr
    sheet = tmp_path / "ratings.csv"
    with sheet.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([("id", "rating"), ("q1", "3"), ("q2", "1")])
    imported = hearth("runs", "codes", "import", str(runs[0]), str(sheet), "--coder", "Ana", "--column", "rating",
                      home=hearth_home)  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    check = hearth_json("judge", "validate", str(judge_run), "--coder", "Ana", home=hearth_home)
    assert (check["n"], check["verdict"], check["thresholds"]["reliable"]) == (2, "too few", 0.8)
    assert check["percent"]["value"] == sum(o["correct"] == h for o, h in zip(outputs, (3, 1), strict=True)) / 2
    refused = hearth("judge", "validate", str(runs[0]), "--coder", "Ana", home=hearth_home)
    assert refused.returncode == 2 and "not a judge's run" in refused.stderr

    text = hearth("runs", "methods", str(runs[0]), home=hearth_home)
    assert text.returncode == 0, text.stderr
    shown_run = hearth_json("runs", "show", str(runs[0]), home=hearth_home)
    manifest = shown_run["manifest"]
    md = text.stdout
    for needle in (
        manifest["model"]["sha256"], manifest["model"]["template"]["sha256"], manifest["dataset"]["sha256"],
        manifest["model"]["llama_cpp_version"], manifest["model"]["quant"], "Answer in a word: {question}",
        f"run seed {manifest['seed']}", f"judge run {judge_run}", "Checked against Ana",
        "No data left this computer", "@software{hearth",
    ):  # fmt: skip
        assert str(needle) in md, needle
    correct, scored = shown_run["correct"], shown_run["n_scored"]
    low, high = stats.wilson(correct, scored)
    assert f"{correct / scored:.1%} ({correct:,} of {scored:,}; 95% Wilson interval {low:.1%} to {high:.1%})" in md
    out = tmp_path / "methods.md"
    assert hearth("runs", "methods", str(runs[0]), "-o", str(out), home=hearth_home).returncode == 0
    assert out.read_text(encoding="utf-8").strip() == md.strip()
    archive = tmp_path / "run.zip"
    assert hearth("runs", "export", str(runs[0]), "-o", str(archive), home=hearth_home).returncode == 0
    with zipfile.ZipFile(archive) as zf:
        assert zf.read("methods.md").decode("utf-8").strip() == md.strip()

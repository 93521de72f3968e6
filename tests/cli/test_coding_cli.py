"""`hearth runs codes import`, `agreement`, `review` and `adjudicate` as a script uses them (real
subprocesses), on a real run of SmolLM2: the model is a rater named `model`, two coders come from
a CSV's columns, and the numbers printed are the statistics of those codes."""

from __future__ import annotations

import csv
from pathlib import Path

from desktop_app.core.inference.engine import Engine
from desktop_app.core.models.fingerprint import sha256_file
from desktop_app.core.runs import agreement as ag
from desktop_app.core.runs import runner
from desktop_app.core.runs.generators import LocalGenerator
from desktop_app.core.runs.storage import RunStore
from desktop_app.core.runs.tasks import Task, run_sampling
from tests.cli.hearth_cli import REVIEWS, hearth, hearth_json
from tests.cli.test_runs_cli import write_reviews


def test_codes_agreement_review_and_adjudication(
    hearth_home: Path, tmp_path: Path, engine: Engine, smollm2_path: Path
) -> None:
    # The run itself in this process on the session's SmolLM2 (`hearth run` has its own tests);
    # the coding commands then read it from the same data folder.
    data = write_reviews(tmp_path / "reviews.csv")
    task = Task(prompt="Review: {text}\nPositive or negative?", kind="labels", labels=["positive", "negative"],
                reference="label", sampling=run_sampling(max_tokens=4), limit=4)  # fmt: skip
    store = RunStore()
    try:
        summary = runner.start(runner.plan_run(data, task), LocalGenerator(engine, sha256_file(smollm2_path)), store)
        model = {row.key: row.output for row in store.iter_rows(summary.run_id)}
    finally:
        store.close()
    run = str(summary.run_id)
    ids = [rid for rid, _text, _label in REVIEWS[:4]]

    # Two coders in columns of one file, its rows in another order; one empty cell; ids as the run's.
    ann = {rid: label for rid, _text, label in REVIEWS[:4]}
    bea = dict(ann, a3="negative")
    bea["a4"] = ""
    sheet = tmp_path / "coders.csv"
    with sheet.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["review", "ann", "bea"])
        writer.writerows([rid, ann[rid], bea[rid]] for rid in reversed(ids))
    imported = hearth_json(
        "runs", "codes", "import", run, str(sheet), "--coder", "Ann", "--column", "ann", "--id-column", "review",
        home=hearth_home,
    )  # fmt: skip
    assert (imported["coded"], imported["missing"]) == (4, 0)
    out = hearth("runs", "codes", "import", run, str(sheet), "--coder", "Bea", "--column", "bea",
                 "--id-column", "review", home=hearth_home)  # fmt: skip
    assert out.returncode == 0 and "3 codes for Bea; 1 row without one" in out.stdout

    report = hearth_json("runs", "agreement", run, "--samples", "300", home=hearth_home)
    assert [(p["a"], p["b"]) for p in report["pairs"]] == [("model", "Ann"), ("model", "Bea"), ("Ann", "Bea")]
    model_codes = [model[rid] for rid in ids]
    bea_codes = [bea[rid] or None for rid in ids]
    model_bea = report["pairs"][1]
    assert model_bea["n"] == 3
    assert model_bea["percent"]["value"] == ag.percent_agreement(model_codes, bea_codes)
    assert model_bea["cohen_kappa"]["value"] == ag.cohen_kappa(
        [m for m, b in zip(model_codes, bea_codes, strict=True) if b], [b for b in bea_codes if b]
    )
    for key in ("percent", "cohen_kappa", "krippendorff_alpha"):
        assert set(model_bea[key]) == {"value", "ci_low", "ci_high"}
    assert set(report["coders"]) >= {"krippendorff_alpha", "fleiss_kappa"}
    assert report["coders"]["complete"] == 3

    review = hearth_json("runs", "review", run, home=hearth_home)
    disputed = {row["id"] for row in review}
    assert "a3" in disputed  # Ann and Bea differ there, whatever the model said
    out = hearth("runs", "adjudicate", run, "a3", "positive", "--by", "Lead", home=hearth_home)
    assert out.returncode == 0, out.stderr
    out = hearth("runs", "adjudicate", run, "a3", "sideways", home=hearth_home)
    assert out.returncode == 2 and "not in the run's codebook" in out.stderr and "Traceback" not in out.stderr
    after = hearth("runs", "review", run, "--open", home=hearth_home)
    assert after.returncode == 0 and "a3" not in after.stdout

    text = hearth("runs", "agreement", run, "--samples", "50", home=hearth_home)
    assert text.returncode == 0 and "Cohen's kappa" in text.stdout and "Krippendorff's alpha" in text.stdout
    assert "(1 row decided by review)" in text.stdout

"""Human codes in SQLite: saved as given, resumed where coding stopped, imported from a file's
column (all or nothing), disagreements reviewed and adjudicated, the agreement report."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from desktop_app.core.errors import HearthError
from desktop_app.core.runs import agreement as ag
from desktop_app.core.runs.coding import Codebook, CodeStore, agreement, default_codebook
from desktop_app.core.runs.storage import RunStore
from tests.core.runs.coding_data import LABELS, make_run

MODEL_SAYS = ["positive", "negative", "mixed", "positive", "negative", "positive", "mixed", "negative"]


@pytest.fixture
def stores() -> Iterator[tuple[RunStore, CodeStore]]:
    runs = RunStore()
    yield runs, CodeStore(runs)
    runs.close()


def _write(path: Path, header: list[str], rows: list[list[str]], encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_codes_are_kept_as_given_and_coding_resumes_where_it_stopped(
    stores: tuple[RunStore, CodeStore], tmp_path: Path
) -> None:
    runs, codes = stores
    run_id = make_run(runs, tmp_path, MODEL_SAYS)
    assert codes.next_to_code(run_id, "Ann") == 0
    codes.set_note(run_id, 0, "Ann", "sarcas")  # a note typed before the code: saved per keystroke
    codes.set_note(run_id, 0, "Ann", "sarcasm?")
    assert codes.next_to_code(run_id, "Ann") == 0  # a note alone does not finish a row
    codes.set_code(run_id, 0, "Ann", "mixed")
    codes.set_code(run_id, 1, "Ann", "negative")
    codes.skip(run_id, 2, "Ann")
    assert codes.progress(run_id, "Ann") == (3, 8)

    # Another connection (the window closed and opened again) sees all of it.
    again = CodeStore(RunStore())
    try:
        record = again.get(run_id, 0, "Ann")
        assert record is not None and (record.code, record.note, record.done) == ("mixed", "sarcasm?", True)
        skipped = again.get(run_id, 2, "Ann")
        assert skipped is not None and skipped.code is None and skipped.skipped
        assert again.next_to_code(run_id, "Ann") == 3
        # Coding on from the end wraps round to rows left behind.
        again.set_code(run_id, 0, "Ann", None)  # taken back
        assert again.next_to_code(run_id, "Ann", after=7) == 0
        assert again.next_to_code(run_id, "Bea") == 0  # another coder starts at the top
        assert again.coders(run_id) == ["Ann"]
    finally:
        again.runs.close()

    for name in ("", "  ", "model", "Reference", "x" * 61):
        with pytest.raises(HearthError):
            codes.set_code(run_id, 1, name, "positive")
    runs.delete(run_id)  # the codes go with the run
    assert runs.db.execute("SELECT COUNT(*) FROM codes").fetchone()[0] == 0


def test_codes_import_from_a_column_matched_by_row_id(stores: tuple[RunStore, CodeStore], tmp_path: Path) -> None:
    runs, codes = stores
    run_id = make_run(runs, tmp_path, MODEL_SAYS)
    sheet = _write(
        tmp_path / "coders.csv",
        ["row", "ann", "bea"],
        # shuffled, one row the run does not have, an empty cell (a missing code), in UTF-16
        [["r3", "positive", "positive"], ["r0", "positive", ""], ["r9", "mixed", "mixed"],
         ["r1", "negative", "negative"], ["r2", "mixed", "negative"]],
        encoding="utf-16",
    )  # fmt: skip
    report = codes.import_column(run_id, sheet, "Ann", "ann", id_column="row")
    assert (report.coded, report.missing, report.unmatched) == (4, 0, ["r9"])
    report = codes.import_column(run_id, sheet, "Bea", "bea", id_column="row")
    assert (report.coded, report.missing) == (3, 1)
    assert [(r.coder, r.code) for r in codes.row_codes(run_id, 0)] == [("Ann", "positive"), ("Bea", None)]
    assert codes.get(run_id, 3, "Ann").source == "import:coders.csv"  # type: ignore[union-attr]

    # Hostile or wrong files: refused in plain words, nothing stored.
    before = runs.db.execute("SELECT COUNT(*) FROM codes").fetchone()[0]
    bad = _write(tmp_path / "bad.csv", ["id", "code"], [["r0", "positive"], ["r1", "POSITIVE!"]])
    with pytest.raises(HearthError, match="not in the run's codebook"):
        codes.import_column(run_id, bad, "Cy", "code")
    with pytest.raises(HearthError, match="no column"):
        codes.import_column(run_id, bad, "Cy", "nope")
    strangers = _write(tmp_path / "strangers.csv", ["id", "code"], [["x1", "positive"]])
    with pytest.raises(HearthError, match="none of its rows matched"):
        codes.import_column(run_id, strangers, "Cy", "code")
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(HearthError):
        codes.import_column(run_id, tmp_path / "empty.csv", "Cy", "code")
    assert runs.db.execute("SELECT COUNT(*) FROM codes").fetchone()[0] == before


def test_review_and_adjudication_keep_the_original_codes(stores: tuple[RunStore, CodeStore], tmp_path: Path) -> None:
    runs, codes = stores
    references = ["positive", "negative", "positive", "positive", "negative", "negative", "mixed", "negative"]
    run_id = make_run(runs, tmp_path, MODEL_SAYS, references)
    for i, code in enumerate(["positive", "negative", "positive", "positive", "negative", "negative", "mixed", None]):
        codes.set_code(run_id, i, "Ann", code)
    queue = codes.disagreements(run_id)
    # model vs Ann differ on rows 2 (mixed/positive) and 5 (positive/negative); row 7 has one code only
    assert [(d.index, d.key, d.codes) for d in queue] == [
        (2, "r2", {"model": "mixed", "Ann": "positive"}),
        (5, "r5", {"model": "positive", "Ann": "negative"}),
    ]
    report = agreement(codes, run_id, samples=200).to_dict()
    assert report["reference"]["accuracy"]["value"] == pytest.approx(6 / 8)

    codes.adjudicate(run_id, 2, "mixed", note="both readings; mixed wins", decided_by="Lead")
    with pytest.raises(HearthError, match="not in the run's codebook"):
        codes.adjudicate(run_id, 5, "meh")
    with pytest.raises(HearthError, match="no row"):
        codes.adjudicate(run_id, 99, "mixed")
    assert codes.get(run_id, 2, "Ann").code == "positive"  # type: ignore[union-attr]
    assert [d.index for d in codes.disagreements(run_id, include_decided=False)] == [5]
    assert [d.adjudicated for d in codes.disagreements(run_id)] == ["mixed", None]
    assert codes.references(run_id)[2] == "mixed"
    report = agreement(codes, run_id, samples=200).to_dict()
    assert report["reference"]["accuracy"]["value"] == pytest.approx(7 / 8)
    assert report["reference"]["adjudicated"] == 1
    codes.clear_adjudication(run_id, 2)
    assert codes.references(run_id)[2] == "positive"


def test_the_agreement_report_has_every_pair_and_the_coders_together(
    stores: tuple[RunStore, CodeStore], tmp_path: Path
) -> None:
    runs, codes = stores
    run_id = make_run(runs, tmp_path, MODEL_SAYS)
    ann = ["positive", "negative", "mixed", "positive", "negative", "negative", "mixed", "negative"]
    bea = ["positive", "negative", "positive", "positive", None, "negative", "mixed", "negative"]
    cy = ["positive", "mixed", "mixed", "positive", "negative", "negative", None, "negative"]
    for name, column in (("Ann", ann), ("Bea", bea), ("Cy", cy)):
        for i, code in enumerate(column):
            if code is not None:
                codes.set_code(run_id, i, name, code)
    report = agreement(codes, run_id, samples=300, seed=4).to_dict()
    assert report["raters"] == ["model", "Ann", "Bea", "Cy"]
    assert [(p["a"], p["b"]) for p in report["pairs"]] == [
        ("model", "Ann"), ("model", "Bea"), ("model", "Cy"), ("Ann", "Bea"), ("Ann", "Cy"), ("Bea", "Cy"),
    ]  # fmt: skip
    for pair in report["pairs"]:
        assert set(pair) >= {"a", "b", "n", "percent", "cohen_kappa", "krippendorff_alpha", "per_label"}
        for key in ("percent", "cohen_kappa", "krippendorff_alpha"):
            assert set(pair[key]) == {"value", "ci_low", "ci_high"}
    model_bea = report["pairs"][1]
    assert model_bea["n"] == 7
    both = [(m, b) for m, b in zip(MODEL_SAYS, bea, strict=True) if b is not None]
    assert model_bea["percent"]["value"] == pytest.approx(sum(m == b for m, b in both) / 7)
    assert model_bea["cohen_kappa"]["value"] == pytest.approx(ag.cohen_kappa(MODEL_SAYS, bea))
    group = report["coders"]
    assert group["raters"] == ["Ann", "Bea", "Cy"]
    assert group["complete"] == 6  # rows 4 and 6 lack a code
    assert group["krippendorff_alpha"]["value"] == pytest.approx(ag.krippendorff_alpha([ann, bea, cy]))
    assert set(group["fleiss_kappa"]) == {"value", "ci_low", "ci_high"}
    # Seeded: the same report twice.
    assert agreement(codes, run_id, samples=300, seed=4).to_dict()["pairs"] == report["pairs"]
    with pytest.raises(HearthError):
        agreement(codes, run_id, level="ratio")


def test_the_codebook_is_stored_with_the_run_and_checked(stores: tuple[RunStore, CodeStore], tmp_path: Path) -> None:
    runs, codes = stores
    run_id = make_run(runs, tmp_path, MODEL_SAYS)
    book = codes.codebook(run_id)
    assert (book.kind, book.names) == ("labels", LABELS) == ("labels", default_codebook(runs.get(run_id)).names)
    codes.set_codebook(
        run_id,
        Codebook.from_dict({"kind": "labels", "labels": [
            {"name": "positive", "definition": "The reviewer liked it.", "example": "Loved it."},
            {"name": "negative", "definition": "The reviewer did not.", "example": "Dull."},
            "mixed",
        ]}),
    )  # fmt: skip
    again = codes.codebook(run_id)
    assert again.labels[0].definition == "The reviewer liked it." and again.labels[2].name == "mixed"
    assert Codebook.from_dict({"kind": "pass_fail"}).names == ["pass", "fail"]
    bad: Any
    for bad in ([], {"kind": "vibes"}, {"labels": "a,b"}, {"labels": [{"definition": "no name"}]},
                {"labels": ["a", "a"]}, {"labels": []}):  # fmt: skip
        with pytest.raises(HearthError):
            Codebook.from_dict(bad)


def test_codes_travel_as_a_document_into_another_run(stores: tuple[RunStore, CodeStore], tmp_path: Path) -> None:
    runs, codes = stores
    run_id = make_run(runs, tmp_path, MODEL_SAYS)
    codes.set_code(run_id, 0, "Ann", "mixed")
    codes.set_note(run_id, 0, "Ann", "hard one")
    codes.skip(run_id, 1, "Ann")
    codes.adjudicate(run_id, 0, "mixed", decided_by="Lead")
    document = json.loads(json.dumps(codes.to_document(run_id)))
    other = make_run(runs, tmp_path, MODEL_SAYS)
    assert codes.from_document(other, document) == 2
    assert codes.to_document(other)["codes"] == [
        {**c, "updated_at": codes.to_document(other)["codes"][i]["updated_at"]} for i, c in enumerate(document["codes"])
    ]
    assert codes.adjudications(other) == {0: ("mixed", "")}
    hostile = {**document, "codes": [{"index": 999, "coder": "Ann", "code": "mixed"}]}
    with pytest.raises(HearthError, match="row 999"):
        codes.from_document(make_run(runs, tmp_path, MODEL_SAYS), hostile)
    with pytest.raises(HearthError):
        codes.from_document(other, {"format": "something else"})


def test_a_run_archive_carries_the_codes_and_a_bad_codes_file_refuses_it(
    stores: tuple[RunStore, CodeStore], tmp_path: Path
) -> None:
    import zipfile

    from desktop_app.core.runs import exchange

    runs, codes = stores
    run_id = make_run(runs, tmp_path, MODEL_SAYS)
    plain = exchange.export_archive(runs, run_id, tmp_path / "plain.zip")
    assert "codes.json" not in zipfile.ZipFile(plain).namelist()  # nobody coded: nothing added
    codes.set_code(run_id, 0, "Ann", "mixed")
    codes.set_code(run_id, 1, "Ann", "negative")
    codes.adjudicate(run_id, 0, "mixed", decided_by="Lead")
    archive = exchange.export_archive(runs, run_id, tmp_path / "coded.zip")
    with zipfile.ZipFile(archive) as zf:
        inside = json.loads(zf.read("codes.json"))
    assert inside["agreement"]["pairs"][0]["a"] == "model" and len(inside["codes"]) == 2

    imported = exchange.import_archive(runs, archive)
    assert codes.get(imported, 1, "Ann").code == "negative"  # type: ignore[union-attr]
    assert codes.adjudications(imported) == {0: ("mixed", "")}

    hostile = tmp_path / "hostile.zip"
    with zipfile.ZipFile(archive) as src, zipfile.ZipFile(hostile, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "codes.json":
                data = json.dumps({**inside, "codes": [{"index": 5000, "coder": "Ann", "code": "x"}]}).encode()
            dst.writestr(item, data)
    before = len(runs.all_runs())
    with pytest.raises(HearthError, match="row 5000"):
        exchange.import_archive(runs, hostile)
    assert len(runs.all_runs()) == before  # nothing kept of the refused archive


def test_a_rating_scale_is_ordered_and_rates_the_answers(stores: tuple[RunStore, CodeStore], tmp_path: Path) -> None:
    from desktop_app.core.runs.coding import scale_codebook

    runs, codes = stores
    run_id = make_run(runs, tmp_path, MODEL_SAYS)
    codes.set_codebook(run_id, scale_codebook(1, 5))
    for name, column in (("Ann", [5, 4, 2, 5, 1, 3, 3, 4]), ("Bea", [4, 4, 1, 5, 2, 3, 2, 4])):
        for i, score in enumerate(column):
            codes.set_code(run_id, i, name, str(score))
    report = agreement(codes, run_id, samples=100).to_dict()
    assert report["level"] == "ordinal"  # a scale's codes are ordered unless said otherwise
    assert report["raters"] == ["Ann", "Bea"]  # the model's answers are what is rated, not a rater
    ann = ["5", "4", "2", "5", "1", "3", "3", "4"]
    bea = ["4", "4", "1", "5", "2", "3", "2", "4"]
    assert report["pairs"][0]["cohen_kappa"]["value"] == pytest.approx(
        ag.cohen_kappa(ann, bea, "linear", order=[str(v) for v in range(1, 6)])
    )
    alpha = report["pairs"][0]["krippendorff_alpha"]["value"]
    assert alpha == pytest.approx(ag.krippendorff_alpha([ann, bea], "ordinal"))
    interval = agreement(codes, run_id, "interval", samples=100).pairs[0].krippendorff_alpha.value
    assert interval == pytest.approx(ag.krippendorff_alpha([ann, bea], "interval"))

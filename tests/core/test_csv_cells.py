"""CSV cells a spreadsheet would run as formulas get a leading apostrophe, in every CSV Hearth
writes (dataset runs: tests/cli/test_runs_import_hostile.py; the quantisation lab here)."""

from __future__ import annotations

import csv
import io

from desktop_app.core.csv_cells import FORMULA_STARTS, safe_cell, safe_row


def test_formula_starts_get_an_apostrophe_and_the_rest_is_untouched() -> None:
    for start in FORMULA_STARTS:
        assert safe_cell(f"{start}HYPERLINK(1)") == f"'{start}HYPERLINK(1)"
    assert safe_row(["plain", "", "'quoted", " =after a space", -2, 3.5, None, True]) == [
        "plain", "", "'quoted", " =after a space", -2, 3.5, None, True,
    ]  # fmt: skip


def test_the_quantisation_lab_csv_has_no_live_formula() -> None:
    from desktop_app.core.quantlab.results import CompareSettings, ComparisonRun, VariantResult
    from desktop_app.core.quantlab.saved import to_csv

    hostile = '=HYPERLINK("http://attacker.example","x")'
    result = VariantResult(
        path=f"/models/{hostile}.gguf", name=hostile, sha256="0" * 64, quant="@Q4", bits_per_weight=4.5, size_bytes=1
    )
    run = ComparisonRun(CompareSettings(), "text", "0" * 64, 10, "exact", [result], {})
    rows = list(csv.DictReader(io.StringIO(to_csv(run))))
    assert rows[0]["name"] == "'" + hostile and rows[0]["quant"] == "'@Q4"
    assert all(not str(v).startswith(FORMULA_STARTS) for v in rows[0].values())

"""Reading datasets: real files in several formats and encodings, and the broken ones refused."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from runs_data import review_rows, write_csv, write_jsonl

from desktop_app.core.errors import HearthError
from desktop_app.core.runs.datasets import open_dataset


@pytest.mark.parametrize(
    ("encoding", "delimiter", "expected_format"),
    [("utf-8", ",", "csv"), ("cp1252", ";", "csv"), ("utf-16", "\t", "tsv")],
)
def test_csv_encodings_and_delimiters_are_detected(
    tmp_path: Path, encoding: str, delimiter: str, expected_format: str
) -> None:
    path = write_csv(tmp_path / "reviews.csv", encoding=encoding, delimiter=delimiter)
    dataset = open_dataset(path)
    assert dataset.format == expected_format
    assert dataset.delimiter == delimiter
    assert dataset.encoding.replace("_", "-").lower() in (encoding, "windows-1252", "cp1252")
    assert dataset.columns == ["id", "text", "label", "stars", "film"]
    assert dataset.n_rows == 8
    assert dataset.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert dataset.id_column == "id"
    rows = list(dataset.rows())
    assert [i for i, _ in rows] == list(range(8))
    assert rows[0][1] == review_rows()[0]  # "Amélie" survives the legacy code page
    assert dataset.row_key(0, rows[0][1]) == "r1"


def test_quoted_delimiters_and_newlines_stay_in_their_cell(tmp_path: Path) -> None:
    path = tmp_path / "quoted.csv"
    path.write_text('text,label\n"one, two\nthree",a\n"plain",b\n', encoding="utf-8")
    dataset = open_dataset(path)
    assert dataset.n_rows == 2
    assert dataset.id_column is None
    first = next(dataset.rows())[1]
    assert first == {"text": "one, two\nthree", "label": "a"}
    assert dataset.row_key(1, {}) == "1"  # no id column: the row's index


def test_jsonl_keeps_each_rows_own_keys(tmp_path: Path) -> None:
    rows: list[dict[str, object]] = [{"id": 7, "text": "hello", "n": 2.0}, {"text": "no id here", "flag": True}]
    dataset = open_dataset(write_jsonl(tmp_path / "rows.jsonl", rows))
    assert dataset.format == "jsonl"
    assert dataset.columns == ["id", "text", "n", "flag"]
    read = [row for _, row in dataset.rows()]
    assert read == [{"id": "7", "text": "hello", "n": "2"}, {"text": "no id here", "flag": "true"}]
    assert dataset.row_key(1, read[1]) == "1"


def test_xlsx_first_sheet(tmp_path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["id", "text", "stars"])
    sheet.append(["a", "Fine", 4])
    sheet.append([None, None, None])  # a blank row in the middle is skipped
    sheet.append(["b", "Bad", 1.0])
    path = tmp_path / "reviews.xlsx"
    book.save(path)
    dataset = open_dataset(path)
    assert (dataset.format, dataset.columns, dataset.n_rows) == ("xlsx", ["id", "text", "stars"], 2)
    assert [row for _, row in dataset.rows()] == [
        {"id": "a", "text": "Fine", "stars": "4"},
        {"id": "b", "text": "Bad", "stars": "1"},
    ]


def _refused(path: Path) -> str:
    with pytest.raises(HearthError) as caught:
        open_dataset(path)
    return str(caught.value)


def test_broken_datasets_are_refused_in_plain_words(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert "empty" in _refused(empty)
    header_only = tmp_path / "header.csv"
    header_only.write_text("id,text\n", encoding="utf-8")
    assert "no rows" in _refused(header_only)
    binary = tmp_path / "data.csv"
    binary.write_bytes(bytes(range(256)) * 4)
    assert "binary" in _refused(binary)
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("id,text,label\n1,good,positive\n2,bad\n", encoding="utf-8")
    message = _refused(ragged)
    assert "line 3 has 2 fields but the header has 3 columns" in message
    twice = tmp_path / "twice.csv"
    twice.write_text("text,text\na,b\n", encoding="utf-8")
    assert "appears twice" in _refused(twice)
    bad_json = tmp_path / "bad.jsonl"
    bad_json.write_text('{"text": "ok"}\n{"text": oops}\n', encoding="utf-8")
    assert "line 2 is not valid JSON" in _refused(bad_json)
    not_objects = tmp_path / "list.jsonl"
    not_objects.write_text(json.dumps({"a": 1}) + "\n[1, 2]\n", encoding="utf-8")
    assert "line 2 is not a JSON object" in _refused(not_objects)
    zipped = tmp_path / "book.xlsx"
    zipped.write_bytes(b"PK\x03\x04 not really a workbook")
    assert "not a readable XLSX" in _refused(zipped)
    assert "no file" in _refused(tmp_path / "missing.csv")
    assert "folder" in _refused(tmp_path)

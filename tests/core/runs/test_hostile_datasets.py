"""Spreadsheets built to hurt: an XLSX that declares A1:XFD1048576 (17 billion cells) or jumps to
row 1,048,576 is read by the rows it really holds; a truncated or damaged workbook is refused
in plain words; a zip bomb is refused before it is inflated."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest

from desktop_app.core.errors import HearthError
from desktop_app.core.runs.datasets import open_dataset


def _workbook(path: Path, rows: int = 3) -> Path:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["id", "text", "label"])
    for i in range(rows):
        sheet.append([f"r{i}", f"row {i}", "yes" if i % 2 else "no"])
    book.save(path)
    return path


def _rewrite_sheet(path: Path, change: object) -> Path:
    out = path.with_name("hostile-" + path.name)
    with zipfile.ZipFile(path) as old, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            data = old.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = change(data.decode("utf-8")).encode("utf-8")  # type: ignore[operator]
            new.writestr(info.filename, data)
    return out


def test_a_declared_dimension_of_the_whole_sheet_reads_only_the_rows_present(tmp_path: Path) -> None:
    def hostile(xml: str) -> str:
        xml = re.sub(r'<dimension ref="[^"]*"/>', '<dimension ref="A1:XFD1048576"/>', xml)
        last = '<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>far away</t></is></c></row>'
        return xml.replace("</sheetData>", last + "</sheetData>")

    path = _rewrite_sheet(_workbook(tmp_path / "data.xlsx"), hostile)
    dataset = open_dataset(path)
    assert dataset.columns == ["id", "text", "label"]
    assert dataset.n_rows == 4  # three rows and the far one, not a million
    rows = [row for _i, row in dataset.rows()]
    assert rows[0] == {"id": "r0", "text": "row 0", "label": "no"}
    assert rows[-1] == {"id": "", "text": "", "label": ""}  # its only cell is past the columns


def test_a_truncated_workbook_is_refused_in_plain_words(tmp_path: Path) -> None:
    path = _workbook(tmp_path / "data.xlsx", rows=200)
    cut = tmp_path / "cut.xlsx"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(HearthError) as caught:
        open_dataset(cut)
    assert "cannot be used as a dataset" in caught.value.message


def test_a_damaged_sheet_is_refused_in_plain_words(tmp_path: Path) -> None:
    path = _rewrite_sheet(_workbook(tmp_path / "data.xlsx"), lambda xml: xml[: len(xml) * 2 // 3])
    with pytest.raises(HearthError) as caught:
        open_dataset(path)
    assert "damaged" in caught.value.message and "Traceback" not in str(caught.value)


def test_a_workbook_that_inflates_past_the_limit_is_refused(tmp_path: Path) -> None:
    from desktop_app.core import safe_zip

    path = _workbook(tmp_path / "data.xlsx")
    with zipfile.ZipFile(path, "a") as archive:
        info = zipfile.ZipInfo("xl/media/huge.bin")
        info.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(info, "w", force_zip64=True) as out:
            block = b"\0" * (1024 * 1024)
            for _ in range(safe_zip.MEMBER_LIMIT // len(block) + 1):
                out.write(block)
    assert path.stat().st_size < 2 * 1024 * 1024
    with pytest.raises(HearthError) as caught:
        open_dataset(path)
    assert "huge.bin" in caught.value.message

"""Scanned PDF pages read by text recognition (RapidOCR, offline): pages made from known text
(rendered with Pillow at 300 dpi, put on a PDF page with fpdf2), indexed by the real pipeline
with the real embedder and Chroma, found by search, with the characters checked."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from benchmarks.bench_rag_ocr import character_accuracy
from desktop_app.core.cancel import CancelToken
from desktop_app.core.errors import Cancelled
from desktop_app.core.rag import ingest, ocr, ocr_switch, retrieve, source_text
from desktop_app.core.rag.documents_settings import RagSettings
from desktop_app.core.rag.pdf_render import render_page
from desktop_app.core.rag.store import DocumentStore

pytestmark = pytest.mark.skipif(not ocr.available(), reason="rapidocr-onnxruntime is not installed")

SCANS = [
    ["The cryostat is kept at minus 196 degrees.", "Order 4471-K covers the liquid helium."],
    ["Spectrometer calibration uses the neon lamp.", "Check the slit width every Monday morning."],
]
DPI = 300
PAGE_MM = (210.0, 50.0)  # a strip of an A4 page: few pixels to recognise, quick tests


def scan_image(lines: list[str], size: int = 46, blur: float = 0) -> Any:
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    width, height = (round(mm / 25.4 * DPI) for mm in PAGE_MM)
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(_font(), size)  # 46: about 11 pt at 300 dpi
    for i, line in enumerate(lines):
        draw.text((150, 120 + i * 90), line, fill=0, font=font)
    return image.filter(ImageFilter.GaussianBlur(blur)) if blur else image


def _font() -> str:
    import glob

    import PIL

    found = glob.glob("/usr/share/fonts/**/DejaVuSans.ttf", recursive=True)
    found += glob.glob(str(Path(PIL.__file__).parent.parent / "**" / "DejaVuSans.ttf"), recursive=True)
    if not found:
        pytest.skip("no DejaVu Sans font to draw the scans with")
    return found[0]


def write_scanned_pdf(path: Path, pages: list[list[str]], blurred: tuple[int, ...] = ()) -> Path:
    """A PDF whose pages are pictures of text only (no text layer); pages in ``blurred`` (1-based)
    are small and out of focus, a scan hard to read."""
    from fpdf import FPDF

    pdf = FPDF(unit="mm", format=PAGE_MM)
    for i, lines in enumerate(pages):
        image_path = path.with_name(f"{path.stem}-{i}.png")
        image = scan_image(lines, 30, 4.6) if i + 1 in blurred else scan_image(lines)
        image.save(image_path, dpi=(DPI, DPI))
        pdf.add_page()
        pdf.image(str(image_path), x=0, y=0, w=PAGE_MM[0], h=PAGE_MM[1])
        image_path.unlink()
    pdf.output(str(path))
    return path


def test_scanned_pages_are_recognised_indexed_and_found(tmp_path: Path, embedder: Any) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    write_scanned_pdf(docs / "scan.pdf", SCANS)
    store = DocumentStore()
    ingest.create_collection(store, "scans", RagSettings())
    phases: list[str] = []
    report = ingest.add_paths(store, "scans", [docs], progress=lambda p: phases.append(p.ocr))
    assert [Path(p).name for p in report.indexed] == ["scan.pdf"], report.skipped
    assert any("recognising page 2 of 2" in note for note in phases)
    (note,) = [n.reason for n in report.notes]
    assert "read by text recognition (OCR)" in note and "poorly" not in note
    # The text read matches what was drawn, character by character.
    info = store.collection("scans")
    texts = {}
    for _, metadatas, documents in store.iter_chunks(info):
        texts.update({meta["page"]: text for meta, text in zip(metadatas, documents, strict=True)})
    for page, lines in enumerate(SCANS, start=1):
        accuracy = character_accuracy(" ".join(lines), texts[page])
        assert accuracy >= 0.98, (page, texts[page], accuracy)
    # Search finds it, on its page, marked as recognised text with its confidence.
    hit = retrieve.search(store, ["scans"], "Which order covers the liquid helium?").hits[0]
    assert (hit.name, hit.page) == ("scan.pdf", 1) and "4471-K" in hit.text
    assert hit.ocr_confidence is not None and 0.9 <= hit.ocr_confidence <= 1.0
    hit = retrieve.search(store, ["scans"], "neon lamp calibration").hits[0]
    assert hit.page == 2 and hit.ocr_confidence is not None
    # The viewer opens the scanned page with the recognised passage highlighted (the OCR boxes).
    rendered = render_page(hit.source, 2, ["Check the slit width every Monday morning."], width_px=840)
    ((box,),) = rendered.boxes
    assert "slit width" in rendered.text
    left, top, right, bottom = box
    drawn_top = (120 + 90) / (PAGE_MM[1] / 25.4 * DPI)  # where the second line was drawn, as a share of the page
    assert 0 < left < right <= rendered.width and top < bottom <= rendered.height
    assert abs(top / rendered.height - drawn_top) < 0.05


def test_ocr_switched_off_per_collection(tmp_path: Path, embedder: Any) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    write_scanned_pdf(docs / "scan.pdf", SCANS[:1])
    store = DocumentStore()
    info = ingest.create_collection(store, "no-ocr", RagSettings())
    assert ocr_switch.ocr_enabled(store, info)
    ocr_switch.set_ocr_enabled(store, info, False)
    report = ingest.add_paths(store, "no-ocr", [docs])
    assert not report.indexed and "no text layer" in report.skipped[0].reason
    assert not ocr_switch.ocr_enabled(store, info)
    # Switched on again: the scan, skipped before, is read at the next run.
    ocr_switch.set_ocr_enabled(store, info, True)
    report = ingest.index_collection(store, "no-ocr")
    assert [Path(p).name for p in report.indexed] == ["scan.pdf"]


def test_recognising_resumes_after_a_stop_without_reading_a_page_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEARTH_OCR_CACHE", str(tmp_path / "ocr-cache"))  # this test's own, to count reads
    path = write_scanned_pdf(tmp_path / "scan.pdf", SCANS)
    read: list[int] = []
    real = ocr.recognise_image

    def counted(image: Any, page: int = 1) -> ocr.OcrPage:  # the real recogniser, counted
        read.append(page)
        return real(image, page)

    monkeypatch.setattr(ocr, "recognise_image", counted)
    cancel = CancelToken()

    def stop_after_first(done: int, total: int) -> None:
        if done == 1:
            cancel.cancel()

    with pytest.raises(Cancelled):
        ocr.recognise_pdf_pages(path, [1, 2], cancel, stop_after_first)
    assert read == [1]
    pages = ocr.recognise_pdf_pages(path, [1, 2])
    assert read == [1, 2]  # page 1 came from the cache
    assert [p.page for p in pages] == [1, 2] and "4471-K" in pages[0].text
    assert all(0 < line.box[0] < line.box[2] <= 1 and 0 < line.box[1] < line.box[3] <= 1 for line in pages[1].lines)
    # A damaged cache entry is recognised again, not trusted.
    cache = ocr.PageCache(ocr.cache_folder(), ocr.file_hash(path))
    (cache.folder / "2.json").write_text("{", encoding="utf-8")
    assert ocr.recognise_pdf_pages(path, [2])[0].text == pages[1].text
    assert read == [1, 2, 2]


def test_a_page_recognised_poorly_is_reported(tmp_path: Path) -> None:
    from desktop_app.core.rag.parsers import parse

    path = write_scanned_pdf(tmp_path / "mixed.pdf", SCANS, blurred=(2,))
    doc = parse(path, ocr.OcrRequest())
    assert doc.ocr[1] >= 0.9 and doc.ocr.get(2, 0.0) < ocr.POOR_CONFIDENCE
    notes = " ".join(doc.notes)
    assert "read by text recognition (OCR)" in notes
    assert "Page 2 was recognised poorly" in notes and "Page 1 was" not in notes


# -- picture files (PNG, JPEG, TIFF) added directly ------------------------------------------------


def test_a_tiff_is_read_page_by_page_and_shown_with_the_passage_boxed(tmp_path: Path) -> None:
    from desktop_app.core.rag.parsers import kind_for, parse

    path = tmp_path / "letters.tiff"
    first, second = scan_image(SCANS[0]), scan_image(SCANS[1])
    first.save(path, save_all=True, append_images=[second], compression="tiff_lzw", dpi=(DPI, DPI))
    assert kind_for(path) == "picture"
    pages: list[tuple[int, int]] = []
    doc = parse(path, ocr.OcrRequest(progress=lambda done, total: pages.append((done, total))))
    assert doc.kind == "picture" and doc.pages == 2 and [b.page for b in doc.blocks] == [1, 2]
    assert pages == [(0, 2), (1, 2), (2, 2)]
    for block, lines in zip(doc.blocks, SCANS, strict=True):
        assert character_accuracy(" ".join(lines), block.text) >= 0.98, block.text
    assert set(doc.ocr) == {1, 2} and min(doc.ocr.values()) >= 0.9
    assert "Pages 1, 2 were read by text recognition (OCR)" in " ".join(doc.notes)
    # The viewer shows the picture's second page with the recognised line boxed where it was drawn.
    rendered = render_page(path, 2, ["Check the slit width every Monday morning."], width_px=840)
    assert (rendered.pages, rendered.width, rendered.channels) == (2, 840, 3)
    assert len(rendered.pixels) == rendered.stride * rendered.height and "slit width" in rendered.text
    ((box,),) = rendered.boxes
    assert abs(box[1] / rendered.height - (120 + 90) / first.height) < 0.05


def test_a_photographed_page_as_jpeg_is_read_once_and_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from desktop_app.core.rag.parsers import UnreadableDocument, parse

    monkeypatch.setenv("HEARTH_OCR_CACHE", str(tmp_path / "ocr-cache"))  # this test's own, to count reads
    path = tmp_path / "notice.jpg"
    scan_image(SCANS[0]).save(path, quality=90)
    read: list[int] = []
    real = ocr.recognise_image

    def counted(image: Any, page: int = 1) -> ocr.OcrPage:  # the real recogniser, counted
        read.append(page)
        return real(image, page)

    monkeypatch.setattr(ocr, "recognise_image", counted)
    cancel = CancelToken()
    cancel.cancel()
    with pytest.raises(Cancelled):  # stopped before its page: nothing read, nothing kept
        parse(path, ocr.OcrRequest(cancel))
    doc = parse(path, ocr.OcrRequest())
    assert [b.page for b in doc.blocks] == [1] and "4471-K" in doc.blocks[0].text
    assert doc.notes == [f"The picture was read by text recognition (OCR), confidence {doc.ocr[1]:.0%}."]
    assert parse(path, ocr.OcrRequest()).blocks[0].text == doc.blocks[0].text
    assert read == [1]  # the second time from the cache
    with pytest.raises(UnreadableDocument) as caught:  # OCR switched off: said, with where to switch it on
        parse(path)
    assert "text recognition (OCR) is switched off" in caught.value.message and "Settings" in caught.value.hint


def test_a_picture_in_a_collection_is_read_found_and_switched_off(tmp_path: Path, embedder: Any) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    scan_image(SCANS[1]).save(docs / "whiteboard.png")
    store = DocumentStore()
    info = ingest.create_collection(store, "pictures", RagSettings())
    ocr_switch.set_ocr_enabled(store, info, False)
    report = ingest.add_paths(store, "pictures", [docs])
    assert not report.indexed and not report.ignored
    (skipped,) = report.skipped
    assert "picture" in skipped.reason and "text recognition (OCR) is switched off" in skipped.reason
    # Switched on: the picture skipped before is read at the next run, with progress, and found at its page.
    ocr_switch.set_ocr_enabled(store, info, True)
    phases: list[str] = []
    report = ingest.index_collection(store, "pictures", progress=lambda p: phases.append(p.ocr))
    assert [Path(p).name for p in report.indexed] == ["whiteboard.png"], report.skipped
    assert any("recognising page 1 of 1 of whiteboard.png" in phase for phase in phases)
    hit = retrieve.search(store, ["pictures"], "How is the spectrometer calibrated?").hits[0]
    assert (hit.name, hit.page) == ("whiteboard.png", 1) and "neon lamp" in hit.text
    assert hit.ocr_confidence is not None and hit.ocr_confidence >= 0.9


def test_the_switch_from_the_command_line_is_kept_with_the_collection(hearth_home: Path, tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    def hearth(*args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "HEARTH_HOME": str(hearth_home)}
        command = [sys.executable, "-m", "desktop_app", "docs", *args]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, check=False)

    empty = tmp_path / "nothing-yet"
    empty.mkdir()
    out = hearth("add", "Letters", str(empty), "--no-ocr")  # a new collection, made without OCR
    assert out.returncode == 0, out.stderr
    out = hearth("ocr", "Letters", "--json")
    assert out.returncode == 0 and json.loads(out.stdout) == {"collection": "Letters", "ocr": False}, out.stderr
    out = hearth("ocr", "Letters", "on")
    assert out.returncode == 0, out.stderr
    assert "for “Letters” is on" in out.stdout and "hearth docs sync Letters" in out.stdout
    store = DocumentStore()
    assert ocr_switch.ocr_enabled(store, store.collection("Letters"))  # what the window reads too
    out = hearth("ocr", "Nowhere", "off")
    assert out.returncode != 0 and "Nowhere" in out.stderr and "Traceback" not in out.stderr


def test_pictures_inside_word_and_opendocument_files_are_read_after_their_paragraph(tmp_path: Path) -> None:
    import io
    import zipfile

    import docx
    from PIL import Image

    from desktop_app.core.rag.parsers import parse

    picture = tmp_path / "whiteboard.png"
    scan_image(SCANS[1]).save(picture)  # the same bytes as the collection test's: recognised once (the cache)
    icon = tmp_path / "icon.png"
    Image.new("L", (24, 24), 0).save(icon)  # too small to hold text: never sent to the recogniser
    document = docx.Document()
    document.add_paragraph("The calibration notes are on the whiteboard.")
    document.add_picture(str(picture))
    document.add_picture(str(icon))
    document.add_paragraph("End of the notes.")
    document.save(str(tmp_path / "notes.docx"))

    data = picture.read_bytes()
    content = (
        '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"'
        ' xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"'
        ' xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" xmlns:xlink="http://www.w3.org/1999/xlink">'
        "<office:body><office:text><text:p>The calibration notes are on the whiteboard."
        '<draw:frame><draw:image xlink:href="Pictures/board.png"/></draw:frame></text:p>'
        '<text:p><draw:frame><draw:image xlink:href="https://example.org/tracker.png"/></draw:frame></text:p>'
        "<text:p>End of the notes.</text:p></office:text></office:body></office:document-content>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        archive.writestr("content.xml", content)
        archive.writestr("Pictures/board.png", data)
    (tmp_path / "notes.odt").write_bytes(buffer.getvalue())

    for name in ("notes.docx", "notes.odt"):
        doc = parse(tmp_path / name, ocr.OcrRequest())
        text = doc.blocks[0].text
        before, recognised, after = (part.strip() for part in text.split("\n\n")[:3])
        assert before == "The calibration notes are on the whiteboard." and after == "End of the notes.", text
        assert character_accuracy(" ".join(SCANS[1]), recognised) >= 0.98, recognised
        assert doc.notes and doc.notes[0].startswith("Text in 1 picture inside it was read by text recognition"), doc
        # Without OCR (switched off for the collection) the pictures are left as they were.
        assert "neon lamp" not in parse(tmp_path / name).blocks[0].text
        # The viewer shows the file as indexed, the picture's text from the cache, the cited passage in it.
        shown = source_text.load(tmp_path / name, recognised, text.index(recognised), "slit width")
        assert shown.chunk is not None and shown.passage is not None and not shown.note
        assert shown.text[shown.passage[0] : shown.passage[1]] == "slit width"


def photo_image() -> Any:
    """A photo-like picture with no writing in it: a sky fading to the horizon, a sun, hills, a lake."""
    from PIL import Image, ImageDraw

    width, height = 600, 400
    image = Image.new("RGB", (width, height), (70, 120, 60))
    draw = ImageDraw.Draw(image)
    for y in range(240):
        shade = 120 + y // 2
        draw.line([(0, y), (width, y)], fill=(shade // 2, shade * 3 // 4, 235))
    draw.ellipse((420, 45, 490, 115), fill=(255, 226, 120))
    draw.polygon([(0, 215), (130, 150), (260, 210), (400, 140), (600, 220), (600, 400), (0, 400)], fill=(70, 120, 60))
    draw.ellipse((100, 280, 450, 370), fill=(60, 110, 160))
    return image


def test_pictures_with_no_text_are_left_out_quietly_not_as_failures(
    tmp_path: Path, embedder: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder of photos and scans: a photo in which recognition finds no text is recorded (not read
    again until it changes) and reported apart from a file that really could not be read."""
    from desktop_app.cli.docs import _print_report, cmd_list
    from desktop_app.core.rag.parsers.pictures import NO_TEXT, found_no_text

    docs = tmp_path / "holiday"
    docs.mkdir()
    scan_image(SCANS[0]).save(docs / "receipt.png")
    photo_image().save(docs / "lake.png")
    (docs / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"cut short")  # a real failure beside them
    recognised: list[str] = []
    real = ocr.recognise_picture

    def counted(path: Path, *args: Any) -> Any:  # the real recogniser, counted
        recognised.append(path.name)
        return real(path, *args)

    monkeypatch.setattr(ocr, "recognise_picture", counted)
    store = DocumentStore()
    ingest.create_collection(store, "holiday", RagSettings())
    for run in range(2):
        report = ingest.add_paths(store, "holiday", [docs]) if run == 0 else ingest.index_collection(store, "holiday")
        assert [Path(p).name for p in report.no_text] == ["lake.png"]
        assert [Path(s.path).name for s in report.skipped] == ["broken.png"]  # the only file that failed
        assert report.summary().endswith("1 could not be read, 1 picture had no text")
        assert report.to_dict()["no_text"] == report.no_text
        info = store.collection("holiday")
        assert (info.files, info.skipped, info.no_text) == (1, 1, 1)
        assert sorted(recognised) == ["lake.png", "receipt.png"]  # the second run reads neither again
    (record,) = [f for f in store.files(info, "skipped") if f.name == "lake.png"]
    assert record.reason.startswith(NO_TEXT) and found_no_text(record.reason)
    assert "upright and sharp" in record.reason  # what to do if it does hold printed text
    # `hearth docs add`: one quiet line for the pictures, a line per real failure.
    _print_report(report, as_json=False)
    out = capsys.readouterr().out
    assert "  no text  1 picture left out (lake.png)" in out and "lake.png:" not in out
    assert "  skipped  " in out and "broken.png" in out
    # `hearth docs list`: the collection's line counts them apart as well.
    assert cmd_list(argparse.Namespace(collection=None, json=False)) == 0
    listed = capsys.readouterr().out
    assert "1 unreadable, 1 picture without text" in listed, listed

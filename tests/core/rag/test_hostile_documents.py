"""Documents built to hurt: a page of 100,000 line breaks, zip bombs (a part of highly compressible
data that inflates far past its file), an EPUB whose spine names one chapter again and again, and
more text than any document holds. Each is read in bounded time and memory, or refused in plain
words, and a cut is said in the file's notes."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from desktop_app.core.rag.parsers import UnreadableDocument, document, parse
from desktop_app.core.rag.parsers.web import html_to_block

BOMB_BYTES = document.PART_SIZE_LIMIT + 8 * 1024 * 1024  # past the limit: ~70 MB of zeros, ~70 KB zipped


def _bomb_member(archive: zipfile.ZipFile, name: str) -> None:
    """A member of BOMB_BYTES zeros, streamed (never held whole), deflated to a few kilobytes."""
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    with archive.open(info, "w", force_zip64=True) as out:
        block = b"\0" * (1024 * 1024)
        for _ in range(BOMB_BYTES // len(block)):
            out.write(block)


def test_a_page_of_line_breaks_reads_in_linear_time() -> None:
    lines = 60_000
    markup = "<html><body><p>" + "word <br>" * lines + "</p></body></html>"
    block, _title = html_to_block(markup)
    assert block.text.count("\n") >= lines - 1
    assert set(block.text.split()) == {"word"}
    # Stray end tags inside a hidden element, a heading of 50,000 parts: linear too, heading capped.
    block, _title = html_to_block("<div hidden>" + "</i>" * 50_000 + "</div><h1>" + "<b>t</b>" * 50_000 + "</h1>x")
    assert len(block.headings[0][1]) <= document.HEADING_LIMIT
    assert block.text.rstrip().endswith("x")


def test_an_odt_whose_text_inflates_past_the_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.odt"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        _bomb_member(archive, "content.xml")
    assert path.stat().st_size < 1024 * 1024
    with pytest.raises(UnreadableDocument) as caught:
        parse(path)
    assert "content.xml" in caught.value.message and "unpacked" in caught.value.message
    assert "zip bomb" in caught.value.hint


def test_a_docx_with_a_part_that_inflates_past_the_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.docx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        _bomb_member(archive, "word/document.xml")
    with pytest.raises(UnreadableDocument) as caught:
        parse(path)
    assert "word/document.xml" in caught.value.message


def _epub(path: Path, chapters: dict[str, str], spine: list[str]) -> Path:
    items = "".join(f'<item id="{i}" href="{name}"/>' for i, name in enumerate(chapters))
    ids = {name: str(i) for i, name in enumerate(chapters)}
    refs = "".join(f'<itemref idref="{ids[name]}"/>' for name in spine)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("mimetype", "application/epub+zip")
        archive.writestr(
            "META-INF/container.xml",
            '<container><rootfiles><rootfile full-path="OEBPS/book.opf"/></rootfiles></container>',
        )
        archive.writestr("OEBPS/book.opf", f"<package><manifest>{items}</manifest><spine>{refs}</spine></package>")
        for name, body in chapters.items():
            archive.writestr(f"OEBPS/{name}", f"<html><body>{body}</body></html>")
    return path


def test_an_epub_whose_spine_repeats_a_chapter_reads_it_once(tmp_path: Path) -> None:
    chapter = "<h1>One</h1>" + "<p>The same long chapter, over and over.</p>" * 200
    chapters = {"one.xhtml": chapter, "two.xhtml": "<p>The end.</p>"}
    path = _epub(tmp_path / "repeat.epub", chapters, ["one.xhtml"] * 20_000 + ["two.xhtml"])
    assert path.stat().st_size < 64 * 1024
    doc = parse(path)
    text = doc.blocks[0].text
    assert text.count("The same long chapter") == 200
    assert text.rstrip().endswith("The end.")
    assert not doc.notes


def test_an_epub_chapter_that_inflates_past_the_limit_is_refused(tmp_path: Path) -> None:
    path = _epub(tmp_path / "bomb.epub", {"one.xhtml": "<p>Fine.</p>"}, ["one.xhtml"])
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as archive:
        _bomb_member(archive, "OEBPS/two.xhtml")
    opf = (
        '<package><manifest><item id="a" href="one.xhtml"/><item id="b" href="two.xhtml"/></manifest>'
        '<spine><itemref idref="a"/><itemref idref="b"/></spine></package>'
    )
    rebuilt = tmp_path / "bomb2.epub"
    with zipfile.ZipFile(path) as old, zipfile.ZipFile(rebuilt, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            if info.filename == "OEBPS/book.opf":
                new.writestr(info.filename, opf)
            elif info.filename != "OEBPS/two.xhtml":
                new.writestr(info, old.read(info))
        _bomb_member(new, "OEBPS/two.xhtml")
    with pytest.raises(UnreadableDocument) as caught:
        parse(rebuilt)
    assert "two.xhtml" in caught.value.message


def test_text_past_the_limit_is_cut_and_the_report_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(document, "TEXT_CHAR_LIMIT", 50_000)
    chapters = {f"c{i}.xhtml": "<p>" + "lorem ipsum " * 2_000 + "</p>" for i in range(10)}  # 240,000 characters
    doc = parse(_epub(tmp_path / "long.epub", chapters, list(chapters)))
    assert len(doc.blocks[0].text) <= 50_000
    assert doc.notes == [document.truncated_note()] and "50,000" in doc.notes[0]
    page = tmp_path / "long.html"
    page.write_text("<p>" + "lorem ipsum " * 20_000 + "</p>", encoding="utf-8")
    doc = parse(page)
    assert len(doc.blocks[0].text) <= 50_000 and doc.notes == [document.truncated_note()]


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` × ``height`` pixels in a few dozen bytes (a decompression bomb's
    header: nothing past it needs to exist for the size to be read)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b"")


def test_hostile_pictures_are_refused_in_plain_words_before_decoding(tmp_path: Path) -> None:
    from PIL import Image

    from desktop_app.core.rag import ocr, picture_files

    request = ocr.OcrRequest()
    cases = {
        "bomb.png": (_png_header(100_000, 100_000), "too large to read"),  # 10 G pixels: Pillow's own refusal
        "big.png": (_png_header(9_000, 9_000), "9,000 × 9,000 pixels"),  # past Hearth's cap, under Pillow's
        "text.jpg": (b"Dear diary, this is no photograph at all.\n" * 20, "not a real JPG"),
    }
    gif = tmp_path / "animation.png"
    Image.new("L", (40, 40), 255).save(gif, format="GIF")
    cases[gif.name] = (gif.read_bytes(), "not a real PNG")
    whole = tmp_path / "whole.png"
    Image.effect_noise((600, 600), 60).save(whole)  # noise: a PNG that compresses little
    cases["cut.png"] = (whole.read_bytes()[: whole.stat().st_size // 2], "damaged")  # a download cut short
    for name, (data, words) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(UnreadableDocument) as caught:
            parse(path, request)
        assert words in caught.value.message, (name, caught.value.message)
        assert caught.value.hint or "pixels" in caught.value.message
    assert picture_files.MAX_PIXELS < Image.MAX_IMAGE_PIXELS  # Hearth's cap is the stricter


def test_a_bomb_inside_an_opendocument_file_is_passed_over(tmp_path: Path) -> None:
    from desktop_app.core.rag import ocr

    content = (
        '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"'
        ' xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"'
        ' xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" xmlns:xlink="http://www.w3.org/1999/xlink">'
        '<office:body><office:text><text:p>Kept.<draw:frame><draw:image xlink:href="Pictures/bomb.png"/>'
        '</draw:frame><draw:frame><draw:image xlink:href="../../etc/passwd"/></draw:frame></text:p>'
        "</office:text></office:body></office:document-content>"
    )
    path = tmp_path / "trap.odt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("content.xml", content)
        archive.writestr("Pictures/bomb.png", _png_header(100_000, 100_000))
    doc = parse(path, ocr.OcrRequest())  # the document is read; the picture that would explode is not
    assert doc.blocks[0].text.strip() == "Kept." and doc.notes == []

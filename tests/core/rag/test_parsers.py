"""Reading documents (real files the tests write) and cutting them into token-sized chunks."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from desktop_app.core.rag.chunking import chunk_document, split_tokens
from desktop_app.core.rag.parsers import Block, ParsedDocument, UnreadableDocument, parse
from desktop_app.core.rag.parsers.text import decode_text
from tests.documents_fixtures import BROKEN, PDF_PAGES


def test_pdf_keeps_page_numbers(corpus: Path) -> None:
    doc = parse(corpus / "report.pdf")
    assert doc.kind == "pdf"
    assert doc.pages == 3
    assert [b.page for b in doc.blocks] == [1, 2, 3]
    assert "4,500 rpm" in doc.blocks[1].text
    assert "Wexler Foundation" in doc.blocks[2].text
    assert "Wexler" not in doc.blocks[1].text
    assert doc.blocks[0].text.startswith(PDF_PAGES[0][:20])


def test_docx_keeps_headings_and_tables(corpus: Path) -> None:
    doc = parse(corpus / "protocol.docx")
    block = doc.blocks[0]
    offset = block.text.index("2291-B")
    assert block.heading_at(offset) == "Study protocol > Ethics approval"
    assert block.heading_at(block.text.index("consent form")) == "Study protocol > Consent"
    assert "Visit | Week" in block.text and "Baseline | 0" in block.text


def test_html_keeps_visible_text_only(corpus: Path) -> None:
    doc = parse(corpus / "safety.html")
    text = doc.blocks[0].text
    assert doc.title == "Safety"
    assert "fire extinguisher is next to room 204" in text
    assert "zebra-cipher" not in text  # script
    assert "color: red" not in text  # style
    assert "internal-only-note" not in text  # hidden element
    assert doc.blocks[0].heading_at(text.index("extinguisher")) == "Safety rules > Fire"


def test_markdown_headings_ignore_code_blocks(corpus: Path) -> None:
    doc = parse(corpus / "notes.md")
    block = doc.blocks[0]
    assert [h for _, h in block.headings] == ["Lab notes", "Lab notes > Storage", "Lab notes > Meetings"]
    assert block.text == (corpus / "notes.md").read_text(encoding="utf-8")  # spans point into the file itself


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("cafe-latin1.txt", "Le café du laboratoire coûte deux euros"),
        ("deliveries-utf16.txt", "Liquid nitrogen deliveries arrive on Thursdays"),
        ("booking-utf8.txt", "Naïve users"),
    ],
)
def test_text_in_common_encodings(corpus: Path, name: str, expected: str) -> None:
    assert expected in parse(corpus / name).blocks[0].text


def test_decode_text_detects_encodings() -> None:
    sample = "Größe: 3 µm, Temperatur 20 °C, Lösung fertig. " * 4
    assert decode_text(sample.encode("utf-8")) == (sample, "utf-8")
    assert decode_text(sample.encode("utf-16"))[0] == sample
    text, encoding = decode_text(sample.encode("latin-1"))
    assert text == sample, encoding
    with pytest.raises(UnreadableDocument, match="binary"):
        decode_text(bytes(range(256)))


def test_code_is_cut_at_definitions(corpus: Path) -> None:
    doc = parse(corpus / "dilution.py")
    assert doc.kind == "code"
    assert doc.blocks[0].headings[0] == (0, "compute_dilution_factor")


@pytest.mark.parametrize(("name", "reason"), sorted(BROKEN.items()))
def test_unreadable_files_say_why(corpus: Path, name: str, reason: str) -> None:
    with pytest.raises(UnreadableDocument) as caught:
        parse(corpus / "broken" / name)
    assert reason in caught.value.message.lower()


def test_unknown_type_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "interview.mp3"  # (a PNG is a picture now, read by OCR: #22)
    path.write_bytes(b"ID3\x04\x00")
    with pytest.raises(UnreadableDocument, match="does not read"):
        parse(path)


def test_chunks_fit_the_embedding_model_and_keep_exact_spans(embedder: Any) -> None:
    paragraphs = [
        f"Paragraph {i}. " + " ".join(f"The measurement number {i}-{j} was recorded carefully." for j in range(12))
        for i in range(8)
    ]
    text = "\n\n".join(paragraphs)
    doc = ParsedDocument(Path("long.txt"), "text", [Block(text, headings=[(0, "Results")])])
    chunks = chunk_document(doc, embedder.token_offsets, size=64, overlap=16)
    assert len(chunks) > 8
    for chunk in chunks:
        assert chunk.text == text[chunk.start : chunk.end]
        assert embedder.count_tokens(chunk.text) <= 64
        assert embedder.count_tokens(chunk.embed_text) <= embedder.max_tokens
        assert chunk.heading == "Results"
        # Never cut inside a word.
        assert chunk.start == 0 or not text[chunk.start - 1].isalnum()
        assert chunk.end == len(text) or not text[chunk.end].isalnum()
    # Consecutive chunks overlap, and together they cover the whole text.
    for before, after in itertools.pairwise(chunks):
        assert after.start < before.end
    assert chunks[0].start == 0 and chunks[-1].end == len(text.rstrip())


def test_small_sections_are_merged_and_pages_never_mixed(corpus: Path, embedder: Any) -> None:
    notes = chunk_document(parse(corpus / "notes.md"), embedder.token_offsets)
    assert len(notes) == 1 and notes[0].heading == "Lab notes"
    pdf = chunk_document(parse(corpus / "report.pdf"), embedder.token_offsets)
    assert [c.page for c in pdf] == [1, 2, 3]


def test_split_prefers_paragraph_breaks() -> None:
    text = "aaa bbb ccc.\n\nddd eee fff ggg hhh"
    spans = [(0, 3), (4, 7), (8, 11), (11, 12), (14, 17), (18, 21), (22, 25), (26, 29), (30, 33)]
    ranges = split_tokens(text, spans, size=6, overlap=0)
    assert ranges[0] == (0, 4)  # up to "ccc." — the paragraph break, not the 6-token limit
    assert ranges[-1][1] == len(spans)


def test_odt_and_epub_are_read_with_headings(tmp_path: Path) -> None:
    import zipfile

    odt = tmp_path / "minutes.odt"
    with zipfile.ZipFile(odt, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        archive.writestr(
            "content.xml",
            '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
            'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:text>'
            '<text:h text:outline-level="1">Decisions</text:h><text:p>The board approved the new freezer.</text:p>'
            "</office:text></office:body></office:document-content>",
        )
    doc = parse(odt)
    assert doc.kind == "odt"
    block = doc.blocks[0]
    assert block.heading_at(block.text.index("approved")) == "Decisions"

    epub = tmp_path / "handbook.epub"
    with zipfile.ZipFile(epub, "w") as archive:
        archive.writestr("mimetype", "application/epub+zip")
        archive.writestr(
            "META-INF/container.xml",
            '<container xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles>'
            '<rootfile full-path="OEBPS/book.opf"/></rootfiles></container>',
        )
        archive.writestr(
            "OEBPS/book.opf",
            '<package xmlns="http://www.idpf.org/2007/opf"><manifest>'
            '<item id="c1" href="one.xhtml"/><item id="c2" href="two.xhtml"/></manifest>'
            '<spine><itemref idref="c2"/><itemref idref="c1"/></spine></package>',
        )
        archive.writestr("OEBPS/one.xhtml", "<html><body><h1>Chapter B</h1><p>Second in the spine.</p></body></html>")
        archive.writestr("OEBPS/two.xhtml", "<html><body><h1>Chapter A</h1><p>First in the spine.</p></body></html>")
    text = parse(epub).blocks[0].text
    assert text.index("First in the spine") < text.index("Second in the spine")  # reading order, not file order

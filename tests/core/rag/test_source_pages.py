"""What the document viewer shows, without Qt: a PDF page rendered by pdfium with the boxes of
the cited passage, a text document with the passage's span, and finding a passage by its
words whatever the spacing (core/rag/pdf_render.py, source_text.py, locate.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop_app.core.errors import HearthError
from desktop_app.core.rag import locate, source_text
from desktop_app.core.rag.pdf_render import render_page
from tests.documents_fixtures import PDF_PAGES, write_pdf

PASSAGE = "The centrifuge must run at 4,500 rpm for 12 minutes during the plasma separation step"


def test_a_pdf_page_with_the_passage_boxed(tmp_path: Path) -> None:
    import pypdfium2 as pdfium

    pdf = write_pdf(tmp_path / "report.pdf", PDF_PAGES)
    page = render_page(pdf, 2, [PASSAGE, "not on this page at all"], width_px=800)
    assert (page.page, page.pages, page.width) == (2, 3, 800)
    assert len(page.pixels) == page.stride * page.height and page.channels in (3, 4)
    boxes, missing = page.boxes
    assert missing == [] and len(boxes) == 2  # the passage runs over two lines of the page
    # Under the boxes, pdfium reads exactly the passage (the boxes are in the image's pixels).
    document = pdfium.PdfDocument(str(pdf))
    text_page = document[1].get_textpage()
    width_pt, height_pt = document[1].get_size()
    scale = page.width / width_pt
    under = " ".join(
        text_page.get_text_bounded(left / scale, height_pt - bottom / scale, right / scale, height_pt - top / scale)
        for left, top, right, bottom in boxes
    )
    assert " ".join(under.split()) == PASSAGE
    document.close()
    # The page's first words ("Plasma separation.") are outside the boxes.
    assert boxes[0][0] > 100 and all(0 <= top < bottom <= page.height for _, top, _, bottom in boxes)

    with pytest.raises(HearthError, match="has no page 7"):
        render_page(pdf, 7)
    damaged = tmp_path / "damaged.pdf"
    damaged.write_bytes(pdf.read_bytes()[:300])
    with pytest.raises(HearthError, match="cannot be shown"):
        render_page(damaged, 1)


def test_a_text_document_at_its_passage(tmp_path: Path) -> None:
    notes = tmp_path / "notes.md"
    passage = "They sit in freezer 3, rack C."
    notes.write_text(f"# Lab notes\n\n## Storage\n\nSamples are kept cold. {passage}\n", "utf-8")
    chunk = f"Samples are kept cold. {passage}"
    at = notes.read_text("utf-8").index(chunk)
    shown = source_text.load(notes, chunk, at, passage)
    assert shown.chunk is not None and shown.text[shown.chunk[0] : shown.chunk[1]] == chunk
    assert shown.passage is not None and shown.text[shown.passage[0] : shown.passage[1]] == passage
    assert shown.note == ""
    # Edited since it was indexed: found again by its words; gone: said so.
    notes.write_text(f"# Lab notes\n\nA new line first.\n\n## Storage\n\nSamples are kept cold.\n{passage}\n")
    moved = source_text.load(notes, chunk, at, passage)
    assert moved.chunk is not None and moved.passage is not None and moved.note == ""
    assert moved.text[moved.passage[0] : moved.passage[1]] == passage
    notes.write_text("# Lab notes\n\nEverything was thrown away.\n")
    gone = source_text.load(notes, chunk, at, passage)
    assert gone.chunk is None and gone.passage is None and "changed since it was indexed" in gone.note


def test_find_words_ignores_spacing_markup_and_citations() -> None:
    shown = "Plasma separation. The centrifuge must run at 4,500 rpm for 12\r\nminutes during the step."
    assert locate.find_words(shown, "centrifuge must run at 4,500 rpm for 12 minutes") == (
        shown.index("centrifuge"), shown.index("minutes") + len("minutes"),
    )  # fmt: skip
    rendered = "It runs at 4,500 rpm [2][3] for twelve minutes."  # as the chat shows "[2, 3]"
    assert locate.find_words(rendered, "It runs at **4,500 rpm** [2, 3] for twelve minutes.", skip_citations=True) == (
        0, len(rendered) - 1,
    )  # fmt: skip
    assert locate.find_words(rendered, "It runs at 9,000 rpm") is None
    # A word hyphenated at a line break: a long passage is still found by its ends.
    hyphenated = "one two three four five six seven sepa-\nration eight nine ten eleven twelve thirteen end"
    clean = "one two three four five six seven separation eight nine ten eleven twelve thirteen"
    assert locate.find_words(hyphenated, clean) == (0, hyphenated.index("thirteen") + len("thirteen"))

"""Fixtures for the documents tests: a real corpus written by the tests themselves (PDF,
DOCX, HTML, Markdown, text in several encodings, code, and broken files), the real
embedding model (all-MiniLM-L6-v2, loaded once per process), real Chroma on disk."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# One distinct fact per place, so a question has exactly one right file (and page).
PDF_PAGES = [
    "Aurora project overview. This report describes the blood sampling study run by the cardiology group "
    "in 2024, its participants and its schedule.",
    "Plasma separation. The centrifuge must run at 4,500 rpm for 12 minutes during the plasma separation step, "
    "at a temperature of 4 degrees.",
    "Funding. The grant from the Wexler Foundation covers 38,000 euros for reagents and consumables.",
]
FACTS: dict[str, tuple[str, int | None]] = {
    # question -> (file name, page)
    "How fast must the centrifuge spin for plasma separation?": ("report.pdf", 2),
    "Which foundation pays for the reagents?": ("report.pdf", 3),
    "When did the ethics committee approve the protocol?": ("protocol.docx", None),
    "Where is the fire extinguisher?": ("safety.html", None),
    "At what temperature are the samples stored in the freezer?": ("notes.md", None),
    "Combien coûte le café du laboratoire ?": ("cafe-latin1.txt", None),
    "How is the dilution factor computed?": ("dilution.py", None),
    "On which day do liquid nitrogen deliveries arrive?": ("deliveries-utf16.txt", None),
}
BROKEN = {
    "locked.pdf": "password",
    "damaged.pdf": "damaged",
    "scan.pdf": "no text layer",
    "binary.txt": "binary",
    "empty.md": "empty",
    "figure.png": "picture is damaged",  # pictures are read by OCR (#22): bytes that are no picture say so
}


def write_pdf(path: Path, pages: list[str]) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    pdf.output(str(path))
    return path


def write_docx(path: Path) -> Path:
    import docx

    document = docx.Document()
    document.add_heading("Study protocol", level=0)
    document.add_heading("Ethics approval", level=1)
    document.add_paragraph("The ethics committee approved protocol 2291-B on 14 March 2024.")
    document.add_heading("Consent", level=1)
    document.add_paragraph("Every participant signs the consent form before the first visit.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "Visit"
    table.cell(0, 1).text = "Week"
    table.cell(1, 0).text = "Baseline"
    table.cell(1, 1).text = "0"
    document.save(str(path))
    return path


def write_corpus(folder: Path) -> Path:
    """The good documents in ``folder``, the broken ones in ``folder/broken``."""
    from pypdf import PdfReader, PdfWriter

    folder.mkdir(parents=True, exist_ok=True)
    write_pdf(folder / "report.pdf", PDF_PAGES)
    write_docx(folder / "protocol.docx")
    (folder / "safety.html").write_text(
        "<html><head><title>Safety</title><style>body { color: red }</style>"
        "<script>var secret = 'zebra-cipher-9';</script></head><body>"
        "<h1>Safety rules</h1><p>Always wear goggles when handling acids.</p>"
        "<div hidden>internal-only-note</div>"
        "<h2>Fire</h2><p>The fire extinguisher is next to room 204, beside the lift.</p></body></html>",
        encoding="utf-8",
    )
    (folder / "notes.md").write_text(
        "# Lab notes\n\n## Storage\n\nSamples are stored at minus eighty degrees in freezer 3, rack C.\n\n"
        "```\n# not a heading: code\n```\n\n## Meetings\n\nThe group meets on Tuesdays.\n",
        encoding="utf-8",
    )
    (folder / "cafe-latin1.txt").write_bytes(
        "Le café du laboratoire coûte deux euros ; la machine à café est au deuxième étage, près de l'entrée."
        .encode("latin-1")
    )  # fmt: skip
    (folder / "deliveries-utf16.txt").write_text(
        "Liquid nitrogen deliveries arrive on Thursdays before noon.", encoding="utf-16"
    )
    (folder / "booking-utf8.txt").write_text(
        "The microscope booking system opens every Monday at 8 o'clock. Naïve users need training first.",
        encoding="utf-8",
    )
    (folder / "dilution.py").write_text(
        "def compute_dilution_factor(stock: float, target: float) -> float:\n"
        '    """The dilution factor is the stock concentration divided by the target concentration."""\n'
        "    return stock / target\n",
        encoding="utf-8",
    )
    (folder / "interview.mp3").write_bytes(b"ID3\x04\x00" + b"\x00" * 64)  # not a document type: ignored
    broken = folder / "broken"
    broken.mkdir(exist_ok=True)
    writer = PdfWriter(clone_from=PdfReader(folder / "report.pdf"))
    writer.encrypt("secret")
    writer.write(broken / "locked.pdf")
    data = (folder / "report.pdf").read_bytes()
    (broken / "damaged.pdf").write_bytes(data[: len(data) // 2])
    from fpdf import FPDF

    scan = FPDF()
    scan.add_page()
    scan.rect(20, 20, 120, 160, style="F")  # an image-like page, no text
    scan.output(str(broken / "scan.pdf"))
    (broken / "binary.txt").write_bytes(bytes(range(256)) * 8)
    (broken / "empty.md").write_bytes(b"")
    (broken / "figure.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)  # a PNG signature, then garbage
    return folder


@pytest.fixture(scope="session", autouse=True)
def ocr_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Scanned pages recognised once per session (rag/ocr.py keys them by content): the
    corpus's scan.pdf is read by every test that indexes the corpus."""
    import os

    path = tmp_path_factory.mktemp("ocr-cache")
    os.environ["HEARTH_OCR_CACHE"] = str(path)
    return path


@pytest.fixture(scope="session")
def corpus_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus-template") / "corpus")


@pytest.fixture
def corpus(tmp_path: Path, corpus_template: Path) -> Path:
    """A fresh copy of the corpus, which the test may change."""
    target = tmp_path / "corpus"
    shutil.copytree(corpus_template, target)
    return target


@pytest.fixture
def one_file_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """The indexer as it runs on a slow reader: each file embedded as it arrives and stored on
    its own. By default the corpus's dozen small files are embedded in one call and stored in one
    write, so a cancel "after the first file" would find them all done (or none)."""
    from desktop_app.core.rag import index_pipeline

    monkeypatch.setattr(index_pipeline, "READER_WAIT_S", 0.0)
    monkeypatch.setattr(index_pipeline, "WRITE_BATCH_FILES", 1)


@pytest.fixture(scope="session")
def embedder() -> Any:
    from desktop_app.core.rag.embedder import get_embedder

    return get_embedder()


@dataclass
class Indexed:
    store: Any
    folder: Path
    report: Any
    collection: str = "papers"


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> Indexed:
    """The corpus indexed once per module into its own store (for tests that only read)."""
    from desktop_app.core.rag import ingest
    from desktop_app.core.rag.documents_settings import RagSettings
    from desktop_app.core.rag.store import DocumentStore

    root = tmp_path_factory.mktemp("indexed")
    folder = write_corpus(root / "corpus")
    # Explicit paths and settings: a module fixture runs outside the per-test HEARTH_HOME.
    store = DocumentStore(db_path=root / "hearth.db", chroma_path=root / "chroma")
    ingest.create_collection(store, "papers", RagSettings())
    report = ingest.add_paths(store, "papers", [folder])
    return Indexed(store, folder, report)

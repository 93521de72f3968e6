"""Indexing and retrieval with the real embedding model and a real Chroma on disk."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from desktop_app.core.cancel import CancelToken
from desktop_app.core.errors import Cancelled, HearthError
from desktop_app.core.rag import index_pipeline, index_report, ingest, model_change, retrieve
from desktop_app.core.rag.store import DocumentStore
from tests.documents_fixtures import BROKEN, FACTS, Indexed

GOOD_FILES = {
    "report.pdf", "protocol.docx", "safety.html", "notes.md", "cafe-latin1.txt", "deliveries-utf16.txt",
    "booking-utf8.txt", "dilution.py",
}  # fmt: skip


def chunk_ids(store: DocumentStore, name: str) -> list[str]:
    info = store.collection(name)
    return [i for ids, _, _ in store.iter_chunks(info, include_documents=False) for i in ids]


def assert_consistent(store: DocumentStore, name: str) -> None:
    """Chroma holds exactly the chunks the manifest says, once each."""
    info = store.collection(name)
    ids = chunk_ids(store, name)
    assert len(ids) == len(set(ids))
    assert len(ids) == info.chunks == sum(f.chunks for f in store.files(info, "indexed"))
    versions = store.indexed_versions(info)
    for _, metadatas, _ in store.iter_chunks(info, include_documents=False):
        for meta in metadatas:
            assert versions[meta["path"]] == meta["file_sha"]


# -- one corpus, indexed once for the module ----------------------------------------------------


def test_report_lists_indexed_skipped_and_ignored(indexed: Indexed) -> None:
    report = indexed.report
    assert {Path(p).name for p in report.indexed} == GOOD_FILES
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert set(reasons) == set(BROKEN)
    for name, word in BROKEN.items():
        assert word in reasons[name].lower()
    assert report.ignored == {".mp3": 1}
    assert report.chunks_added == indexed.store.collection("papers").chunks > 0
    assert not report.cancelled
    assert_consistent(indexed.store, "papers")


@pytest.mark.parametrize(("question", "expected"), sorted(FACTS.items()))
def test_retrieval_finds_the_right_file_and_page(indexed: Indexed, question: str, expected: tuple[str, Any]) -> None:
    result = retrieve.search(indexed.store, ["papers"], question, k=3)
    top = result.hits[0]
    assert (top.name, top.page) == expected, [(h.name, h.page, h.fused_score) for h in result.hits]
    assert top.relevant
    assert top.vector_score is not None and top.vector_rank is not None
    assert top.fused_score > 0
    # The span points at the text in the parsed document.
    assert top.end > top.start


def test_keyword_search_finds_exact_codes(indexed: Indexed) -> None:
    result = retrieve.search(indexed.store, ["papers"], "2291-B", k=3)
    top = result.hits[0]
    assert top.name == "protocol.docx"
    assert top.keyword_rank == 1 and top.keyword_score > 0
    # Short sections are merged into one chunk, under their shared heading.
    assert top.heading == "Study protocol" and "Ethics approval" in top.text


def test_scripts_and_hidden_html_are_not_indexed(indexed: Indexed) -> None:
    info = indexed.store.collection("papers")
    texts = [t for _, _, docs in indexed.store.iter_chunks(info) for t in docs]
    assert any("fire extinguisher" in t for t in texts)
    assert not any("zebra-cipher" in t or "internal-only-note" in t for t in texts)


def test_unrelated_question_finds_nothing_relevant(indexed: Indexed) -> None:
    result = retrieve.search(indexed.store, ["papers"], "Who won the football world cup in 1998?", k=5)
    assert result.hits  # something is always ranked...
    assert not result.relevant_hits  # ...but nothing passes the relevance bar


# -- a fresh store per test ------------------------------------------------------------------------


def test_adding_again_changes_nothing(corpus: Path, embedder: Any) -> None:
    store = DocumentStore()
    first = ingest.add_paths(store, "lab", [corpus])
    ids = sorted(chunk_ids(store, "lab"))
    again = ingest.add_paths(store, "lab", [corpus])
    assert again.indexed == [] and again.chunks_added == 0
    assert again.unchanged == len(first.indexed)
    # The same file added once more on its own: no duplicate either.
    single = ingest.add_paths(store, "lab", [corpus / "notes.md"])
    assert single.indexed == []
    assert sorted(chunk_ids(store, "lab")) == ids
    assert_consistent(store, "lab")
    assert len(store.sources(store.collection("lab"))) == 2


def test_changed_file_replaces_its_chunks(corpus: Path, embedder: Any) -> None:
    store = DocumentStore()
    ingest.add_paths(store, "lab", [corpus])
    notes = corpus / "notes.md"
    notes.write_text("# Lab notes\n\n## Storage\n\nSamples now live in the liquid nitrogen tank B.\n", encoding="utf-8")
    report = ingest.index_collection(store, "lab")
    assert report.indexed == [str(notes)]
    assert_consistent(store, "lab")
    info = store.collection("lab")
    texts = [t for _, _, docs in store.iter_chunks(info) for t in docs]
    assert any("liquid nitrogen tank B" in t for t in texts)
    assert not any("freezer 3, rack C" in t for t in texts)
    top = retrieve.search(store, ["lab"], "Where do the samples live now?", k=1).hits[0]
    assert top.name == "notes.md" and "tank B" in top.text


def test_a_touched_file_is_not_embedded_again(corpus: Path, embedder: Any) -> None:
    store = DocumentStore()
    ingest.add_paths(store, "lab", [corpus])
    stat = (corpus / "report.pdf").stat()
    os.utime(corpus / "report.pdf", ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    report = ingest.index_collection(store, "lab")
    assert report.indexed == [] and report.unchanged == len(GOOD_FILES)
    record = store.file_map(store.collection("lab"))[str(corpus / "report.pdf")]
    assert record.mtime_ns == stat.st_mtime_ns + 5_000_000_000


def test_deleted_files_leave_and_unreachable_folders_stay(corpus: Path, embedder: Any, tmp_path: Path) -> None:
    store = DocumentStore()
    ingest.add_paths(store, "lab", [corpus])
    (corpus / "dilution.py").unlink()
    report = ingest.index_collection(store, "lab")
    assert report.removed == [str(corpus / "dilution.py")]
    assert_consistent(store, "lab")
    before = store.collection("lab").chunks
    # An unplugged drive: the folder is gone, its files stay indexed until it is back.
    shutil.move(corpus, tmp_path / "elsewhere")
    report = ingest.index_collection(store, "lab")
    assert report.missing_sources == [str(corpus)]
    assert report.removed == []
    assert store.collection("lab").chunks == before


def test_removing_a_file_inside_a_folder_excludes_it(corpus: Path, embedder: Any) -> None:
    store = DocumentStore()
    ingest.add_paths(store, "lab", [corpus])
    info = store.collection("lab")
    removed = store.remove_source(info, corpus / "safety.html")
    assert removed == [str(corpus / "safety.html")]
    report = ingest.index_collection(store, "lab")  # a rescan of the folder does not bring it back
    assert report.indexed == []
    assert str(corpus / "safety.html") not in store.file_map(info)
    assert all(h.name != "safety.html" for h in retrieve.search(store, ["lab"], "fire extinguisher", k=5).hits)
    assert_consistent(store, "lab")
    # Removing the folder itself empties the collection.
    store.remove_source(info, corpus)
    assert store.collection("lab").files == 0 and chunk_ids(store, "lab") == []
    with pytest.raises(HearthError, match="not part of"):
        store.remove_source(info, corpus / "nothing-here.txt")


def test_files_waiting_together_are_embedded_and_stored_together(
    corpus: Path, embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fast reader fills the encoder's window before it starts (chunks sorted by length pad
    less), and the files finished together go to Chroma and the manifest in one write each."""
    from desktop_app.core.rag.embedder import Embedder

    encoded: list[int] = []
    written: list[int] = []
    real_encode, real_write = Embedder.encode, DocumentStore.write_files

    def encode(self: Embedder, texts: Any, *args: Any, **kwargs: Any) -> Any:
        encoded.append(len(texts))
        return real_encode(self, texts, *args, **kwargs)

    def write_files(self: DocumentStore, info: Any, files: Any) -> None:
        written.append(len(files))
        real_write(self, info, files)

    monkeypatch.setattr(Embedder, "encode", encode)  # counted, then run for real
    monkeypatch.setattr(DocumentStore, "write_files", write_files)
    store = DocumentStore()
    report = ingest.add_paths(store, "lab", [corpus])
    assert {Path(p).name for p in report.indexed} == GOOD_FILES
    assert sum(encoded) == report.chunks_added and len(encoded) < len(GOOD_FILES) // 2
    assert sum(written) == len(GOOD_FILES) and max(written) > 1
    assert all(n <= index_pipeline.WRITE_BATCH_FILES for n in written)
    assert_consistent(store, "lab")


@pytest.mark.usefixtures("one_file_at_a_time")
def test_cancelled_indexing_resumes_without_duplicates(corpus: Path, embedder: Any) -> None:
    store = DocumentStore()
    cancel = CancelToken()
    updates: list[index_report.IndexProgress] = []

    def progress(update: index_report.IndexProgress) -> None:
        updates.append(update)
        if update.chunks_done > 0 and update.files_done >= 2:
            cancel.cancel()  # the user presses Cancel once a couple of files are in

    report = index_report.IngestReport("lab")
    with pytest.raises(Cancelled):
        ingest.add_paths(store, "lab", [corpus], cancel=cancel, progress=progress, report=report)
    assert report.cancelled
    info = store.collection("lab")
    done = len(store.files(info, "indexed"))
    assert 0 < done < len(GOOD_FILES)
    assert not info.dirty  # a cancel stops between files: the store is consistent
    assert_consistent(store, "lab")
    last = updates[-1]
    assert last.files_total == len(GOOD_FILES) + len(BROKEN)
    assert any(u.rate > 0 for u in updates)

    resumed = ingest.index_collection(store, "lab")
    assert len(resumed.indexed) == len(GOOD_FILES) - done
    assert resumed.unchanged == done
    assert_consistent(store, "lab")
    assert store.collection("lab").files == len(GOOD_FILES)


def test_a_crash_mid_write_is_cleaned_up(corpus: Path, embedder: Any) -> None:
    store = DocumentStore()
    ingest.add_paths(store, "lab", [corpus])
    info = store.collection("lab")
    count = len(chunk_ids(store, "lab"))
    # What a crash leaves: chunks of a new version written, the manifest not yet updated.
    notes = str(corpus / "notes.md")
    vector = embedder.encode(["Samples were moved to the cold room."])
    store.vectors(info).upsert(
        ids=["orphan-1"],
        embeddings=vector,
        documents=["Samples were moved to the cold room."],
        metadatas=[{"path": notes, "name": "notes.md", "file_sha": "not-the-indexed-version", "start": 0, "end": 1}],
    )
    store.set_dirty(info, True)
    hits = retrieve.search(store, ["lab"], "Samples were moved to the cold room", k=5).hits
    assert all(h.chunk_id != "orphan-1" for h in hits)  # searches trust only the manifest's versions
    ingest.index_collection(store, "lab")  # the next run sweeps first
    assert len(chunk_ids(store, "lab")) == count
    assert not store.collection("lab").dirty
    assert_consistent(store, "lab")


def test_collections_create_rename_delete(corpus: Path, embedder: Any) -> None:
    store = DocumentStore()
    ingest.add_paths(store, "lab", [corpus / "notes.md"])
    with pytest.raises(HearthError, match="already exists"):
        ingest.create_collection(store, "LAB")
    with pytest.raises(HearthError, match="needs a name"):
        ingest.create_collection(store, "   ")
    store.rename_collection("lab", "Lab book")
    assert [c.name for c in store.list_collections()] == ["Lab book"]
    assert retrieve.search(store, ["Lab book"], "freezer", k=1).hits[0].name == "notes.md"
    info = store.collection("Lab book")
    store.delete_collection("Lab book")
    assert store.list_collections() == []
    assert info.store_name not in [c.name for c in store.client().list_collections()]
    with pytest.raises(HearthError, match="no document collection"):
        store.collection("Lab book")


def test_model_change_is_planned_with_a_measured_rate(corpus: Path, embedder: Any) -> None:
    store = DocumentStore()
    report = ingest.add_paths(store, "lab", [corpus])
    plan = model_change.plan_model_change(store, "lab", "some-other-model")
    assert plan.chunks == report.chunks_added and plan.files == len(GOOD_FILES)
    assert plan.rate > 0 and not plan.rate_measured  # borrowed from the current model's measured speed
    assert plan.seconds == pytest.approx(plan.chunks / plan.rate)
    assert "embedded again" in plan.describe()
    with pytest.raises(HearthError, match="could not be loaded"):
        model_change.change_model(store, "lab", str(corpus / "not-a-model"))
    assert store.collection("lab").chunks == report.chunks_added  # nothing dropped


def test_a_missing_reranker_is_skipped_with_a_note(indexed: Indexed, tmp_path: Path) -> None:
    from desktop_app.core.rag.documents_settings import RagSettings

    settings = RagSettings(reranker=str(tmp_path / "no-such-cross-encoder"))
    result = retrieve.search(indexed.store, ["papers"], "Where is the fire extinguisher?", k=2, settings=settings)
    assert result.hits[0].name == "safety.html"  # still answered, in fused order
    assert result.reranker == "" and all(h.rerank_score is None for h in result.hits)
    assert any("could not be used" in note for note in result.notes)


def test_lost_vectors_are_rebuilt_from_the_files(corpus: Path, embedder: Any) -> None:
    store = DocumentStore()
    first = ingest.add_paths(store, "lab", [corpus / "notes.md", corpus / "report.pdf"])
    info = store.collection("lab")
    store.client().delete_collection(info.store_name)  # e.g. the chroma folder was deleted by hand
    fresh = DocumentStore()  # a new session: no cached collection handle
    report = ingest.index_collection(fresh, "lab")
    assert sorted(report.indexed) == sorted(first.indexed)
    assert_consistent(fresh, "lab")

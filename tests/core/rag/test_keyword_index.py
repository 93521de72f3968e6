"""The keyword (BM25) index kept on disk: updated file by file as files come and go, loaded
after a restart, rebuilt silently when damaged, and always scoring exactly like a fresh build
(real Chroma on disk, the real embedding model, the real indexing pipeline)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from desktop_app.core.rag import ingest, keyword_index, retrieve
from desktop_app.core.rag.documents_settings import RagSettings
from desktop_app.core.rag.store import DocumentStore

QUERIES = [
    "centrifuge rotor speed",
    "liquid nitrogen delivery",
    "gene BRCA2 sequencing",
    "freezer temperature samples",
    "protocol 7781-X approval",
    "buffer buffer buffer",  # a repeated term counts each time
    "nothingmatchesthis",
]
FILES = {
    "centrifuge.md": "# Centrifuge\nThe centrifuge rotor spins at 4,500 rpm. Balance the rotor before every run.\n",
    "nitrogen.md": "# Deliveries\nLiquid nitrogen is delivered on Tuesdays. The nitrogen dewar holds 200 litres.\n",
    "genes.txt": "Sequencing of BRCA2 and TP53 runs on the short-read sequencer; BRCA2 exons are covered twice.\n",
    "freezer.md": "# Storage\nSamples are kept in the freezer at minus 80 degrees. The freezer alarm calls the lab.\n",
    "buffer.txt": "The lysis buffer is made fresh. Buffer pH is 7.4; the wash buffer is kept cold.\n",
}


def write(folder: Path, files: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")


def ranking(index: keyword_index.KeywordIndex, query: str) -> list[tuple[str, float]]:
    scores = index.scores(retrieve.keyword_tokens(query))
    return [(chunk, float(scores[index.position[chunk]])) for chunk in index.top(scores, 20)]


def assert_exact(store: DocumentStore, name: str) -> keyword_index.KeywordIndex:
    """The index in use gives the same hits, with the same scores, as one built afresh."""
    info = store.collection(name)
    used = keyword_index.keyword_index(store, info)
    fresh = keyword_index.build(store, info)
    assert sorted(used.position) == sorted(fresh.position)
    assert used.live == fresh.live
    for query in QUERIES:
        assert ranking(used, query) == ranking(fresh, query), query
    return used


def state(store: DocumentStore, name: str) -> dict[str, Any]:
    folder = store.bm25_dir(store.collection(name))
    return json.loads((folder / "state.json").read_text(encoding="utf-8"))


def restart() -> None:
    """A new process: nothing cached in memory."""
    keyword_index._CACHE.clear()


def make_store(root: Path) -> DocumentStore:
    store = DocumentStore(db_path=root / "hearth.db", chroma_path=root / "chroma")
    ingest.create_collection(store, "notes", RagSettings())
    write(root / "docs", FILES)
    ingest.add_paths(store, "notes", [root / "docs"])
    return store


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> DocumentStore:
    """The files indexed once, for the tests that change only the keyword index's own files."""
    return make_store(tmp_path_factory.mktemp("keyword-index"))


def test_index_follows_added_changed_and_removed_files_exactly(tmp_path: Path, embedder: Any) -> None:
    store = make_store(tmp_path)
    docs = tmp_path / "docs"
    first = assert_exact(store, "notes")
    base = state(store, "notes")["base"]
    assert len(ranking(first, "BRCA2")) == 1
    # Added and changed files: caught up from those files alone, on top of the same base.
    write(docs, {"more.md": "# Rotor care\nClean the centrifuge rotor with mild buffer after use.\n"})
    write(docs, {"freezer.md": "# Storage\nSamples now go to the nitrogen tank, not the freezer.\n"})
    ingest.index_collection(store, "notes")
    caught_up = assert_exact(store, "notes")
    saved = state(store, "notes")
    assert saved["base"] == base and saved["delta"] and saved["dead"]
    assert saved["revision"] == store.collection("notes").revision
    # Removed files.
    (docs / "genes.txt").unlink()
    ingest.index_collection(store, "notes")
    assert_exact(store, "notes")
    assert not ranking(keyword_index.keyword_index(store, store.collection("notes")), "BRCA2")
    # After a restart the saved index is read back, not rebuilt, and is still exact.
    restart()
    loaded = assert_exact(store, "notes")
    assert loaded.base_token == base and loaded is not caught_up
    # Folding the changes into a new base changes nothing in the scores.
    loaded.compact()
    assert loaded.live == len(loaded.ids)
    fresh = keyword_index.build(store, store.collection("notes"))
    for query in QUERIES:
        assert ranking(loaded, query) == ranking(fresh, query)
    # The full search agrees with a search on a rebuilt index.
    before = [(h.chunk_id, h.keyword_score, h.keyword_rank) for h in retrieve.search(store, ["notes"], "rotor").hits]
    restart()
    for path in store.bm25_dir(store.collection("notes")).iterdir():
        path.unlink()
    after = [(h.chunk_id, h.keyword_score, h.keyword_rank) for h in retrieve.search(store, ["notes"], "rotor").hits]
    assert before == after and any(rank == 1 for _, _, rank in before)


@pytest.mark.parametrize("damage", ["truncate-base", "truncate-state", "drop-base-names", "garble-state"])
def test_damaged_index_is_rebuilt_silently(store: DocumentStore, damage: str) -> None:
    info = store.collection("notes")
    restart()
    good = [ranking(keyword_index.keyword_index(store, info), q) for q in QUERIES]
    folder = store.bm25_dir(info)
    base = state(store, "notes")["base"]
    if damage == "truncate-base":
        target = folder / f"base-{base}.npz"
        target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])
    elif damage == "truncate-state":
        target = folder / "state.json"
        target.write_bytes(target.read_bytes()[:40])
    elif damage == "drop-base-names":
        (folder / f"base-{base}.json").unlink()
    else:
        saved = state(store, "notes")
        saved["n_base"] = 10**6
        (folder / "state.json").write_text(json.dumps(saved), encoding="utf-8")
    restart()
    rebuilt = keyword_index.keyword_index(store, info)
    assert [ranking(rebuilt, q) for q in QUERIES] == good
    assert rebuilt.base_token != base  # built again and saved under a new name
    restart()
    assert keyword_index.keyword_index(store, info).base_token == rebuilt.base_token
    assert retrieve.search(store, ["notes"], "nitrogen dewar").hits[0].name == "nitrogen.md"


def test_scores_match_bm25s(store: DocumentStore) -> None:
    """The same numbers as bm25s's default (Lucene) BM25 on the same tokens."""
    import bm25s
    import numpy as np

    info = store.collection("notes")
    index = keyword_index.keyword_index(store, info)
    corpus: list[list[str]] = []
    versions = store.indexed_versions(info)
    ids: list[str] = []
    for chunk_ids, metadatas, documents in store.iter_chunks(info):
        for chunk, meta, text in zip(chunk_ids, metadatas, documents, strict=True):
            if versions.get(meta["path"]) == meta["file_sha"]:
                ids.append(chunk)
                corpus.append(keyword_index.chunk_terms(meta, text))
    reference = bm25s.BM25()
    reference.index(corpus, show_progress=False)
    for query in QUERIES[:5]:
        terms = retrieve.keyword_tokens(query)
        expected = np.asarray(reference.get_scores(terms), dtype=np.float32)
        ours = index.scores(terms)
        got = np.asarray([ours[index.position[c]] for c in ids], dtype=np.float32)
        assert np.allclose(got, expected, rtol=1e-5, atol=1e-6), query


def test_warm_up_loads_what_the_first_question_needs(store: DocumentStore) -> None:
    """``retrieve.warm_up`` (started when a chat with the collection attached is shown) loads the
    embedding model, the vector index and the keyword index in the background, once per revision;
    a question asked while it runs waits for what is not loaded yet and finds the same hits."""
    query = "centrifuge rotor speed"

    def hits() -> list[tuple[str, int | None, int | None, float]]:
        found = retrieve.search(store, ["notes"], query, settings=RagSettings(top_k=5)).hits
        return [(h.chunk_id, h.vector_rank, h.keyword_rank, round(h.fused_score, 9)) for h in found]

    expected = hits()
    assert expected
    info = store.collection("notes")
    restart()
    retrieve._WARM.clear()
    thread = retrieve.warm_up(store, info)
    assert thread is not None
    assert retrieve.warm_up(store, info) is None  # one warm-up per collection and revision
    assert hits() == expected  # asked at once: waits for the warm-up's keyword index, or loads it itself
    thread.join()
    assert keyword_index._CACHE[str(store.bm25_dir(info))].revision == info.revision
    assert hits() == expected


def test_chunk_texts_stay_out_of_chromas_documents_and_older_collections_read_the_same(tmp_path: Path) -> None:
    """A local collection keeps each chunk's text in its metadata, not as Chroma's document (whose
    full-text index Hearth never searches: a third of each write and of the store's size). A
    collection an earlier Hearth wrote, with the texts as documents, reads and searches the same."""
    store = make_store(tmp_path)
    info = store.collection("notes")
    collection = store.vectors(info)
    raw = collection.get(include=["documents", "metadatas", "embeddings"])
    assert raw["ids"] and not any(raw["documents"])
    assert all(meta["text"] for meta in raw["metadatas"])

    def texts() -> dict[str, str]:
        return {c: t for ids, _, docs in store.iter_chunks(info) for c, t in zip(ids, docs, strict=True)}

    def hits(query: str) -> list[tuple[str, str]]:
        return [(h.chunk_id, h.text) for h in retrieve.search(store, ["notes"], query, k=3).hits]

    stored = texts()
    assert stored == {c: m["text"] for c, m in zip(raw["ids"], raw["metadatas"], strict=True)}
    before = keyword_index.build(store, info)
    found = {query: hits(query) for query in QUERIES}
    assert any(found.values())

    # The same chunks as an earlier Hearth wrote them: the texts as documents.
    collection.delete(ids=raw["ids"])
    documents = [meta.pop("text") for meta in raw["metadatas"]]
    collection.add(ids=raw["ids"], embeddings=raw["embeddings"], documents=documents, metadatas=raw["metadatas"])
    restart()
    assert texts() == stored
    after = keyword_index.build(store, info)
    for query in QUERIES:
        assert ranking(after, query) == ranking(before, query), query
        assert hits(query) == found[query], query

"""Finding the chunks that answer a question: vectors + keywords, fused, optionally reranked.

- Vector search (Chroma, cosine) finds chunks that *mean* the same as the question.
- BM25 keyword search (over the collection's chunk texts, headings and file names; the
  index is kept on disk and updated file by file, see keyword_index.py) finds exact terms
  embeddings blur: gene names, part numbers, acronyms.
- Reciprocal rank fusion (score = sum of 1 / (60 + rank) over both lists) merges the
  two without having to calibrate their scores against each other.
- Every candidate gets both scores (its cosine similarity and its BM25 score), so the
  inspector can show why it was chosen and the "documents only" gate can tell when
  nothing relevant was found.
- When a cross-encoder model is configured and loads, it reorders the best
  candidates; when none is there, this step is skipped and said so in the notes.

Only chunks of the indexed version of each file are returned (see store.py), and
identical chunks (the same text in two copies of a file) are returned once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Generic, TypeVar

from desktop_app.core.errors import HearthError
from desktop_app.core.rag import documents_settings as rag_config
from desktop_app.core.rag import embed_backends
from desktop_app.core.rag.catalog import CollectionInfo
from desktop_app.core.rag.embedder import get_embedder
from desktop_app.core.rag.keyword_index import keyword_index, keyword_tokens
from desktop_app.core.rag.store import DocumentStore
from desktop_app.core.rag.vectors import chunk_text

log = logging.getLogger(__name__)

RRF_K = 60
T = TypeVar("T")
RERANK_CANDIDATES = 20


@dataclass
class Hit:
    chunk_id: str
    text: str
    source: str  # the file's path
    name: str  # the file's name
    title: str
    page: int | None
    page_label: str | None
    heading: str
    start: int
    end: int
    collection: str
    chunk_sha: str = ""
    vector_score: float | None = None  # cosine similarity to the question (-1..1)
    keyword_score: float = 0.0  # BM25
    keyword_coverage: float = 0.0  # share of the question's terms found in the chunk
    vector_rank: int | None = None  # 1-based rank in each list (None: not in its top)
    keyword_rank: int | None = None
    fused_score: float = 0.0
    rerank_score: float | None = None
    relevant: bool = True  # above the similarity threshold, or matching most of the question's terms
    ocr_confidence: float | None = None  # the page was a scan read by text recognition (ocr.py), this sure

    @property
    def score(self) -> float:
        """The score the order was decided on: the reranker's when it ran, else the fused one."""
        return self.rerank_score if self.rerank_score is not None else self.fused_score

    @property
    def location(self) -> str:
        """ "report.pdf, page 3" (the printed page label when it differs from the position)."""
        if self.page is None:
            return self.name
        label = f"page {self.page}" if not self.page_label else f"page {self.page_label} (PDF page {self.page})"
        return f"{self.name}, {label}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["score"] = self.score
        return data


@dataclass
class Retrieval:
    query: str
    collections: list[str]
    hits: list[Hit]  # the best k, best first
    candidates: list[Hit]  # everything considered, best first (for the inspector)
    k: int
    min_similarity: float
    reranker: str = ""
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def relevant_hits(self) -> list[Hit]:
        return [h for h in self.hits if h.relevant]

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "collections": self.collections,
            "k": self.k,
            "min_similarity": self.min_similarity,
            "reranker": self.reranker,
            "notes": self.notes,
            "timings": self.timings,
            "hits": [h.to_dict() for h in self.hits],
            "candidates": [h.to_dict() for h in self.candidates],
        }


# -- reranking -------------------------------------------------------------------------------------

_RERANKERS: dict[str, Any] = {}


def _reranker(name: str) -> Any:
    model = _RERANKERS.get(name)
    if model is None:
        from sentence_transformers import CrossEncoder

        model = CrossEncoder(name, device="cpu", local_files_only=True)
        _RERANKERS[name] = model
    return model


# -- search ----------------------------------------------------------------------------------------


def _hit(chunk: str, text: str, meta: dict[str, Any], collection: str) -> Hit:
    page = meta.get("page")
    return Hit(
        chunk_id=chunk,
        text=text,
        source=str(meta.get("path", "")),
        name=str(meta.get("name", "")),
        title=str(meta.get("title", "")),
        page=int(page) if page is not None else None,
        page_label=meta.get("page_label"),
        heading=str(meta.get("heading", "")),
        start=int(meta.get("start", 0)),
        end=int(meta.get("end", 0)),
        collection=collection,
        chunk_sha=str(meta.get("chunk_sha", "")),
        ocr_confidence=_ocr_confidence(str(meta.get("ocr_pages", "")), page),
    )


def _ocr_confidence(ocr_pages: str, page: Any) -> float | None:
    """The recogniser's confidence for ``page`` from a file's "2:0.97 3:0.91" (None: not a scan)."""
    for item in ocr_pages.split():
        number, _, confidence = item.partition(":")
        if page is not None and number == str(page):
            try:
                return float(confidence)
            except ValueError:
                return None
    return None


def _search_collection(
    store: DocumentStore, info: CollectionInfo, query: str, n: int, timings: dict[str, float]
) -> list[Hit]:
    import numpy as np

    embedder = get_embedder(info.embed_model, info.embed_backend)
    info = store.shared.pull(info, embedder.id)  # a shared collection: other clients' files, checked to be this model's
    if info.chunks == 0:
        return []
    # The keyword index loads (from disk, after a start) while the question is embedded and
    # Chroma searches its vectors (loading its own index the first time): each waits on I/O and
    # numpy or Rust, so the two overlap.
    keywords = _Background(lambda: keyword_index(store, info))
    t0 = time.perf_counter()
    vector = embedder.encode_query(query)
    timings["embed_query_ms"] = timings.get("embed_query_ms", 0) + (time.perf_counter() - t0) * 1000
    versions = store.indexed_versions(info)
    collection = store.vectors(info)

    t0 = time.perf_counter()
    result = collection.query(
        query_embeddings=[vector], n_results=min(n * 2, max(1, info.chunks)),
        include=["documents", "metadatas", "distances"],
    )  # fmt: skip
    timings["vector_ms"] = timings.get("vector_ms", 0) + (time.perf_counter() - t0) * 1000
    hits: dict[str, Hit] = {}
    rank = 0
    for chunk, text, meta, distance in zip(
        result["ids"][0], result["documents"][0], result["metadatas"][0], result["distances"][0], strict=True
    ):
        meta = dict(meta or {})
        text = chunk_text(text, meta)
        if versions.get(str(meta.get("path"))) != meta.get("file_sha"):
            continue  # a chunk of an unfinished or replaced version
        rank += 1
        if rank > n:
            break
        hit = _hit(chunk, text, meta, info.name)
        hit.vector_score = 1.0 - float(distance)
        hit.vector_rank = rank
        hits[chunk] = hit

    t0 = time.perf_counter()
    index = keywords.result()
    terms = keyword_tokens(query)
    scores = index.scores(terms)
    keyword_ids = index.top(scores, n)
    # Its own time (loading, beside the vector search, and scoring), and what the search waited for it.
    timings["keyword_ms"] = timings.get("keyword_ms", 0) + keywords.seconds * 1000 + (time.perf_counter() - t0) * 1000
    timings["keyword_wait_ms"] = timings.get("keyword_wait_ms", 0) + (time.perf_counter() - t0) * 1000

    missing = [c for c in keyword_ids if c not in hits]
    if missing:
        fetched = collection.get(ids=missing, include=["documents", "metadatas", "embeddings"])
        for chunk, text, meta, embedding in zip(
            fetched["ids"], fetched["documents"], fetched["metadatas"], fetched["embeddings"], strict=True
        ):
            meta = dict(meta or {})
            hit = _hit(chunk, chunk_text(text, meta), meta, info.name)
            hit.vector_score = float(np.dot(np.asarray(embedding, dtype=np.float32), vector))
            hits[chunk] = hit
    term_set = set(terms)
    for i, chunk in enumerate(keyword_ids, start=1):
        hits[chunk].keyword_rank = i
    for chunk, hit in hits.items():
        position = index.position.get(chunk)
        hit.keyword_score = float(scores[position]) if position is not None and len(scores) else 0.0
        if term_set:
            found = set(keyword_tokens(f"{hit.name} {hit.heading} {hit.text}"))
            hit.keyword_coverage = len(term_set & found) / len(term_set)
        hit.fused_score = sum(1.0 / (RRF_K + r) for r in (hit.vector_rank, hit.keyword_rank) if r is not None)
    return list(hits.values())


class _Background(Generic[T]):
    """``load()`` on a thread of its own; ``result()`` waits for it (and re-raises its error)."""

    def __init__(self, load: Callable[[], T]) -> None:
        self._load = load
        self._value: T | None = None
        self._error: BaseException | None = None
        self.seconds = 0.0
        self._thread = threading.Thread(target=self._run, name="hearth-keyword-index", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        started = time.perf_counter()
        try:
            self._value = self._load()
        except BaseException as exc:  # noqa: BLE001 - re-raised by result(), on the caller's thread
            self._error = exc
        self.seconds = time.perf_counter() - started

    def result(self) -> T:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]  # set by _run when it raised nothing


_WARM: set[tuple[str, int]] = set()
_WARM_LOCK = threading.Lock()


def warm_up(store: DocumentStore, info: CollectionInfo) -> threading.Thread | None:
    """Starts loading, in the background, what the first question to ``info`` needs: the
    embedding model, Chroma's client and the collection's vector index (a local one: a server
    keeps its own loaded), and the keyword index. Called as soon as a chat with the collection
    attached is shown, so the question, typed meanwhile, does not wait for them. Once per
    collection and revision; the thread is returned (None when there is nothing to do). Errors
    are left for the question itself to report."""
    key = (str(store.bm25_dir(info)), info.revision)
    with _WARM_LOCK:
        if key in _WARM or not info.chunks:
            return None
        _WARM.add(key)

    def model() -> None:
        embedder = get_embedder(info.embed_model, info.embed_backend)
        if info.shared:  # the mirror of the server's manifest first: the keyword index follows it
            keyword_index(store, store.shared.pull(info, embedder.id))

    def indexes() -> None:
        store.probe(info)  # one query: Chroma loads the vector index from disk
        keyword_index(store, info)

    # The model beside the indexes (importing chromadb and loading its index, then the keyword
    # index): on a busy two-core machine the three took 3.5 s one after another. Only an ONNX
    # model: its imports (onnxruntime, tokenizers) share nothing with chromadb's but numpy, imported
    # first (one module imported by two threads at once can fail half-way); PyTorch's share a lot.
    parallel = not info.shared and embed_backends.backend(info.embed_backend).family == "onnx"
    def both() -> None:
        model()
        indexes()

    parts = [model, indexes] if parallel else [model] if info.shared else [both]

    def load() -> None:
        import numpy  # noqa: F401 - see above

        loads = [_Background(part) for part in parts]
        for part in loads:
            try:
                part.result()
            except Exception:  # the question that needs it says what went wrong
                log.info("Warming up the collection %s failed", info.name, exc_info=True)
                with _WARM_LOCK:
                    _WARM.discard(key)

    thread = threading.Thread(target=load, name=f"hearth-warm-up-{info.store_name}", daemon=True)
    thread.start()
    return thread


def search(
    store: DocumentStore,
    collections: Sequence[str],
    query: str,
    k: int | None = None,
    settings: rag_config.RagSettings | None = None,
) -> Retrieval:
    """The best ``k`` chunks for ``query`` across ``collections``, with every score kept."""
    settings = settings or rag_config.load()
    k = max(1, k or settings.top_k)
    query = query.strip()
    if not query:
        raise HearthError("Type a question to search for.")
    if not collections:
        raise HearthError("No document collection is selected.", "Attach a collection first.")
    started = time.perf_counter()
    timings: dict[str, float] = {}
    infos = [store.collection(name) for name in collections]
    n = max(settings.candidates, k)
    candidates: list[Hit] = []
    notes: list[str] = []
    for info in infos:
        try:
            candidates.extend(_search_collection(store, info, query, n, timings))
        except HearthError as exc:
            if not info.shared or len(infos) == 1:
                raise
            # A server that is down does not stop the answer from the other collections; it is said.
            notes.append(f"“{info.name}” was left out: {exc}")
    candidates.sort(key=lambda h: (-h.fused_score, -(h.vector_score or 0.0)))
    # The same text twice (a copied file) is shown once.
    seen: set[str] = set()
    unique: list[Hit] = []
    for hit in candidates:
        key = hit.chunk_sha or hit.chunk_id
        if key in seen:
            continue
        seen.add(key)
        unique.append(hit)
    for hit in unique:
        hit.relevant = (hit.vector_score or 0.0) >= settings.min_similarity or hit.keyword_coverage >= 0.6
    reranker = settings.reranker.strip()
    if reranker and unique:
        t0 = time.perf_counter()
        try:
            model = _reranker(reranker)
            head = unique[:RERANK_CANDIDATES]
            scores = model.predict([(query, h.text) for h in head], show_progress_bar=False)
            for hit, score in zip(head, scores, strict=True):
                hit.rerank_score = float(score)
            head.sort(key=lambda h: -(h.rerank_score or 0.0))
            unique = head + unique[RERANK_CANDIDATES:]
        except Exception as exc:  # noqa: BLE001 - an optional model: say so and carry on without it
            notes.append(f"The reranker “{reranker}” could not be used ({str(exc).splitlines()[0][:120]}).")
            reranker = ""
        timings["rerank_ms"] = (time.perf_counter() - t0) * 1000
    if not reranker:
        notes.append("No reranker is configured: results are ordered by fused vector and keyword rank.")
    timings["total_ms"] = (time.perf_counter() - started) * 1000
    return Retrieval(
        query=query,
        collections=[i.name for i in infos],
        hits=unique[:k],
        candidates=unique,
        k=k,
        min_similarity=settings.min_similarity,
        reranker=reranker,
        notes=notes,
        timings={key: round(value, 2) for key, value in timings.items()},
    )

"""Documents: indexing throughput, query latency at 10k and 100k chunks, store size on disk.

- Indexing: a generated corpus of text files goes through Hearth's whole pipeline
  (scan, parse, chunk, embed, write to Chroma and the manifest), timed end to end with
  the embedding model already loaded; the baseline is sentence-transformers encoding
  exactly the same chunk texts on its own, same batch size. Target: Hearth keeps at
  least 80% of the bare encoder's chunks per second.
- Query latency: collections of 10,000 and 100,000 synthetic chunks (random unit
  vectors — what matters for latency is the index size, not the meaning — and texts of
  random words, so BM25 has real postings). Each query runs Hearth's full retrieval:
  the real model embeds the question, then vector search, BM25, manifest filtering
  and fusion. The first query, which builds the BM25 index, is reported apart.
- Store size: Chroma's folder (plus the saved BM25 index) per chunk.

Environment: HEARTH_BENCH_RAG_SCALES (default "10000,100000"), HEARTH_BENCH_RAG_FILES (default 40).
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

WORDS = (  # noqa: SIM905 - a word list reads better as text
    "sample assay buffer protein cell culture plasma serum reagent incubation temperature centrifuge protocol "
    "antibody dilution control replicate measurement analysis result method study patient cohort dose response "
    "signal noise calibration instrument storage freezer nitrogen sequence gene expression pathway enzyme "
    "kinetics binding affinity concentration volume gradient column elution fraction yield purity spectrum"
).split()
QUERIES = [
    "What temperature is used for the incubation of the samples?",
    "How was the antibody dilution calibrated?",
    "Which buffer gives the best protein yield?",
    "How long must the plasma be centrifuged?",
    "What was the response to the highest dose in the cohort?",
    "Where are the reagents stored?",
]


def _paragraph(rng: random.Random, n_words: int) -> str:
    words = [rng.choice(WORDS) for _ in range(n_words)]
    sentences = [" ".join(words[i : i + 12]).capitalize() + "." for i in range(0, len(words), 12)]
    return " ".join(sentences)


def _folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _indexing(root: Path, n_files: int) -> dict[str, Any]:
    from desktop_app.core.rag import ingest
    from desktop_app.core.rag.chunking import chunk_document
    from desktop_app.core.rag.embedder import get_embedder
    from desktop_app.core.rag.ingest import EMBED_BATCH
    from desktop_app.core.rag.parsers import parse
    from desktop_app.core.rag.store import DocumentStore

    rng = random.Random(7)
    corpus = root / "corpus"
    corpus.mkdir()
    for i in range(n_files):
        text = "\n\n".join(_paragraph(rng, rng.randint(60, 160)) for _ in range(8))
        (corpus / f"notes-{i:03}.md").write_text(f"# Notes {i}\n\n{text}\n", encoding="utf-8")
    embedder = get_embedder()
    embedder.encode(["warm up"] * 8)
    store = DocumentStore(root / "index.db", root / "chroma")
    ingest.create_collection(store, "bench")
    report = ingest.add_paths(store, "bench", [corpus])
    hearth_rate = report.rate

    info = store.collection("bench")
    chunks = [c for path in sorted(corpus.iterdir()) for c in chunk_document(parse(path), embedder.token_offsets,
              info.chunk_tokens, info.chunk_overlap)]  # fmt: skip
    texts = [c.embed_text for c in chunks]
    model = embedder._model
    started = time.perf_counter()
    model.encode(texts, batch_size=EMBED_BATCH, normalize_embeddings=True, convert_to_numpy=True)
    bare_s = time.perf_counter() - started
    bare_rate = len(texts) / bare_s
    return {
        "files": n_files,
        "chunks": report.chunks_added,
        "hearth_chunks_per_s": round(hearth_rate, 1),
        "hearth_seconds": round(report.index_s, 2),
        "sentence_transformers_chunks_per_s": round(bare_rate, 1),
        "sentence_transformers_seconds": round(bare_s, 2),
        "ratio": round(hearth_rate / bare_rate, 3),
        "target_ratio": 0.8,
        "store_bytes": _folder_size(root / "chroma"),
    }


def _latency(root: Path, n_chunks: int) -> dict[str, Any]:
    import numpy as np

    from desktop_app.core.rag import ingest, retrieve
    from desktop_app.core.rag.chunking import Chunk
    from desktop_app.core.rag.config import RagSettings
    from desktop_app.core.rag.embedder import get_embedder
    from desktop_app.core.rag.store import DocumentStore, FileRecord

    rng = random.Random(n_chunks)
    np_rng = np.random.default_rng(n_chunks)
    embedder = get_embedder()
    store = DocumentStore(root / f"latency-{n_chunks}.db", root / f"chroma-{n_chunks}")
    info = ingest.create_collection(store, "synthetic", RagSettings())
    per_file = max(100, n_chunks // 100)  # 100 files whatever the size: big upserts insert faster
    started = time.perf_counter()
    for f in range(n_chunks // per_file):
        path = str(root / f"synthetic-{f:05}.txt")
        texts = [_paragraph(rng, 40) for _ in range(per_file)]
        chunks = []
        offset = 0
        for i, text in enumerate(texts):
            chunks.append(Chunk(text, None, None, "", offset, offset + len(text), i, 60))
            offset += len(text) + 2
        vectors = np_rng.standard_normal((per_file, embedder.dimension)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        record = FileRecord(path, "indexed", offset, 0, f"sha-{f}", "", "text", "", None, per_file,
                            "synthetic", embedder.id, "", time.time())  # fmt: skip
        store.write_file(info, record, chunks, vectors, {})
    build_s = time.perf_counter() - started
    settings = RagSettings(top_k=5)
    first = time.perf_counter()
    retrieve.search(store, ["synthetic"], QUERIES[0], settings=settings)
    first_ms = (time.perf_counter() - first) * 1000
    times = []
    stages: dict[str, list[float]] = {}
    for round_ in range(5):
        for query in QUERIES:
            t0 = time.perf_counter()
            result = retrieve.search(store, ["synthetic"], f"{query} ({round_})", settings=settings)
            times.append((time.perf_counter() - t0) * 1000)
            for stage, ms in result.timings.items():
                stages.setdefault(stage, []).append(ms)
    times.sort()
    chroma_bytes = _folder_size(root / f"chroma-{n_chunks}")
    return {
        "chunks": n_chunks,
        "queries": len(times),
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[int(len(times) * 0.95) - 1], 1),
        "stage_p50_ms": {stage: round(statistics.median(ms), 1) for stage, ms in stages.items()},
        "first_query_ms_with_bm25_build": round(first_ms, 1),
        "insert_seconds": round(build_s, 1),
        "store_bytes": chroma_bytes,
        "store_bytes_per_chunk": round(chroma_bytes / n_chunks),
    }


def run() -> dict[str, Any]:
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    os.environ["HF_HUB_OFFLINE"] = "1"
    scales = [int(s) for s in os.environ.get("HEARTH_BENCH_RAG_SCALES", "10000,100000").split(",") if s.strip()]
    n_files = int(os.environ.get("HEARTH_BENCH_RAG_FILES", "40"))
    with tempfile.TemporaryDirectory(prefix="hearth-bench-rag-") as tmp:
        root = Path(tmp)
        os.environ["HEARTH_HOME"] = str(root / "home")
        results: dict[str, Any] = {"indexing": _indexing(root, n_files)}
        results["query_latency"] = {str(n): _latency(root, n) for n in scales}
    results["notes"] = [
        "Indexing rate excludes loading the embedding model (done once per app session).",
        "Latency collections use random unit vectors and random-word texts; the query is embedded by the real model.",
    ]
    return results


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))

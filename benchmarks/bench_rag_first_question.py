"""Documents: what the user waits for from pressing Send, for the first question after a start,
on a big collection (default 100,000 synthetic chunks, written as bench_rag_keyword writes them).

Each round is a new Python process playing the app: it opens the document store (the app's
start), then the chat with the collection attached is shown — which starts a warm-up — and,
``delay`` seconds later, the user presses Send: ``retrieve.search`` runs Hearth's full search
(the question embedded by the real model, vector search, BM25, fusion). What is timed is Send to
the search's result, nothing excluded: whatever the warm-up has not finished yet is waited for.

Two warm-ups are compared, in alternating rounds:
- ``model_only``: what the chat did before: the embedding model loaded in the background;
  Chroma's client, the collection's vector index (HNSW) and the keyword index loaded by the
  first question itself;
- ``collection``: ``retrieve.warm_up``: the model, Chroma's client, the vector index (one probe
  query) and the keyword index, all in the background.

At two delays: ``0`` s (Send the instant the chat is shown: the worst case, the warm-up's whole
remainder is waited for) and ``typing`` s (HEARTH_BENCH_FIRST_QUESTION_TYPING, default 5: a short
question typed). ``warm_up_s`` is how long the whole warm-up took on its own (after it, Send
waits for the search alone). Target: under 1 s after typing.

Environment: HEARTH_BENCH_KEYWORD_CHUNKS (default 100000), HEARTH_BENCH_FIRST_QUESTION_ROUNDS
(default 3), HEARTH_BENCH_FIRST_QUESTION_DIR (a folder holding an earlier run's collection, reused;
made there when missing).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_rag import QUERIES
from benchmarks.bench_rag_keyword import PER_FILE, _open, _write_file

NAME = "synthetic"


def _build(root: Path, n_chunks: int) -> float:
    from desktop_app.core.rag import ingest, keyword_index
    from desktop_app.core.rag.documents_settings import RagSettings
    from desktop_app.core.rag.embedder import get_embedder

    embedder = get_embedder()
    store = _open(root)
    info = ingest.create_collection(store, NAME, RagSettings())
    started = time.perf_counter()
    for f in range(max(2, n_chunks // PER_FILE)):
        _write_file(store, info, root, f, embedder.dimension, embedder.id)
    keyword_index.keyword_index(store, store.collection(NAME))  # saved: a restart finds it on disk
    return time.perf_counter() - started


def first_question(root: Path, warm: str, delay: float, query: str) -> dict[str, float]:
    """In a new process: the store opened, the chat shown (warm-up started), Send after ``delay``."""
    from desktop_app.core.rag import retrieve
    from desktop_app.core.rag.documents_settings import RagSettings
    from desktop_app.core.rag.embedder import warm_up

    store = _open(root)
    info = store.collection(NAME)
    thread = retrieve.warm_up(store, info) if warm == "collection" else warm_up(info.embed_model, info.embed_backend)
    time.sleep(delay)
    sent = time.perf_counter()
    result = retrieve.search(store, [NAME], query, settings=RagSettings(top_k=5))
    waited = time.perf_counter() - sent
    if thread is not None:
        thread.join()
    return {"wait_ms": waited * 1000, "hits": len(result.hits), **result.timings}


def _in_new_process(root: Path, warm: str, delay: float, query: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_rag_first_question", "--first-question", str(root), warm,
         str(delay), query],
        capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parent.parent,
    )  # fmt: skip
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _warm_up_alone(root: Path) -> float:
    """How long ``retrieve.warm_up`` takes in a new process with nothing else running."""
    code = (
        "import json, time\n"
        "from benchmarks.bench_rag_keyword import _open\n"
        "from desktop_app.core.rag import retrieve\n"
        f"store = _open(__import__('pathlib').Path({str(root)!r}))\n"
        "t = time.perf_counter()\n"
        f"retrieve.warm_up(store, store.collection({NAME!r})).join()\n"
        "print(json.dumps(time.perf_counter() - t))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent)  # fmt: skip
    return float(out.stdout.strip().splitlines()[-1])


def run() -> dict[str, Any]:
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    os.environ["HF_HUB_OFFLINE"] = "1"
    n_chunks = int(os.environ.get("HEARTH_BENCH_KEYWORD_CHUNKS", "100000"))
    rounds = int(os.environ.get("HEARTH_BENCH_FIRST_QUESTION_ROUNDS", "3"))
    typing = float(os.environ.get("HEARTH_BENCH_FIRST_QUESTION_TYPING", "5"))
    kept = os.environ.get("HEARTH_BENCH_FIRST_QUESTION_DIR", "")
    with tempfile.TemporaryDirectory(prefix="hearth-bench-first-question-") as tmp:
        root = Path(kept) if kept else Path(tmp)
        os.environ["HEARTH_HOME"] = str(root / "home")
        build_s = None
        if not (root / "hearth.db").is_file():
            root.mkdir(parents=True, exist_ok=True)
            build_s = round(_build(root, n_chunks), 1)
        chunks = _open(root).collection(NAME).chunks
        waits: dict[str, list[dict[str, float]]] = {}
        for round_ in range(rounds):
            for delay in (0.0, typing):
                for warm in ("model_only", "collection"):  # alternating: the machine's speed drifts
                    query = QUERIES[round_ % len(QUERIES)]
                    waits.setdefault(f"{warm}_send_after_{delay:g}s", []).append(
                        _in_new_process(root, warm, delay, query)
                    )
        alone = [_warm_up_alone(root) for _ in range(max(1, rounds - 1))]
    summary: dict[str, dict[str, Any]] = {
        key: {
            "wait_ms": [round(r["wait_ms"]) for r in runs],
            "median_wait_ms": round(statistics.median(r["wait_ms"] for r in runs)),
            "median_vector_ms": round(statistics.median(r.get("vector_ms", 0.0) for r in runs)),
            "median_keyword_ms": round(statistics.median(r.get("keyword_ms", 0.0) for r in runs)),
        }
        for key, runs in waits.items()
    }
    after_typing = int(summary[f"collection_send_after_{typing:g}s"]["median_wait_ms"])
    return {
        "chunks": chunks,
        "build_seconds": build_s,
        "rounds": rounds,
        "typing_s": typing,
        "from_send": summary,
        "warm_up_alone_s": [round(s, 2) for s in alone],
        "target_ms_after_typing": 1000,
        "meets_target": after_typing < 1000,
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "notes": [
            "wait_ms is Send to the search's result in a new process, whatever is still loading included.",
            "model_only is the chat's earlier warm-up (the embedding model alone); collection is retrieve.warm_up.",
        ],
    }


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--first-question":
        os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["HEARTH_HOME"] = str(Path(sys.argv[2]) / "home")
        print(json.dumps(first_question(Path(sys.argv[2]), sys.argv[3], float(sys.argv[4]), sys.argv[5])))
    else:
        print(json.dumps(run(), indent=2))

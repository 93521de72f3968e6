"""Embeddings through Hearth's server against the embedder called directly (issue 23, item 4).

The documents' embedding model (all-MiniLM-L6-v2, on its default backend) embeds the same 512
sentences in batches of 64, once by ``Embedder.encode`` in this process and once through
``/v1/embeddings`` on loopback with the ``openai`` client (base64, as the client asks by
default; float lists too). Rounds alternate and the best of each counts. Target: the server at
0.9 or more of the direct rate.
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any

TEXTS = 512
BATCH = 64
ROUNDS = 3
TARGET = 0.9


def _texts() -> list[str]:
    words = ["river", "stone", "lamp", "orchard", "signal", "winter", "copper", "harbour", "meadow", "lantern"]
    return [" ".join(words[(i * 7 + j) % len(words)] for j in range(8 + i % 17)) + f" ({i})." for i in range(TEXTS)]


def run() -> dict[str, Any]:
    os.environ.setdefault("HEARTH_HOME", tempfile.mkdtemp(prefix="hearth-bench-"))
    import openai

    from desktop_app.core.rag.embedder import DEFAULT_MODEL, get_embedder
    from desktop_app.core.server.model_access import EngineQueue
    from desktop_app.core.server.runner import LocalServer

    texts = _texts()
    batches = [texts[i : i + BATCH] for i in range(0, TEXTS, BATCH)]
    embedder = get_embedder(DEFAULT_MODEL)
    embedder.encode(batches[0])  # warm
    queue = EngineQueue()
    server = LocalServer(queue, "127.0.0.1", 0, None)
    server.start()
    client = openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0)
    quiet = {"X-Hearth-Save-Conversation": "false"}
    try:
        client.embeddings.create(model=DEFAULT_MODEL, input=batches[0])  # warm
        best = {"direct": float("inf"), "server_base64": float("inf"), "server_float": float("inf")}
        for _ in range(ROUNDS):
            started = time.perf_counter()
            for batch in batches:
                embedder.encode(batch)
            best["direct"] = min(best["direct"], time.perf_counter() - started)
            for fmt in ("base64", "float"):
                started = time.perf_counter()
                for batch in batches:
                    client.embeddings.create(model=DEFAULT_MODEL, input=batch, encoding_format=fmt,  # type: ignore[arg-type]
                                             extra_headers=quiet)  # fmt: skip
                best[f"server_{fmt}"] = min(best[f"server_{fmt}"], time.perf_counter() - started)
    finally:
        server.stop()
        queue.close()
    rates = {name: round(TEXTS / seconds, 1) for name, seconds in best.items()}
    ratio = rates["server_base64"] / rates["direct"]
    return {
        "texts": TEXTS,
        "batch": BATCH,
        "backend": embedder.backend,
        "texts_per_s": rates,
        "server_vs_direct": round(ratio, 3),
        "server_float_vs_direct": round(rates["server_float"] / rates["direct"], 3),
        "target": TARGET,
        "meets_target": ratio >= TARGET,
    }

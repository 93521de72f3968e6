"""Dataset runs against a server (issue 11, part 2): llama-cpp-python's own server on loopback,
several rows in flight; a busy server retried with backoff; a server that goes away pausing the
run, which resumes once it is back without losing or repeating a row (Hearth's own server,
stopped and started again by the test)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from runs_data import LABEL_PROMPT, LABEL_SYSTEM, review_rows, stored_rows, write_csv

from desktop_app.core.cancel import CancelToken
from desktop_app.core.errors import HearthError
from desktop_app.core.inference.engine import Message
from desktop_app.core.inference.remote import RemoteClient
from desktop_app.core.models.fingerprint import sha256_file
from desktop_app.core.runs import runner
from desktop_app.core.runs.remote_generator import RemoteGenerator
from desktop_app.core.runs.storage import RunStore
from desktop_app.core.runs.tasks import Task, run_sampling
from desktop_app.core.settings import LoadSettings, RemoteEndpoint, SamplingSettings, Settings

LABELS = ["positive", "negative"]


def label_task() -> Task:
    return Task(
        prompt=LABEL_PROMPT, system=LABEL_SYSTEM, kind="labels", labels=list(LABELS), reference="label",
        sampling=run_sampling(max_tokens=4),
    )  # fmt: skip


def test_a_label_run_on_llama_cpp_server_sends_rows_concurrently(
    tmp_path: Path, store: RunStore, llama_cpp_server: Any
) -> None:
    endpoint = RemoteEndpoint(id="lab", name="lab box", url=llama_cpp_server.root, concurrency=3)
    client = RemoteClient(endpoint.url, llama_cpp_server.key, endpoint.name)
    model = client.describe_model(llama_cpp_server.model_id, "lab")
    assert RemoteGenerator(client, model, 3).concurrency == 1  # by default: it would cut running replies short
    # The test's server queues requests instead (--interrupt_requests False): three may be in flight.
    backend = RemoteGenerator(client, model, endpoint.concurrency, serial_server_one_at_a_time=False)
    in_flight = 0
    most = 0
    lock = threading.Lock()
    generate = backend.generate

    def counting(*args: Any, **kwargs: Any) -> Any:  # watches the real calls: how many at once
        nonlocal in_flight, most
        with lock:
            in_flight += 1
            most = max(most, in_flight)
        try:
            return generate(*args, **kwargs)
        finally:
            with lock:
                in_flight -= 1

    backend.generate = counting  # type: ignore[method-assign]
    try:
        summary = runner.start(runner.plan_run(write_csv(tmp_path / "reviews.csv"), label_task()), backend, store)
    finally:
        backend.close()
    rows = stored_rows(summary.run_id)
    assert summary.status == "done" and [r["idx"] for r in rows] == list(range(8))
    assert all(r["output"] in LABELS for r in rows), [r["output"] for r in rows]
    assert most == 3  # three rows in flight (llama_cpp.server answers them one after another)
    described = store.get(summary.run_id).manifest.model
    assert (described.kind, described.url) == ("remote", llama_cpp_server.root)
    assert described.model_id == llama_cpp_server.model_id
    assert described.sha256 is None and any("sha256" in u for u in described.unavailable)
    assert json.loads(rows[0]["detail_json"])["backend"]["model_reported"] == llama_cpp_server.model_id


def _busy_server(failures: list[int]) -> Any:
    """A stand-in for a busy server (none can be made busy on demand here): a real HTTP server on
    loopback that answers 429, then 503, then a proper streamed completion."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse, StreamingResponse

    app = FastAPI()

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": "busy-model", "object": "model", "owned_by": "test"}]}

    @app.post("/v1/chat/completions", response_model=None)
    async def chat() -> Any:
        if failures:
            status = failures.pop(0)
            return JSONResponse({"error": {"message": "slots busy"}}, status_code=status, headers={"Retry-After": "0"})

        def events() -> Iterator[str]:
            chunk = {"model": "busy-model", "choices": [{"index": 0, "delta": {"content": "positive"}}]}
            yield f"data: {json.dumps(chunk)}\n\n"
            yield 'data: {"model": "busy-model", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}\n\n'
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


def test_a_busy_server_is_retried_with_backoff() -> None:
    import uvicorn

    from desktop_app.core.server.runner import bind

    failures = [429, 503, 429]
    sock = bind("127.0.0.1", 0, None)
    server = uvicorn.Server(uvicorn.Config(_busy_server(failures), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            thread.join(0.02)
        client = RemoteClient(f"http://127.0.0.1:{sock.getsockname()[1]}")
        backend = RemoteGenerator(client, client.describe_model("busy-model"), backoff_s=0.05)
        generation = backend.generate([Message("user", "Is it good?")], SamplingSettings(max_tokens=4), CancelToken())
        assert generation.text == "positive" and backend.retries == 3 and failures == []
        failures.extend([503] * 10)  # busy for longer than the retries last: the run would pause
        with pytest.raises(HearthError, match="stayed busy after 6 tries"):
            backend.generate([Message("user", "Is it good?")], SamplingSettings(max_tokens=4), CancelToken())
        client.close()
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def test_a_server_that_goes_away_pauses_the_run_which_resumes_without_loss_or_repeats(
    tmp_path: Path, store: RunStore, smollm2_path: Path
) -> None:
    from desktop_app.core.server.model_access import EngineQueue
    from desktop_app.core.server.runner import LocalServer

    config = Settings(load=LoadSettings(n_ctx=1024))
    queue = EngineQueue(config)
    first = LocalServer(queue, "127.0.0.1", 0, None, defaults=lambda: config, db_path=tmp_path / "served.db")
    first.start()
    port = first.port
    endpoint = RemoteEndpoint(id="hearth", name="other Hearth", url=f"http://127.0.0.1:{port}", concurrency=2)
    path = write_csv(tmp_path / "reviews.csv", review_rows(6))
    backend = RemoteGenerator.for_endpoint(endpoint, smollm2_path.stem)
    stopped = threading.Event()

    def stop_the_server(progress: runner.RunProgress) -> None:
        if progress.done >= 2 and not stopped.is_set():
            stopped.set()
            first.stop()  # the server goes away mid-run

    with pytest.raises(HearthError) as gone:
        runner.start(runner.plan_run(path, label_task()), backend, store, stop_the_server)
    backend.close()
    (record,) = store.all_runs()
    assert record.status == "paused" and record.resumable
    assert "server" in record.message and "Stopped after" in record.message, record.message
    assert "resume" in gone.value.hint
    done = [r["idx"] for r in stored_rows(record.id)]
    assert 2 <= len(done) < 6 and len(done) == len(set(done))

    second = LocalServer(queue, "127.0.0.1", port, None, defaults=lambda: config, db_path=tmp_path / "served.db")
    second.start()  # back on the same address
    try:
        backend = RemoteGenerator.for_endpoint(endpoint, smollm2_path.stem)
        summary = runner.resume(record.id, backend, store)
        backend.close()
    finally:
        second.stop()
        queue.close()
    rows = stored_rows(record.id)
    assert summary.status == "done" and [r["idx"] for r in rows] == list(range(6))  # none lost, none twice
    assert all(r["output"] in LABELS for r in rows)
    assert len(store.get(record.id).manifest.sessions) == 2
    # Hearth's server says per row which model file answered it.
    assert {json.loads(r["detail_json"])["backend"]["model_sha256"] for r in rows} == {sha256_file(smollm2_path)}

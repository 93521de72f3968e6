"""A run's manifest as typed records: what Hearth stores reads back to the same JSON, byte for
byte, and what an older Hearth stored (keys missing, parts of another type) reads with defaults."""

from __future__ import annotations

import json

from desktop_app.core.runs.manifest import ModelRecord, RunManifest
from desktop_app.core.runs.storage import RunStore
from desktop_app.core.runs.tasks import Task, run_sampling

TASK = Task(prompt="Classify: {text}", kind="labels", labels=["yes", "no"], reference="label", scorer="label",
            sampling=run_sampling(seed=7)).to_dict()  # fmt: skip
LOCAL = {
    "kind": "local", "name": "SmolLM2", "path": "/models/smol.gguf", "size_bytes": 1000, "sha256": "ab" * 32,
    "quant": "Q4_1", "architecture": "llama", "llama_cpp_version": "0.3.36", "backend": "CPU",
    "load": {"n_ctx": 4096, "n_threads": 2, "n_gpu_layers": 0, "flash_attn": True},
    "template": {"name": "chatml", "source": "file", "sha256": "cd" * 32, "description": "ChatML, from the file"},
}  # fmt: skip
REMOTE = {
    "kind": "remote", "name": "qwen", "endpoint": "lab", "url": "http://127.0.0.1:8080/v1", "model_id": "qwen",
    "server": {"kind": "llama_cpp", "version": "b1", "n_ctx": 8192, "model_path": "", "model_sha256": "",
               "props": {"x": 1}, "unavailable": ["sha256"]},
    "sha256": None, "path": None, "n_ctx": 8192, "concurrency": 3, "unavailable": ["sha256"], "notes": [],
}  # fmt: skip
# A manifest as the runner writes it today, with every part a run may have.
MANIFEST = {
    "format": "hearth-run", "version": 1, "hearth_version": "0.9.0",
    "dataset": {"path": "/data/r.csv", "format": "csv", "columns": ["id", "text", "label"], "n_rows": 20,
                "sha256": "ef" * 32, "size": 512, "encoding": "utf-8", "delimiter": ",", "id_column": "id",
                "name": "r.csv"},
    "task": TASK,
    "few_shot": [{"index": 0, "id": "a0"}],
    "output": {"kind": "labels", "labels": ["yes", "no"], "schema": None},
    "scorer": {"name": "label", "reference": "label", "tolerance": 0.0, "threshold": 0.5},
    "rows": {"n": 19, "limit": None},
    "model": LOCAL,
    "sampling": {**TASK["sampling"]},
    "seed": 7, "seed_rule": "row seed = …",
    "machine": {"os": "Linux", "machine": "x86_64", "python": "3.12.3", "cpu": "x86_64", "cpu_physical_cores": 2,
                "cpu_logical_cores": 4, "cpu_features": ["AVX2"], "ram_total": 8 << 30, "backend": "CPU",
                "llama_cpp_version": "0.3.36", "gpus": [{"name": "RTX", "vendor": "NVIDIA", "vram_total": 8 << 30}]},
    "started_at": "2026-01-01T10:00:00+0000", "finished_at": "2026-01-01T10:05:00+0000",
    "sessions": [{"started_at": "2026-01-01T10:00:00+0000", "finished_at": "2026-01-01T10:05:00+0000", "rows": 19,
                  "hearth_version": "0.9.0", "backend": "CPU", "llama_cpp_version": "0.3.36",
                  "model_sha256": "ab" * 32}],
    "replay_of": None,
    "documents": {"collection": "lab", "k": 4, "documents_only": True, "settings": {"top_k": 4}},
    "judge": {"mode": "rubric", "judged_runs": [3], "rubric": {"criteria": []}, "rubric_sha256": "12" * 32,
              "rubric_file": None, "prompt": "Judge {output}", "system": "", "output_schema": {"type": "object"},
              "grammar": "root ::= x", "orders": None},
    "imported_from": {"file": "/tmp/run.zip", "run_id": 9},
}  # fmt: skip


def test_a_manifest_hearth_writes_reads_back_to_the_same_bytes() -> None:
    for model in (LOCAL, REMOTE):
        data = {**MANIFEST, "model": model}
        manifest = RunManifest.from_dict(json.loads(json.dumps(data)))
        assert json.dumps(manifest.to_dict()) == json.dumps(data)
    typed = RunManifest.from_dict(MANIFEST)
    assert typed.model.load is not None and typed.model.load.n_ctx == 4096 and typed.model.context == 4096
    assert typed.machine.gpus[0].vram_total == 8 << 30 and typed.sessions[0].rows == 19
    assert typed.documents is not None and typed.documents.k == 4
    assert typed.judge is not None and typed.judge.judged_runs == [3]
    assert typed.sampling is not None and typed.sampling.seed == 7
    remote = ModelRecord.from_dict(REMOTE)
    assert not remote.local and remote.server is not None and remote.server.props == {"x": 1}
    assert remote.context == 8192


def test_what_an_older_hearth_stored_reads_with_defaults() -> None:
    old = RunManifest.from_dict({"seed": 0, "model": {"name": "m"}, "unknown_part": {"x": 1}})
    assert old.seed == 0 and old.model.name == "m" and old.model.local and old.model.load is None
    assert old.sampling is None and old.sessions == [] and old.judge is None and old.documents is None
    assert "unknown_part" not in old.to_dict() and "judge" not in old.to_dict()
    blank = RunManifest.from_dict({})
    assert blank.format == "hearth-run" and blank.seed is None and blank.model.name == ""
    # Parts of the wrong kind are left out rather than breaking the run's page.
    odd = RunManifest.from_dict({"model": "a string", "sessions": "none", "machine": [1], "documents": 3, "task": [1]})
    assert odd.model.name == "" and odd.sessions == [] and odd.machine.os == "" and odd.documents is None
    assert odd.task == {} and ModelRecord.from_dict({"unavailable": "sha256"}).unavailable == []
    assert Task.from_dict({}).prompt == ""  # a task stored without its prompt reads as an empty one


def test_the_store_keeps_the_task_and_manifest_as_records() -> None:
    store = RunStore()
    try:
        run_id = store.create("r", 19, "labels", "/data/r.csv", "ef" * 32, "SmolLM2", "ab" * 32,
                              Task.from_dict(TASK), RunManifest.from_dict(MANIFEST))  # fmt: skip
        record = store.get(run_id)
        assert record.task.labels == ["yes", "no"] and record.task.sampling.seed == 7
        assert record.task.to_dict() == TASK
        assert json.dumps(record.manifest.to_dict()) == json.dumps(MANIFEST)
        raw = store.db.execute("SELECT manifest_json FROM runs WHERE id=?", (run_id,)).fetchone()[0]
        assert raw == json.dumps(MANIFEST)
    finally:
        store.close()

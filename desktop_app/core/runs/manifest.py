"""A run's manifest as typed records: what it was made with, read by attributes everywhere.

The manifest is stored as JSON with the run (``runs.manifest_json``) and exported with it; the
records here are its one way in and out: ``from_dict`` reads what any version of Hearth stored
through ``core/records.from_dict`` (a key missing takes its default, an unknown one is dropped,
a value of the wrong type is left out) and ``to_dict`` writes the keys in the order Hearth
always wrote them, so the same run exports the same bytes. What is built here lives in provenance.py and runner.py.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from typing import Any

from desktop_app.core import records
from desktop_app.core.inference.remote import ServerInfo
from desktop_app.core.settings import SamplingSettings

MANIFEST_FORMAT = "hearth-run"
MANIFEST_VERSION = 1


def _plain(value: Any) -> Any:
    """A record as JSON-ready dicts; anything else as it is."""
    return asdict(value) if dataclasses.is_dataclass(value) and not isinstance(value, type) else value


@dataclass(frozen=True)
class TemplateRecord:
    """The chat template a model was prompted with (inference.templates.ChatTemplate.to_dict)."""

    name: str = ""
    source: str = ""  # "file" | "architecture" | "user" | "continuation"
    sha256: str | None = None  # "" for continuation; None: not recorded
    description: str = ""


@dataclass(frozen=True)
class LoadRecord:
    n_ctx: int | None = None
    n_threads: int | None = None
    n_gpu_layers: int | None = None
    flash_attn: bool | None = None


# The keys each kind of model wrote, in their order (see generators.LocalGenerator.describe and
# remote_generator.RemoteGenerator.describe).
_LOCAL_KEYS = ("kind", "name", "path", "size_bytes", "sha256", "quant", "architecture", "llama_cpp_version",
               "backend", "load", "template")  # fmt: skip
_REMOTE_KEYS = ("kind", "name", "endpoint", "url", "model_id", "server", "sha256", "path", "n_ctx", "concurrency",
                "unavailable", "notes")  # fmt: skip


@dataclass(frozen=True)
class ModelRecord:
    """What produced a run's outputs (a RowGenerator's ``describe()``): a local file and its sha256,
    or a server, the model id it was asked for and what it says about itself."""

    kind: str = "local"  # "local" | "remote"
    name: str = ""
    path: str | None = None
    sha256: str | None = None  # None: not known (a server that does not say which file it runs)
    # local
    size_bytes: int | None = None
    quant: str | None = None
    architecture: str | None = None
    llama_cpp_version: str | None = None
    backend: str | None = None  # "CPU", "CUDA", "Metal"
    load: LoadRecord | None = None
    template: TemplateRecord | None = None
    # remote
    endpoint: str | None = None  # the server's name among those added
    url: str | None = None
    model_id: str | None = None
    server: ServerInfo | None = None
    n_ctx: int | None = None
    concurrency: int | None = None
    unavailable: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def local(self) -> bool:
        return self.kind in ("", "local")

    @property
    def context(self) -> int | None:
        """The context size it ran at: a server's, or the local load's."""
        return self.n_ctx if self.n_ctx is not None else (self.load.n_ctx if self.load else None)

    def to_dict(self) -> dict[str, Any]:
        keys = _REMOTE_KEYS if self.kind == "remote" else _LOCAL_KEYS
        data: dict[str, Any] = {}
        for key in keys:
            value = getattr(self, key)
            data[key] = _plain(value)
        return data

    @classmethod
    def from_dict(cls, data: Any) -> ModelRecord:
        return records.from_dict(cls, data)


@dataclass(frozen=True)
class GpuRecord:
    name: str = ""
    vendor: str = ""
    vram_total: int = 0


@dataclass(frozen=True)
class MachineRecord:
    """The computer a run was made on (provenance.machine)."""

    os: str = ""
    machine: str = ""
    python: str = ""
    cpu: str = ""
    cpu_physical_cores: int | None = None
    cpu_logical_cores: int | None = None
    cpu_features: list[str] = field(default_factory=list)
    ram_total: int | None = None
    backend: str = ""
    llama_cpp_version: str | None = None
    gpus: list[GpuRecord] = field(default_factory=list)



@dataclass
class RunSession:
    """One stretch of running (the first, or a resume): when, with which engine."""

    started_at: str = ""
    finished_at: str | None = None
    rows: int = 0
    hearth_version: str | None = None
    backend: str | None = None
    llama_cpp_version: str | None = None
    model_sha256: str | None = None


@dataclass(frozen=True)
class DatasetRecord:
    """The dataset file as it was opened (datasets.Dataset.to_dict)."""

    path: str = ""
    format: str = ""
    columns: list[str] = field(default_factory=list)
    n_rows: int | None = None
    sha256: str = ""
    size: int | None = None
    encoding: str = ""
    delimiter: str = ""
    id_column: str | None = None
    name: str = ""


@dataclass(frozen=True)
class FewShotRecord:
    index: int = 0
    id: str = ""


@dataclass(frozen=True)
class OutputRecord:
    kind: str = "text"
    labels: list[str] | None = None
    schema: dict[str, Any] | None = None  # a JSON Schema: free-form by nature


@dataclass(frozen=True)
class ScorerRecord:
    name: str = ""
    reference: str | None = None
    tolerance: float = 0.0
    threshold: float = 0.5


@dataclass(frozen=True)
class RowsRecord:
    n: int = 0
    limit: int | None = None


@dataclass(frozen=True)
class DocumentsRecord:
    """A run answered from a document collection: which, how many passages, with which settings."""

    collection: str = ""
    k: int | None = None
    documents_only: bool = False
    settings: dict[str, Any] = field(default_factory=dict)  # the documents settings, as saved by rag


@dataclass(frozen=True)
class JudgeRecord:
    """A judge run: the rubric, the prompt and the grammar it judged with (core/runs/judge.py)."""

    mode: str = ""
    judged_runs: list[int] = field(default_factory=list)
    rubric: dict[str, Any] = field(default_factory=dict)  # rubric.Rubric.to_dict, as the user wrote it
    rubric_sha256: str = ""
    rubric_file: str | None = None
    prompt: str = ""
    system: str = ""
    output_schema: dict[str, Any] = field(default_factory=dict)  # a JSON Schema
    grammar: str = ""
    orders: list[str] | None = None


@dataclass(frozen=True)
class ImportedFrom:
    file: str = ""
    run_id: int | None = None


@dataclass
class RunManifest:
    """Everything a reviewer needs to reproduce a run (see provenance.py)."""

    format: str = MANIFEST_FORMAT
    version: int = MANIFEST_VERSION
    hearth_version: str | None = None
    dataset: DatasetRecord = field(default_factory=DatasetRecord)
    # The task as recorded (tasks.Task.to_dict): a copy of RunRecord.task, which is what to read
    # (a Task here would import the generators, which describe themselves with ModelRecord).
    task: dict[str, Any] = field(default_factory=dict)
    few_shot: list[FewShotRecord] = field(default_factory=list)
    output: OutputRecord = field(default_factory=OutputRecord)
    scorer: ScorerRecord = field(default_factory=ScorerRecord)
    rows: RowsRecord = field(default_factory=RowsRecord)
    model: ModelRecord = field(default_factory=ModelRecord)
    sampling: SamplingSettings | None = None  # with the run's seed; None: not recorded
    seed: int | None = None  # None: not recorded (a very old run)
    seed_rule: str = ""
    machine: MachineRecord = field(default_factory=MachineRecord)
    started_at: str | None = None
    finished_at: str | None = None
    sessions: list[RunSession] = field(default_factory=list)
    replay_of: int | None = None
    # Parts only some runs have (left out of to_dict when None).
    documents: DocumentsRecord | None = None
    judge: JudgeRecord | None = None
    imported_from: ImportedFrom | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None and f.name in _OPTIONAL:
                continue
            if isinstance(value, ModelRecord):
                data[f.name] = value.to_dict()
            elif isinstance(value, list):
                data[f.name] = [_plain(v) for v in value]
            else:
                data[f.name] = _plain(value)
        return data

    @classmethod
    def from_dict(cls, data: Any) -> RunManifest:
        return records.from_dict(cls, data)


_OPTIONAL = {"documents", "judge", "imported_from"}

"""Running a task over a dataset: checked first, then row by row, each row stored as it finishes.

1. :func:`plan_run` reads the dataset and checks the task against it (columns, labels, schema,
   every row's reference, the few-shot rows). Whatever is wrong is refused in plain words here,
   before a model is asked anything and before anything is stored.
2. :func:`start` records the run with its manifest and runs it; :func:`resume` continues a run
   that was paused, cancelled or killed: rows already stored are skipped, the others run with
   the seeds they would have had, so the result equals an uninterrupted run.
3. A row that fails (its prompt does not fit, a field is missing) is stored with the reason and
   the run goes on; a backend that cannot go on stops the run, which is then marked paused.

The generating goes through a :class:`~desktop_app.core.runs.generators.RowGenerator`; with one that
allows several requests at once, that many rows are in flight together.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop_app.core import records
from desktop_app.core.cancel import CancelToken
from desktop_app.core.errors import Cancelled, HearthError
from desktop_app.core.runs import provenance, scoring
from desktop_app.core.runs.datasets import Dataset, Row, open_dataset
from desktop_app.core.runs.generators import Constraint, DocumentGenerator, RetrievedPassage, RowError, RowGenerator
from desktop_app.core.runs.manifest import (
    DatasetRecord,
    DocumentsRecord,
    FewShotRecord,
    ModelRecord,
    OutputRecord,
    RowsRecord,
    RunManifest,
    ScorerRecord,
)
from desktop_app.core.runs.storage import RowResult, RunStore
from desktop_app.core.runs.summary import Summary, summarize
from desktop_app.core.runs.tasks import Task, build_messages, check_task, probe_rows

if TYPE_CHECKING:
    from desktop_app.core.rag.store import DocumentStore


@dataclass
class RunPlan:
    """A dataset and a task, checked against each other: ready to run."""

    dataset: Dataset
    task: Task
    examples: list[tuple[int, Row]]  # few-shot rows (index, row), in the order given
    indices: list[int]  # dataset rows to run, in order

    @property
    def n(self) -> int:
        return len(self.indices)

    @property
    def title(self) -> str:
        return f"{self.dataset.name} · {self.task.kind}"


@dataclass
class RunProgress:
    run_id: int
    done: int  # rows stored, this session and before
    total: int
    session_rows: int  # rows done since this session started
    elapsed_s: float
    last: RowResult | None = None

    @property
    def rows_per_s(self) -> float:
        return self.session_rows / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        rate = self.rows_per_s
        return (self.total - self.done) / rate if rate > 0 else None


ProgressFn = Callable[[RunProgress], None]


@dataclass
class TimeEstimate:
    seconds_per_row: float
    total_s: float
    rows: list[RowResult] = field(default_factory=list)


def _refuse_row(dataset: Dataset, index: int, row: Row, what: str) -> HearthError:
    return HearthError(
        f"Row {dataset.row_key(index, row)} (line {index + 2}) cannot be scored: {what}.",
        "Correct the reference column, or choose another scorer.",
    )


def plan_run(path: str | Path, task: Task) -> RunPlan:
    """Reads and checks; HearthError in plain words for anything that would spoil the run."""
    dataset = open_dataset(path, task.id_column)
    task = replace(task, labels=list(task.labels), few_shot=list(task.few_shot), sampling=replace(task.sampling),
                   rows=None if task.rows is None else sorted(set(task.rows)))  # fmt: skip
    check_task(task, dataset.columns)
    task.scorer = scoring.scorer_name(task.scorer, task.kind)
    if task.scorer == "fields" and task.kind != "json":
        raise HearthError("The per-field scorer needs JSON outputs.", "Choose the JSON output with a schema.")
    if task.scorer == "label" and task.kind != "labels":
        raise HearthError("The label scorer needs a label task.", "Give the labels, or choose another scorer.")
    if task.collection and task.few_shot:
        raise HearthError("Few-shot examples cannot be used with questions about documents.")
    if task.collection:
        from desktop_app.core.rag.store import DocumentStore

        DocumentStore().collection(task.collection)  # a wrong name is refused now
    for i in task.few_shot:
        if not 0 <= i < dataset.n_rows:
            raise HearthError(f"There is no row {i} to use as an example: the dataset has {dataset.n_rows:,} rows.")
    wanted = set(task.few_shot)
    subset = None if task.rows is None else set(task.rows)  # a sweep's split: only these rows run
    found: dict[int, Row] = {}
    indices: list[int] = []
    for index, row in dataset.rows():
        if index in wanted:
            if not (row.get(task.reference or "") or "").strip():
                raise HearthError(
                    f"Example row {dataset.row_key(index, row)} has no reference to show as its answer.",
                    "Pick examples that have one.",
                )
            found[index] = row
            continue
        if subset is not None and index not in subset:
            continue
        if task.limit is not None and len(indices) >= task.limit:
            continue
        reference = (row.get(task.reference) if task.reference else None) or ""
        if reference.strip():
            why = scoring.check_reference(task.scorer, reference, task.labels)
            if why:
                raise _refuse_row(dataset, index, row, why)
        indices.append(index)
    if not indices:
        raise HearthError("No row is left to run once the examples are taken out.")
    return RunPlan(dataset, task, [(i, found[i]) for i in task.few_shot], indices)


def build_manifest(plan: RunPlan, backend: RowGenerator, seed: int, replay_of: int | None = None) -> RunManifest:
    task = replace(plan.task, sampling=replace(plan.task.sampling, seed=seed))  # a seed drawn for -1 is recorded
    manifest = RunManifest(
        hearth_version=provenance.hearth_version(),
        dataset=records.from_dict(DatasetRecord, plan.dataset.to_dict()),
        task=task.to_dict(),
        few_shot=[FewShotRecord(i, plan.dataset.row_key(i, row)) for i, row in plan.examples],
        output=OutputRecord(task.kind, task.labels or None, task.schema),
        scorer=ScorerRecord(task.scorer, task.reference, task.tolerance, task.threshold),
        rows=RowsRecord(plan.n, task.limit),
        model=backend.describe(),
        sampling=task.sampling,
        seed=seed,
        seed_rule=provenance.SEED_RULE,
        machine=provenance.machine(),
        started_at=provenance.now_iso(),
        replay_of=replay_of,
    )
    if task.collection:
        from desktop_app.core.rag import documents_settings as rag_config

        rag = rag_config.load()
        manifest.documents = DocumentsRecord(task.collection, task.k or rag.top_k, rag.documents_only, rag.to_dict())
    return manifest


def start(
    plan: RunPlan,
    backend: RowGenerator,
    store: RunStore | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    replay_of: int | None = None,
    on_created: Callable[[int], None] | None = None,
) -> Summary:
    """Records the run (after which it can always be resumed), then runs it."""
    own = store is None
    store = store or RunStore()
    try:
        seed = provenance.run_seed(plan.task.sampling.seed)
        manifest = build_manifest(plan, backend, seed, replay_of)
        model = manifest.model
        run_id = store.create(
            f"{plan.title} · {model.name}", plan.n, plan.task.kind, str(plan.dataset.path), plan.dataset.sha256,
            model.name, model.sha256, Task.from_dict(manifest.task), manifest, replay_of,
        )  # fmt: skip
        if on_created:
            on_created(run_id)
        return execute(store, run_id, plan, backend, progress, cancel)
    finally:
        if own:
            store.close()


def plan_for(store: RunStore, run_id: int) -> RunPlan:
    """The plan of a stored run, from its task, against its dataset file as it is now (which
    must be the same file: same sha256)."""
    record = store.get(run_id)
    task = record.task
    path = Path(record.dataset_path)
    if not path.is_file():
        raise HearthError(f"The dataset of run {run_id} is no longer at {path}.", "Put it back there, then try again.")
    plan = plan_run(path, task)
    if plan.dataset.sha256 != record.dataset_sha256:
        raise HearthError(
            f"The dataset “{path.name}” has changed since run {run_id} was made.",
            "Its rows would not match the stored ones: restore the original file, or start a new run.",
        )
    return plan


def check_model(record_model: ModelRecord, backend: RowGenerator) -> None:
    """A run continues only with the model (and chat template) it was made with."""
    now = backend.describe()
    want, have = record_model.sha256, now.sha256
    if want and have and want != have:
        raise HearthError(
            f"This run was made with “{record_model.name}” (sha256 {want[:12]}…), not the model loaded now.",
            "Load the same model file to continue it.",
        )
    then, current = record_model.template, now.template
    if then is not None and current is not None and then.sha256 != current.sha256:
        raise HearthError(
            f"This run prompted the model with the “{then.name}” chat template, not “{current.name}”.",
            "Choose the same template for this model (Chat's side panel), then continue.",
        )


def resume(
    run_id: int,
    backend: RowGenerator,
    store: RunStore | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> Summary:
    own = store is None
    store = store or RunStore()
    try:
        record = store.get(run_id)
        if record.status == "running" and not record.interrupted:
            raise HearthError(f"Run {run_id} is running already (process {record.pid}).")
        plan = plan_for(store, run_id)
        check_model(record.manifest.model, backend)
        if record.done >= record.n:
            store.set_status(run_id, "done")
            return summarize(store, run_id)
        store.set_status(run_id, "running")
        return execute(store, run_id, plan, backend, progress, cancel)
    finally:
        if own:
            store.close()


# -- one row ---------------------------------------------------------------------------------------


@dataclass
class _Context:
    plan: RunPlan
    backend: RowGenerator
    constraint: Constraint | None
    examples: list[Row]
    seed: int
    cancel: CancelToken
    documents: DocumentStore | None = None


def _failed(plan: RunPlan, index: int, row: Row, seed: int, exc: RowError) -> RowResult:
    task = plan.task
    reference = row.get(task.reference or "") if task.reference else None
    return RowResult(
        index=index,
        key=plan.dataset.row_key(index, row),
        inputs={f: row[f] for f in task.fields if f in row},
        prompt=exc.prompt_text,
        output="",
        reference=reference if reference and reference.strip() else None,
        valid=False,
        correct=None,
        score=None,
        error=str(exc),
        finish="error",
        seed=seed,
    )


def _source_hit(task: Task, row: Row, retrieved: list[RetrievedPassage]) -> bool | None:
    """Whether the expected source (file name or path, and page when given) is among the top k."""
    expected = (row.get(task.source_column or "") or "").strip() if task.source_column else ""
    if not expected:
        return None
    page_text = (row.get(task.page_column or "") or "").strip() if task.page_column else ""
    page = scoring.parse_number(page_text) if page_text else None
    wanted = expected.casefold()
    for hit in retrieved:
        source = hit.source.casefold()
        if wanted not in (hit.name.casefold(), source) and not source.endswith("/" + wanted):
            continue
        if page is None or hit.page == int(page):
            return True
    return False


def run_row(ctx: _Context, index: int, row: Row) -> RowResult | None:
    """One row through the backend, parsed and scored; None when cancelled (nothing to store)."""
    plan, task = ctx.plan, ctx.plan.task
    seed = provenance.row_seed(ctx.seed, index)
    reference = (row.get(task.reference) if task.reference else None) or ""
    reference_or_none = reference if reference.strip() else None
    sampling = replace(task.sampling, seed=seed)
    detail: dict[str, Any] = {}
    cited = flagged = source_hit = None
    try:
        messages = build_messages(task, row, ctx.examples)
        if task.collection:
            if not isinstance(ctx.backend, DocumentGenerator):
                raise HearthError("This model cannot answer from documents in a run.", "Use a local model.")
            if ctx.documents is None:
                from desktop_app.core.rag.store import DocumentStore

                ctx.documents = DocumentStore()
            answer = ctx.backend.answer_from_documents(
                ctx.documents, [task.collection], messages[-1].content, task.system, sampling, ctx.cancel, task.k
            )
            generation = answer.generation
            if generation.finish != "cancelled":
                cited, flagged = bool(answer.cited), answer.flagged
                source_hit = _source_hit(task, row, answer.retrieved)
                detail.update(retrieved=[asdict(p) for p in answer.retrieved], cited=answer.cited,
                              no_answer=answer.no_answer, warnings=answer.warnings)  # fmt: skip
        else:
            generation = ctx.backend.generate(messages, sampling, ctx.cancel, ctx.constraint)
    except RowError as exc:
        return _failed(plan, index, row, seed, exc)
    except Cancelled:
        return None
    if generation.finish == "cancelled":
        return None
    parsed = scoring.parse_output(task.kind, generation.text, task.labels, task.schema)
    if not parsed.valid:
        detail["invalid"] = parsed.reason
    correct: bool | None = None
    value: float | None = None
    if reference_or_none is not None:
        result = scoring.score(task.scorer, generation.text, reference, parsed, task.tolerance, task.threshold)
        correct, value = result.correct, result.score
        if result.fields is not None:
            detail["fields"] = result.fields
    if generation.extra:
        detail["backend"] = generation.extra
    return RowResult(
        index=index,
        key=plan.dataset.row_key(index, row),
        inputs={f: row[f] for f in task.fields if f in row},
        prompt=generation.prompt_text,
        output=generation.text,
        reference=reference_or_none,
        valid=parsed.valid,
        correct=correct,
        score=value,
        finish=generation.finish,
        seed=generation.seed,
        prompt_tokens=generation.prompt_tokens,
        gen_tokens=generation.gen_tokens,
        seconds=generation.seconds,
        cited=cited,
        flagged=flagged,
        source_hit=source_hit,
        detail=detail,
    )


def _context(plan: RunPlan, backend: RowGenerator, seed: int, cancel: CancelToken) -> _Context:
    examples = [row for _i, row in plan.examples]
    if not plan.task.collection:
        a, b = probe_rows(plan.task)
        backend.share_prefix(build_messages(plan.task, a, examples), build_messages(plan.task, b, examples))
    return _Context(plan, backend, plan.task.constraint(), examples, seed, cancel)


def _rows_to_run(plan: RunPlan, skip: set[int]) -> Iterator[tuple[int, Row]]:
    wanted = set(plan.indices) - skip
    if not wanted:
        return
    last = max(wanted)
    for index, row in plan.dataset.rows():
        if index in wanted:
            yield index, row
        if index >= last:
            return


def _results(ctx: _Context, rows: Iterator[tuple[int, Row]]) -> Iterator[RowResult | None]:
    """Each row's result as it finishes: in order with one request at a time, else as they come."""
    concurrency = max(1, int(getattr(ctx.backend, "concurrency", 1)))
    if concurrency == 1:  # on this thread: a local engine belongs to the thread that loaded it
        for index, row in rows:
            if ctx.cancel.cancelled:
                return
            yield run_row(ctx, index, row)
        return
    with ThreadPoolExecutor(concurrency, thread_name_prefix="hearth-run") as pool:
        pending: set[Future[RowResult | None]] = set()
        try:
            for index, row in rows:
                if ctx.cancel.cancelled:
                    break
                pending.add(pool.submit(run_row, ctx, index, row))
                if len(pending) >= concurrency:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        yield future.result()
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    yield future.result()
        finally:
            ctx.cancel.cancel()  # an error or an early stop: the requests still in flight give up
            for future in pending:
                future.cancel()


def execute(
    store: RunStore,
    run_id: int,
    plan: RunPlan,
    backend: RowGenerator,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> Summary:
    """Runs every row of ``run_id`` not stored yet; returns the summary of all its rows."""
    user_cancel = cancel or CancelToken()
    inner = CancelToken()  # also fired by the runner itself to stop requests in flight
    user_cancel.on_cancel(inner.cancel)
    record = store.get(run_id)
    manifest = record.manifest
    seed = manifest.seed or 0
    this_session = provenance.session(backend.describe())
    manifest.sessions.append(this_session)
    store.update_manifest(run_id, manifest)
    done = store.done_indices(run_id)
    total = plan.n
    started = time.perf_counter()
    count = 0
    ctx = _context(plan, backend, seed, inner)
    status, message = "paused", ""
    try:
        for result in _results(ctx, _rows_to_run(plan, done)):
            if result is None:
                continue  # cancelled mid-row: it runs again on resume
            store.add_row(run_id, result)
            count += 1
            if progress:
                progress(RunProgress(run_id, len(done) + count, total, count, time.perf_counter() - started, result))
        if user_cancel.cancelled:
            message = f"Paused after {len(done) + count:,} of {total:,} rows."
        else:
            status = "done"
    except HearthError as exc:
        message = f"Stopped after {len(done) + count:,} of {total:,} rows: {exc}"
        raise
    except BaseException:
        message = f"Stopped after {len(done) + count:,} of {total:,} rows by an unexpected error."
        raise
    finally:
        this_session.finished_at = provenance.now_iso()
        this_session.rows = count
        if status == "done":
            manifest.finished_at = this_session.finished_at
        store.update_manifest(run_id, manifest)
        store.set_status(run_id, status, message)
    return summarize(store, run_id)


def estimate(plan: RunPlan, backend: RowGenerator, rows: int = 3, cancel: CancelToken | None = None) -> TimeEstimate:
    """Runs the first few rows without storing them: how long the whole run will take, and a look
    at what the model answers."""
    cancel = cancel or CancelToken()
    ctx = _context(plan, backend, provenance.run_seed(plan.task.sampling.seed), cancel)
    sample = RunPlan(plan.dataset, plan.task, plan.examples, plan.indices[:rows])
    results: list[RowResult] = []
    started = time.perf_counter()
    for result in _results(ctx, _rows_to_run(sample, set())):
        if result is None:
            raise Cancelled
        results.append(result)
    elapsed = time.perf_counter() - started
    per_row = elapsed / len(results) if results else 0.0
    return TimeEstimate(per_row, per_row * plan.n, results)

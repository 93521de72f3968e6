"""Sweeps: several system prompts × templates × few-shot choices × models on one dataset.

Each *cell* is an ordinary run (core/runs/runner.py): stored row by row, resumable, replayable,
exportable, its shared prefix kept in the model's cache. The sweep lists its cells when it is
made (``sweep_cells``, in SQLite) and links each one's run as soon as the run exists, so a sweep
stopped at any point — cancelled, closed, killed — resumes to the same cells: the finished ones
are kept, the one cut short resumes from its stored rows, the rest start.

With a development share the rows are split first (sweep_split.py): every cell is scored on the
development rows; once they are all done the best cell (highest accuracy, the earlier cell on a
tie) runs once more on the test rows, and that is the number to report. The statistics are in
sweep_results.py.

Cells run model by model (each model is loaded once): the caller opens and closes a model
(``open_backend``/``close_backend``: a local file, a server), which keeps this module free of
where models live.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from desktop_app.core.cancel import CancelToken
from desktop_app.core.errors import HearthError
from desktop_app.core.runs import runner
from desktop_app.core.runs.datasets import Dataset, open_dataset
from desktop_app.core.runs.generators import RowGenerator
from desktop_app.core.runs.runner import RunPlan, RunProgress
from desktop_app.core.runs.storage import RunningState, RunStore, shared_columns
from desktop_app.core.runs.sweep_split import FewShot, Split, make_split
from desktop_app.core.runs.tasks import Task, check_task

# A cell's rows: dev(elopment) or test with a split; all (every row) without one.
PHASE_WORDS = {"dev": "development rows", "test": "test rows", "all": "all rows"}


@dataclass
class ModelRef:
    """A model of the sweep: a local file, or a model on a server added in Settings › Servers."""

    name: str
    path: str | None = None
    server: str | None = None  # the endpoint's id
    model_id: str | None = None

    @property
    def kind(self) -> str:
        return "server" if self.server else "local"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelRef:
        return cls(str(data["name"]), data.get("path"), data.get("server"), data.get("model_id"))


@dataclass
class SweepSpec:
    """What varies. ``task`` holds what does not (output kind, labels or schema, reference,
    scorer, sampling); its prompt, system prompt and examples are replaced per cell."""

    dataset: str
    task: Task
    prompts: list[str]
    models: list[ModelRef]
    systems: list[str] = field(default_factory=lambda: [""])  # "": no system prompt (the template's own)
    shots: list[FewShot] = field(default_factory=lambda: [FewShot()])
    dev_fraction: float | None = None  # None: no split, every cell on every row
    seed: int = 0  # the split's and the drawn examples'

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "task": self.task.to_dict(),
            "prompts": list(self.prompts),
            "systems": list(self.systems),
            "shots": [s.to_dict() for s in self.shots],
            "models": [m.to_dict() for m in self.models],
            "dev_fraction": self.dev_fraction,
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SweepSpec:
        return cls(
            dataset=str(data["dataset"]),
            task=Task.from_dict(data["task"]),
            prompts=[str(p) for p in data["prompts"]],
            models=[ModelRef.from_dict(m) for m in data["models"]],
            systems=[str(s) for s in data.get("systems") or [""]],
            shots=[FewShot.from_dict(s) for s in data.get("shots") or [{}]],
            dev_fraction=data.get("dev_fraction"),
            seed=int(data.get("seed") or 0),
        )


@dataclass
class Cell:
    position: int
    phase: str  # a key of PHASE_WORDS
    model: int  # indices into the spec's lists
    system: int
    prompt: int
    shots: int
    run_id: int | None = None

    def label(self, spec: SweepSpec) -> str:
        """The cell in words, naming only what varies in this sweep."""
        parts = []
        if len(spec.prompts) > 1:
            parts.append(f"prompt {self.prompt + 1}")
        if len(spec.systems) > 1:
            parts.append(f"system {self.system + 1}" if spec.systems[self.system].strip() else "no system prompt")
        if len(spec.shots) > 1:
            parts.append(spec.shots[self.shots].label)
        if len(spec.models) > 1 or not parts:
            parts.append(spec.models[self.model].name)
        return " · ".join(parts)


@dataclass
class SweepPlan:
    """A spec checked against its dataset, the rows split: ready to store and run."""

    spec: SweepSpec
    dataset: Dataset
    split: Split
    cells: list[Cell]

    def task(self, cell: Cell) -> Task:
        return cell_task(self.spec, self.split, cell)

    def rows(self, cell: Cell) -> int:
        return len(self.split.test if cell.phase == "test" else self.split.dev)

    @property
    def total_rows(self) -> int:
        """Rows every cell runs, the test run included."""
        return sum(self.rows(c) for c in self.cells) + len(self.split.test)


@dataclass
class SweepRecord(RunningState):
    id: int
    created_at: float
    updated_at: float
    title: str
    status: str  # running | paused | cancelled | done
    message: str
    pid: int | None
    dataset_path: str
    dataset_sha256: str
    spec: SweepSpec
    split: Split
    cells: list[Cell]

    def model_of(self, cell: Cell) -> ModelRef:
        return self.spec.models[cell.model]


@dataclass
class SweepProgress:
    sweep_id: int
    cell: int  # the position of the cell running
    cells: int  # cells in the sweep (the test run counted)
    label: str
    rows_done: int  # over the whole sweep
    rows_total: int
    run: RunProgress

    @property
    def eta_s(self) -> float | None:
        rate = self.run.rows_per_s
        return (self.rows_total - self.rows_done) / rate if rate > 0 else None


SweepProgressFn = Callable[[SweepProgress], None]
OpenGenerator = Callable[[ModelRef], RowGenerator]
CloseGenerator = Callable[[RowGenerator], None]


def cell_task(spec: SweepSpec, split: Split, cell: Cell) -> Task:
    base = spec.task
    return replace(
        base,
        prompt=spec.prompts[cell.prompt],
        system=spec.systems[cell.system],
        few_shot=list(split.shots[cell.shots]),
        rows=list(split.test if cell.phase == "test" else split.dev),
        limit=None,
        labels=list(base.labels),
        sampling=replace(base.sampling),
    )


# -- planning --------------------------------------------------------------------------------------


def _references(dataset: Dataset, column: str) -> dict[int, str]:
    return {i: row.get(column, "") for i, row in dataset.rows() if (row.get(column) or "").strip()}


def plan(spec: SweepSpec) -> SweepPlan:
    """Checks everything that can be checked before a model is asked anything (each distinct
    prompt against the dataset, as a run checks it); HearthError in plain words."""
    prompts = [p for p in spec.prompts if p.strip()]
    if not prompts:
        raise HearthError("A sweep needs at least one prompt template.", "Give one with --prompt, or type one.")
    if len(prompts) != len(spec.prompts):
        raise HearthError("One of the prompt templates is empty.", "Remove it, or write what to ask.")
    if not spec.models:
        raise HearthError("A sweep needs at least one model.", "Choose the models to try.")
    if not spec.task.reference:
        raise HearthError(
            "A sweep compares prompts by how often they are right, so it needs a reference column.",
            "Choose the column that holds the right answer.",
        )
    if spec.task.collection:
        raise HearthError("Questions about documents cannot be swept yet.", "Run each prompt as its own run.")
    if len({json.dumps(s.to_dict()) for s in spec.shots}) != len(spec.shots):
        raise HearthError("The same few-shot choice is listed twice.")
    dataset = open_dataset(spec.dataset, spec.task.id_column)
    check_task(replace(spec.task, prompt=prompts[0]), dataset.columns)  # the reference column, first
    references = _references(dataset, spec.task.reference)
    if not references:
        raise HearthError(f"No row has a reference in “{spec.task.reference}”.", "Choose the column with the answers.")
    split = make_split(references, dataset.n_rows, spec.shots, spec.dev_fraction, spec.seed, spec.task.kind == "labels")
    phase = "all" if spec.dev_fraction is None else "dev"
    cells = [
        Cell(position, phase, m, s, p, f)
        for position, (m, s, p, f) in enumerate(
            itertools.product(
                range(len(spec.models)), range(len(spec.systems)), range(len(spec.prompts)), range(len(spec.shots))
            )
        )
    ]
    checked = SweepPlan(spec, dataset, split, cells)
    seen: set[tuple[int, int, int]] = set()
    for cell in cells:  # each distinct task once: the model does not change what is checked
        if (key := (cell.system, cell.prompt, cell.shots)) not in seen:
            seen.add(key)
            runner.plan_run(dataset.path, checked.task(cell))
    return checked


# -- storage ---------------------------------------------------------------------------------------


def _title(spec: SweepSpec, dataset: Dataset) -> str:
    parts = [f"{len(spec.prompts)} prompt{'s' if len(spec.prompts) != 1 else ''}"]
    if len(spec.systems) > 1:
        parts.append(f"{len(spec.systems)} system prompts")
    if len(spec.shots) > 1:
        parts.append(f"{len(spec.shots)} example choices")
    parts.append(f"{len(spec.models)} model{'s' if len(spec.models) != 1 else ''}")
    return f"{dataset.name} · sweep of " + " × ".join(parts)


def create(checked: SweepPlan, store: RunStore) -> int:
    """Stores the sweep and its cells (none run yet)."""
    now = time.time()
    with store.db:
        cur = store.db.execute(
            "INSERT INTO sweeps (created_at, updated_at, title, status, pid, dataset_path, dataset_sha256, spec_json,"
            " split_json) VALUES (?,?,?,?,?,?,?,?,?)",
            (
                now, now, _title(checked.spec, checked.dataset), "paused", None, str(checked.dataset.path),
                checked.dataset.sha256, json.dumps(checked.spec.to_dict()), json.dumps(checked.split.to_dict()),
            ),
        )  # fmt: skip
        sweep_id = int(cur.lastrowid or 0)
        for cell in checked.cells:
            _insert_cell(store, sweep_id, cell)
    return sweep_id


def _insert_cell(store: RunStore, sweep_id: int, cell: Cell) -> None:
    store.db.execute(
        "INSERT INTO sweep_cells (sweep_id, position, phase, model, system, prompt, shots, run_id)"
        " VALUES (?,?,?,?,?,?,?,?)",
        (sweep_id, cell.position, cell.phase, cell.model, cell.system, cell.prompt, cell.shots, cell.run_id),
    )


def get(store: RunStore, sweep_id: int) -> SweepRecord:
    record = store.db.execute("SELECT * FROM sweeps WHERE id=?", (sweep_id,)).fetchone()
    if record is None:
        raise HearthError(f"There is no sweep number {sweep_id}.", "`hearth sweep list` shows the sweeps there are.")
    cells = [
        Cell(int(r["position"]), str(r["phase"]), int(r["model"]), int(r["system"]), int(r["prompt"]),
             int(r["shots"]), r["run_id"])
        for r in store.db.execute("SELECT * FROM sweep_cells WHERE sweep_id=? ORDER BY position", (sweep_id,))
    ]  # fmt: skip
    return SweepRecord(
        **shared_columns(record),
        spec=SweepSpec.from_dict(json.loads(record["spec_json"])),
        split=Split.from_dict(json.loads(record["split_json"])),
        cells=cells,
    )


def all_sweeps(store: RunStore) -> list[SweepRecord]:
    """Every sweep, newest first."""
    ids = [int(r[0]) for r in store.db.execute("SELECT id FROM sweeps ORDER BY created_at DESC, id DESC")]
    return [get(store, i) for i in ids]


def delete(store: RunStore, sweep_id: int) -> None:
    """Forgets the sweep; its cells' runs stay, as ordinary runs."""
    get(store, sweep_id)
    with store.db:
        store.db.execute("DELETE FROM sweeps WHERE id=?", (sweep_id,))


def set_status(store: RunStore, sweep_id: int, status: str, message: str = "") -> None:
    with store.db:
        store.db.execute(
            "UPDATE sweeps SET status=?, message=?, pid=?, updated_at=? WHERE id=?",
            (status, message, os.getpid() if status == "running" else None, time.time(), sweep_id),
        )


def _link(store: RunStore, record: SweepRecord, cell: Cell, run_id: int) -> None:
    """The cell's run, linked the moment it is stored, and titled so the list of runs tells it apart."""
    name = Path(record.dataset_path).name
    title = f"{name} · sweep {record.id}: {cell.label(record.spec)} ({PHASE_WORDS[cell.phase]})"
    with store.db:
        store.db.execute(
            "UPDATE sweep_cells SET run_id=? WHERE sweep_id=? AND position=?", (run_id, record.id, cell.position)
        )
        store.db.execute("UPDATE runs SET title=? WHERE id=?", (title, run_id))
        store.db.execute("UPDATE sweeps SET updated_at=? WHERE id=?", (time.time(), record.id))


# -- what is left ----------------------------------------------------------------------------------


def _cell_done(store: RunStore, cell: Cell) -> bool:
    if cell.run_id is None:
        return False
    run = store.get(cell.run_id)
    return run.done >= run.n


def pending(store: RunStore, record: SweepRecord, model: int | None = None) -> list[Cell]:
    """The cells not finished yet (of one model), in order."""
    return [c for c in record.cells if (model is None or c.model == model) and not _cell_done(store, c)]


def best_cell(store: RunStore, record: SweepRecord) -> Cell | None:
    """The development cell with the highest accuracy (the earlier one on a tie)."""
    best: tuple[float, Cell] | None = None
    for cell in record.cells:
        if cell.phase == "test" or cell.run_id is None:
            continue
        counts = store.counts(cell.run_id)
        if not counts["scored"]:
            continue
        accuracy = counts["correct"] / counts["scored"]
        if best is None or accuracy > best[0]:
            best = (accuracy, cell)
    return best[1] if best else None


def ensure_test_cell(store: RunStore, record: SweepRecord) -> SweepRecord:
    """With a split, once every development cell is done: the best one on the test rows, as one
    more cell (made once; the choice is never revisited)."""
    if not record.split.test or any(c.phase == "test" for c in record.cells):
        return record
    if any(not _cell_done(store, c) for c in record.cells):
        return record
    best = best_cell(store, record)
    if best is None:
        return record
    chosen = Cell(len(record.cells), "test", best.model, best.system, best.prompt, best.shots)
    with store.db:
        _insert_cell(store, record.id, chosen)
    return get(store, record.id)


def models_to_run(store: RunStore, record: SweepRecord) -> list[int]:
    """The models with cells left, in the order their cells come (each loaded once)."""
    order: list[int] = []
    for cell in pending(store, record):
        if cell.model not in order:
            order.append(cell.model)
    return order


# -- running ---------------------------------------------------------------------------------------


def _rows_of(record: SweepRecord, cell: Cell) -> int:
    return len(record.split.test if cell.phase == "test" else record.split.dev)


def _total_rows(record: SweepRecord) -> int:
    total = sum(_rows_of(record, c) for c in record.cells)
    return total if any(c.phase == "test" for c in record.cells) else total + len(record.split.test)


def _done_rows(store: RunStore, record: SweepRecord) -> int:
    return sum(store.get(c.run_id).done for c in record.cells if c.run_id is not None)


def run_model(
    store: RunStore,
    sweep_id: int,
    model: int,
    backend: RowGenerator,
    progress: SweepProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> None:
    """Runs (or resumes) every unfinished cell of one model with its ``backend``; then, if that
    finished the development cells, adds the test cell (run by the next call for its model)."""
    cancel = cancel or CancelToken()
    record = get(store, sweep_id)
    for cell in pending(store, record, model):
        if cancel.cancelled:
            return
        _run_cell(store, record, cell, backend, progress, cancel)
        record = get(store, sweep_id)
    ensure_test_cell(store, record)


def _run_cell(
    store: RunStore,
    record: SweepRecord,
    cell: Cell,
    backend: RowGenerator,
    progress: SweepProgressFn | None,
    cancel: CancelToken,
) -> None:
    before = _done_rows(store, record) - (store.get(cell.run_id).done if cell.run_id is not None else 0)
    total = _total_rows(record)
    cells = len(record.cells) + (0 if any(c.phase == "test" for c in record.cells) or not record.split.test else 1)
    label = cell.label(record.spec)
    if cell.phase == "test":
        label += " (test rows)"

    def report(run: RunProgress) -> None:
        if progress:
            progress(SweepProgress(record.id, cell.position, cells, label, before + run.done, total, run))

    if cell.run_id is None:
        plan = runner.plan_run(record.dataset_path, cell_task(record.spec, record.split, cell))
        _check_dataset(record, plan)
        runner.start(plan, backend, store, report, cancel,
                     on_created=lambda run_id: _link(store, record, cell, run_id))  # fmt: skip
    elif store.get(cell.run_id).resumable:
        runner.resume(cell.run_id, backend, store, report, cancel)


def _check_dataset(record: SweepRecord, plan: RunPlan) -> None:
    if plan.dataset.sha256 != record.dataset_sha256:
        raise HearthError(
            f"The dataset “{Path(record.dataset_path).name}” has changed since sweep {record.id} was made.",
            "Its rows would not match the cells already run: restore the original file, or start a new sweep.",
        )


def run(
    store: RunStore,
    sweep_id: int,
    open_backend: OpenGenerator,
    close_backend: CloseGenerator,
    progress: SweepProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> SweepRecord:
    """Runs or resumes the whole sweep, model by model; marks it done, or paused if stopped."""
    cancel = cancel or CancelToken()
    record = get(store, sweep_id)
    if record.status == "running" and not record.interrupted:
        raise HearthError(f"Sweep {sweep_id} is running already (process {record.pid}).")
    set_status(store, sweep_id, "running")
    stopped = ""
    try:
        last: tuple[int, int] | None = None
        while not cancel.cancelled:
            record = ensure_test_cell(store, get(store, sweep_id))
            models = models_to_run(store, record)
            if not models or last == (models[0], _done_rows(store, record)):
                break  # nothing left, or nothing moved (a cell another process holds)
            last = (models[0], _done_rows(store, record))
            backend = open_backend(record.spec.models[models[0]])
            try:
                run_model(store, sweep_id, models[0], backend, progress, cancel)
            finally:
                close_backend(backend)
    except HearthError as exc:
        stopped = f"Stopped: {exc}"
        raise
    finally:
        settle(store, sweep_id, stopped)
    return get(store, sweep_id)


def settle(store: RunStore, sweep_id: int, message: str = "") -> SweepRecord:
    """Marks the sweep done when every cell (the test run included) is, else paused."""
    record = ensure_test_cell(store, get(store, sweep_id))
    finished = not pending(store, record) and (not record.split.test or any(c.phase == "test" for c in record.cells))
    if finished:
        set_status(store, sweep_id, "done")
    else:
        set_status(store, sweep_id, "paused", message or "Paused: resume it to run the cells left.")
    return get(store, sweep_id)


# -- estimate --------------------------------------------------------------------------------------


@dataclass
class SweepEstimate:
    seconds_per_row: dict[str, float]  # per model name
    total_s: float
    rows: int


def estimate(
    checked: SweepPlan,
    open_backend: OpenGenerator,
    close_backend: CloseGenerator,
    rows: int = 3,
    cancel: CancelToken | None = None,
) -> SweepEstimate:
    """Runs the first few rows of each model's first cell, storing nothing: the time of every
    cell from its model's speed (prompts of other lengths take somewhat more or less)."""
    per_row: dict[int, float] = {}
    for cell in checked.cells:
        if cell.model in per_row:
            continue
        backend = open_backend(checked.spec.models[cell.model])
        try:
            plan = runner.plan_run(checked.dataset.path, checked.task(cell))
            per_row[cell.model] = runner.estimate(plan, backend, rows, cancel).seconds_per_row
        finally:
            close_backend(backend)
    total = sum(per_row[c.model] * checked.rows(c) for c in checked.cells)
    if checked.split.test:  # the test run's model is not known yet: the slowest
        total += max(per_row.values()) * len(checked.split.test)
    return SweepEstimate({checked.spec.models[m].name: s for m, s in per_row.items()}, total, checked.total_rows)

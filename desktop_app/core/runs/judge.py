"""A second model as judge: it scores each output of a run against a rubric, or compares two runs.

A judge run is an ordinary run (resumable, exportable, shown in the Runs list) whose dataset is
the judged run's outputs: :func:`plan_judge` writes them to a JSONL file in the data folder
(``judges/``; columns ``id``, ``input``, ``output`` and ``reference`` when the judged rows have
one) and the runner does the rest. Its prompt is an ordinary task template over those columns,
shown and editable; its output is constrained to the rubric's shape (``{"criterion": score}``,
every score on its scale: :meth:`Rubric.gbnf` for llama.cpp, the same as a JSON schema for a
server). The judge model's file sha256, chat template, settings and seed are in the run's
manifest as for any run; the manifest's ``judge`` part adds the rubric, its sha256, the prompt,
the grammar and the judged runs.

Pairwise judging (:func:`plan_pairwise`) asks about every pair twice, once with run A's answer
first and once with run B's first (rows ``key A·B`` and ``key B·A``), because judges favour a
position; :func:`report` says how often the verdict flips when the order does, and counts a
pair whose verdict flips as a tie.

Judged runs are stored; the judge is loaded after them, so two models need never be in memory
at once.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from desktop_app.core import paths
from desktop_app.core.atomic_files import write_text_atomically
from desktop_app.core.cancel import CancelToken
from desktop_app.core.errors import HearthError
from desktop_app.core.runs import runner, tasks
from desktop_app.core.runs.generators import RowGenerator
from desktop_app.core.runs.manifest import JudgeRecord
from desktop_app.core.runs.preference import Preference, preference
from desktop_app.core.runs.rubric import Rubric
from desktop_app.core.runs.rubric import from_dict as rubric_from_dict
from desktop_app.core.runs.storage import RowResult, RunStore
from desktop_app.core.runs.summary import Summary

ORDERS = ("AB", "BA")  # run A's answer shown first, then run B's first
JUDGE_SEED = 0

JUDGE_SYSTEM = (
    "You are a careful, impartial evaluator. You judge answers strictly by the criteria you are "
    "given, never by their length or style unless a criterion asks for it."
)


def _escape(text: str) -> str:
    """Literal text inside a task template (whose fields are ``{column}``)."""
    return text.replace("{", "{{").replace("}", "}}")


def _criteria_lines(rubric: Rubric, pairwise: bool) -> str:
    lines = []
    for c in rubric.criteria:
        scale = "“A”, “B” or “tie”" if pairwise else c.scale_words()
        about = f": {c.description}" if c.description else ""
        lines.append(f"- {c.name} ({scale}){about}")
    return _escape("\n".join(lines))


def _prompt_head(ask: str, rubric: Rubric, pairwise: bool, with_reference: bool) -> list[str]:
    """What both judge templates start with: the ask, the rubric, the question (and reference)."""
    parts = [ask]
    if rubric.instructions:
        parts.append(_escape(rubric.instructions))
    parts.append("Criteria:\n" + _criteria_lines(rubric, pairwise=pairwise))
    parts.append("The question or task:\n{input}")
    if with_reference:
        parts.append("A correct reference answer:\n{reference}")
    return parts


def default_prompt(rubric: Rubric, with_reference: bool) -> str:
    """The judge's template for scoring one answer; the user can edit it (it is stored as is)."""
    parts = _prompt_head("Rate the answer below on each criterion.", rubric, False, with_reference)
    parts.append("The answer to rate:\n{output}")
    parts.append("Reply with JSON only, like " + _escape(rubric.example_output()) + ".")
    return "\n\n".join(parts)


def default_pair_prompt(rubric: Rubric, with_reference: bool) -> str:
    """The judge's template for comparing two answers to the same question."""
    ask = "Compare the two answers below on each criterion: which is better, A or B (or “tie”)?"
    parts = _prompt_head(ask, rubric, True, with_reference)
    parts.append("Answer A:\n{first}")
    parts.append("Answer B:\n{second}")
    example = json.dumps({c.name: "A" for c in rubric.criteria})
    parts.append("Reply with JSON only, like " + _escape(example) + ".")
    return "\n\n".join(parts)


# -- planning ---------------------------------------------------------------------------------------


@dataclass
class JudgePlan:
    mode: str
    rubric: Rubric  # as asked (pairwise: the criteria; the verdicts are A, B or tie)
    judged: list[int]  # the judged run(s)
    rows: list[int]  # the judged dataset's row index behind each judge row (pairwise: each twice)
    plan: runner.RunPlan

    @property
    def output_rubric(self) -> Rubric:
        return self.rubric.for_pairs() if self.mode == "pairwise" else self.rubric


def question_of(task: tasks.Task, row: RowResult) -> str:
    """What a run's model was asked on a row: the task's template filled with the row's fields."""
    try:
        return tasks.render(task.prompt, row.inputs)
    except HearthError:
        return "\n".join(f"{k}: {v}" for k, v in row.inputs.items())


def _judgeable(row: RowResult) -> bool:
    return not row.error and bool(row.output.strip())


def _write_dataset(name: str, records: list[dict[str, str]]) -> Path:
    folder = paths.home() / "judges"
    folder.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    path = folder / f"{name}-{digest}.jsonl"
    if not path.is_file():
        write_text_atomically(path, text)
    return path


def _task(prompt: str, system: str, rubric: Rubric, seed: int, limit: int | None) -> tasks.Task:
    """A JSON task held to the rubric's exact shape: its own compact grammar for llama.cpp (so it
    ends at the closing brace), the schema for a server. Resumed or replayed, it keeps both."""
    # Room beyond the compact output for the whitespace a server's JSON-schema grammar allows
    # (locally the rubric's own grammar ends the answer at its closing brace, so it costs nothing).
    sampling = tasks.run_sampling(temperature=0.0, seed=seed, max_tokens=2 * rubric.max_tokens() + 32)
    return tasks.Task(
        prompt=prompt, system=system, kind="json", schema=rubric.schema(), grammar=rubric.gbnf(), id_column="id",
        limit=limit, sampling=sampling,
    )  # fmt: skip


def _plan(
    mode: str,
    rubric: Rubric,
    judged: list[int],
    rows: list[int],
    records: list[dict[str, str]],
    prompt: str,
    system: str | None,
    seed: int,
    limit: int | None,
) -> JudgePlan:
    """The records written as the judge's dataset (every record with a reference column when one
    has it), and the run planned over them."""
    if any("reference" in r for r in records):
        for item in records:
            item.setdefault("reference", "")
    name = ("run-" if mode == "rubric" else "pairs-") + "-".join(str(j) for j in judged)
    output = rubric.for_pairs() if mode == "pairwise" else rubric
    task = _task(prompt, JUDGE_SYSTEM if system is None else system, output, seed, limit)
    plan = runner.plan_run(_write_dataset(name, records), task)
    return JudgePlan(mode, rubric, judged, rows[: plan.n], plan)


def _require_fields(prompt: str, needed: Sequence[str]) -> None:
    fields = tasks.template_fields(prompt)
    missing = [f for f in needed if f not in fields]
    if missing:
        raise HearthError(
            "The judge's prompt does not show it " + " and ".join(f"{{{m}}}" for m in missing) + ".",
            "Put the field in braces where the answer should go.",
        )


def plan_judge(
    store: RunStore,
    judged_run: int,
    rubric: Rubric,
    prompt: str | None = None,
    system: str | None = None,
    seed: int = JUDGE_SEED,
    limit: int | None = None,
) -> JudgePlan:
    """The judged run's outputs as a dataset and the judge's task over it, checked."""
    record = store.get(judged_run)
    records, rows = [], []
    with_reference = False
    for row in store.iter_rows(judged_run):
        if not _judgeable(row):
            continue
        item = {"id": row.key, "input": question_of(record.task, row), "output": row.output}
        if row.reference is not None:
            item["reference"] = row.reference
            with_reference = True
        records.append(item)
        rows.append(row.index)
    if not records:
        raise HearthError(f"Run {judged_run} has no answers to judge yet.", "Run it (or resume it) first.")
    prompt = prompt if prompt is not None else default_prompt(rubric, with_reference)
    _require_fields(prompt, ["output"])
    return _plan("rubric", rubric, [judged_run], rows, records, prompt, system, seed, limit)


def plan_pairwise(
    store: RunStore,
    run_a: int,
    run_b: int,
    rubric: Rubric,
    prompt: str | None = None,
    system: str | None = None,
    seed: int = JUDGE_SEED,
    limit: int | None = None,
) -> JudgePlan:
    """Every row both runs answered, asked twice: A's answer first, then B's first."""
    a, b = store.get(run_a), store.get(run_b)
    if a.dataset_sha256 != b.dataset_sha256:
        raise HearthError(
            f"Runs {run_a} and {run_b} were made on different datasets, so their answers do not pair up.",
            "Compare two runs of the same dataset.",
        )
    records, rows = [], []
    with_reference = False
    for row_a, row_b in store.pairs(run_a, run_b):
        if row_b is None or not _judgeable(row_a) or not _judgeable(row_b):
            continue
        base = {"input": question_of(a.task, row_a)}
        if row_a.reference is not None:
            base["reference"] = row_a.reference
            with_reference = True
        for order, first, second in (("AB", row_a, row_b), ("BA", row_b, row_a)):
            records.append({"id": f"{row_a.key} {order[0]}·{order[1]}", **base, "first": first.output,
                            "second": second.output})  # fmt: skip
            rows.append(row_a.index)
    if not records:
        raise HearthError(f"Runs {run_a} and {run_b} have no row both answered.")
    prompt = prompt if prompt is not None else default_pair_prompt(rubric, with_reference)
    _require_fields(prompt, ["first", "second"])
    pair_limit = None if limit is None else 2 * limit  # both orders of each pair
    return _plan("pairwise", rubric, [run_a, run_b], rows, records, prompt, system, seed, pair_limit)


# -- running --------------------------------------------------------------------------------------


def _record(store: RunStore, run_id: int, plan: JudgePlan) -> None:
    output = plan.output_rubric
    with store.db:
        store.db.execute(
            "INSERT INTO judge_runs (run_id, mode, judged_a, judged_b, rubric_json, rubric_sha256, rows_json,"
            " created_at) VALUES (?,?,?,?,?,?,?,?)",
            (
                run_id, plan.mode, plan.judged[0], plan.judged[1] if len(plan.judged) > 1 else None,
                json.dumps(plan.rubric.to_dict()), plan.rubric.sha256, json.dumps(plan.rows), time.time(),
            ),
        )  # fmt: skip
    record = store.get(run_id)
    manifest = record.manifest
    manifest.judge = JudgeRecord(
        mode=plan.mode,
        judged_runs=plan.judged,
        rubric=plan.rubric.to_dict(),
        rubric_sha256=plan.rubric.sha256,
        rubric_file=plan.rubric.source or None,
        prompt=plan.plan.task.prompt,
        system=plan.plan.task.system,
        output_schema=output.schema(),
        grammar=output.gbnf(),
        orders=list(ORDERS) if plan.mode == "pairwise" else None,
    )
    store.update_manifest(run_id, manifest)


def start(
    plan: JudgePlan,
    backend: RowGenerator,
    store: RunStore,
    progress: runner.ProgressFn | None = None,
    cancel: CancelToken | None = None,
    on_created: Any = None,
) -> Summary:
    """Records the judge run (resumable from then on) and runs it."""

    def created(run_id: int) -> None:
        _record(store, run_id, plan)
        if on_created:
            on_created(run_id)

    return runner.start(plan.plan, backend, store, progress, cancel, on_created=created)


def resume(
    run_id: int,
    backend: RowGenerator,
    store: RunStore,
    progress: runner.ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> Summary:
    judge_info(store, run_id)  # a judge run: refused in plain words otherwise
    return runner.resume(run_id, backend, store, progress, cancel)


# -- what is stored ------------------------------------------------------------------------------


@dataclass
class JudgeInfo:
    run_id: int
    mode: str
    judged: list[int]
    rubric: Rubric
    rows: list[int]

    @property
    def output_rubric(self) -> Rubric:
        return self.rubric.for_pairs() if self.mode == "pairwise" else self.rubric


def judge_info(store: RunStore, run_id: int) -> JudgeInfo:
    record = store.db.execute("SELECT * FROM judge_runs WHERE run_id=?", (run_id,)).fetchone()
    if record is None:
        store.get(run_id)  # no such run: says so
        raise HearthError(
            f"Run {run_id} is not a judge's run.", "Pick the run the judge made (its title starts “Judge”)."
        )
    judged = [int(record["judged_a"])] + ([int(record["judged_b"])] if record["judged_b"] is not None else [])
    rubric = rubric_from_dict(json.loads(record["rubric_json"]))
    return JudgeInfo(run_id, str(record["mode"]), judged, rubric, [int(i) for i in json.loads(record["rows_json"])])


def judges_of(store: RunStore, run_id: int) -> list[int]:
    """The judge runs that judged ``run_id`` (alone or in a pair), newest first."""
    return [
        int(r[0])
        for r in store.db.execute(
            "SELECT run_id FROM judge_runs WHERE judged_a=? OR judged_b=? ORDER BY run_id DESC", (run_id, run_id)
        )
    ]


def scores(store: RunStore, run_id: int) -> dict[int, dict[str, int | str]]:
    """A rubric judge's scores by the judged row's index (rows whose output is not on the scales,
    which a grammar prevents, are left out)."""
    info = judge_info(store, run_id)
    found: dict[int, dict[str, int | str]] = {}
    for row in store.iter_rows(run_id):
        parsed = info.output_rubric.parse(row.output) if not row.error else None
        if parsed is not None and row.index < len(info.rows):
            found[info.rows[row.index]] = parsed
    return found


@dataclass
class CriterionReport:
    name: str
    scale: list[int | str]
    n: int
    counts: dict[str, int]
    mean: float | None  # numeric scales only


@dataclass
class PairwiseReport:
    """One criterion over the pairs judged in both orders."""

    criterion: str
    pairs: int  # pairs with a verdict in both orders
    flips: int  # ... whose verdict changed with the order
    first_chosen: int  # verdicts (of 2 × pairs) that chose whichever answer was shown first
    a_wins: int  # consistent verdicts for run A
    b_wins: int
    ties: int  # ties in both orders, or verdicts that flipped
    result: Preference

    @property
    def flip_rate(self) -> float | None:
        return self.flips / self.pairs if self.pairs else None


@dataclass
class JudgeReport:
    run_id: int
    mode: str
    judged: list[int]
    rubric: dict[str, Any]
    n: int  # judge rows in the run
    done: int
    valid: int  # rows whose output is on the scales
    criteria: list[CriterionReport] = field(default_factory=list)
    pairwise: list[PairwiseReport] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for item, report in zip(data["pairwise"], self.pairwise, strict=True):
            item["flip_rate"] = report.flip_rate
            item["result"] = report.result.to_dict()
        return data

    def describe(self) -> str:
        lines = [f"Judge run {self.run_id} ({self.mode}) of run{'s' if len(self.judged) > 1 else ''} "
                 + " and ".join(str(j) for j in self.judged)
                 + f": {self.done:,} of {self.n:,} rows, {self.valid:,} on the scales."]  # fmt: skip
        for c in self.criteria:
            counts = ", ".join(f"{k}: {v}" for k, v in c.counts.items())
            mean = f", mean {c.mean:.2f}" if c.mean is not None else ""
            lines.append(f"  {c.name}: {c.n:,} scored ({counts}){mean}")
        for p in self.pairwise:
            rate = f"{p.flip_rate:.0%}" if p.flip_rate is not None else "—"
            lines.append(
                f"  {p.criterion}: {p.pairs:,} pairs asked both ways; the verdict flipped with the order in "
                f"{p.flips:,} ({rate}). A better {p.a_wins:,}, B better {p.b_wins:,}, tie or flipped {p.ties:,}. "
                + p.result.sentence("run A", "run B")
            )
        return "\n".join(lines)


def _flip(verdict: int | str) -> int | str:
    return {"A": "B", "B": "A"}.get(str(verdict), verdict)


def report(store: RunStore, run_id: int) -> JudgeReport:
    info = judge_info(store, run_id)
    record = store.get(run_id)
    output = info.output_rubric
    parsed: dict[int, dict[str, int | str]] = {}
    for row in store.iter_rows(run_id):
        p = output.parse(row.output) if not row.error else None
        if p is not None:
            parsed[row.index] = p
    result = JudgeReport(run_id, info.mode, info.judged, info.rubric.to_dict(), record.n, record.done, len(parsed))
    if info.mode == "rubric":
        for c in info.rubric.criteria:
            values = [p[c.name] for p in parsed.values()]
            counts = {str(v): sum(1 for x in values if x == v) for v in c.scale}
            mean = sum(int(v) for v in values) / len(values) if values and c.numeric else None
            result.criteria.append(CriterionReport(c.name, list(c.scale), len(values), counts, mean))
        return result
    # Pairwise: judge rows 2k (A first) and 2k+1 (B first) are the same pair.
    for c in info.rubric.criteria:
        pairs = flips = first = a_wins = b_wins = ties = 0
        for k in range(0, len(info.rows), 2):
            ab, ba = parsed.get(k), parsed.get(k + 1)
            if ab is None or ba is None:
                continue
            pairs += 1
            v_ab, v_ba = ab[c.name], _flip(ba[c.name])  # both in terms of runs: A means run A
            first += (ab[c.name] == "A") + (ba[c.name] == "A")
            if v_ab != v_ba:
                flips += 1
                ties += 1
            elif v_ab == "A":
                a_wins += 1
            elif v_ab == "B":
                b_wins += 1
            else:
                ties += 1
        result.pairwise.append(
            PairwiseReport(c.name, pairs, flips, first, a_wins, b_wins, ties, preference(a_wins, b_wins, ties))
        )
    return result

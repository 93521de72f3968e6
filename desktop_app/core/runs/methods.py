"""A methods section for a paper, from what a run recorded: a paragraph in plain words and a table
with every number (the model file and its sha256, quantisation and licence, llama.cpp's and
Hearth's versions, the chat template's sha256, settings and seeds, the dataset's sha256, its rows
and split, the prompt, accuracy with its interval, agreement with people, the judge and its
check against people, and whether any data left this computer), then how to cite Hearth.

Everything comes from the stored run, its manifest and what other parts stored about it
(codes, judges, blind comparisons); nothing is estimated. What was not recorded is said to be
unknown rather than left out. The same text is printed by ``hearth runs methods RUN``, shown
by the Methods… dialog and put in a run's archive (``methods.md``).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from desktop_app.core.runs import judge, provenance
from desktop_app.core.runs.manifest import LoadRecord, ModelRecord
from desktop_app.core.runs.storage import RunRecord, RunStore
from desktop_app.core.runs.summary import Summary, summarize
from desktop_app.core.settings import SamplingSettings

if TYPE_CHECKING:  # the statistics import numpy: loaded when there are codes to report
    from desktop_app.core.runs.agreement import AgreementEstimate

TITLE = "Hearth"
ABSTRACT = "A desktop app to run open large language models privately on one's own computer."
LICENSE = "MIT"
AUTHORS = "The Hearth contributors"
SEED_WORDS = "each row's seed is derived from the run's seed and the row's index (sha256), so any row can be rerun"


def _short(sha: str | None) -> str:
    return f"`{sha}`" if sha else "not recorded"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _licence(model: ModelRecord) -> str | None:
    """The licence the GGUF file states (``general.license``), if the file is still here."""
    from pathlib import Path

    from desktop_app.core.models.gguf_meta import read_local

    path = Path(model.path or "")
    if not model.path or not path.is_file():
        return None
    if model.size_bytes is not None and path.stat().st_size != model.size_bytes:
        return None  # another file is there now
    try:
        value = read_local(path).metadata.get("general.license")
    except Exception:  # noqa: BLE001 - a header that does not read leaves the licence unknown
        return None
    return str(value) if value else None


def _sampling_words(sampling: SamplingSettings | None) -> str:
    if sampling is None:
        return "decoding settings not recorded"
    temp = sampling.temperature
    if temp == 0:
        how = "greedy decoding (temperature 0)"
    else:
        how = (f"sampling at temperature {temp} (top-k {sampling.top_k}, top-p {sampling.top_p}, "
               f"min-p {sampling.min_p})")  # fmt: skip
    return f"{how}, repeat penalty {sampling.repeat_penalty}, at most {sampling.max_tokens} new tokens"


def _output_words(record: RunRecord) -> str:
    task = record.task
    kind = task.kind
    if kind == "labels":
        labels = ", ".join(f"“{label}”" for label in task.labels)
        return f"its answer constrained by a grammar to one of the labels {labels}"
    if kind == "json":
        return "its answer constrained by a grammar to JSON matching the task's schema"
    if kind == "number":
        return "its answer constrained by a grammar to a number"
    return "its answer in free text"


def _model_words(model: ModelRecord) -> tuple[str, bool]:
    """The model in a sentence, and whether it ran on this computer."""
    name = model.name or "an unnamed model"
    if model.local:
        licence = _licence(model)
        parts = [f"sha256 {_short(model.sha256)}"]
        if model.quant:
            parts.append(f"{model.quant} quantisation")
        parts.append(f"licence {licence}" if licence else "licence not stated in the file")
        engine = f"llama.cpp through llama-cpp-python {model.llama_cpp_version or '(version not recorded)'}"
        backend = model.backend or "CPU"
        return f"the model {name} (GGUF file, {', '.join(parts)}), run with {engine} on the {backend}", True
    url = model.url or ""
    host = (urlsplit(url).hostname or "").lower()
    here = host in ("localhost", "::1") or host.startswith("127.")
    where = f"a server on this computer ({url})" if here else f"the server {url or '(address not recorded)'}"
    kind = f", {model.server.kind}" if model.server is not None and model.server.kind else ""
    return f"the model {name} (model id {model.model_id or '—'}) on {where}{kind}", here


def _documents_local(store: RunStore, record: RunRecord) -> bool:
    collection = record.task.collection
    if not collection:
        return True
    row = store.db.execute("SELECT server_url FROM rag_collections WHERE name=?", (collection,)).fetchone()
    return row is None or not str(row[0] or "")


# -- the parts -------------------------------------------------------------------------------------


def _run_paragraph(store: RunStore, record: RunRecord, summary: Summary) -> tuple[str, bool]:
    manifest = record.manifest
    model = manifest.model
    template = model.template
    dataset = manifest.dataset
    words, local = _model_words(model)
    n_rows = dataset.n_rows
    in_all = f"{n_rows:,} rows in all; " if isinstance(n_rows, int) else ""
    version = manifest.hearth_version or "(version not recorded)"
    sentences = [
        f"We ran {words}, in Hearth {version}, over {record.done:,} of the {record.n:,} rows chosen from "
        f"{dataset.name or record.dataset_path} ({in_all}sha256 {_short(record.dataset_sha256)})"
        f"{_split_words(record)}."
    ]
    shots = manifest.few_shot
    prompt = "the prompt template below"
    if record.task.system:
        prompt += " after the system prompt below"
    if shots:
        rows = "row" if len(shots) == 1 else "rows"
        prompt += f", with {len(shots)} example {rows} shown first (left out of the scoring)"
    template_name, template_sha = (template.name, template.sha256) if template else ("not recorded", None)
    sentences.append(
        f"Each row was put to the model with {prompt}, in the chat template “{template_name}” "
        f"(sha256 {_short(template_sha)}), {_output_words(record)}."
    )
    seed = f"run seed {manifest.seed}, and {SEED_WORDS}" if manifest.seed is not None else "the seed was not recorded"
    sentences.append(f"Decoding: {_sampling_words(manifest.sampling)}; {seed}.")
    if summary.accuracy is not None:
        sentences.append(
            f"Scored by the “{summary.scorer}” rule against the column “{record.task.reference}”: accuracy "
            f"{_pct(summary.accuracy)} ({summary.correct:,} of {summary.n_scored:,}; 95% Wilson interval "
            f"{_pct(summary.ci_low)} to {_pct(summary.ci_high)})."
        )
    else:
        sentences.append("No row had a reference answer, so no accuracy is reported.")
    if summary.invalid or summary.failed:
        sentences.append(f"{summary.invalid:,} outputs were not valid and {summary.failed:,} rows failed to run.")
    return " ".join(sentences), local and _documents_local(store, record)


def _split_words(record: RunRecord) -> str:
    rows = record.task.rows
    if rows:
        return f"; only the {len(rows):,} rows of a development/test split that this run was given"
    if record.task.limit:
        return f"; the first {record.task.limit:,} rows"
    return ""


def _interval(entry: AgreementEstimate) -> str:
    value = entry.value
    if value is None:
        return "undefined"
    if entry.ci_low is None or entry.ci_high is None:
        return f"{value:.3f}"
    return f"{value:.3f} (95% bootstrap interval {entry.ci_low:.3f} to {entry.ci_high:.3f})"


def _agreement_paragraph(store: RunStore, record: RunRecord) -> str | None:
    from desktop_app.core.runs.coding import CodeStore, agreement

    codes = CodeStore(store)
    if not codes.coders(record.id):
        return None
    report = agreement(codes, record.id)
    parts = []
    for pair in report.pairs:
        parts.append(
            f"{pair.a} and {pair.b} on {pair.n:,} rows: Cohen's κ {_interval(pair.cohen_kappa)}, "
            f"Krippendorff's α {_interval(pair.krippendorff_alpha)}"
        )
    coded = ", ".join(f"{name} {n:,}" for name, n in report.coded.items())
    text = f"People coded the rows ({report.level} codes; rows coded: {coded}). Agreement: " + "; ".join(parts) + "."
    if report.coders:
        text += f" All coders together: Krippendorff's α {_interval(report.coders.krippendorff_alpha)}."
    boot = report.bootstrap
    text += f" Intervals from {boot.samples} bootstrap resamples of the rows (seed {boot.seed})."
    return text


def _judge_paragraphs(store: RunStore, run_id: int) -> tuple[list[str], bool]:
    texts: list[str] = []
    local = True
    for judge_run in judges_reported(store, run_id):
        record = store.get(judge_run)
        info = judge.judge_info(store, judge_run)
        words, here = _model_words(record.manifest.model)
        local = local and here
        report = judge.report(store, judge_run)
        criteria = ", ".join(f"{c.name} ({c.scale_words()})" for c in info.rubric.criteria)
        sampling = record.manifest.sampling
        if info.mode == "rubric":
            what = f"scored each answer on {criteria}"
            scores = "; ".join(
                f"{c.name}: mean {c.mean:.2f} over {c.n:,}"
                if c.mean is not None
                else f"{c.name}: " + ", ".join(f"{k} {v}" for k, v in c.counts.items())
                for c in report.criteria
            )
        else:
            others = [j for j in info.judged if j != run_id]
            what = (f"compared this run's answers with run {others[0] if others else '?'}'s on {criteria}, "
                    "each pair asked in both orders")  # fmt: skip
            scores = " ".join(
                f"{p.criterion}: the verdict flipped with the order in {p.flips:,} of {p.pairs:,} pairs; "
                + p.result.sentence(f"run {info.judged[0]}", f"run {info.judged[1]}")
                for p in report.pairwise
            )
        text = (
            f"A judge, {words}, {what} (judge run {judge_run}; rubric sha256 {_short(info.rubric.sha256)}; its "
            f"output constrained by a grammar to the scales; {_sampling_words(sampling)}; seed "
            f"{'?' if record.manifest.seed is None else record.manifest.seed}). {scores}"
        )
        if info.mode == "rubric":
            text += " " + _validation_words(store, judge_run, info)
        texts.append(text)
    return texts, local


def judges_reported(store: RunStore, run_id: int) -> list[int]:
    """The judge runs of ``run_id`` that a methods text reports (finished or not), oldest first."""
    return sorted(judge.judges_of(store, run_id))


def _validation_words(store: RunStore, judge_run: int, info: judge.JudgeInfo) -> str:
    from desktop_app.core.runs import judge_validation
    from desktop_app.core.runs.coding import CodeStore

    coders = CodeStore(store).coders(info.judged[0])
    if not coders:
        return "The judge was not checked against people's ratings, so its scores are not validated."
    words = []
    for coder in coders:
        try:
            check = judge_validation.validate(store, judge_run, coder)
        except Exception as exc:  # noqa: BLE001 - a rating off the scale: say so, keep the text
            words.append(f"Its check against {coder} could not be computed ({exc}).")
            continue
        a = check.agreement
        words.append(
            f"Checked against {coder} on {a.n:,} rows ({check.criterion}): Krippendorff's α "
            f"{_interval(a.krippendorff_alpha)}, Cohen's κ {_interval(a.cohen_kappa)}. "
            f"{check.sentence}"
        )
    return " ".join(words)


def _blind_paragraphs(store: RunStore, run_id: int) -> list[str]:
    from desktop_app.core.runs import blind

    texts = []
    for session in blind.sessions_for(store, run_id):
        if not session.revealed:
            continue  # a blind session still under way is not reported
        comparison = blind.BlindComparison(store, session)
        result = comparison.result()
        texts.append(
            f"{session.coder} compared runs {session.run_a} and {session.run_b} blind (answers in a random "
            f"order and on random sides, seed {session.seed}; {result.decided + result.ties:,} of "
            f"{comparison.total:,} pairs rated). " + result.sentence(f"run {session.run_a}", f"run {session.run_b}")
        )
    return texts


def _ci(accuracy: float | None, low: float | None, high: float | None) -> str:
    if accuracy is None:
        return "not scored"
    return f"{_pct(accuracy)} (95% interval {_pct(low)} to {_pct(high)})"


def _sweep_part(store: RunStore, run_id: int) -> list[str]:
    """When the run is a cell of a sweep: the prompts tried, how the reported one was chosen, and
    the grid with every cell's accuracy and its test against the best."""
    try:
        found = store.db.execute("SELECT sweep_id FROM sweep_cells WHERE run_id=?", (run_id,)).fetchone()
    except sqlite3.OperationalError:  # a database from before sweeps
        return []
    if found is None:
        return []
    from desktop_app.core.runs.sweep_results import results

    sweep = results(store, int(found[0]))
    split = sweep.split
    if split.fraction is not None:
        stratified = ", stratified by the reference" if split.stratified else ""
        how = (
            f"The rows were split (seed {split.seed}{stratified}) "
            f"into {split.dev:,} development rows, on which every combination below was run and the most accurate "
            f"chosen, and {split.test:,} test rows, on which only the chosen one was run: the accuracy to report is "
            "the test rows'."
        )
    else:
        how = ("Every combination below was run on the same rows; there was no held-out test split, so the best "
               "cell's accuracy is optimistic (it was chosen on the rows it is reported on).")  # fmt: skip
    text = [
        f"This run is part of sweep {sweep.sweep_id} ({sweep.title}): {len(sweep.cells)} combinations of prompt, "
        f"system prompt, examples and model were tried. {how}"
    ]
    if sweep.best is not None:
        text[0] += f" Chosen: {sweep.best.label}, {_ci(sweep.best.accuracy, sweep.best.ci_low, sweep.best.ci_high)}."
    if sweep.test is not None:
        test = sweep.test
        text[0] += f" On the test rows: {_ci(test.accuracy, test.ci_low, test.ci_high)} (run {test.run_id})."
    text[0] += " " + sweep.sentence
    rows = ["| Cell | Model | Rows | Accuracy (95% interval) | p against the best (Holm) | Run |",
            "|---|---|---|---|---|---|"]  # fmt: skip
    p_of = {p.b: p for p in sweep.pairwise}
    for cell in [*sweep.cells, *([sweep.test] if sweep.test else [])]:
        pair = p_of.get(cell.position)
        p = f"{pair.p_value:.3g} ({pair.p_holm:.3g})" if pair else ("best" if cell is sweep.best else "—")
        acc = _ci(cell.accuracy, cell.ci_low, cell.ci_high)
        rows.append(f"| {cell.label} | {cell.model} | {cell.rows} | {acc} | {p} | {cell.run_id or '—'} |")
    prompts = ["#### Prompts tried", ""]
    seen: set[tuple[str, str]] = set()
    for cell in sweep.cells:
        if (cell.prompt, cell.system) in seen:
            continue
        seen.add((cell.prompt, cell.system))
        prompts += [f"{cell.label}:", "", _fenced(cell.prompt if not cell.system else
                                                  f"[system]\n{cell.system}\n\n[user]\n{cell.prompt}"), ""]  # fmt: skip
    return ["", text[0], "", "\n".join(rows), "", *prompts]


def _comparison_paragraph(store: RunStore, run_id: int, other: int) -> str:
    from desktop_app.core.runs.paired import compare

    c = compare(store, run_id, other)
    return (
        f"Compared with run {other} ({c.b_title}) on the {c.n_paired:,} rows both scored: run {run_id} "
        f"{_ci(c.a_accuracy, *c.a_ci)}, run {other} {_ci(c.b_accuracy, *c.b_ci)}; right only in run {run_id} on "
        f"{c.only_a:,} rows, only in run {other} on {c.only_b:,}; McNemar's exact test p = {c.p_value:.3g}. "
        + c.verdict.replace("Run A", f"Run {run_id}").replace("Run B", f"Run {other}")
    )


def _table(record: RunRecord, summary: Summary) -> str:
    manifest = record.manifest
    model = manifest.model
    template = model.template
    sampling = asdict(manifest.sampling) if manifest.sampling else {}
    template_sha = template.sha256 if template else None
    load = model.load or LoadRecord()
    machine = manifest.machine
    accuracy = "—"
    if summary.accuracy is not None:
        accuracy = (f"{_pct(summary.accuracy)} ({summary.correct:,}/{summary.n_scored:,}; "
                    f"{_pct(summary.ci_low)}–{_pct(summary.ci_high)})")  # fmt: skip
    rows = [
        ("Run", f"{record.id}: {record.title}"),
        ("Model", model.name or "—"),
        ("Model file sha256", _short(model.sha256)),
        ("Quantisation", model.quant or "—"),
        ("Licence", _licence(model) or "not stated in the file"),
        ("llama-cpp-python", model.llama_cpp_version or "—"),
        ("Hearth", manifest.hearth_version or "—"),
        ("Chat template", f"{template.name if template else '—'} (sha256 {_short(template_sha)})"),
        ("Context, threads, GPU layers", ", ".join(map(_or_dash, (load.n_ctx, load.n_threads, load.n_gpu_layers)))),
        ("Sampling", ", ".join(f"{k} {v}" for k, v in sampling.items() if k != "seed")),
        ("Run seed", f"{_or_dash(manifest.seed)} ({manifest.seed_rule})"),
        ("Dataset", manifest.dataset.name or record.dataset_path),
        ("Dataset sha256", _short(record.dataset_sha256)),
        ("Rows run / in the run", f"{record.done:,} / {record.n:,}"),
        ("Output", record.task.kind),
        ("Scorer", summary.scorer or "—"),
        ("Accuracy (95% Wilson interval)", accuracy),
        ("Invalid outputs / failed rows", f"{summary.invalid:,} / {summary.failed:,}"),
        ("Machine", f"{machine.os or '—'}, {machine.cpu or '—'}, {model.backend or 'CPU'}"),
        ("Started / finished", f"{_or_dash(manifest.started_at)} / {manifest.finished_at or 'not finished'}"),
    ]
    lines = ["| | |", "|---|---|"]
    lines += [f"| {k} | {str(v).replace('|', '∣')} |" for k, v in rows]
    return "\n".join(lines)


def _or_dash(value: object) -> str:
    return "—" if value is None else str(value)


def _fenced(text: str) -> str:
    fence = "````" if "```" in text else "```"
    return f"{fence}text\n{text}\n{fence}"


def bibtex(version: str | None = None) -> str:
    version = version or provenance.hearth_version()
    return (
        "@software{hearth,\n"
        f"  title = {{{TITLE}: {ABSTRACT.rstrip('.')}}},\n"
        f"  author = {{{{{AUTHORS}}}}},\n"
        f"  version = {{{version}}},\n"
        f"  license = {{{LICENSE}}},\n"
        "  note = {Local inference with llama.cpp through llama-cpp-python}\n"
        "}"
    )


def methods(store: RunStore, run_id: int, compare_with: int | None = None) -> str:
    """The methods text of a run (and of its comparison with ``compare_with``), in Markdown."""
    record = store.get(run_id)
    summary = summarize(store, run_id, record)
    paragraph, local = _run_paragraph(store, record, summary)
    parts = ["## Methods", "", paragraph]
    agreement_text = _agreement_paragraph(store, record)
    if agreement_text:
        parts += ["", agreement_text]
    judged, judges_local = _judge_paragraphs(store, run_id)
    for text in judged:
        parts += ["", text]
    for text in _blind_paragraphs(store, run_id):
        parts += ["", text]
    if compare_with is not None:
        parts += ["", _comparison_paragraph(store, run_id, compare_with)]
    parts += _sweep_part(store, run_id)
    if local and judges_local:
        parts += ["", "No data left this computer: every model ran locally and no server was used."]
    else:
        parts += ["", "Some rows were sent to a server (named above), so data left this computer."]
    parts += ["", "### Details", "", _table(record, summary), "", "### Prompt", ""]
    task = record.task
    if task.system:
        parts += ["System prompt:", "", _fenced(task.system), ""]
    parts += ["Prompt template (each {column} is filled from the row):", "", _fenced(task.prompt)]
    if task.kind == "json" and task.schema:
        parts += ["", "Output schema:", "", _fenced(json.dumps(task.schema, indent=2, ensure_ascii=False))]
    parts += ["", "### Software", "", f"Made with {TITLE} {provenance.hearth_version()}. Cite it as:", "",
              "```bibtex", bibtex(), "```", ""]  # fmt: skip
    return "\n".join(parts)

"""A second model as judge, with the real SmolLM2 judging (its wisdom is not tested, its mechanics
are): every score lies on its scale, the manifest holds what made the scores, a stopped judge
run resumes to the same rows, and pairwise judging really asks both orders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from judge_data import GOOD, POOR, QUESTIONS, RUBRIC_JSON, RUBRIC_TEXT, judged_run, write_questions
from runs_data import stored_rows

from desktop_app.core.cancel import CancelToken
from desktop_app.core.errors import HearthError
from desktop_app.core.inference.remote import RemoteClient
from desktop_app.core.runs import agreement, judge, judge_validation, methods, rubric, runner
from desktop_app.core.runs.agreement import AgreementEstimate
from desktop_app.core.runs.coding import CodeStore
from desktop_app.core.runs.generators import LocalGenerator
from desktop_app.core.runs.remote_generator import RemoteGenerator
from desktop_app.core.runs.storage import RunStore

# -- the rubric ------------------------------------------------------------------------------------


def test_both_rubric_formats_read_the_same_and_bad_ones_are_refused_in_plain_words(tmp_path: Path) -> None:
    as_json = tmp_path / "r.json"
    as_json.write_text(json.dumps(RUBRIC_JSON), encoding="utf-8")
    as_text = tmp_path / "r.txt"
    as_text.write_text(RUBRIC_TEXT, encoding="utf-8")
    a, b = rubric.load(as_json), rubric.load(as_text)
    assert a.sha256 == b.sha256
    assert a.criteria[0].scale == (1, 2, 3, 4, 5) and a.criteria[0].level == "ordinal"
    assert b.criteria[1].scale == ("pass", "fail") and b.criteria[1].level == "nominal"
    for text, words in [
        ("correct | 1-20 | x", "at most 11"),
        ("correct | 5-1 | x", "must be larger"),
        ("correct | yes | x", "at least two points"),
        ("a | 1-5\nA | 1-3", "twice"),
        ("1bad | 1-5 | x", "starts with a letter"),
        ("just words", "name | scale"),
        ('{"criteria": []}', "no criteria"),
        ('{"criteria": [', "not valid JSON"),
        ('x | "q", r | y', "no quotes"),
    ]:
        with pytest.raises(HearthError, match=words):
            rubric.parse_text(text)
    with pytest.raises(HearthError, match="could not be read"):
        rubric.load(tmp_path / "missing.txt")


def test_the_schema_admits_exactly_the_scale_and_the_grammar_names_every_point() -> None:
    r = rubric.parse_text(RUBRIC_TEXT)
    schema = r.schema()
    jsonschema.validate({"correct": 5, "clear": "fail"}, schema)
    for bad in ({"correct": 6, "clear": "pass"}, {"correct": 3}, {"correct": "3", "clear": "pass"},
                {"correct": 3, "clear": "pass", "more": 1}):  # fmt: skip
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
    assert r.parse('{"correct": 4, "clear": "pass"}') == {"correct": 4, "clear": "pass"}
    assert r.parse('{"correct": 9, "clear": "pass"}') is None
    assert r.parse('{"correct": true, "clear": "pass"}') is None
    grammar = r.gbnf()
    assert 'c0 ::= "1" | "2" | "3" | "4" | "5"' in grammar
    assert 'c1 ::= "\\"pass\\"" | "\\"fail\\""' in grammar


# -- judging one run -------------------------------------------------------------------------------


def test_every_score_lies_on_its_scale_and_the_manifest_says_what_made_it(
    tmp_path: Path, backend: LocalGenerator, store: RunStore, smol_sha: str
) -> None:
    dataset = write_questions(tmp_path / "questions.jsonl", 2)
    outputs = [GOOD[0], POOR[1]]
    judged = judged_run(store, dataset, outputs)
    r = rubric.parse_text(RUBRIC_TEXT, "rubric.txt")
    plan = judge.plan_judge(store, judged, r, seed=7)
    assert "{output}" in plan.plan.task.prompt and "{reference}" in plan.plan.task.prompt
    summary = judge.start(plan, backend, store)
    assert (summary.status, summary.done, summary.invalid) == ("done", 2, 0)
    rows = stored_rows(summary.run_id)
    for row in rows:
        scores = json.loads(row["output"])  # JSON, read without Hearth's code
        assert set(scores) == {"correct", "clear"}
        assert scores["correct"] in (1, 2, 3, 4, 5) and type(scores["correct"]) is int
        assert scores["clear"] in ("pass", "fail")
        assert row["finish"] == "stop"  # ended by the grammar, not cut off
    # The judge saw each answer, its question and its reference.
    for row, (qid, question, answer), output in zip(rows, QUESTIONS, outputs, strict=False):
        assert row["row_key"] == qid
        assert question in row["prompt"] and output in row["prompt"] and answer in row["prompt"]
    assert judge.scores(store, summary.run_id) == {i: json.loads(r["output"]) for i, r in enumerate(rows)}
    manifest = store.get(summary.run_id).manifest.to_dict()
    assert manifest["model"]["sha256"] == smol_sha
    assert manifest["model"]["template"]["sha256"]
    assert manifest["seed"] == 7 and manifest["sampling"]["temperature"] == 0.0
    assert manifest["judge"]["rubric_sha256"] == r.sha256 and manifest["judge"]["judged_runs"] == [judged]
    assert manifest["judge"]["prompt"] == plan.plan.task.prompt and manifest["judge"]["grammar"] == r.gbnf()
    assert store.get(summary.run_id).task.grammar == r.gbnf()  # kept with the task: a resume uses it too
    assert manifest["judge"]["rubric_file"] == "rubric.txt"
    report = judge.report(store, summary.run_id)
    assert report.valid == 2
    correct = report.criteria[0]
    values = [json.loads(row["output"])["correct"] for row in rows]
    assert correct.n == 2 and correct.mean == pytest.approx(sum(values) / 2)
    assert sum(correct.counts.values()) == 2
    assert judge.judges_of(store, judged) == [summary.run_id]

    # Checked against a person who rated the same rows in the coding screen (codes stored by coding.py).
    assert judge_validation.prepare_coding(store, summary.run_id, "correct") == judged
    codes = CodeStore(store)
    assert codes.codebook(judged).names == ["1", "2", "3", "4", "5"]
    mine = [5, 1]
    for index, value in enumerate(mine):
        codes.set_code(judged, index, "Ana", str(value))
    check = judge_validation.validate(store, summary.run_id, "Ana", "correct")
    assert check.rated == 2 and check.agreement.n == 2 and check.agreement.level == "ordinal"
    # The statistics are agreement.py's (tested against published examples there), on these codes.
    judge_codes = [str(v) for v in values]
    assert check.agreement.krippendorff_alpha.value == agreement.krippendorff_alpha(
        [judge_codes, [str(v) for v in mine]], "ordinal", ["1", "2", "3", "4", "5"]
    )
    assert check.verdict == "too few" and "too few" in check.sentence and "Rate at least 2 rows" in check.sentence
    assert "Krippendorff's α" in check.describe()
    with pytest.raises(HearthError, match="Ben has rated no row"):
        judge_validation.validate(store, summary.run_id, "Ben")
    with pytest.raises(HearthError, match="not on the scale"):
        judge_validation.validate(store, summary.run_id, "Ana", human={0: "7"})


def test_the_verdict_follows_krippendorffs_thresholds_and_says_when_to_rate_more() -> None:
    suggested = judge_validation.suggested_rows(500)
    assert suggested == 62 and judge_validation.suggested_rows(20) == 20
    cases = [
        (AgreementEstimate(0.9, 0.85, 0.95), 80, "reliable"),
        (AgreementEstimate(0.85, 0.5, 0.97), 80, "tentative"),  # the interval reaches below 0.667
        (AgreementEstimate(0.7, 0.6, 0.8), 80, "tentative"),
        (AgreementEstimate(0.5, 0.3, 0.7), 80, "unreliable"),
        (AgreementEstimate(0.95, 0.9, 1.0), 5, "too few"),
        (AgreementEstimate(None), 40, "too few"),
    ]
    for alpha, n, verdict in cases:
        got, sentence = judge_validation._verdict(alpha, n, suggested)
        assert got == verdict, (alpha, n, sentence)
        if verdict in ("reliable", "tentative", "unreliable"):
            assert f"{alpha.value:.3f}" in sentence
    assert "0.667" in judge_validation._verdict(AgreementEstimate(0.5, 0.3, 0.7), 80, suggested)[1]


def test_an_edited_prompt_is_used_as_written_and_one_without_the_answer_is_refused(
    tmp_path: Path, backend: LocalGenerator, store: RunStore
) -> None:
    dataset = write_questions(tmp_path / "questions.jsonl", 1)
    judged = judged_run(store, dataset, GOOD[:1])
    r = rubric.parse_text("correct | 1-3 | right or not")
    with pytest.raises(HearthError, match="does not show it"):
        judge.plan_judge(store, judged, r, prompt="Rate {input} from 1 to 3.")
    prompt = 'Q: {input}\nA: {output}\nScore 1-3 as JSON {{"correct": n}}.'
    plan = judge.plan_judge(store, judged, r, prompt=prompt, system="Be strict.")
    summary = judge.start(plan, backend, store)
    rows = stored_rows(summary.run_id)
    assert all(json.loads(row["output"])["correct"] in (1, 2, 3) for row in rows)
    assert 'as JSON {"correct": n}' in rows[0]["prompt"] and "Be strict." in rows[0]["prompt"]
    assert store.get(summary.run_id).task.prompt == prompt


def test_a_stopped_judge_run_resumes_to_the_rows_of_one_run_straight_through(
    tmp_path: Path, backend: LocalGenerator, store: RunStore
) -> None:
    dataset = write_questions(tmp_path / "questions.jsonl", 2)
    judged = judged_run(store, dataset, POOR[:2])
    r = rubric.parse_text("correct | 1-5 | agrees with the reference")
    straight = judge.start(judge.plan_judge(store, judged, r), backend, store)
    cancel = CancelToken()

    def stop_after_one(progress: runner.RunProgress) -> None:
        cancel.cancel()

    stopped = judge.start(judge.plan_judge(store, judged, r), backend, store, stop_after_one, cancel)
    assert (stopped.status, stopped.done) == ("paused", 1)
    resumed = runner.resume(stopped.run_id, backend, store)  # as `hearth runs resume` and the page's Resume do
    assert resumed.status == "done"
    a, b = stored_rows(straight.run_id), stored_rows(stopped.run_id)
    assert [(x["idx"], x["output"], x["seed"]) for x in b] == [(x["idx"], x["output"], x["seed"]) for x in a]
    with pytest.raises(HearthError, match="not a judge's run"):
        judge.resume(judged, backend, store)


# -- pairwise ---------------------------------------------------------------------------------------


def test_pairwise_asks_both_orders_and_counts_the_flips(
    tmp_path: Path, backend: LocalGenerator, store: RunStore
) -> None:
    dataset = write_questions(tmp_path / "questions.jsonl", 2)
    run_a = judged_run(store, dataset, GOOD[:2], "model-a")
    run_b = judged_run(store, dataset, POOR[:2], "model-b")
    r = rubric.parse_text("correct | 1-5 | agrees with the reference")
    plan = judge.plan_pairwise(store, run_a, run_b, r)
    summary = judge.start(plan, backend, store)
    rows = stored_rows(summary.run_id)
    assert len(rows) == 4 and summary.invalid == 0
    for k in range(2):
        ab, ba = rows[2 * k], rows[2 * k + 1]
        good, poor = GOOD[k], POOR[k]
        # Both orders were really put to the model: A's answer first in one prompt, B's in the other.
        assert ab["prompt"].index(good) < ab["prompt"].index(poor)
        assert ba["prompt"].index(poor) < ba["prompt"].index(good)
        assert ab["row_key"].endswith("A·B") and ba["row_key"].endswith("B·A")
    verdicts = [json.loads(row["output"]) for row in rows]
    assert all(set(v) == {"correct"} and v["correct"] in ("A", "B", "tie") for v in verdicts)
    report = judge.report(store, summary.run_id)
    for criterion in report.pairwise:
        # Recomputed by hand: a verdict in the second order names the other run by the same letter.
        swap = {"A": "B", "B": "A", "tie": "tie"}
        name = criterion.criterion
        pairs = [(verdicts[2 * k][name], swap[verdicts[2 * k + 1][name]]) for k in range(2)]
        flips = sum(x != y for x, y in pairs)
        assert (criterion.pairs, criterion.flips) == (2, flips)
        assert criterion.a_wins == sum(x == y == "A" for x, y in pairs)
        assert criterion.b_wins == sum(x == y == "B" for x, y in pairs)
        assert criterion.a_wins + criterion.b_wins + criterion.ties == 2
        first = sum((verdicts[i][name] == "A") for i in range(4))
        assert criterion.first_chosen == first
    judged_by = store.get(summary.run_id).manifest.judge
    assert judged_by is not None and judged_by.orders == ["AB", "BA"]
    assert "flipped" in report.describe()


def test_pairwise_refuses_runs_of_different_datasets(tmp_path: Path, store: RunStore) -> None:
    a = judged_run(store, write_questions(tmp_path / "a.jsonl", 2), GOOD[:2])
    b = judged_run(store, write_questions(tmp_path / "b.jsonl", 3), GOOD[:3])
    with pytest.raises(HearthError, match="different datasets"):
        judge.plan_pairwise(store, a, b, rubric.parse_text("x | 1-3 | y"))


def test_a_judge_on_a_server_scores_on_the_scale_and_says_where_it_ran(
    tmp_path: Path, store: RunStore, llama_cpp_server: Any
) -> None:
    dataset = write_questions(tmp_path / "questions.jsonl", 2)
    judged = judged_run(store, dataset, [GOOD[0], POOR[1]])
    r = rubric.parse_text("correct | 1-3 | agrees with the reference")
    client = RemoteClient(llama_cpp_server.root, llama_cpp_server.key, "lab box")
    backend = RemoteGenerator(client, client.describe_model(llama_cpp_server.model_id, "lab"), 2)
    try:
        summary = judge.start(judge.plan_judge(store, judged, r), backend, store)
    finally:
        backend.close()
    assert (summary.done, summary.invalid) == (2, 0)
    assert all(json.loads(row["output"])["correct"] in (1, 2, 3) for row in stored_rows(summary.run_id))
    manifest = store.get(summary.run_id).manifest.to_dict()
    assert manifest["model"]["kind"] == "remote" and manifest["judge"]["output_schema"] == r.schema()
    text = methods.methods(store, judged)
    assert f"judge run {summary.run_id}" in text and "a server on this computer" in text

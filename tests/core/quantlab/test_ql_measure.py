"""Measuring real variants of SmolLM2, each in its own process: are the numbers sane?"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from desktop_app.core.cancel import CancelToken, Progress
from desktop_app.core.errors import Cancelled, HearthError
from desktop_app.core.quantlab import saved as saved_comparisons
from desktop_app.core.quantlab.measure import CompareEvent, EvalText, measure_in_child, run_comparison
from desktop_app.core.quantlab.results import ComparisonRun
from desktop_app.core.quantlab.subproc import run_child
from desktop_app.core.quantlab.variants import describe_variant, group_variants
from tests.quantlab_helpers import Variants, fast_settings

PROMPT = "Name a colour."


@dataclass
class Outcome:
    run: ComparisonRun
    events: list[CompareEvent]
    progress: list[Progress]


@pytest.fixture(scope="module")
def outcome(variants: Variants, session_home: Path) -> Outcome:
    events: list[CompareEvent] = []
    progress: list[Progress] = []
    # Given worst first: the lab must still pick F16 as the reference and measure it first.
    run = run_comparison(
        [variants.q4_0, variants.f16, variants.q8_0],
        fast_settings(prompt=PROMPT, speed_rounds=2),
        EvalText.sample(),
        progress=progress.append,
        on_event=events.append,
        save=False,
    )
    return Outcome(run, events, progress)


def by_quant(run: ComparisonRun) -> dict[str, object]:
    return {r.quant: r for r in run.results}


def test_reference_is_the_highest_precision_variant_and_goes_first(outcome: Outcome) -> None:
    quants = [r.quant for r in outcome.run.results]
    assert quants == ["F16", "Q8_0", "Q4_0"]
    ref = outcome.run.results[0]
    assert ref.is_reference and not any(r.is_reference for r in outcome.run.results[1:])
    assert ref.kl_divergence == 0.0 and ref.top1_agreement == 1.0
    assert outcome.run.kl_method.startswith("exact")  # 49k vocabulary x 94 positions fits in full


def test_quality_numbers_are_sane_and_ordered(outcome: Outcome) -> None:
    f16, q8, q4 = outcome.run.results
    for r in outcome.run.results:
        assert r.error is None
        assert r.perplexity is not None and math.isfinite(r.perplexity)
        assert 1.5 < r.perplexity < 200, r.perplexity  # a small model on Alice: tens, not thousands
        assert r.n_scored == f16.n_scored == 2 * (96 - 1 - 48)  # two windows of 96: their second halves
    assert q8.kl_divergence is not None and q4.kl_divergence is not None
    assert 0 < q8.kl_divergence <= q4.kl_divergence
    assert q8.top1_agreement is not None and q4.top1_agreement is not None
    assert 1.0 >= q8.top1_agreement >= q4.top1_agreement > 0.3
    assert q4.kl_p99 is not None and q4.kl_p99 >= q4.kl_divergence
    # Q8_0 is nearly lossless: its perplexity is within 2 % of the reference's.
    assert q8.perplexity is not None and f16.perplexity is not None
    assert abs(q8.perplexity / f16.perplexity - 1) < 0.02


def test_size_memory_and_speed_are_measured(outcome: Outcome) -> None:
    f16, q8, q4 = outcome.run.results
    assert f16.size_bytes > q8.size_bytes > q4.size_bytes
    assert f16.bits_per_weight > q8.bits_per_weight > q4.bits_per_weight
    for r in outcome.run.results:
        assert r.load_s is not None and r.load_s > 0
        assert r.prompt_tok_s is not None and r.prompt_tok_s > 0
        assert r.gen_tok_s is not None and r.gen_tok_s > 0
        assert r.peak_rss_bytes is not None and r.baseline_rss_bytes is not None
        assert r.vram_bytes is None  # no GPU on this machine
        # The weights are memory-mapped and all read: the model's own memory is at least their size.
        assert r.model_rss_bytes is not None and r.model_rss_bytes > 0.8 * r.size_bytes
    assert f16.peak_rss_bytes is not None and q4.peak_rss_bytes is not None
    assert f16.peak_rss_bytes > q4.peak_rss_bytes
    assert all(r.sha256 and len(r.sha256) == 64 for r in outcome.run.results)


def test_speed_is_the_median_of_rounds_taken_in_alternating_order(outcome: Outcome) -> None:
    for r in outcome.run.results:
        runs = r.speed_runs
        assert len(runs) == 2 and all(x["prompt_tok_s"] > 0 and x["gen_tok_s"] > 0 for x in runs)
        assert r.gen_tok_s == statistics.median(x["gen_tok_s"] for x in runs)
        assert r.prompt_tok_s == statistics.median(x["prompt_tok_s"] for x in runs)
        assert r.speed_spread("gen_tok_s") == (min(x["gen_tok_s"] for x in runs), max(x["gen_tok_s"] for x in runs))
        assert all(0.0 <= x["others_cpu"] <= 1.0 for x in runs)
    # The second round goes through the variants backwards (the first went forwards).
    second = [p.message.rsplit(": ", 1)[1] for p in outcome.progress if "speed, round 2 of 2" in p.message]
    assert second == [r.name for r in reversed(outcome.run.results)]


def test_a_busy_machine_is_named_beside_the_speed(variants: Variants) -> None:
    # Two programs that keep both cores busy while the speed is measured.
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 2)]
    try:
        run = run_comparison([variants.q4_0], fast_settings(speed_rounds=2), save=False)
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    (row,) = run.results
    assert max(x["others_cpu"] for x in row.speed_runs) >= 0.25
    assert any("Other programs used about" in note and "speed may read low" in note for note in row.notes)


def test_every_variant_answers_with_the_same_seed(outcome: Outcome) -> None:
    seed = outcome.run.settings.sampling.seed
    assert seed == 1234
    for r in outcome.run.results:
        assert r.answer and r.answer.strip()
        assert r.answer_timings is not None and r.answer_timings["seed"] == seed
    # The streamed pieces add up to each stored answer.
    for index, r in enumerate(outcome.run.results):
        streamed = "".join(e.text for e in outcome.events if e.kind == "answer" and e.index == index)
        assert streamed == r.answer


def test_events_and_progress_tell_the_story(outcome: Outcome) -> None:
    kinds = [(e.kind, e.index) for e in outcome.events if e.kind != "answer"]
    first_pass = [("started", 0), ("result", 0), ("started", 1), ("result", 1), ("started", 2), ("result", 2)]
    assert kinds == [*first_pass, ("result", 0), ("result", 1), ("result", 2)]  # again, with the median speeds
    done = [p.done for p in outcome.progress]
    assert done == sorted(done)
    assert outcome.progress[-1].total == 3.75  # each variant 1, and 0.25 for all its later speed rounds
    assert any("perplexity" in p.message for p in outcome.progress)


def test_reference_against_itself_has_zero_kl_and_full_agreement(variants: Variants, tmp_path: Path) -> None:
    settings = fast_settings()
    text = EvalText.sample().text
    job = {"path": str(variants.f16), "store": str(tmp_path / "ref"), "settings": settings.to_dict(), "text": text}
    ref = measure_in_child({**job, "role": "reference", "tokens": None})
    again = measure_in_child({**job, "role": "variant", "tokens": ref["tokens"]})
    assert again["kl_divergence"] == pytest.approx(0.0, abs=1e-6)
    assert again["top1_agreement"] == 1.0
    assert again["perplexity"] == pytest.approx(ref["perplexity"], rel=1e-6)


def test_top_k_storage_approximates_the_exact_kl_from_below(variants: Variants, outcome: Outcome) -> None:
    run = run_comparison([variants.f16, variants.q4_0], fast_settings(kl_top_k=32), save=False)
    assert run.kl_method.startswith("top-32")
    exact = outcome.run.results[2].kl_divergence
    approx = run.results[1].kl_divergence
    assert exact is not None and approx is not None
    assert approx <= exact + 1e-6  # coarse-graining never increases KL
    assert approx > 0.5 * exact  # and the top 32 tokens carry most of it
    assert run.results[1].top1_agreement == outcome.run.results[2].top1_agreement


def test_a_model_with_another_vocabulary_gets_no_kl(variants: Variants, gemma_path: Path) -> None:
    run = run_comparison([variants.q4_0, gemma_path], fast_settings(), reference=variants.q4_0, save=False)
    smol, gemma = run.results
    assert smol.is_reference and smol.quant == "Q4_0"
    assert gemma.error is None
    assert gemma.perplexity is not None and math.isfinite(gemma.perplexity)
    assert gemma.kl_divergence is None and gemma.top1_agreement is None
    assert any("different tokens" in note or "vocabulary" in note for note in gemma.notes)
    assert "not all variants of one model" in " ".join(run.machine.notes)


def test_cancel_stops_the_run_and_saves_nothing(variants: Variants) -> None:
    cancel = CancelToken()

    def on_progress(progress: Progress) -> None:
        if "perplexity" in progress.message:
            cancel.cancel()

    with pytest.raises(Cancelled):
        run_comparison([variants.f16, variants.q4_0], fast_settings(), progress=on_progress, cancel=cancel)
    assert saved_comparisons.list_runs() == []


def test_runs_are_saved_reopened_rated_exported_and_deleted(outcome: Outcome, tmp_path: Path) -> None:
    run = outcome.run
    run.id = None
    run_id = saved_comparisons.save(run)
    assert run.id == run_id
    [summary] = saved_comparisons.list_runs()
    assert summary.id == run_id and summary.n_models == 3 and "F16" in summary.title
    again = saved_comparisons.load(run_id)
    assert [r.to_dict() for r in again.results] == [r.to_dict() for r in run.results]
    assert again.settings == run.settings and again.text_sha256 == run.text_sha256
    saved_comparisons.set_rating(run_id, 1, 4)
    assert saved_comparisons.load(run_id).results[1].rating == 4

    rows = list(csv.DictReader(io.StringIO(saved_comparisons.to_csv(again))))
    assert [r["quant"] for r in rows] == ["F16", "Q8_0", "Q4_0"]
    assert float(rows[2]["kl_divergence"]) == pytest.approx(run.results[2].kl_divergence)
    exported = json.loads(saved_comparisons.export(again, tmp_path / "run.json").read_text(encoding="utf-8"))
    assert exported["results"][0]["sha256"] == run.results[0].sha256
    assert exported["settings"]["tokens"] == 192
    with pytest.raises(HearthError):
        saved_comparisons.export(again, tmp_path / "run.xlsx")

    saved_comparisons.delete(run_id)
    assert saved_comparisons.list_runs() == []
    with pytest.raises(HearthError):
        saved_comparisons.load(run_id)


def test_variants_of_one_model_are_grouped(variants: Variants, smollm2_path: Path, gemma_path: Path) -> None:
    found = [describe_variant(p) for p in (variants.q4_0, smollm2_path, variants.f16, gemma_path, variants.q8_0)]
    groups = group_variants(found)
    assert len(groups) == 2
    smol = next(g for g in groups if "smollm2" in g.base.lower())
    assert [v.quant for v in smol.variants] == ["F16", "Q8_0", "Q4_1", "Q4_0"]
    assert smol.reference.quant == "F16"


def _die(job: dict[str, object], conn: object) -> None:
    import os
    import signal

    os.kill(os.getpid(), signal.SIGKILL)


def test_a_child_that_dies_is_reported_in_words() -> None:
    with pytest.raises(HearthError, match="stopped unexpectedly"):
        run_child(_die, {})

"""The methods text: whether data left the computer (a server on loopback counts as this computer),
the citation (which must agree with CITATION.cff), and a sweep cell's text (the prompts tried,
how the reported one was chosen, the grid) and a comparison's, from a real sweep with SmolLM2."""

from __future__ import annotations

import re
from pathlib import Path

from runs_data import LABEL_PROMPT, review_rows, write_csv

from desktop_app.core.inference.engine import Engine
from desktop_app.core.models.fingerprint import sha256_file
from desktop_app.core.runs import methods, sweep
from desktop_app.core.runs.generators import LocalGenerator
from desktop_app.core.runs.manifest import ModelRecord
from desktop_app.core.runs.paired import compare
from desktop_app.core.runs.storage import RunStore
from desktop_app.core.runs.sweep_results import results
from desktop_app.core.runs.tasks import Task, run_sampling

ROOT = Path(__file__).resolve().parents[3]


def test_a_server_on_this_computer_keeps_the_data_here_and_another_does_not() -> None:
    local = {"kind": "local", "name": "m", "sha256": "ab" * 32, "quant": "Q4_1", "llama_cpp_version": "0.3.36"}
    words, here = methods._model_words(ModelRecord.from_dict(local))
    assert here and "sha256 `" + "ab" * 32 + "`" in words and "Q4_1 quantisation" in words and "0.3.36" in words
    assert "licence not stated" in words  # no file at the recorded path: unknown, said so
    for url, expected in (("http://127.0.0.1:8080/v1", True), ("http://localhost:9000", True),
                          ("https://api.example.org/v1", False)):  # fmt: skip
        remote = {"kind": "remote", "name": "m", "url": url, "model_id": "x"}
        words, here = methods._model_words(ModelRecord.from_dict(remote))
        assert here is expected and url in words


def test_the_bibtex_entry_and_citation_cff_agree() -> None:
    cff = (ROOT / "CITATION.cff").read_text(encoding="utf-8")
    fields = dict(re.findall(r'^(title|version|license): "?(.*?)"?$', cff, re.MULTILINE))
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    version = re.search(r'^version = "(.+)"$', pyproject, re.MULTILINE).group(1)  # type: ignore[union-attr]
    entry = methods.bibtex(version)
    assert fields["version"] == version and f"version = {{{version}}}" in entry
    assert fields["license"] == methods.LICENSE and f"license = {{{methods.LICENSE}}}" in entry
    assert f"title = {{{fields['title']}}}" in entry
    assert f'name: "{methods.AUTHORS}"' in cff and f"author = {{{{{methods.AUTHORS}}}}}" in entry


def test_a_sweep_cell_reports_the_prompts_tried_and_how_the_reported_one_was_chosen(
    tmp_path: Path, engine: Engine, smollm2_path: Path
) -> None:
    path = write_csv(tmp_path / "reviews.csv", review_rows(4))
    prompts = [LABEL_PROMPT, "{text}\nSentiment (positive or negative):"]
    task = Task(prompt=LABEL_PROMPT, kind="labels", labels=["positive", "negative"], reference="label",
                sampling=run_sampling(max_tokens=3))  # fmt: skip
    spec = sweep.SweepSpec(str(path), task, prompts, [sweep.ModelRef("SmolLM2", str(smollm2_path))],
                           dev_fraction=0.5, seed=3)  # fmt: skip
    store = RunStore()
    try:
        sweep_id = sweep.create(sweep.plan(spec), store)
        backend = LocalGenerator(engine, sha256_file(smollm2_path))
        sweep.run(store, sweep_id, lambda _model: backend, lambda _backend: None)
        found = results(store, sweep_id)
        assert found.test is not None and found.best is not None and found.test.run_id is not None
        text = methods.methods(store, found.test.run_id)
        assert f"part of sweep {sweep_id}" in text and "2 combinations" in text
        assert f"into {found.split.dev} development rows" in text and "test rows" in text
        assert f"Chosen: {found.best.label}" in text and found.sentence in text
        assert all(p in text for p in prompts) and "#### Prompts tried" in text
        for pair in found.pairwise:
            assert f"{pair.p_value:.3g} ({pair.p_holm:.3g})" in text
        # The comparison of the two development cells, with McNemar's exact test.
        a, b = (cell.run_id for cell in found.cells)
        assert a is not None and b is not None
        compared = compare(store, a, b)
        text = methods.methods(store, a, compare_with=b)
        assert f"Compared with run {b}" in text and f"McNemar's exact test p = {compared.p_value:.3g}" in text
    finally:
        store.close()

"""The Compare section with pytest-qt (offscreen): run, stop, read the table, rate blind, export,
make a variant. Real models in real child processes; the tests wait on signals."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from desktop_app.core import settings as settings_store
from desktop_app.core.cancel import Progress
from desktop_app.core.models import gguf_meta
from desktop_app.core.quantlab import saved as saved_comparisons
from desktop_app.core.quantlab.results import ComparisonRun
from desktop_app.core.quantlab.variants import describe_variant
from desktop_app.core.settings import LoadSettings, SamplingSettings, Settings
from desktop_app.ui.compare.form import IDLE_HINT
from desktop_app.ui.compare.item_models import COLUMNS
from desktop_app.ui.compare.quantize_dialog import QuantizeDialog
from desktop_app.ui.compare.view import CompareView
from desktop_app.ui.context import AppContext
from tests.quantlab_helpers import Variants

RUN_TIMEOUT_MS = 480_000


@pytest.fixture
def view(qtbot: Any, models_in_home: list[Path]) -> Iterator[CompareView]:
    settings_store.save(
        Settings(sampling=SamplingSettings(max_tokens=6, seed=11), load=LoadSettings(n_ctx=512, n_threads=0))
    )
    context = AppContext()
    widget = CompareView(context)
    qtbot.addWidget(widget)
    with qtbot.waitSignal(widget.models_listed, timeout=60_000):
        widget.show()  # lists the models on first show, off the GUI thread
    assert not widget.listing and widget.form.refresh_button.isEnabled()
    widget.form.tokens.setValue(192)
    widget.form.window_size.setValue(96)
    widget.form.speed_rounds.setValue(1)  # the rounds themselves are tested in test_ql_measure.py
    yield widget
    widget.flush()
    context.close()


def cell(view: CompareView, row: int, title: str) -> str:
    column = [c.title for c in COLUMNS].index(title)
    return str(view.results.table_model.index(row, column).data(Qt.ItemDataRole.DisplayRole))


def test_models_are_grouped_and_two_ticks_enable_compare(view: CompareView, models_in_home: list[Path]) -> None:
    names = {v.name for v in view.variants}
    assert {p.stem for p in models_in_home} <= names
    group = view.form.picker_model.item(0, 0)
    assert group.rowCount() >= 3  # F16, Q8_0, Q4_0 (and the starter Q4_1) under one base model
    assert not view.form.run_button.isEnabled()
    assert view.form.status.text() == IDLE_HINT  # not "Finding local models…" once listed
    view.form.set_checked(models_in_home[:1])
    assert not view.form.run_button.isEnabled()
    view.form.set_checked(models_in_home[:2])
    assert view.form.run_button.isEnabled()
    assert view.form.reference.count() == 3  # automatic + the two ticked
    # The view itself shows them (a model filled with its signals blocked drew rows zero-wide).
    first_variant = view.form.picker_model.index(0, 0, view.form.picker_model.index(0, 0))
    assert view.form.picker.visualRect(first_variant).width() > 0


def test_a_refresh_keeps_ticks_and_ticks_a_new_variant(
    view: CompareView, qtbot: Any, models_in_home: list[Path], smollm2_path: Path
) -> None:
    view.form.set_checked(models_in_home[:1])
    made = models_in_home[0].parent / "made-here.gguf"  # what "Make variant…" hands over
    os.symlink(smollm2_path, made)
    with qtbot.waitSignal(view.models_listed, timeout=60_000):
        view.refresh_models(tick=[made])
        assert view.listing and not view.form.refresh_button.isEnabled()  # the GUI thread is free meanwhile
    assert {v.path.resolve() for v in view.form.checked()} == {models_in_home[0].resolve(), made.resolve()}
    assert view.form.run_button.isEnabled()


def test_a_comparison_fills_table_charts_and_blind_answers(
    view: CompareView, qtbot: Any, qtmodeltester: Any, models_in_home: list[Path], tmp_path: Path
) -> None:
    f16, _q8, q4 = models_in_home
    view.form.set_checked([q4, f16])
    view.form.prompt.setPlainText("Name a colour.")
    view.form.max_answer.setValue(6)
    view.form.blind.setChecked(True)
    progress: list[Progress] = []
    with qtbot.waitSignal(view.run_started, timeout=5000):
        view.form.run_button.click()
    job = view.job
    assert job is not None
    job.progress.connect(progress.append)
    assert not view.form.run_button.isEnabled() and view.form.stop_button.isEnabled()
    finished: list[ComparisonRun] = []
    view.run_finished.connect(finished.append)
    with qtbot.waitSignals([view.run_finished, job.done], timeout=RUN_TIMEOUT_MS):
        pass
    [run] = finished
    assert view.current_run is run and run.id is not None
    assert view.tabs.currentWidget() is view.results  # what the user waited for

    # The model's name stays in view however far the table is scrolled sideways.
    table = view.results.table
    table.resize(320, 240)
    table.horizontalScrollBar().setValue(table.horizontalScrollBar().maximum())
    assert table.horizontalScrollBar().maximum() > 0
    frozen = table.frozen
    assert frozen.isVisible() and frozen.geometry().x() <= table.frameWidth() + table.verticalHeader().width()
    assert frozen.width() == table.columnWidth(0) > 0
    assert [frozen.isColumnHidden(c) for c in range(view.results.table_proxy.columnCount())][:2] == [False, True]
    assert frozen.model().index(0, 0).data() == cell(view, 0, "Model")
    assert view.job is None and view.form.run_button.isEnabled()
    assert progress and progress[-1].fraction == 1.0

    qtmodeltester.check(view.results.table_model)
    assert view.results.table_model.rowCount() == 2
    assert "(reference)" in cell(view, 0, "Model") and cell(view, 0, "Quant") == "F16"
    assert cell(view, 0, "KL divergence") == "0.0000" and cell(view, 0, "Top-1 agreement") == "100.0%"
    assert cell(view, 1, "Quant") == "Q4_0"
    kl, kl_unc = cell(view, 1, "KL divergence").split(" ± ")  # with its uncertainty, as llama-perplexity
    assert float(kl) > 0 and 0 < float(kl_unc) < float(kl)
    assert float(cell(view, 1, "Perplexity").split(" ± ")[0]) > 1
    assert len(view.results.charts.size_chart.points) == 2 and len(view.results.charts.speed_chart.points) == 2

    # Blind: columns are anonymous until both answers are rated; the ratings are saved.
    assert sorted(view.answers.column_titles()) == ["Answer A", "Answer B"]
    for index, column in view.answers.columns.items():
        assert column.text.toPlainText() == run.results[index].answer
    view.answers.columns[1].rating.setCurrentIndex(2)
    assert not view.answers.is_revealed
    view.answers.columns[0].rating.setCurrentIndex(5)
    assert view.answers.is_revealed
    assert any(q4.stem in title for title in view.answers.column_titles())
    saved = saved_comparisons.load(run.id or 0)
    assert [r.rating for r in saved.results] == [5, 2]

    # History lists it; exports write real files.
    assert view.history.history_model.rowCount() == 1
    for suffix in (".csv", ".json", ".png"):
        view.export_current(tmp_path / f"run{suffix}")
    assert [r["quant"] for r in csv.DictReader((tmp_path / "run.csv").open(encoding="utf-8"))] == ["F16", "Q4_0"]
    assert json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))["id"] == run.id
    assert (tmp_path / "run.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # Re-opening from History shows the same rows.
    view.results.table_model.set_results([])
    view.history.history.setCurrentIndex(view.history.history_model.index(0, 0))
    view.history.open_run_button.click()
    assert view.results.table_model.rowCount() == 2 and cell(view, 1, "Quant") == "Q4_0"


def test_stop_cancels_the_run_and_saves_nothing(view: CompareView, qtbot: Any, models_in_home: list[Path]) -> None:
    view.form.set_checked(models_in_home[:2])
    view.form.run_button.click()
    job = view.job
    assert job is not None
    with qtbot.waitSignal(job.progress, timeout=RUN_TIMEOUT_MS, check_params_cb=lambda p: "loading" in p.message):
        pass
    view.form.stop_button.click()
    assert view.form.status.text() == "Stopping…"
    with qtbot.waitSignals([view.run_cancelled, job.done], timeout=60_000):
        pass
    assert saved_comparisons.list_runs() == []
    assert view.form.run_button.isEnabled() and view.current_run is None
    assert "Stopped" in view.form.status.text()


def test_make_variant_dialog_quantises_and_can_stop(qtbot: Any, variants: Variants, hearth_home: Path) -> None:
    dialog = QuantizeDialog([describe_variant(variants.f16), describe_variant(variants.q4_0)])
    qtbot.addWidget(dialog)
    dialog.show()
    # An already-quantised source needs consent.
    dialog.source.setCurrentIndex(1)
    assert dialog.warning.isVisible() and not dialog.start_button.isEnabled()
    dialog.allow_requantize.setChecked(True)
    assert dialog.start_button.isEnabled()

    dialog.source.setCurrentIndex(0)
    dialog.qtype.setCurrentIndex(dialog.qtype.findData("Q8_0"))
    out = Path(dialog.output.text())
    assert out.parent == hearth_home / "models" and out.name == "SmolLM2-135M-Instruct-Q8_0.gguf"

    # Stop half-way: nothing is written.
    dialog.start_button.click()
    job = dialog.job
    assert job is not None
    with qtbot.waitSignal(job.progress, timeout=60_000, check_params_cb=lambda p: (p.fraction or 0) > 0.2):
        pass
    dialog.cancel_button.click()
    with qtbot.waitSignal(job.done, timeout=60_000):
        pass
    assert not out.exists() and not list(out.parent.glob("*.partial"))
    assert "Stopped" in dialog.status.text()

    # And made for real.
    with qtbot.waitSignals([dialog.variant_made, dialog.accepted], timeout=120_000):
        dialog.start_button.click()
    assert gguf_meta.read_local(out).quant == "Q8_0"

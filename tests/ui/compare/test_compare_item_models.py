"""The Compare section's item models under pytest-qt's model tester: the model picker (a tree of
base models and their variants), the results table behind its sorting proxy, and the saved runs."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSortFilterProxyModel, Qt
from PySide6.QtGui import QStandardItemModel

from desktop_app.core.quantlab import saved
from desktop_app.core.quantlab.results import CompareSettings, ComparisonRun, MachineInfo, VariantResult
from desktop_app.core.quantlab.variants import Variant, describe_variant, group_variants
from desktop_app.ui.compare.item_models import (
    CompareTableModel,
    ComparisonListModel,
    build_picker_model,
    checked_variants,
    set_checked,
)
from desktop_app.ui.shared.item_models import ItemRole


def local_variants(smollm2_path: Path, gemma_path: Path, folder: Path) -> list[Variant]:
    """Two base models, the first with two files (a second name for SmolLM2's bytes)."""
    copy = folder / "SmolLM2-135M-Instruct-copy.gguf"
    try:
        os.link(smollm2_path, copy)
    except OSError:
        shutil.copyfile(smollm2_path, copy)
    return [describe_variant(p) for p in (smollm2_path, copy, gemma_path)]


def result_of(variant: Variant, reference: bool, **measured: Any) -> VariantResult:
    return VariantResult(
        str(variant.path), variant.name, "0" * 64, variant.quant, variant.bits_per_weight, variant.size_bytes,
        is_reference=reference, **measured,
    )  # fmt: skip


def test_picker_model(qtmodeltester: Any, smollm2_path: Path, gemma_path: Path, tmp_path: Path) -> None:
    found = local_variants(smollm2_path, gemma_path, tmp_path)
    groups = group_variants(found)
    model = QStandardItemModel()
    qtmodeltester.check(model)  # empty
    build_picker_model(groups, {found[0].path.resolve()}, model)
    qtmodeltester.check(model)
    assert model.rowCount() == len(groups) == 2
    assert sorted(model.item(r, 0).rowCount() for r in range(2)) == [1, 2]
    assert [v.path for v in checked_variants(model)] == [found[0].path]
    set_checked(model, {v.path.resolve() for v in found[1:]})
    qtmodeltester.check(model)
    assert {v.path for v in checked_variants(model)} == {v.path for v in found[1:]}
    build_picker_model(groups[:1], set(), model)  # refreshed: one model left, nothing ticked
    qtmodeltester.check(model)
    assert model.rowCount() == 1 and checked_variants(model) == []


def test_compare_table_model_and_its_proxy(
    qtmodeltester: Any, smollm2_path: Path, gemma_path: Path, tmp_path: Path
) -> None:
    smol, copy, _gemma = local_variants(smollm2_path, gemma_path, tmp_path)
    model = CompareTableModel()
    proxy = QSortFilterProxyModel()
    proxy.setSourceModel(model)
    proxy.setSortRole(ItemRole.sort)  # as the Compare view sorts it
    qtmodeltester.check(model)
    qtmodeltester.check(proxy)
    reference = result_of(smol, True, load_s=0.4, perplexity=12.5, kl_divergence=0.0, top1_agreement=1.0)
    model.set_results([reference])
    qtmodeltester.check(model)
    model.add_result(result_of(copy, False, load_s=0.3, perplexity=12.9, perplexity_unc=0.2, kl_divergence=0.02,
                               kl_unc=0.001, kl_method="exact", top1_agreement=0.93, top1_unc=0.01))  # fmt: skip
    model.add_result(result_of(copy, False, error="The model could not be loaded: out of memory."))
    qtmodeltester.check(model)
    qtmodeltester.check(proxy)
    assert model.rowCount() == 3 and model.index(0, 0).data().endswith("(reference)")
    assert model.index(1, 11).data() == "93.0% ± 1.0"
    assert model.index(2, 4).data() == "failed"
    assert "out of memory" in model.index(2, 0).data(Qt.ItemDataRole.ToolTipRole)
    proxy.sort(9, Qt.SortOrder.DescendingOrder)  # perplexity, the failed row (blank after "failed") last
    qtmodeltester.check(proxy)
    assert [proxy.index(r, 9).data() for r in range(3)] == ["12.900 ± 0.200", "12.500", ""]


def test_comparison_list_model(qtmodeltester: Any, smollm2_path: Path, gemma_path: Path, tmp_path: Path) -> None:
    smol, copy, _gemma = local_variants(smollm2_path, gemma_path, tmp_path)
    model = ComparisonListModel()
    qtmodeltester.check(model)  # empty
    for title in ("Q4_1 against itself", "A second look"):
        run = ComparisonRun(
            settings=CompareSettings(),
            text_source="the bundled sample text",
            text_sha256="0" * 64,
            n_text_tokens=512,
            kl_method="exact",
            results=[result_of(smol, True), result_of(copy, False)],
            machine=MachineInfo(),
            title=title,
        )
        saved.save(run)
    model.set_runs(saved.list_runs())
    qtmodeltester.check(model)
    assert model.rowCount() == 2
    lines = [model.index(r, 0).data() for r in range(2)]
    assert all("(2 models)" in line for line in lines)
    titles = {line.split(" — ")[1].removesuffix(" (2 models)") for line in lines}
    assert titles == {"Q4_1 against itself", "A second look"}
    run_id = model.index(0, 0).data(ItemRole.item).id
    assert model.index(0, 0).data(Qt.ItemDataRole.ToolTipRole) == f"Run {run_id}, measured on the bundled sample text"
    saved.delete(run_id)
    model.set_runs(saved.list_runs())
    qtmodeltester.check(model)
    assert model.rowCount() == 1

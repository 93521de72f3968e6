"""Library actions (issue 12): a fit badge opens the memory per device (Library and Browse), "Chat with
this model" loads it in the chat, and models opened from a file in the chat or made in Compare show
up in the Library (and the chat's list) without pressing Refresh."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from hubstub import SMOL_FILE, SMOL_REPO, HubStub
from PySide6.QtCore import Qt

from desktop_app.core import paths
from desktop_app.core.fit import badges as fit_badges
from desktop_app.core.fit import plan as fit_plan
from desktop_app.core.models import gguf_meta
from desktop_app.core.quantlab.quantize import quantize
from desktop_app.core.units import human_bytes
from desktop_app.ui.compare.view import CompareView
from desktop_app.ui.models.item_models import LibraryModel, RepoFilesModel
from desktop_app.ui.models.view import ModelsView

from .conftest import LOAD_TIMEOUT_MS


def cells(dialog: Any) -> dict[str, str]:
    table = dialog.table
    return {table.verticalHeaderItem(r).text(): table.item(r, 0).text() for r in range(table.rowCount())}


def listed(models: ModelsView, path: Path) -> bool:
    return path.resolve() in [m.path.resolve() for m in models.library.model.models()]


def test_the_fit_badge_opens_the_memory_per_device(
    qtbot: Any, hub_stub: HubStub, window: Any, smollm2_path: Path
) -> None:
    models = window.sections["Models"]
    assert isinstance(models, ModelsView)
    lib = models.library
    qtbot.waitUntil(lambda: listed(models, smollm2_path), timeout=LOAD_TIMEOUT_MS)
    row = [m.path.resolve() for m in lib.model.models()].index(smollm2_path.resolve())
    index = lib.model.index(row, LibraryModel.FIT_COLUMN)
    window.show_section(list(window.sections).index("Models"))
    models.tabs.setCurrentWidget(lib)
    qtbot.mouseClick(lib.view.viewport(), Qt.MouseButton.LeftButton, pos=lib.view.visualRect(index).center())
    dialog = lib.fit_dialog
    assert dialog is not None and dialog.isVisible()
    expected = fit_plan.plan(gguf_meta.read_local(smollm2_path), fit_badges.machine(), lib.n_ctx)
    cpu = expected.breakdown.cpu
    shown = cells(dialog)
    assert shown["Weights"] == human_bytes(cpu.weights)
    assert shown["Conversation memory (KV cache)"] == human_bytes(expected.kv_bytes)
    assert shown["Total"] == human_bytes(expected.ram_bytes)
    assert f"{expected.n_ctx:,} tokens of context" in dialog.layers_label.text()
    dialog.close()

    # The same dialog behind a Hub file's badge in Browse.
    browse = models.browse
    browse.search_edit.setText(SMOL_REPO)
    with qtbot.waitSignals([browse.repo_shown, browse.badges_done], order="strict", timeout=LOAD_TIMEOUT_MS):
        models.tabs.setCurrentWidget(browse)
        qtbot.mouseClick(browse.search_button, Qt.MouseButton.LeftButton)
    fit_index = browse.files_model.index_of(SMOL_FILE, RepoFilesModel.FIT_COLUMN)
    browse.files_view.scrollTo(fit_index)
    rect = browse.files_view.visualRect(fit_index)
    qtbot.mouseClick(browse.files_view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert browse.fit_dialog is not None and browse.fit_dialog.isVisible()
    assert cells(browse.fit_dialog)["Total"] == human_bytes(
        fit_plan.plan(gguf_meta.read_local(smollm2_path), fit_badges.machine(), browse.n_ctx).ram_bytes
    )
    browse.fit_dialog.close()


def test_chat_with_a_library_model_and_new_models_appear_without_refresh(
    qtbot: Any, window: Any, smollm2_path: Path, tmp_path: Path
) -> None:
    models = window.sections["Models"]
    assert isinstance(models, ModelsView)
    lib, host, picker = models.library, window.context.models, window.chat.model_picker
    qtbot.waitUntil(lambda: listed(models, smollm2_path), timeout=LOAD_TIMEOUT_MS)
    window.show_section(list(window.sections).index("Models"))
    assert lib.select_path(smollm2_path)
    with qtbot.waitSignal(host.model_changed, timeout=LOAD_TIMEOUT_MS, check_params_cb=lambda m: m is not None):
        qtbot.mouseClick(lib.chat_button, Qt.MouseButton.LeftButton)
    assert window.stack.currentWidget() is window.chat
    qtbot.waitUntil(lambda: not host.busy, timeout=LOAD_TIMEOUT_MS)
    assert host.model.path.resolve() == smollm2_path.resolve()

    # A file opened in the chat: remembered, and listed in the Library at once.
    opened = tmp_path / "elsewhere" / "opened-smol.Q4_1.gguf"
    opened.parent.mkdir()
    shutil.copyfile(smollm2_path, opened)
    with qtbot.waitSignal(host.model_changed, timeout=LOAD_TIMEOUT_MS, check_params_cb=lambda m: m is not None):
        picker.open_file(opened)
    qtbot.waitUntil(lambda: listed(models, opened), timeout=LOAD_TIMEOUT_MS)

    # A variant made in Compare (llama.cpp's quantiser, into the models folder), as its dialog reports it.
    compare = window.sections["Compare"]
    assert isinstance(compare, CompareView)
    made = quantize(smollm2_path, paths.models_dir() / "smol-Q8_0.gguf", "Q8_0", allow_requantize=True)
    compare._on_dialog_variant_made(made)
    qtbot.waitUntil(lambda: listed(models, made.path), timeout=LOAD_TIMEOUT_MS)
    qtbot.waitUntil(lambda: picker.model.row_of(made.path) >= 0, timeout=LOAD_TIMEOUT_MS)  # and in the chat's list
    qtbot.waitUntil(lambda: not compare.listing, timeout=LOAD_TIMEOUT_MS)

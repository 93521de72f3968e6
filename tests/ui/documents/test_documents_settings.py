"""The Settings section's Documents form (pytest-qt, offscreen): edits persist in
documents.json, values are kept consistent, and the Documents section uses them."""

from __future__ import annotations

from typing import Any

from desktop_app.core.rag import documents_settings as rag_config
from desktop_app.core.rag.documents_settings import RagSettings
from desktop_app.ui.context import AppContext
from desktop_app.ui.documents.view import DocumentsView
from desktop_app.ui.settings.documents_form import DocumentsSettingsForm


def test_edits_persist_are_kept_consistent_and_reset(qtbot: Any) -> None:
    form = DocumentsSettingsForm()
    qtbot.addWidget(form)
    assert form.settings() == RagSettings()  # nothing saved yet: the defaults
    saved: list[RagSettings] = []
    form.changed.connect(saved.append)

    form.chunk_tokens.setValue(128)
    form.chunk_overlap.setValue(100)  # more than half a passage: kept at half
    form.top_k.setValue(3)
    form.documents_only.setChecked(False)
    form.reranker.setText("/models/my-cross-encoder")
    form.reranker.editingFinished.emit()

    on_disk = rag_config.load()
    assert (on_disk.chunk_tokens, on_disk.chunk_overlap, on_disk.top_k) == (128, 64, 3)
    assert not on_disk.documents_only and on_disk.reranker == "/models/my-cross-encoder"
    assert form.chunk_overlap.value() == 64  # the form shows what was saved
    assert saved and saved[-1] == on_disk

    again = DocumentsSettingsForm()  # the next start shows the saved values
    qtbot.addWidget(again)
    assert again.settings() == on_disk

    again.reset()
    assert rag_config.load() == RagSettings() and again.top_k.value() == RagSettings().top_k


def test_a_new_collection_takes_the_passage_length_set_in_settings(qtbot: Any, app_context: AppContext) -> None:
    form = DocumentsSettingsForm()
    qtbot.addWidget(form)
    view = DocumentsView(app_context, resume=False)
    qtbot.addWidget(view)
    form.chunk_tokens.setValue(96)  # changed while the Documents section is open
    form.chunk_overlap.setValue(16)
    info = view.new_collection("papers")
    assert info is not None and (info.chunk_tokens, info.chunk_overlap) == (96, 16)
    view.shutdown()

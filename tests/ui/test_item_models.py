"""The Qt item models, checked with pytest-qt's model tester over real data."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt

from desktop_app.core import paths
from desktop_app.core.conversations.store import ConversationStore
from desktop_app.core.models import library
from desktop_app.ui.chat.conversation_list_model import ConversationListModel
from desktop_app.ui.chat.model_list_model import LocalModelListModel
from desktop_app.ui.shared.item_models import ItemRole


def test_conversation_list_model(qtmodeltester: Any) -> None:
    store = ConversationStore()
    try:
        first = store.create("Owls", "")
        second = store.create("Rivers of Europe", "")
        store.add_message(first.id, "user", "How do owls see at night?")
        model = ConversationListModel()
        qtmodeltester.check(model)  # empty
        model.set_conversations(store.list())
        qtmodeltester.check(model)
        assert model.rowCount() == 2
        titles = [model.index(r, 0).data(Qt.ItemDataRole.DisplayRole) for r in range(2)]
        assert titles == ["Owls", "Rivers of Europe"]  # the newest activity first
        assert model.index(1, 0).data(ItemRole.item) == second
        assert model.row_of(second.id) == 1 and model.row_of(999) == -1
        model.set_conversations(store.list("owls see"))
        qtmodeltester.check(model)
        assert [model.conversation(r).id for r in range(model.rowCount())] == [first.id]
    finally:
        store.close()


def test_local_model_list_model(qtmodeltester: Any, smollm2_path: Path) -> None:
    copy = paths.models_dir() / "copy-of-smollm2.gguf"
    try:
        os.link(smollm2_path, copy)  # a second name for the same bytes: cheap, and not deduplicated
    except OSError:
        shutil.copyfile(smollm2_path, copy)
    items = library.list_models()
    assert {m.path.resolve() for m in items} >= {copy.resolve(), smollm2_path.resolve()}
    model = LocalModelListModel()
    qtmodeltester.check(model)
    model.set_models(items)
    qtmodeltester.check(model)
    row = model.row_of(copy)
    assert row >= 0
    index = model.index(row, 0)
    assert index.data(ItemRole.item).path == copy
    assert index.data(ItemRole.key) == str(copy)
    assert "copy-of-smollm2" in index.data(Qt.ItemDataRole.DisplayRole)
    assert items[row].quant in index.data(Qt.ItemDataRole.DisplayRole)
    assert str(copy) in index.data(Qt.ItemDataRole.ToolTipRole)


def test_picker_list_model(qtmodeltester: Any, smollm2_path: Path) -> None:
    """The chat's picker: the local models, then each server's models, a server that did not answer
    listed (asked for real, on a closed port) but not choosable."""
    from desktop_app.core.inference.remote import EndpointModels, list_endpoints
    from desktop_app.core.settings import RemoteEndpoint
    from desktop_app.ui.chat.picker_models import PickerListModel, entries_from
    from tests.api_servers import free_port

    lab = RemoteEndpoint(id="lab", name="Lab server", url="http://127.0.0.1:8080/v1")
    gone = RemoteEndpoint(id="gone", name="Old laptop", url=f"http://127.0.0.1:{free_port()}/v1")
    listing = [EndpointModels(lab, ["unsloth/Qwen3-4B-GGUF:Q4_K_M", "smollm2"]), *list_endpoints([gone])]
    assert listing[1].error and not listing[1].model_ids
    model = PickerListModel()
    qtmodeltester.check(model)  # empty
    model.set_models(library.list_models())
    model.set_remote(entries_from(listing))
    qtmodeltester.check(model)
    local = model.row_of(smollm2_path)
    assert local >= 0 and model.rowCount() == len(model.models()) + 3
    row = model.row_of_remote("lab", "smollm2")
    assert model.index(row, 0).data(Qt.ItemDataRole.DisplayRole).endswith("Lab server  ·  remote")
    assert model.index(row, 0).data(ItemRole.key) == "lab/smollm2"
    dead = model.rowCount() - 1
    assert model.index(dead, 0).data() == "☁ Old laptop  ·  not reachable"
    assert model.flags(model.index(dead, 0)) == Qt.ItemFlag.NoItemFlags
    model.set_remote([])  # the servers removed in Settings
    qtmodeltester.check(model)
    assert model.rowCount() == len(model.models())


def test_embedding_backend_combo_model(qtmodeltester: Any, qtbot: Any) -> None:
    """Settings' and the Documents section's backend list: one row per backend, a backend this
    computer cannot run greyed with its reason."""
    from desktop_app.core.rag import embed_backends
    from desktop_app.ui.shared.backend_combo import backend_combo, chosen_backend, select_backend

    combo = backend_combo()
    qtbot.addWidget(combo)
    model = combo.model()
    qtmodeltester.check(model)
    assert model.rowCount() == len(embed_backends.BACKENDS)
    for row, name in enumerate(embed_backends.BACKENDS):
        index = model.index(row, 0)
        assert index.data(Qt.ItemDataRole.UserRole) == name
        reason = embed_backends.unavailable_reason(name)
        assert bool(model.flags(index) & Qt.ItemFlag.ItemIsEnabled) == (not reason)
        assert (index.data(Qt.ItemDataRole.ToolTipRole) or "") == (reason or "")
    select_backend(combo, "no-such-backend")
    assert chosen_backend(combo) == embed_backends.DEFAULT_BACKEND

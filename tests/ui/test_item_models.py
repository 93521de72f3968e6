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

"""A combo box of the embedding backends (core/rag/embed_backends.py), for Settings → Documents
and the Documents section's model dialog. A backend this computer cannot run is shown greyed,
with the reason as its tooltip."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QComboBox, QWidget

from desktop_app.core.rag import embed_backends
from desktop_app.core.rag.embed_backends import BACKENDS, DEFAULT_BACKEND


def backend_combo(parent: QWidget | None = None) -> QComboBox:
    combo = QComboBox(parent)
    items = QStandardItemModel(combo)
    for backend in BACKENDS.values():
        item = QStandardItem(backend.label)
        item.setData(backend.name, Qt.ItemDataRole.UserRole)
        reason = embed_backends.unavailable_reason(backend.name)
        if reason:
            item.setEnabled(False)
            item.setToolTip(reason)
        items.appendRow(item)
    combo.setModel(items)
    return combo


def select_backend(combo: QComboBox, name: str) -> None:
    index = combo.findData(name)
    combo.setCurrentIndex(index if index >= 0 else combo.findData(DEFAULT_BACKEND))


def chosen_backend(combo: QComboBox) -> str:
    return str(combo.currentData() or DEFAULT_BACKEND)

"""A run's manifest as a readable table (what, value), with the JSON itself one button away.

The manifest is what reproduces a run (dataset and its sha256, task, model file, settings, seeds,
the computer); the JSON is exact but hard to read for someone who is not a programmer, so the
table shows the same figures in words, each row's tooltip keeping the manifest's own key.
"""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import Slot
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QPlainTextEdit,
    QPushButton,
    QStackedWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.units import human_bytes

# The manifest's keys in words (anything not here: its key with spaces, capitalised).
WORDS = {
    "dataset": "Dataset",
    "sha256": "Fingerprint (sha256)",
    "task": "Task",
    "model": "Model",
    "sampling": "Settings for each answer",
    "seed": "Seed (the run's; each row's comes from it)",
    "machine": "Computer",
    "sessions": "Times it ran",
    "hearth_version": "Hearth version",
    "n_ctx": "Context length",
    "max_tokens": "Longest answer (tokens)",
    "temperature": "Temperature (randomness)",
    "top_p": "Top-p (word choice breadth)",
    "top_k": "Top-k (word choice breadth)",
    "min_p": "Min-p (word choice cut-off)",
    "repeat_penalty": "Repetition penalty",
    "quant": "Quantisation",
    "few_shot": "Examples given first",
    "ram_total": "Memory (RAM)",
    "vram_total": "Graphics memory",
    "cpu_physical_cores": "Processor cores",
    "cpu_logical_cores": "Processor threads",
    "cpu_features": "Processor features",
    "llama_cpp_version": "llama.cpp version",
    "started_at": "Started",
    "finished_at": "Finished",
    "prompt": "Prompt template",
    "kind": "Output kind",
    "scorer": "Scoring",
    "labels": "Labels",
    "reference": "Reference column",
    "chat_template": "Chat template",
    "path": "File",
    "name": "Name",
    "rows": "Rows",
}
BYTES = {"ram_total", "vram_total", "size", "size_bytes"}


def words(key: str) -> str:
    return WORDS.get(key, key.replace("_", " ").capitalize())


def _value(key: str, value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, dict):
        return ""  # its entries are the rows below it
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key in BYTES and isinstance(value, int):
        return human_bytes(value)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) if all(not isinstance(v, dict | list) for v in value) else ""
    return str(value)


def _add(parent: QTreeWidget | QTreeWidgetItem, key: str, value: Any) -> None:
    item = QTreeWidgetItem([words(key), _value(key, value)])
    item.setToolTip(0, key)
    item.setToolTip(1, _value(key, value))
    if isinstance(parent, QTreeWidget):
        parent.addTopLevelItem(item)
    else:
        parent.addChild(item)
    if isinstance(value, dict):
        for child_key, child in value.items():
            _add(item, str(child_key), child)
    elif isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        for number, child in enumerate(value, 1):
            _add(item, str(number), child)


class ManifestView(QWidget):
    """The manifest as a tree of (what, value); "Show the JSON" swaps in the file's own text."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["What", "Value"])
        self.tree.setAlternatingRowColors(True)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.header().setStretchLastSection(True)
        self.tree.setWordWrap(True)
        self.json = QPlainTextEdit()
        self.json.setReadOnly(True)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.tree)
        self.stack.addWidget(self.json)
        self.json_button = QPushButton("Show the JSON")
        self.json_button.setCheckable(True)
        self.json_button.setToolTip("The manifest exactly as it is exported with the run (JSON)")
        self.json_button.toggled.connect(self._on_json_button_toggled)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.json_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack, 1)
        layout.addLayout(buttons)

    def set_manifest(self, manifest: dict[str, Any]) -> None:
        self.tree.clear()
        for key, value in manifest.items():
            _add(self.tree, str(key), value)
        self.tree.expandToDepth(0)
        self.json.setPlainText(json.dumps(manifest, indent=2, ensure_ascii=False))

    def rows(self) -> list[tuple[str, str]]:
        """The top level as shown (for tests and copying)."""
        items = (self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount()))
        return [(item.text(0), item.text(1)) for item in items if item is not None]

    @Slot(bool)
    def _on_json_button_toggled(self, shown: bool) -> None:
        self.stack.setCurrentWidget(self.json if shown else self.tree)
        self.json_button.setText("Show as a table" if shown else "Show the JSON")


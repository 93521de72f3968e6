"""Help › About Hearth: the version, the licence, and what Hearth is built from, with licences.

Versions come from installed-package metadata (importlib.metadata), read when the dialog opens:
nothing heavy (torch, llama_cpp, ...) is imported for it. In an installer the table lists every
component the bundle holds, from the inventory that packaging/notices.py wrote at build time, and
the buttons open the third-party notices and the folder of licence texts.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import QUrl, qVersion
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core import paths
from desktop_app.ui.shared.labels import Label

log = logging.getLogger(__name__)

# The libraries Hearth is made of, shown with their versions (packaging/hearth.spec copies their
# metadata into the bundle, reading this list).
ABOUT_PACKAGES = [
    "llama-cpp-python",
    "PySide6-Essentials",
    "shiboken6",
    "torch",
    "sentence-transformers",
    "transformers",
    "tokenizers",
    "chromadb",
    "huggingface-hub",
    "fastapi",
    "uvicorn",
    "onnxruntime",
]


@dataclass(frozen=True)
class Component:
    name: str
    version: str
    licence: str


def licences_dir() -> Path | None:
    """The bundle's licences/ folder (THIRD-PARTY-NOTICES.txt, LICENSES/), when running from an installer."""
    folder = paths.resources_dir().parent / "licenses"
    return folder if (folder / "THIRD-PARTY-NOTICES.txt").is_file() else None


def hearth_version() -> str:
    try:
        return importlib.metadata.version("hearth")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def installed_components() -> list[Component]:
    """Hearth's main libraries as installed here, with their licences from their metadata."""
    found = [Component("Python", platform.python_version(), "PSF-2.0")]
    for name in ABOUT_PACKAGES:
        try:
            meta = importlib.metadata.metadata(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        found.append(Component(meta["Name"], meta["Version"], _licence(meta)))
    return found


def bundled_components(folder: Path) -> list[Component]:
    """Every component in the installer, from its inventory.json."""
    try:
        items = json.loads((folder / "inventory.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("Cannot read the bundle's inventory: %s", exc)
        return []
    return [Component(item["name"], item["version"], item["licence"]) for item in items]


def _licence(meta: importlib.metadata.PackageMetadata) -> str:
    expression = _field(meta, "License-Expression")
    if expression:
        return expression
    text = _field(meta, "License")
    if text and "\n" not in text and len(text) <= 60:
        return text
    classifiers = [c.split("::")[-1].strip() for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    return ", ".join(classifiers) or "see its licence file"


def _field(meta: importlib.metadata.PackageMetadata, name: str) -> str:
    values = meta.get_all(name) or []
    return str(values[0]).strip() if values else ""


class AboutDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About Hearth")
        self.resize(620, 520)
        folder = licences_dir()
        self.components = bundled_components(folder) if folder else installed_components()

        heading = Label(f"<h2>Hearth {hearth_version()}</h2>")
        summary = Label(
            "Runs open language models privately on this computer, with your own documents.<br>"
            "Free software under the MIT licence. Copyright © Hearth contributors.<br>"
            f"Python {platform.python_version()}, Qt {qVersion()} (PySide6 {pyside_version}), {sys.platform}."
        )
        summary.setWordWrap(True)
        what = "in this installer" if folder else "installed"
        table_label = Label(f"Built with ({len(self.components)} components {what}):")

        self.table = QTableWidget(len(self.components), 3)
        self.table.setHorizontalHeaderLabels(["Component", "Version", "Licence"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        for row, component in enumerate(self.components):
            for column, text in enumerate((component.name, component.version, component.licence)):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.table.setItem(row, column, item)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(summary)
        layout.addWidget(table_label)
        layout.addWidget(self.table, 1)
        if folder:
            notices = QPushButton("Third-party notices")
            notices.clicked.connect(lambda: self._open(folder / "THIRD-PARTY-NOTICES.txt"))
            texts = QPushButton("Licence texts…")
            texts.clicked.connect(lambda: self._open(folder / "LICENSES"))
            buttons.addButton(notices, QDialogButtonBox.ButtonRole.ActionRole)
            buttons.addButton(texts, QDialogButtonBox.ButtonRole.ActionRole)
        else:
            note = Label("The installers also carry every licence text and the third-party notices.")
            note.setWordWrap(True)
            layout.addWidget(note)
        layout.addWidget(buttons)

    def _open(self, path: Path) -> None:
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))):
            log.warning("No application opened %s", path)

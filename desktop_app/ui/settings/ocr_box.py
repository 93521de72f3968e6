"""Settings › Text recognition: reading scanned pages and pictures (OCR), switched per collection.

Each collection has a check box; the switch is kept with the collection (core/rag/ocr_switch.py),
so `hearth docs ocr` and the window agree. Switching it on forgets what was left out for want of
it, so the collection's next update reads those files. The switch runs on a worker thread (it may
open the collection's vector store), never on the GUI thread.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QGroupBox, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from desktop_app.core.rag import ocr_switch
from desktop_app.core.rag.store import DocumentStore
from desktop_app.ui.shared.background import JobRunner
from desktop_app.ui.shared.hint_label import hint_label


class OcrBox(QGroupBox):
    def __init__(self, documents: Callable[[], DocumentStore], parent: QWidget | None = None) -> None:
        super().__init__("Text recognition (OCR)", parent)
        self._documents = documents  # the window's one store (AppContext.documents), made on first use
        self.list = QListWidget()
        self.list.setObjectName("ocrCollectionsList")
        self.list.setMaximumHeight(110)
        self.list.setToolTip("Read the text of scanned PDF pages and of pictures (PNG, JPEG, TIFF) in this collection")
        self.list.itemChanged.connect(self._on_list_item_changed)
        self.status = hint_label()
        self.status.hide()
        note = hint_label(
            "Scanned pages and pictures are read on this computer, offline. Untick a collection to leave them out "
            "of it (faster indexing); tick it again and its next update reads them."
        )
        layout = QVBoxLayout(self)
        layout.addWidget(self.list)
        layout.addWidget(self.status)
        layout.addWidget(note)
        self.jobs = JobRunner(self, max_threads=1)
        self.jobs.succeeded.connect(self._on_jobs_succeeded)
        self.jobs.failed.connect(self._on_jobs_failed)

    def shutdown(self) -> None:
        self.jobs.shutdown()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        self.show_collections()  # collections are made and renamed in the Documents section

    def show_collections(self) -> None:
        store = self._documents()
        self.list.blockSignals(True)
        self.list.clear()
        for info in store.list_collections():
            item = QListWidgetItem(info.name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            on = ocr_switch.ocr_enabled(store, info)
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
            self.list.addItem(item)
        self.list.blockSignals(False)
        self.list.setVisible(self.list.count() > 0)
        if not self.list.count():
            self._say("No collections yet: add documents in the Documents section.")
        elif self.status.text().startswith("No collections"):
            self._say("")

    def _say(self, text: str) -> None:
        self.status.setText(text)
        self.status.setVisible(bool(text))

    def set_enabled(self, name: str, enabled: bool) -> None:
        """Switches recognition for the collection ``name``, off the GUI thread."""
        store = self._documents()

        def switch(_cancel: object, _report: object) -> tuple[str, bool]:
            ocr_switch.set_ocr_enabled(store, store.collection(name), enabled)
            return name, enabled

        self._say(f"Switching text recognition {'on' if enabled else 'off'} for “{name}”…")
        self.jobs.start(f"switch:{name}", switch)

    @Slot(QListWidgetItem)
    def _on_list_item_changed(self, item: QListWidgetItem) -> None:
        self.set_enabled(item.text(), item.checkState() == Qt.CheckState.Checked)

    @Slot(str, object)
    def _on_jobs_succeeded(self, _kind: str, result: object) -> None:
        if not isinstance(result, tuple):
            return
        name, enabled = result
        self._say(
            f"On for “{name}”: its scanned pages and pictures are read at its next update."
            if enabled
            else f"Off for “{name}”: its scanned pages and pictures are left out from its next update."
        )

    @Slot(str, str, str)
    def _on_jobs_failed(self, _kind: str, message: str, hint: str) -> None:
        self._say(f"{message} {hint}".strip())
        self.show_collections()  # the box shows what is kept, not what was asked

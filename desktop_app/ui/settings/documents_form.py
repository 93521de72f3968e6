"""The Settings section's "Documents" form: how collections are made and how answers use them.

Bound to ``documents.json`` (core/rag/documents_settings.py) rather than the app settings: every edit
is saved at once, and the chat and the Documents section read the file when they need it.
"""

from __future__ import annotations

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QWidget,
)

from desktop_app.core.rag import documents_settings as rag_config
from desktop_app.core.rag.documents_settings import RagSettings
from desktop_app.ui.shared.backend_combo import backend_combo, chosen_backend, select_backend
from desktop_app.ui.shared.settings_forms import double_spin, form_fields, integer_spin, signals_blocked, watch_edits

# The chunker counts the embedding model's tokens; MiniLM-class models read at most 256.
MAX_CHUNK_TOKENS = 2048


class DocumentsSettingsForm(QWidget):
    """Defaults for new collections (embedding model and backend, passage size) and for answers."""

    changed = Signal(object)  # RagSettings, after it is saved

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.embed_model = QLineEdit()
        self.embed_model.setToolTip(
            "The sentence-transformers model new collections are embedded with: a model folder on this "
            "computer or a name in the local cache (nothing is downloaded). An existing collection keeps "
            "its model until you switch it in the Documents section."
        )
        self.embed_backend = backend_combo()
        self.embed_backend.setToolTip(
            "How new collections run the embedding model. ONNX Runtime fp32 makes the same vectors as "
            "PyTorch, about twice as fast; bfloat16 and int8 are faster still and slightly less exact. "
            "An existing collection keeps its backend until you switch it in the Documents section."
        )
        self.chunk_tokens = integer_spin(
            32, MAX_CHUNK_TOKENS, "Passage length for new collections, in the embedding model's tokens.", step=32
        )
        self.chunk_tokens.setSuffix(" tokens")
        self.chunk_overlap = integer_spin(0, MAX_CHUNK_TOKENS - 1, "Tokens shared by neighbouring passages.", step=8)
        self.chunk_overlap.setSuffix(" tokens")
        self.top_k = integer_spin(1, 50, "How many passages an answer is given (as many as fit in the context).")
        self.candidates = integer_spin(
            1, 500, "Passages the vector and keyword searches each bring before they are fused.", step=10
        )
        self.min_similarity = double_spin(
            0.0, 1.0, 0.05, "A passage less similar than this to the question counts as unrelated."
        )
        self.answer_tokens = integer_spin(
            64,
            32_768,
            "Kept free for the answer when sources are fitted into the context, and the longest an answer "
            "from documents may be (never more than the reply length under Sampling, nor half the context).",
            step=64,
        )
        self.answer_tokens.setSuffix(" tokens")
        self.documents_only = QCheckBox("Answer only from the documents")
        self.documents_only.setToolTip(
            "New chats with documents start with this switch: the model says it does not know when the "
            "sources do not hold the answer."
        )
        self.reranker = QLineEdit()
        self.reranker.setPlaceholderText("None")
        self.reranker.setToolTip("A local cross-encoder model folder that re-orders the passages (optional).")
        self.reranker_button = QPushButton("Choose…")
        self.reranker_button.clicked.connect(self._on_reranker_button_clicked)
        reranker_row = QHBoxLayout()
        reranker_row.setContentsMargins(0, 0, 0, 0)
        reranker_row.addWidget(self.reranker, 1)
        reranker_row.addWidget(self.reranker_button)
        self.watch_interval = integer_spin(5, 3600, "How often watched folders are checked for changes.", step=5)
        self.watch_interval.setSuffix(" s")

        layout = self._layout = QFormLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        layout.addRow("Embedding model", self.embed_model)
        layout.addRow("Embedding backend", self.embed_backend)
        layout.addRow("Passage length", self.chunk_tokens)
        layout.addRow("Passage overlap", self.chunk_overlap)
        layout.addRow("Sources per answer", self.top_k)
        layout.addRow("Search candidates", self.candidates)
        layout.addRow("Minimum similarity", self.min_similarity)
        layout.addRow("Room for the answer", self.answer_tokens)
        layout.addRow("", self.documents_only)
        layout.addRow("Reranker", reranker_row)
        layout.addRow("Check watched folders every", self.watch_interval)

        self._show(rag_config.load())
        watch_edits([*form_fields(layout), self.reranker], self._on_field_edited)

    def settings(self) -> RagSettings:
        """What the form shows (the overlap is kept below the passage length)."""
        chunk = self.chunk_tokens.value()
        return RagSettings(
            embed_model=self.embed_model.text().strip() or RagSettings().embed_model,
            embed_backend=chosen_backend(self.embed_backend),
            chunk_tokens=chunk,
            chunk_overlap=min(self.chunk_overlap.value(), chunk // 2),
            top_k=self.top_k.value(),
            candidates=max(self.candidates.value(), self.top_k.value()),
            min_similarity=self.min_similarity.value(),
            documents_only=self.documents_only.isChecked(),
            reranker=self.reranker.text().strip(),
            answer_tokens=self.answer_tokens.value(),
            watch_interval_s=self.watch_interval.value(),
        )

    def reset(self) -> None:
        self._save(RagSettings())

    def _show(self, s: RagSettings) -> None:
        with signals_blocked([*form_fields(self._layout), self.reranker]):
            self.embed_model.setText(s.embed_model)
            select_backend(self.embed_backend, s.embed_backend)
            self.chunk_tokens.setValue(s.chunk_tokens)
            self.chunk_overlap.setValue(s.chunk_overlap)
            self.top_k.setValue(s.top_k)
            self.candidates.setValue(s.candidates)
            self.min_similarity.setValue(s.min_similarity)
            self.answer_tokens.setValue(s.answer_tokens)
            self.documents_only.setChecked(s.documents_only)
            self.reranker.setText(s.reranker)
            self.watch_interval.setValue(s.watch_interval_s)

    def _save(self, s: RagSettings) -> None:
        rag_config.save(s)
        self._show(s)  # a clamped value shows as saved
        self.changed.emit(s)

    @Slot()
    def _on_field_edited(self) -> None:
        new = self.settings()
        if new != rag_config.load():
            self._save(new)

    @Slot()
    def _on_reranker_button_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a cross-encoder model folder", self.reranker.text())
        if folder:
            self.reranker.setText(folder)
            self._on_field_edited()

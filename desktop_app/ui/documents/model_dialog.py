"""The Documents section's dialog for a collection's embedding model and backend."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLineEdit, QWidget

from desktop_app.ui.shared.backend_combo import backend_combo, chosen_backend, select_backend
from desktop_app.ui.shared.labels import Label


class EmbeddingDialog(QDialog):
    """Asks for a model (a folder, or a name in the local cache) and a backend; the caller then
    shows what the change costs (model_change.plan_model_change) before doing it."""

    def __init__(self, model: str, backend: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Embedding model")
        self.model = QLineEdit(model)
        self.model.setMinimumWidth(360)
        self.backend = backend_combo(self)
        select_backend(self.backend, backend)
        note = Label(
            "A sentence-transformers model folder on this computer, or a model name in the local cache "
            "(nothing is downloaded). ONNX and PyTorch fp32 make the same vectors: switching between "
            "them embeds nothing again; any other change re-embeds the collection."
        )
        note.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QFormLayout(self)
        layout.addRow(note)
        layout.addRow("Model", self.model)
        layout.addRow("Backend", self.backend)
        layout.addRow(buttons)

    def values(self) -> tuple[str, str]:
        return self.model.text().strip(), chosen_backend(self.backend)

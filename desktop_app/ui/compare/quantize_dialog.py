"""Make a variant: pick a source model and a type; llama.cpp quantises it in the background."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.cancel import CancelToken, Progress
from desktop_app.core.quantlab.measure import CompareEvent
from desktop_app.core.quantlab.quantize import (
    QUANT_TYPES,
    REQUANTIZE_WARNING,
    QuantizeResult,
    default_output_path,
    quantize,
)
from desktop_app.core.quantlab.variants import Variant
from desktop_app.ui.compare.workers import BackgroundJob
from desktop_app.ui.shared.labels import Label


class QuantizeDialog(QDialog):
    variant_made = Signal(object)  # QuantizeResult

    def __init__(self, variants: Sequence[Variant], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Make a variant")
        self.setMinimumWidth(520)
        self.variants = list(variants)
        self.job: BackgroundJob | None = None
        self.result_value: QuantizeResult | None = None

        self.source = QComboBox()
        for v in self.variants:
            self.source.addItem(f"{v.label}  ({v.quant}, {v.bits_per_weight:.2f} bits per weight)", v)
        self.qtype = QComboBox()
        for q in QUANT_TYPES.values():
            self.qtype.addItem(f"{q.name} — {q.description}", q.name)
        self.qtype.setCurrentIndex(list(QUANT_TYPES).index("Q4_K_M"))
        self.output = QLineEdit()
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._on_browse_clicked)
        out_row = QHBoxLayout()
        out_row.addWidget(self.output, 1)
        out_row.addWidget(browse)
        self.allow_requantize = QCheckBox("Quantise it anyway (worse than quantising the original)")
        self.warning = Label(REQUANTIZE_WARNING)
        self.warning.setWordWrap(True)
        self.warning.setObjectName("warningLabel")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.status = Label("")
        self.status.setWordWrap(True)

        form = QFormLayout()
        form.addRow("Source model", self.source)
        form.addRow("Type", self.qtype)
        form.addRow("Save as", out_row)
        self.buttons = QDialogButtonBox()
        self.start_button = self.buttons.addButton("Make variant", QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.start_button.clicked.connect(self._on_start_button_clicked)
        self.cancel_button.clicked.connect(self._on_cancel_button_clicked)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.warning)
        layout.addWidget(self.allow_requantize)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)

        self.source.currentIndexChanged.connect(self._on_choice_changed)
        self.qtype.currentIndexChanged.connect(self._on_choice_changed)
        self.allow_requantize.toggled.connect(self._update_buttons)
        self._on_choice_changed()

    def current_source(self) -> Variant | None:
        data = self.source.currentData()
        return data if isinstance(data, Variant) else None

    @Slot()
    def _on_choice_changed(self) -> None:
        source = self.current_source()
        if source is None:
            self._update_buttons()
            return
        self.output.setText(str(default_output_path(source.path, str(self.qtype.currentData()))))
        self.warning.setVisible(source.quantized)
        self.allow_requantize.setVisible(source.quantized)
        self.allow_requantize.setChecked(False)
        self._update_buttons()

    @Slot()
    def _update_buttons(self) -> None:
        source = self.current_source()
        busy = self.job is not None
        ok = source is not None and (not source.quantized or self.allow_requantize.isChecked())
        self.start_button.setEnabled(ok and not busy)
        for widget in (self.source, self.qtype, self.output, self.allow_requantize):
            widget.setEnabled(not busy)

    @Slot()
    def _on_browse_clicked(self) -> None:
        name, _ = QFileDialog.getSaveFileName(self, "Save the variant as", self.output.text(), "GGUF models (*.gguf)")
        if name:
            self.output.setText(name if name.endswith(".gguf") else f"{name}.gguf")

    @Slot()
    def _on_start_button_clicked(self) -> None:
        source = self.current_source()
        if source is None or self.job is not None:
            return
        qtype = str(self.qtype.currentData())
        output = Path(self.output.text().strip())
        allow = self.allow_requantize.isChecked()

        def work(
            progress: Callable[[Progress], None], cancel: CancelToken, _on_event: Callable[[CompareEvent], None]
        ) -> QuantizeResult:
            return quantize(source.path, output, qtype, allow_requantize=allow, progress=progress, cancel=cancel)

        self.job = BackgroundJob(work, "hearth-quantize", self)
        self.job.progress.connect(self._on_job_progress)
        self.job.finished.connect(self._on_job_finished)
        self.job.failed.connect(self._on_job_failed)
        self.job.cancelled.connect(self._on_job_cancelled)
        self.job.done.connect(self._on_job_done)
        self.status.setText(f"Quantising to {qtype}…")
        self.progress.setValue(0)
        self._update_buttons()
        self.job.start()

    @Slot()
    def _on_cancel_button_clicked(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.status.setText("Stopping…")
        else:
            self.reject()

    @Slot(object)
    def _on_job_progress(self, progress: Progress) -> None:
        self.progress.setValue(int((progress.fraction or 0.0) * 1000))
        self.status.setText(progress.message)

    @Slot(object)
    def _on_job_finished(self, result: QuantizeResult) -> None:
        self.result_value = result
        self.progress.setValue(1000)
        notes = " ".join(w for w in result.warnings if w != REQUANTIZE_WARNING)
        self.status.setText(f"Made {result.path.name}. {notes}".strip())
        self.variant_made.emit(result)

    @Slot(str, str)
    def _on_job_failed(self, message: str, hint: str) -> None:
        self.status.setText(f"{message} {hint}".strip())

    @Slot()
    def _on_job_cancelled(self) -> None:
        self.progress.setValue(0)
        self.status.setText("Stopped. Nothing was written.")

    @Slot()
    def _on_job_done(self) -> None:
        finished = self.result_value is not None
        if self.job is not None:
            self.job.deleteLater()
        self.job = None
        self._update_buttons()
        if finished:
            self.accept()

    def reject(self) -> None:
        if self.job is not None:  # Escape or the close button while working: stop first
            self.job.cancel()
            self.status.setText("Stopping…")
            return
        super().reject()

    def shutdown(self) -> None:
        if self.job is not None:
            self.job.shutdown()

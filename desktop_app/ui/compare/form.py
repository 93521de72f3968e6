"""The Compare section's form: which variants, against which reference, on which text, with
which prompt; and the row that runs it (Compare, Stop, On my dataset…, progress, status)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QModelIndex, Signal, Slot
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.errors import HearthError
from desktop_app.core.quantlab.measure import SAMPLE_TEXT_LABEL, EvalText
from desktop_app.core.quantlab.results import CompareSettings
from desktop_app.core.quantlab.variants import Variant, group_variants
from desktop_app.core.settings import Settings
from desktop_app.ui.compare.item_models import build_picker_model, checked_variants, set_checked
from desktop_app.ui.shared.labels import Label

IDLE_HINT = "Tick two or more variants of a model, then Compare."

TEXT_SAMPLE, TEXT_PASTE, TEXT_FILE = 0, 1, 2


def _spin(low: int, high: int, step: int, value: int, suffix: str) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setSingleStep(step)
    spin.setValue(value)
    spin.setSuffix(suffix)
    return spin


class CompareForm(QWidget):
    """The left of the section. It holds no run: the view asks it for the ticked variants,
    the settings and the text, and tells it when a run is busy."""

    ticks_changed = Signal()  # a variant was ticked or unticked

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._text_file: Path | None = None

        self.picker_model = QStandardItemModel(self)
        self.picker = QTreeView()
        self.picker.setModel(self.picker_model)
        self.picker.setUniformRowHeights(True)
        self.picker.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.picker.setToolTip("Tick two or more variants of a model")
        self.picker_model.itemChanged.connect(self._on_picker_model_item_changed)
        self.refresh_button = QPushButton("Refresh")
        self.add_file_button = QPushButton("Add file…")
        self.make_variant_button = QPushButton("Make variant…")
        self.make_variant_button.setToolTip("Quantise a model into another type with llama.cpp")
        picker_buttons = QHBoxLayout()
        picker_buttons.addWidget(self.refresh_button)
        picker_buttons.addWidget(self.add_file_button)
        picker_buttons.addStretch(1)
        picker_buttons.addWidget(self.make_variant_button)

        self.reference = QComboBox()
        self.reference.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.reference.setMinimumContentsLength(18)  # long names must not widen the form
        self.reference.setToolTip("The variant the others are measured against")
        self.text_source = QComboBox()
        self.text_source.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.text_source.setMinimumContentsLength(18)  # long names must not widen the form
        self.text_source.addItems([f"Sample: {SAMPLE_TEXT_LABEL}", "Paste text", "Text file…"])
        self.text_source.currentIndexChanged.connect(self._on_text_source_current_index_changed)
        self.pasted = QPlainTextEdit()
        self.pasted.setPlaceholderText("Paste the text to measure perplexity on: your own kind of writing.")
        self.pasted.setMaximumHeight(90)
        self.pasted.hide()
        self.file_label = Label("")
        self.file_label.setWordWrap(True)
        self.file_label.hide()
        self.tokens = _spin(0, 1_000_000, 256, 0, " tokens")
        self.tokens.setSpecialValueText("the whole text")  # 0, as llama-perplexity scores it
        self.tokens.setToolTip(
            "How much of the text to evaluate: the whole text (as llama.cpp's perplexity tool does), or its "
            "first N tokens — fewer is quicker and less steady"
        )
        self.window_size = _spin(32, 8192, 64, 512, " tokens")
        self.window_size.setToolTip("Evaluation window: the second half of each is scored")
        self.prompt = QPlainTextEdit()
        self.prompt.setPlaceholderText("Optional: a prompt every variant answers, with the same seed and settings")
        self.prompt.setMaximumHeight(70)
        self.max_answer = _spin(1, 4096, 1, 256, " tokens")
        self.blind = QCheckBox("Blind: hide which model wrote which answer until I have rated them")
        self.speed_rounds = _spin(1, 9, 1, CompareSettings().speed_rounds, " times")
        self.speed_rounds.setToolTip(
            "Speed is measured this many times per model, after a warm-up, taking the models in alternating "
            "order; the table shows the median and the range. More is steadier, and slower."
        )

        form = QFormLayout()
        form.addRow("Reference", self.reference)
        form.addRow("Text", self.text_source)
        form.addRow("", self.pasted)
        form.addRow("", self.file_label)
        form.addRow("Evaluate", self.tokens)
        form.addRow("Window", self.window_size)
        form.addRow("Measure speed", self.speed_rounds)
        form.addRow("Prompt", self.prompt)
        form.addRow("Answer up to", self.max_answer)
        form.addRow("", self.blind)

        self.run_button = QPushButton("Compare")
        self.run_button.setDefault(True)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.status = Label(IDLE_HINT)
        self.status.setWordWrap(True)
        self.on_dataset_button = QPushButton("On my dataset…")
        self.on_dataset_button.setToolTip(
            "Is one variant worse than the other on your own task? Run a dataset through two ticked variants "
            "in the Runs section, with accuracy, intervals and McNemar's test"
        )
        run_row = QHBoxLayout()
        run_row.addWidget(self.run_button)
        run_row.addWidget(self.stop_button)
        run_row.addWidget(self.on_dataset_button)
        run_row.addWidget(self.progress, 1)

        models_box = QGroupBox("Models")
        models_layout = QVBoxLayout(models_box)
        models_layout.addWidget(self.picker, 1)
        models_layout.addLayout(picker_buttons)
        settings_box = QGroupBox("Measure")
        settings_box.setLayout(form)
        layout = QVBoxLayout(self)
        layout.addWidget(models_box, 1)
        layout.addWidget(settings_box)
        layout.addLayout(run_row)
        layout.addWidget(self.status)

    # -- the variants --------------------------------------------------------------------------------

    def show_variants(self, found: list[Variant], also_tick: set[Path]) -> None:
        """Lists ``found`` grouped by base model; the ticked files stay ticked, and ``also_tick`` too."""
        checked = {v.path.resolve() for v in self.checked()} | also_tick
        # Not blockSignals(): the view must see the rows arrive, or it draws them zero-wide.
        self.picker_model.itemChanged.disconnect(self._on_picker_model_item_changed)
        build_picker_model(group_variants(found), checked, self.picker_model)
        self.picker_model.itemChanged.connect(self._on_picker_model_item_changed)
        for row in range(self.picker_model.rowCount()):
            self.picker.setFirstColumnSpanned(row, QModelIndex(), True)  # the base model's name, in full
        self.picker.expandAll()
        header = self.picker.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in range(1, self.picker_model.columnCount()):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self._refresh_reference_choices()

    def set_checked(self, paths: list[Path]) -> None:
        set_checked(self.picker_model, {Path(p).resolve() for p in paths})

    def checked(self) -> list[Variant]:
        return checked_variants(self.picker_model)

    @Slot(QStandardItem)
    def _on_picker_model_item_changed(self, _item: QStandardItem) -> None:
        self._refresh_reference_choices()
        self.ticks_changed.emit()

    def _refresh_reference_choices(self) -> None:
        current = self.reference.currentData()
        self.reference.blockSignals(True)
        self.reference.clear()
        self.reference.addItem("Automatic: the original file with the most precision", None)
        for v in sorted(self.checked(), key=lambda v: (bool(v.requantized_from), -v.bits_per_weight)):
            self.reference.addItem(f"{v.label} ({v.quant})", str(v.path))
        index = self.reference.findData(current) if current else 0
        self.reference.setCurrentIndex(max(0, index))
        self.reference.blockSignals(False)

    # -- what to measure -----------------------------------------------------------------------------

    def compare_settings(self, config: Settings) -> CompareSettings:
        """The form's choices, with the load and sampling settings of ``config`` (the live settings)."""
        return CompareSettings(
            tokens=self.tokens.value(),
            window=self.window_size.value(),
            n_ctx=max(config.load.n_ctx, self.window_size.value()),
            n_threads=config.load.n_threads,
            n_gpu_layers=config.load.n_gpu_layers,
            flash_attn=config.load.flash_attn,
            prompt=self.prompt.toPlainText().strip(),
            speed_rounds=self.speed_rounds.value(),
            system_prompt=config.system_prompt,
            sampling=replace(config.sampling, max_tokens=self.max_answer.value()),
        )

    def eval_text(self) -> EvalText:
        source = self.text_source.currentIndex()
        if source == TEXT_PASTE:
            return EvalText.pasted(self.pasted.toPlainText())
        if source == TEXT_FILE:
            if self._text_file is None:
                raise HearthError("No text file is chosen.", "Pick one, or use the sample.")
            return EvalText.from_file(self._text_file)
        return EvalText.sample()

    @Slot(int)
    def _on_text_source_current_index_changed(self, source: int) -> None:
        self.pasted.setVisible(source == TEXT_PASTE)
        if source == TEXT_FILE:
            path, _ = QFileDialog.getOpenFileName(self, "Evaluation text", "", "Text (*.txt *.md);;All files (*)")
            if path:
                self.set_text_file(Path(path))
            elif self._text_file is None:
                self.text_source.setCurrentIndex(TEXT_SAMPLE)
                return
        self.file_label.setVisible(source == TEXT_FILE and self._text_file is not None)

    def set_text_file(self, path: Path) -> None:
        self._text_file = path
        self.file_label.setText(str(path))
        self.file_label.show()
        if self.text_source.currentIndex() != TEXT_FILE:
            self.text_source.blockSignals(True)
            self.text_source.setCurrentIndex(TEXT_FILE)
            self.text_source.blockSignals(False)
            self.pasted.hide()

    # -- busy or not ---------------------------------------------------------------------------------

    def update_buttons(self, *, busy: bool, listing: bool, stoppable: bool) -> None:
        ticked = len(self.checked())
        self.run_button.setEnabled(not busy and ticked >= 2)
        self.on_dataset_button.setEnabled(ticked >= 2)
        self.stop_button.setEnabled(busy and stoppable)
        for widget in (
            self.picker,
            self.add_file_button,
            self.make_variant_button,
            self.reference,
            self.text_source,
            self.pasted,
            self.tokens,
            self.window_size,
            self.speed_rounds,
            self.prompt,
            self.max_answer,
            self.blind,
        ):
            widget.setEnabled(not busy)
        self.refresh_button.setEnabled(not busy and not listing)

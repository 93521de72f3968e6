"""The form of a new run: a dataset (dropped or chosen), the prompt template with a live preview
for the first row, the output kind (labels typed in, or a schema built from field names and
types), the reference and scorer, documents, the model and sampling."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.errors import HearthError
from desktop_app.core.runs.datasets import Dataset, Row
from desktop_app.core.runs.generators import RowError
from desktop_app.core.runs.scoring import DEFAULT_SCORER, SCORERS
from desktop_app.core.runs.tasks import Task, build_messages, run_sampling
from desktop_app.ui.runs.item_models import PreviewModel
from desktop_app.ui.shared.labels import Label
from desktop_app.ui.shared.wheel_guard import guard_fields

KINDS = [("text", "Free text"), ("labels", "One of a set of labels"), ("json", "JSON fields"), ("number", "A number")]
FIELD_TYPES = ["string", "integer", "number", "boolean"]
NONE = "(none)"
DATASET_FILTER = "Datasets (*.csv *.tsv *.tab *.jsonl *.ndjson *.xlsx);;All files (*)"
DROP_HINT = "Drop a CSV, TSV, JSONL or XLSX file here, or choose one."


class RunSetup(QWidget):
    dataset_requested = Signal(object)  # Path: the user picked or dropped a file
    estimate_requested = Signal()
    run_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.dataset: Dataset | None = None
        self.preview_rows: list[Row] = []
        self._preview_timer = QTimer(self)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(150)
        self._preview_timer.timeout.connect(self.update_preview)

        # -- dataset --------------------------------------------------------------------------------
        self.dataset_label = Label(DROP_HINT)
        self.dataset_label.setWordWrap(True)
        self.choose_button = QPushButton("Choose file…")
        self.choose_button.clicked.connect(self._on_choose_button_clicked)
        self.preview_model = PreviewModel(self)
        self.preview_table = QTableView()
        self.preview_table.setModel(self.preview_model)
        self.preview_table.setMaximumHeight(150)
        self.preview_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.preview_table.setWordWrap(False)
        self.preview_table.verticalHeader().setDefaultSectionSize(22)
        self.preview_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        dataset_row = QHBoxLayout()
        dataset_row.addWidget(self.dataset_label, 1)
        dataset_row.addWidget(self.choose_button, 0, Qt.AlignmentFlag.AlignTop)
        dataset_box = QGroupBox("Dataset")
        dataset_layout = QVBoxLayout(dataset_box)
        dataset_layout.addLayout(dataset_row)
        dataset_layout.addWidget(self.preview_table)

        # -- prompt ---------------------------------------------------------------------------------
        self.system = QPlainTextEdit()
        self.system.setPlaceholderText("Optional: instructions for every row, e.g. “You classify abstracts.”")
        self.system.setMaximumHeight(60)
        self.template = QPlainTextEdit()
        self.template.setPlaceholderText("What to ask about each row; put columns in braces: Classify this: {text}")
        self.template.setMaximumHeight(80)
        self.insert_column = QComboBox()
        self.insert_column.setToolTip("Insert a column's field at the cursor")
        self.insert_column.activated.connect(self._on_insert_column_activated)
        self.preview = QPlainTextEdit()
        self.preview.setReadOnly(True)
        self.preview.setMaximumHeight(110)
        self.preview.setPlaceholderText("The prompt for the first row appears here.")
        self.system.textChanged.connect(self._preview_timer.start)
        self.template.textChanged.connect(self._preview_timer.start)
        prompt_box = QGroupBox("Prompt")
        prompt_form = QFormLayout(prompt_box)
        prompt_form.addRow("System", self.system)
        prompt_form.addRow("Template", self.template)
        prompt_form.addRow("", self.insert_column)
        prompt_form.addRow("First row", self.preview)

        # -- output and scoring ---------------------------------------------------------------------
        self.kind = QComboBox()
        for key, label in KINDS:
            self.kind.addItem(label, key)
        self.kind.currentIndexChanged.connect(self._on_kind_current_index_changed)
        self.labels = QLineEdit()
        self.labels.setPlaceholderText("positive, negative, neutral")
        self.labels.textChanged.connect(self._preview_timer.start)
        self.fields = QTableWidget(0, 2)
        self.fields.setHorizontalHeaderLabels(["Field", "Type"])
        self.fields.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.fields.verticalHeader().hide()
        self.fields.setMaximumHeight(120)
        self.add_field_button = QPushButton("Add field")
        self.add_field_button.clicked.connect(lambda: self.add_field("", "string"))
        self.remove_field_button = QPushButton("Remove")
        self.remove_field_button.clicked.connect(self._on_remove_field_button_clicked)
        field_buttons = QHBoxLayout()
        field_buttons.addWidget(self.add_field_button)
        field_buttons.addWidget(self.remove_field_button)
        field_buttons.addStretch(1)
        self.schema_box = QWidget()
        schema_layout = QVBoxLayout(self.schema_box)
        schema_layout.setContentsMargins(0, 0, 0, 0)
        schema_layout.addWidget(self.fields)
        schema_layout.addLayout(field_buttons)
        self.reference = QComboBox()
        self.reference.setToolTip("The column holding the right answer; rows without one are run, not scored")
        self.scorer = QComboBox()
        self.scorer.addItem("Automatic", "")
        for name, words in SCORERS.items():
            self.scorer.addItem(name.replace("_", " "), name)
            self.scorer.setItemData(self.scorer.count() - 1, words, Qt.ItemDataRole.ToolTipRole)
        self.tolerance = QDoubleSpinBox()
        self.tolerance.setRange(0, 1e9)
        self.tolerance.setDecimals(3)
        self.tolerance.setToolTip("Numbers: how far from the reference still counts as right")
        self.few_shot = QLineEdit()
        self.few_shot.setPlaceholderText("Row numbers shown as examples, e.g. 0, 4 (left out of scoring)")
        self.few_shot.textChanged.connect(self._preview_timer.start)
        output_box = QGroupBox("Output and scoring")
        self.output_form = QFormLayout(output_box)
        self.output_form.addRow("Output", self.kind)
        self.output_form.addRow("Labels", self.labels)
        self.output_form.addRow("Fields", self.schema_box)
        self.output_form.addRow("Reference", self.reference)
        self.output_form.addRow("Scorer", self.scorer)
        self.output_form.addRow("Tolerance", self.tolerance)
        self.output_form.addRow("Examples", self.few_shot)

        # -- documents, model, sampling -------------------------------------------------------------
        self.collection = QComboBox()
        self.collection.setToolTip("Answer each row's question from this collection, with citations")
        self.source_column = QComboBox()
        self.source_column.setToolTip("The file each question should be answered from: measures retrieval recall")
        self.model = QComboBox()
        self.model.setToolTip("Runs share the model loaded in the window: choosing another loads it there")
        self.second_model = QComboBox()
        self.second_model.setToolTip("Run the same task with a second model afterwards, then compare the two")
        self.temperature = QDoubleSpinBox()
        self.temperature.setRange(0, 2)
        self.temperature.setSingleStep(0.1)
        self.temperature.setToolTip("0: always the most likely answer (the same every time)")
        self.max_tokens = QSpinBox()
        self.max_tokens.setRange(1, 32768)
        self.max_tokens.setValue(256)
        self.seed = QSpinBox()
        self.seed.setRange(-1, 2**31 - 1)
        self.seed.setToolTip("-1 draws one (it is recorded); each row's seed derives from it")
        self.limit = QSpinBox()
        self.limit.setRange(0, 10_000_000)
        self.limit.setSpecialValueText("all rows")
        run_box = QGroupBox("Model")
        run_form = QFormLayout(run_box)
        run_form.addRow("Model", self.model)
        run_form.addRow("Then also", self.second_model)
        run_form.addRow("Documents", self.collection)
        run_form.addRow("Expected source", self.source_column)
        run_form.addRow("Temperature", self.temperature)
        run_form.addRow("Answer up to", self.max_tokens)
        run_form.addRow("Seed", self.seed)
        run_form.addRow("Rows", self.limit)

        self.estimate_button = QPushButton("Estimate time")
        self.estimate_button.setToolTip("Run the first three rows (not stored) to see the answers and the time")
        self.estimate_button.clicked.connect(self.estimate_requested)
        self.run_button = QPushButton("Run")
        self.run_button.setDefault(True)
        self.run_button.clicked.connect(self.run_requested)
        self.estimate_label = Label("")
        self.estimate_label.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.estimate_button)
        buttons.addStretch(1)
        buttons.addWidget(self.run_button)

        body = QWidget()
        body_layout = QVBoxLayout(body)
        for box in (dataset_box, prompt_box, output_box, run_box):
            body_layout.addWidget(box)
        body_layout.addWidget(self.estimate_label)
        body_layout.addLayout(buttons)
        body_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(body)
        guard_fields(scroll)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(scroll)
        self.set_columns([])
        self._on_kind_current_index_changed(0)

    # -- dataset ------------------------------------------------------------------------------------

    def set_dataset(self, dataset: Dataset, rows: list[Row]) -> None:
        self.dataset = dataset
        self.preview_rows = rows
        encoding = f", {dataset.encoding}" if dataset.encoding else ""
        self.dataset_label.setText(
            f"<b>{dataset.name}</b> — {dataset.n_rows:,} rows, {len(dataset.columns)} columns "
            f"({dataset.format}{encoding}); sha256 {dataset.sha256[:12]}…"
        )
        self.dataset_label.setToolTip(str(dataset.path))
        self.preview_model.set_rows(dataset.columns, rows)
        self.preview_table.resizeColumnsToContents()
        for column in range(len(dataset.columns)):
            self.preview_table.setColumnWidth(column, min(self.preview_table.columnWidth(column), 320))
        self.set_columns(dataset.columns)
        if not self.template.toPlainText().strip() and dataset.columns:
            text_column = next((c for c in dataset.columns if c.lower() in ("text", "question", "abstract")), None)
            self.template.setPlainText(f"{{{text_column or dataset.columns[0]}}}")
        self.update_preview()

    def set_columns(self, columns: list[str]) -> None:
        reference, source = self.reference.currentText(), self.source_column.currentText()
        self.insert_column.clear()
        self.insert_column.addItem("Insert column…")
        self.insert_column.addItems(columns)
        for combo, previous, guesses in (
            (self.reference, reference, ("label", "answer", "reference", "expected", "gold")),
            (self.source_column, source, ("source", "expected_source", "file")),
        ):
            combo.clear()
            combo.addItem(NONE)
            combo.addItems(columns)
            chosen = previous if previous in columns else next((c for c in columns if c.lower() in guesses), NONE)
            combo.setCurrentText(chosen)

    def set_collections(self, names: list[str]) -> None:
        current = self.collection.currentText()
        self.collection.clear()
        self.collection.addItem(NONE)
        self.collection.addItems(names)
        self.collection.setCurrentText(current if current in names else NONE)

    def set_models(self, models: list[tuple[str, Path]], current: Path | None) -> None:
        chosen, second = self.model_path(), self.second_model_path()
        self.model.clear()
        self.second_model.clear()
        self.second_model.addItem(NONE, None)
        for name, path in models:
            self.model.addItem(name, str(path))
            self.second_model.addItem(name, str(path))
        self.choose_models(chosen or current, second)

    def choose_models(self, first: Path | None, second: Path | None = None) -> None:
        for combo, path in ((self.model, first), (self.second_model, second)):
            if path is None:
                continue
            row = combo.findData(str(path))
            if row < 0:
                combo.addItem(Path(path).stem, str(path))
                row = combo.count() - 1
            combo.setCurrentIndex(row)

    def model_path(self) -> Path | None:
        data = self.model.currentData()
        return Path(data) if data else None

    def second_model_path(self) -> Path | None:
        data = self.second_model.currentData()
        return Path(data) if data else None

    # -- the task -------------------------------------------------------------------------------------

    def add_field(self, name: str, kind: str) -> None:
        row = self.fields.rowCount()
        self.fields.insertRow(row)
        self.fields.setItem(row, 0, QTableWidgetItem(name))
        types = QComboBox()
        types.addItems(FIELD_TYPES)
        types.setCurrentText(kind)
        self.fields.setCellWidget(row, 1, types)

    def schema(self) -> dict[str, Any]:
        """A JSON schema from the fields table: an object with every field required."""
        properties: dict[str, Any] = {}
        for row in range(self.fields.rowCount()):
            item = self.fields.item(row, 0)
            name = item.text().strip() if item else ""
            widget = self.fields.cellWidget(row, 1)
            if name and isinstance(widget, QComboBox):
                properties[name] = {"type": widget.currentText()}
        if not properties:
            raise HearthError("A JSON task needs at least one field.", "Add the fields to extract, with their types.")
        return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}

    def _column(self, combo: QComboBox) -> str | None:
        text = combo.currentText()
        return text if text and text != NONE else None

    def few_shot_rows(self) -> list[int]:
        text = self.few_shot.text().replace(";", ",")
        try:
            return [int(p) for p in text.split(",") if p.strip()]
        except ValueError:
            raise HearthError(
                f"“{self.few_shot.text()}” is not a list of row numbers.", "Write them like 0, 4."
            ) from None

    def task(self) -> Task:
        kind = str(self.kind.currentData())
        return Task(
            prompt=self.template.toPlainText(),
            system=self.system.toPlainText(),
            kind=kind,
            labels=[x.strip() for x in self.labels.text().split(",") if x.strip()] if kind == "labels" else [],
            schema=self.schema() if kind == "json" else None,
            reference=self._column(self.reference),
            scorer=str(self.scorer.currentData() or ""),
            tolerance=self.tolerance.value(),
            few_shot=self.few_shot_rows(),
            collection=self._column(self.collection),
            source_column=self._column(self.source_column) if self._column(self.collection) else None,
            limit=self.limit.value() or None,
            sampling=run_sampling(
                temperature=self.temperature.value(), max_tokens=self.max_tokens.value(), seed=self.seed.value()
            ),
        )

    @Slot()
    def update_preview(self) -> None:
        """The messages of the first row that is not an example, as the model will get them."""
        if not self.preview_rows:
            self.preview.setPlainText("")
            return
        try:
            task = self.task()
            examples = [self.preview_rows[i] for i in task.few_shot if 0 <= i < len(self.preview_rows)]
            first = next((r for i, r in enumerate(self.preview_rows) if i not in task.few_shot), self.preview_rows[0])
            messages = build_messages(task, first, examples)
        except (HearthError, RowError) as exc:
            self.preview.setPlainText(str(exc))
            return
        text = "\n\n".join(f"{m.role}: {m.content}" for m in messages)
        if task.kind == "labels" and task.labels:
            text += f"\n\n(the answer is constrained to: {', '.join(task.labels)})"
        self.preview.setPlainText(text)

    def show_estimate(self, text: str) -> None:
        self.estimate_label.setText(text)

    # -- events ---------------------------------------------------------------------------------------

    @Slot()
    def _on_choose_button_clicked(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Choose a dataset", str(Path.home()), DATASET_FILTER)
        if name:
            self.dataset_requested.emit(Path(name))

    @Slot(int)
    def _on_insert_column_activated(self, index: int) -> None:
        if index > 0:
            self.template.insertPlainText("{" + self.insert_column.itemText(index) + "}")
            self.template.setFocus()
        self.insert_column.setCurrentIndex(0)

    @Slot(int)
    def _on_kind_current_index_changed(self, _index: int) -> None:
        kind = str(self.kind.currentData())
        self.output_form.setRowVisible(self.labels, kind == "labels")
        self.output_form.setRowVisible(self.schema_box, kind == "json")
        self.output_form.setRowVisible(self.tolerance, kind in ("number", "json"))
        self.scorer.setItemText(0, f"Automatic ({DEFAULT_SCORER[kind].replace('_', ' ')})")
        if kind == "json" and self.fields.rowCount() == 0:
            self.add_field("", "string")
        self._preview_timer.start()

    @Slot()
    def _on_remove_field_button_clicked(self) -> None:
        row = self.fields.currentRow()
        if row >= 0:
            self.fields.removeRow(row)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        files = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        if files:
            event.acceptProposedAction()
            self.dataset_requested.emit(files[0])

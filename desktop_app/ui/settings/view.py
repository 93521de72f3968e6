"""The Settings section: defaults for new chats and for documents, and where Hearth keeps its data."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QResizeEvent, QShowEvent
from PySide6.QtWidgets import (
    QBoxLayout,
    QFrame,
    QGroupBox,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from desktop_app.ui.context import AppContext
from desktop_app.ui.settings.backups_box import BackupsBox
from desktop_app.ui.settings.data_folder_box import DataFolderBox
from desktop_app.ui.settings.documents_form import DocumentsSettingsForm
from desktop_app.ui.settings.hub_account_box import HubAccountBox
from desktop_app.ui.settings.local_server_box import LocalServerBox
from desktop_app.ui.settings.ocr_box import OcrBox
from desktop_app.ui.settings.servers_box import ServersBox
from desktop_app.ui.shared.hint_label import hint_label
from desktop_app.ui.shared.labels import Label
from desktop_app.ui.shared.settings_forms import LoadForm, SamplingForm
from desktop_app.ui.shared.system_prompt_edit import SystemPromptEdit
from desktop_app.ui.shared.wheel_guard import guard_fields

TWO_COLUMNS_WIDTH = 940  # narrower than this (a small laptop window), the groups form one column


class SettingsView(QScrollArea):
    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("settingsView")
        self._context = context
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)

        title = Label("Settings")
        title.setObjectName("sectionTitle")
        intro = Label("Changes are saved as you make them.")
        intro.setObjectName("hintLabel")

        self.system_prompt_edit = SystemPromptEdit(height=100)
        self.system_prompt_edit.show_text(context.settings.system_prompt)
        self.system_prompt_edit.edited.connect(self._on_system_prompt_edit_edited)
        prompt_box = QGroupBox("System prompt for new chats")
        prompt_layout = QVBoxLayout(prompt_box)
        prompt_layout.addWidget(self.system_prompt_edit)
        note = Label("Each chat keeps its own copy; change a chat's prompt in its side panel.")
        note.setObjectName("hintLabel")
        prompt_layout.addWidget(note)

        self.sampling_form = SamplingForm(context)
        sampling_box, self.reset_sampling_button = _form_box("Sampling", self.sampling_form, self.sampling_form.reset)
        self.load_form = LoadForm(context)
        load_box, self.reset_load_button = _form_box("Loading models", self.load_form, self.load_form.reset)
        self.documents_form = DocumentsSettingsForm()
        documents_box, self.reset_documents_button = _form_box(
            "Documents",
            self.documents_form,
            self.documents_form.reset,
            note="Passage length and embedding model apply to collections made from now on.",
        )

        self.ocr_box = OcrBox(lambda: context.documents)  # per collection: scanned pages and pictures read

        data_box = self.data_folder_box = DataFolderBox()
        self.backups_box = BackupsBox()  # storage: the database's daily copies, restorable

        self.servers_box = ServersBox(context)
        self.local_server_box = LocalServerBox(context)
        self.hub_account_box = HubAccountBox(context)

        columns = QBoxLayout(QBoxLayout.Direction.LeftToRight)
        columns.setSpacing(16)
        self._columns = columns
        left = QVBoxLayout()
        left.addWidget(prompt_box)
        left.addWidget(sampling_box)
        left.addWidget(self.servers_box)
        left.addWidget(self.hub_account_box)
        left.addStretch(1)
        right = QVBoxLayout()
        right.addWidget(load_box)
        right.addWidget(documents_box)
        right.addWidget(self.ocr_box)
        right.addWidget(self.local_server_box)
        right.addWidget(data_box)
        right.addWidget(self.backups_box)
        right.addStretch(1)
        columns.addLayout(left, 1)
        columns.addLayout(right, 1)

        content = QWidget()
        content.setMaximumWidth(1100)
        content.setMinimumWidth(TWO_COLUMNS_WIDTH // 2)  # below two columns' width they stack (resizeEvent)
        layout = QVBoxLayout(content)
        layout.setContentsMargins(28, 20, 28, 20)
        layout.addWidget(title)
        layout.addWidget(intro)
        layout.addSpacing(8)
        layout.addLayout(columns)
        layout.addStretch(1)
        self.setWidget(content)

    @property
    def one_column(self) -> bool:
        return self._columns.direction() == QBoxLayout.Direction.TopToBottom

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        guard_fields(self)  # each time: the boxes add fields of their own (servers, collections)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        wide = self.viewport().width() >= TWO_COLUMNS_WIDTH
        direction = QBoxLayout.Direction.LeftToRight if wide else QBoxLayout.Direction.TopToBottom
        if direction != self._columns.direction():
            self._columns.setDirection(direction)

    def show_hub_sign_in(self) -> None:
        """Brings the Hugging Face account group into view, its token field focused."""
        self.ensureWidgetVisible(self.hub_account_box)
        self.hub_account_box.focus_sign_in()

    @Slot(str)
    def _on_system_prompt_edit_edited(self, text: str) -> None:
        self._context.settings.system_prompt = text
        self._context.save_settings(self)

    def flush(self) -> None:
        """Saves a pending edit now (the window is closing)."""
        self.system_prompt_edit.flush()
        self.servers_box.shutdown()
        self.hub_account_box.shutdown()
        self.data_folder_box.shutdown()
        self.backups_box.shutdown()
        self.ocr_box.shutdown()


def _form_box(title: str, form: QWidget, reset: Callable[[], None], note: str = "") -> tuple[QGroupBox, QPushButton]:
    """A titled group around ``form``, an optional hint, and its "Restore defaults" button."""
    box = QGroupBox(title)
    layout = QVBoxLayout(box)
    layout.addWidget(form)
    if note:
        hint = hint_label(note)
        layout.addWidget(hint)
    button = QPushButton("Restore defaults")
    button.clicked.connect(reset)
    layout.addWidget(button, 0, Qt.AlignmentFlag.AlignRight)
    return box, button

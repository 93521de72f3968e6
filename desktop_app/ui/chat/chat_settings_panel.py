"""The chat's side panel: this conversation's system prompt, sampling and load settings."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QGroupBox,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.errors import HearthError
from desktop_app.core.inference import templates
from desktop_app.core.inference.engine import LoadedModel
from desktop_app.ui.context import AppContext
from desktop_app.ui.model_host import HostState
from desktop_app.ui.shared.labels import Label
from desktop_app.ui.shared.settings_forms import LoadForm, SamplingForm, load_settings_differ
from desktop_app.ui.shared.system_prompt_edit import SystemPromptEdit


class ChatSettingsPanel(QScrollArea):
    """The system prompt belongs to the conversation; sampling and load settings are the
    app's (the same as in Settings) and are saved as they change."""

    system_prompt_edited = Signal(str)  # after a short pause in typing

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chatSettingsPanel")
        self._context = context
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

        self.system_prompt_edit = SystemPromptEdit(height=110)
        self.system_prompt_edit.setToolTip("Instructions the model sees before this conversation")
        self.system_prompt_edit.edited.connect(self.system_prompt_edited)
        prompt_box = QGroupBox("System prompt (this chat)")
        prompt_layout = QVBoxLayout(prompt_box)
        prompt_layout.addWidget(self.system_prompt_edit)

        self.sampling_form = SamplingForm(context)
        sampling_box = QGroupBox("Sampling")
        QVBoxLayout(sampling_box).addWidget(self.sampling_form)

        self.load_form = LoadForm(context)
        self.load_form.edited.connect(self._on_load_form_edited)
        self.reload_note = Label("Load settings apply when the model is next loaded.")
        self.reload_note.setObjectName("hintLabel")
        self.reload_note.setWordWrap(True)
        self.reload_button = QPushButton("Reload model with these settings")
        self.reload_button.clicked.connect(self._on_reload_button_clicked)
        load_box = QGroupBox("Loading")
        load_layout = QVBoxLayout(load_box)
        load_layout.addWidget(self.load_form)
        load_layout.addWidget(self.reload_note)
        load_layout.addWidget(self.reload_button)

        self.template_combo = QComboBox()
        self.template_combo.setAccessibleName("Chat template")
        # Long labels must not widen the panel: the combo shows what fits, the list shows all.
        self.template_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.template_combo.setMinimumContentsLength(14)
        for name, label in templates.CHOICES.items():
            self.template_combo.addItem(label, name)
        self.template_combo.setToolTip(
            "How the conversation is written out for this model. Kept per model file; recorded with every answer."
        )
        self.template_combo.activated.connect(self._on_template_combo_activated)
        self.template_note = Label()
        self.template_note.setObjectName("hintLabel")
        self.template_note.setWordWrap(True)
        template_box = QGroupBox("Chat template (this model)")
        template_layout = QVBoxLayout(template_box)
        template_layout.addWidget(self.template_combo)
        template_layout.addWidget(self.template_note)

        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.addWidget(prompt_box)
        layout.addWidget(template_box)
        layout.addWidget(sampling_box)
        layout.addWidget(load_box)
        layout.addStretch(1)
        self.setWidget(content)
        self.setMinimumWidth(260)

        context.models.model_changed.connect(self._on_models_model_changed)
        context.models.state_changed.connect(self._on_models_state_changed)
        self._update_reload()
        self._update_template()

    # -- system prompt ------------------------------------------------------------------------

    @property
    def system_prompt(self) -> str:
        return self.system_prompt_edit.toPlainText()

    def show_system_prompt(self, text: str) -> None:
        """Shows a conversation's prompt without reporting it as an edit."""
        self.system_prompt_edit.show_text(text)

    def flush(self) -> None:
        """Reports a pending edit now (before the conversation changes)."""
        self.system_prompt_edit.flush()

    # -- reload ------------------------------------------------------------------------------------

    def _update_reload(self) -> None:
        model = self._context.models.model
        differs = model is not None and load_settings_differ(model.settings, self._context.settings.load)
        self.reload_button.setVisible(differs)
        self.reload_button.setEnabled(not self._context.models.busy)
        self.reload_note.setVisible(differs)

    @Slot()
    def _on_load_form_edited(self) -> None:
        self._update_reload()

    @Slot(object)
    def _on_models_model_changed(self, _model: LoadedModel | None) -> None:
        self._update_reload()
        self._update_template()

    @Slot(object)
    def _on_models_state_changed(self, _state: HostState) -> None:
        self._update_reload()
        self._update_template()

    # -- chat template ---------------------------------------------------------------------------

    def _update_template(self) -> None:
        model = self._context.models.model
        self.template_combo.setEnabled(model is not None and not self._context.models.busy)
        if model is None:
            self.template_note.setText("Load a model to choose how it is prompted.")
            return
        chosen = self._context.settings.template_for(model.path)
        self.template_combo.setCurrentIndex(max(0, self.template_combo.findData(chosen)))
        self.template_note.setText(f"In use: {model.template.describe()}.")

    @Slot(int)
    def _on_template_combo_activated(self, index: int) -> None:
        model = self._context.models.model
        name = str(self.template_combo.itemData(index))
        if model is None:
            return
        self._context.settings.set_template_for(model.path, name)
        self._context.save_settings(self)
        try:
            self._context.models.set_template(name)
        except HearthError as exc:
            self.template_note.setText(f"{exc.message} {exc.hint}")

    @Slot()
    def _on_reload_button_clicked(self) -> None:
        model = self._context.models.model
        if model is not None:
            self._context.models.load(
                model.path, self._context.settings.load, self._context.settings.template_for(model.path)
            )

"""The chat template in the window: the Gemma 3 base model (no template in its file) is
recognised, the user is told, the template is recorded, and a chosen one is kept per model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt

from desktop_app.core import settings as settings_store
from desktop_app.core.inference import templates
from desktop_app.ui.chat.provenance_dialog import ProvenanceDialog

from .conftest import LOAD_TIMEOUT_MS, load_model, send_and_wait

FOREIGN = ("<|im_start|>", "<|im_end|>", "<start_of_turn>", "<end_of_turn>")


def test_a_base_model_is_named_as_such_and_its_template_recorded(
    qtbot: Any, make_window: Any, gemma_path: Path
) -> None:
    window = make_window()
    load_model(qtbot, window, gemma_path)
    chat = window.chat
    assert chat.notice.isVisible() and templates.BASE_MODEL_NOTICE in chat.notice.text
    panel = chat.settings_panel
    assert panel.template_combo.currentData() == templates.AUTO
    assert "none: text continuation" in panel.template_note.text()

    message = send_and_wait(qtbot, window, "Once upon a time")
    assert message.provenance is not None
    assert message.provenance.template_description == "none: text continuation"
    assert not any(tag in message.content for tag in FOREIGN)
    view = chat.transcript.views[-1]
    qtbot.mouseClick(view.details_button, Qt.MouseButton.LeftButton)
    dialog = view.findChild(ProvenanceDialog)
    assert dialog is not None and "none: text continuation" in dialog.view.toPlainText()
    dialog.close()

    # The user picks Gemma's format for this model: applied without a reload, and kept.
    host = window.context.models
    index = panel.template_combo.findData("gemma")
    with qtbot.waitSignal(host.model_changed, timeout=LOAD_TIMEOUT_MS):
        panel.template_combo.setCurrentIndex(index)
        panel.template_combo.activated.emit(index)
    assert host.model is not None and host.model.template.name == "gemma"
    assert host.model.template.source == "user"
    assert "Gemma, chosen by you" in panel.template_note.text()
    assert settings_store.load().template_for(gemma_path) == "gemma"
    reply = send_and_wait(qtbot, window, "Name a colour.")
    assert reply.provenance is not None and reply.provenance.settings["template"]["name"] == "gemma"
    assert "<end_of_turn>" not in reply.content


def test_the_choice_is_used_when_the_model_is_next_loaded(qtbot: Any, make_window: Any, gemma_path: Path) -> None:
    config = settings_store.load()
    config.set_template_for(gemma_path, "chatml")
    settings_store.save(config)
    window = make_window()
    load_model(qtbot, window, gemma_path)
    model = window.context.models.model
    assert model is not None and (model.template.name, model.template.source) == ("chatml", "user")
    assert templates.BASE_MODEL_NOTICE not in window.chat.notice.text

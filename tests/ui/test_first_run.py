"""The first run (issue 12): a page that says what this computer can run, has the starter model loaded
and ready, says plainly that it is too small for documents, leads to recommended open models that
fit (each opening its repository in Models), asks the network nothing by itself, and is not shown
again once closed (Help › Getting started brings it back). "Documents only" is not ticked while no
collection is attached."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from hubstub import HubStub, StubFile, StubRepo, gguf_card
from PySide6.QtCore import Qt

from desktop_app.core import paths
from desktop_app.core import settings as settings_store
from desktop_app.core.settings import Settings
from desktop_app.ui.models.view import ModelsView

from .conftest import LOAD_TIMEOUT_MS

OLMO_REPO = "allenai/OLMo-2-0425-1B-Instruct-GGUF"


@pytest.fixture
def first_run(gui_settings: Settings) -> Settings:
    """The settings of a first start: the page not yet closed."""
    gui_settings.welcome_dismissed = False
    settings_store.save(gui_settings)
    return gui_settings


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every network connection Python code opens meanwhile (none is expected)."""
    seen: list[Any] = []
    original = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            seen.append(address)
        return original(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return seen


def test_the_first_run_page_has_the_starter_ready_and_models_that_fit(
    qtbot: Any, first_run: Settings, connections: list[Any], make_window: Any, smollm2_path: Path
) -> None:
    window = make_window()
    welcome = window.welcome
    assert welcome is not None and window.stack.currentWidget() is welcome
    assert window.sidebar.currentRow() == -1

    # The starter model is loaded at once and pre-selected in the chat; the page says so, and says
    # plainly that it is far too small for documents.
    host = window.context.models
    qtbot.waitUntil(lambda: host.model is not None and not host.busy, timeout=LOAD_TIMEOUT_MS)
    assert host.model.path.resolve() == smollm2_path.resolve()
    picker = window.chat.model_picker
    qtbot.waitUntil(lambda: picker.listed_once, timeout=LOAD_TIMEOUT_MS)
    assert picker.combo.currentIndex() == picker.model.row_of(smollm2_path) >= 0
    assert "loaded and ready to chat" in welcome.starter_label.text()
    page_text = " ".join(label.text() for label in welcome.findChildren(type(welcome.starter_label)))
    assert "far too small to answer questions about your documents" in page_text

    # What this computer can run, read off the GUI thread.
    qtbot.waitUntil(lambda: bool(welcome.recommendations), timeout=LOAD_TIMEOUT_MS)
    assert welcome.hardware is not None
    assert welcome.hardware_label.text().startswith("Memory: ") and "llama.cpp: " in welcome.hardware_label.text()

    # "Find a bigger model": the recommended models that fit, those too large behind a tick box.
    qtbot.mouseClick(welcome.bigger_button, Qt.MouseButton.LeftButton)
    assert welcome.pages.currentIndex() == 1
    shown = welcome.models_list.visible_cards()
    assert shown and all(card.recommendation.fits for card in shown)
    too_large = [r for r in welcome.recommendations if not r.fits]
    assert len(welcome.models_list.cards) == len(shown) + len(too_large)
    if too_large:
        welcome.models_list.show_too_large.setChecked(True)
        assert len(welcome.models_list.visible_cards()) == len(welcome.recommendations)
    olmo = next(c for c in welcome.models_list.cards if c.recommendation.model.repo_id == OLMO_REPO)
    assert "open weights and open training data" in olmo.card_label.text()
    assert "from Hearth's list" in olmo.card_label.text()

    # "Documents only" is not ticked with nothing attached; attached, the conversation's choice shows.
    documents = window.chat.documents
    assert not documents.only_switch.isChecked() and not documents.only_switch.isEnabled()
    documents.set_state(["papers"], True)
    assert documents.only_switch.isChecked() and documents.only_switch.isEnabled()
    documents.set_state([], True)
    assert not documents.only_switch.isChecked() and documents.documents_only  # the choice is kept for later

    assert connections == []  # nothing left the machine

    # Closed: the chat, and the page is not shown at the next start; Help › Getting started still has it.
    qtbot.mouseClick(welcome.close_button, Qt.MouseButton.LeftButton)
    assert window.stack.currentWidget() is window.chat and window.sidebar.currentRow() == 0
    assert json.loads(paths.settings_path().read_text())["welcome_dismissed"] is True
    (getting_started,) = [a for a in window.help_menu.actions() if a.text() == "&Getting started"]
    getting_started.trigger()
    assert window.stack.currentWidget() is welcome and welcome.pages.currentIndex() == 0
    qtbot.mouseClick(welcome.start_button, Qt.MouseButton.LeftButton)
    assert window.stack.currentWidget() is window.chat
    window.close()
    assert make_window().welcome is None


def test_a_recommended_model_opens_its_repository_in_models(
    qtbot: Any, hub_stub: HubStub, window: Any, smollm2_path: Path
) -> None:
    # The stand-in serves the listed OLMo repository (with SmolLM2's file) and a card naming its data.
    hub_stub.add_repo(
        StubRepo(
            OLMO_REPO,
            [StubFile("OLMo-2-0425-1B-Instruct-Q4_K_M.gguf", source=smollm2_path)],
            card_data={"license": "apache-2.0", "datasets": ["allenai/olmo-mix-1124", "allenai/dolmino-mix-1124"]},
            gguf=gguf_card(smollm2_path),
        )
    )
    try:
        window.show_welcome()
        welcome = window.welcome
        qtbot.waitUntil(lambda: bool(welcome.recommendations), timeout=LOAD_TIMEOUT_MS)
        assert hub_stub.requests() == []  # showing the list asked the Hub nothing
        welcome.show_models()
        card = next(c for c in welcome.models_list.cards if c.recommendation.model.repo_id == OLMO_REPO)
        models = window.sections["Models"]
        assert isinstance(models, ModelsView)
        with qtbot.waitSignals([models.browse.repo_shown, models.browse.badges_done], timeout=LOAD_TIMEOUT_MS):
            qtbot.mouseClick(card.open_button, Qt.MouseButton.LeftButton)
        assert window.stack.currentWidget() is models and models.tabs.currentWidget() is models.browse
        assert models.browse.page is not None and models.browse.page.repo_id == OLMO_REPO
        facts = models.browse.facts_label.text()
        assert "licence apache-2.0" in facts  # from the Hub's card, not the list
        assert "Training data named on its Hub card: allenai/olmo-mix-1124, allenai/dolmino-mix-1124" in facts
        assert window.context.settings.welcome_dismissed  # choosing a model moved the user on
    finally:
        del hub_stub.repos[OLMO_REPO]

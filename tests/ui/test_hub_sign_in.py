"""Signing in to Hugging Face from the window (issue 12), against the Hub stand-in on 127.0.0.1: a gated
repository offers "Sign in to Hugging Face…", which leads to Settings › Hugging Face account; a
pasted token makes the gated files readable (their fit badges come from their headers), a wrong one
is refused in plain words, and signing out closes them again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hubstub import GATED_REPO, STUB_USER, VALID_TOKEN, HubStub
from PySide6.QtCore import Qt

from desktop_app.core.fit.result import Verdict
from desktop_app.ui.models.view import ModelsView
from desktop_app.ui.settings.view import SettingsView

NET_TIMEOUT_MS = 60_000


def open_gated(qtbot: Any, models: ModelsView) -> None:
    browse = models.browse
    browse.search_edit.setText(GATED_REPO)
    with qtbot.waitSignals([browse.repo_shown, browse.badges_done], order="strict", timeout=NET_TIMEOUT_MS):
        qtbot.mouseClick(browse.search_button, Qt.MouseButton.LeftButton)


def verdicts(models: ModelsView) -> set[Verdict]:
    files = models.browse.files_model
    return {badge.verdict for m in files.models() if (badge := files.badge(m.name)) is not None}


def test_sign_in_from_a_gated_repo_opens_its_files_and_sign_out_closes_them(
    qtbot: Any, hub_stub: HubStub, window: Any
) -> None:
    from huggingface_hub import constants

    token_file = Path(constants.HF_TOKEN_PATH)
    models, settings = window.sections["Models"], window.sections["Settings"]
    assert isinstance(models, ModelsView) and isinstance(settings, SettingsView)
    window.show_section(list(window.sections).index("Models"))
    open_gated(qtbot, models)
    browse = models.browse
    assert verdicts(models) == {Verdict.UNKNOWN}  # its headers cannot be read without a token
    assert browse.sign_in_button.isVisible() and browse.sign_in_button.text() == "Sign in to Hugging Face…"

    qtbot.mouseClick(browse.sign_in_button, Qt.MouseButton.LeftButton)
    assert window.stack.currentWidget() is settings
    box = settings.hub_account_box
    assert box.token_edit.isVisible() and box.status_label.text().startswith("Not signed in")

    # A wrong token: refused in plain words, nothing saved.
    qtbot.keyClicks(box.token_edit, "hf_wrong")
    qtbot.mouseClick(box.sign_in_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not box.busy and box.error_label.isVisible(), timeout=NET_TIMEOUT_MS)
    assert "did not accept this token" in box.error_label.text() and not token_file.exists()

    # The right one: who is signed in, the token where huggingface_hub keeps it, the gated files readable.
    box.token_edit.clear()
    qtbot.keyClicks(box.token_edit, VALID_TOKEN)
    with qtbot.waitSignals([window.context.hub_account_changed, browse.badges_done], timeout=NET_TIMEOUT_MS):
        qtbot.keyClick(box.token_edit, Qt.Key.Key_Return)
    assert box.status_label.text() == f"Signed in as {STUB_USER}."
    assert not box.error_label.isVisible() and not box.token_edit.isVisible() and box.sign_out_button.isVisible()
    assert token_file.read_text().strip() == VALID_TOKEN
    assert Verdict.UNKNOWN not in verdicts(models)  # the repository was opened again, with the token
    assert any(s.authorized for s in hub_stub.requests() if "/resolve/" in s.path)
    assert browse.sign_in_button.text() == "Hugging Face account…"
    assert f"Hearth is signed in as {STUB_USER}" in browse.gated_label.text()

    with qtbot.waitSignals([window.context.hub_account_changed, browse.badges_done], timeout=NET_TIMEOUT_MS):
        qtbot.mouseClick(box.sign_out_button, Qt.MouseButton.LeftButton)
    assert box.status_label.text().startswith("Not signed in") and not token_file.exists()
    assert browse.sign_in_button.text() == "Sign in to Hugging Face…"
    assert browse.select_model(browse.page.models[0].name)
    assert browse.download_selected() == [] and "gated repository" in browse.notice.text  # needs the token again


@pytest.mark.parametrize("size", [(1280, 800), (1024, 700)])
def test_signing_in_keeps_the_account_group_in_view(
    qtbot: Any, hub_stub: HubStub, window: Any, size: tuple[int, int]
) -> None:
    """Issue 21: after *Sign in* the page jumped to the top (the focused token field was disabled
    while the Hub was asked, and the focus went up the page) and hid the answer."""
    window.resize(*size)
    settings = window.sections["Settings"]
    assert isinstance(settings, SettingsView)
    window.show_section(list(window.sections).index("Settings"))
    settings.show_hub_sign_in()
    box = settings.hub_account_box
    scroll = settings.verticalScrollBar()
    qtbot.waitUntil(lambda: box.token_edit.hasFocus())
    kept = scroll.value()

    def in_view(widget: Any) -> bool:
        top = widget.mapTo(settings.widget(), widget.rect().topLeft()).y() - scroll.value()
        return widget.isVisible() and top >= 0 and top + widget.height() <= settings.viewport().height()

    for _round in range(2):
        qtbot.keyClicks(box.token_edit, "hf_wrong")
        qtbot.mouseClick(box.sign_in_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not box.busy and box.error_label.isVisible(), timeout=NET_TIMEOUT_MS)
        qtbot.waitUntil(lambda: in_view(box.error_label))  # the page scrolls to the answer if it must…
        assert scroll.value() >= kept  # …never back to the top
        box.token_edit.clear()
        qtbot.keyClicks(box.token_edit, VALID_TOKEN)
        with qtbot.waitSignal(window.context.hub_account_changed, timeout=NET_TIMEOUT_MS):
            qtbot.keyClick(box.token_edit, Qt.Key.Key_Return)
        qtbot.waitUntil(lambda: not box.busy)
        assert box.status_label.text() == f"Signed in as {STUB_USER}."
        qtbot.waitUntil(lambda: in_view(box.status_label))
        assert scroll.value() >= kept
        with qtbot.waitSignal(window.context.hub_account_changed, timeout=NET_TIMEOUT_MS):
            qtbot.mouseClick(box.sign_out_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not box.busy and box.token_edit.isVisible())
        assert scroll.value() >= kept and box.token_edit.hasFocus()  # ready for the next token

"""A link the model wrote looks like a link, shows its full address, is unlike a citation, and
opens only after the user agrees that it leaves the computer."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QApplication, QMessageBox

from desktop_app.ui.chat.markdown_view import MarkdownView
from desktop_app.ui.shared.markdown_render import CITATION_STYLE, LINK_STYLE, render_markdown

ANSWER = "The park is refilled monthly [1]. See [the official page](https://parks.example.org/refill?x=1)."


def test_a_model_link_shows_its_address_and_is_styled_unlike_a_citation() -> None:
    html = render_markdown(ANSWER, citations={1: "report.pdf, page 2"}).html
    assert '<a href="cite:1"' in html and CITATION_STYLE in html
    link = html.index('<a href="https://parks.example.org/refill?x=1"')
    assert LINK_STYLE in html[link : link + 300]
    assert "(https://parks.example.org/refill?x=1)" in html  # the full address beside the words
    assert LINK_STYLE != CITATION_STYLE


@pytest.mark.parametrize("text", ["[here](page.html)", "[x](javascript:alert(1))", "[y](file:///etc/passwd)"])
def test_addresses_that_are_not_web_or_mail_are_no_links(text: str) -> None:
    html = render_markdown(text).html
    assert "<a " not in html


def _question(view: MarkdownView) -> QMessageBox:
    boxes = [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()]
    boxes += [c for c in view.findChildren(QMessageBox) if c.isVisible() and c not in boxes]
    assert len(boxes) == 1
    return boxes[0]


def test_clicking_a_model_link_asks_first_and_opens_only_on_yes(qtbot: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # No browser exists here (offscreen, no desktop): the hand-off to it is what is recorded.
    opened: list[str] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url.toString()) or True)
    view = MarkdownView()
    qtbot.addWidget(view)
    view.set_markdown(ANSWER, {1: "report.pdf, page 2"})
    view.show()
    url = QUrl("https://parks.example.org/refill?x=1")

    view.anchorClicked.emit(url)
    box = _question(view)
    assert "https://parks.example.org/refill?x=1" in box.text()
    assert "leaves this computer" in box.informativeText()
    box.button(QMessageBox.StandardButton.Cancel).click()
    assert opened == []

    view.anchorClicked.emit(url)
    box = _question(view)
    (open_button,) = [b for b in box.buttons() if b.text() == "Open"]
    open_button.click()
    assert opened == ["https://parks.example.org/refill?x=1"]


def test_a_citation_click_asks_nothing(qtbot: Any) -> None:
    view = MarkdownView()
    qtbot.addWidget(view)
    view.set_markdown(ANSWER, {1: "report.pdf, page 2"})
    with qtbot.waitSignal(view.citation_clicked) as blocker:
        view.anchorClicked.emit(QUrl("cite:1"))
    assert blocker.args == [1]
    assert not [c for c in view.findChildren(QMessageBox) if c.isVisible()]

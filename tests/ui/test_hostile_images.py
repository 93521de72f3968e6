"""Markdown images in a model's reply never make Qt open anything: not /dev/zero (read until memory
runs out), not a FIFO (blocks the GUI thread for good), not a local file, not a network share.
The hostile reply is rendered by the real chat view, streamed and stored, and the conversation
reopened in a new window; the views Hearth shows outside text in refuse any resource that is
not Hearth's own, whoever wrote the HTML."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, QUrl
from PySide6.QtGui import QImage, QTextDocument
from PySide6.QtWidgets import QApplication, QLabel

from desktop_app.core import paths
from desktop_app.ui.shared.markdown_render import render_markdown
from desktop_app.ui.shared.safe_text import SafeTextBrowser, is_own_resource, loads_resources

pytestmark = pytest.mark.skipif(os.name != "posix", reason="FIFOs and /dev/zero are POSIX")


@pytest.fixture
def hostile(tmp_path: Path) -> dict[str, str]:
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    picture = tmp_path / "secret.png"
    image = QImage(37, 23, QImage.Format.Format_RGB32)
    image.fill(0xFF0000)
    assert image.save(str(picture))
    return {"zero": "/dev/zero", "fifo": str(fifo), "file": str(picture), "unc": "//attacker.example/share/x.png"}


def _reply(sources: dict[str, str]) -> str:
    lines = [f"Look: ![{name}]({src})" for name, src in sources.items()]
    lines.append(f'Raw: <img src="{sources["file"]}"> and [![inner]({sources["fifo"]})](https://example.org/)')
    lines.append("![remote](https://example.org/cat.png)")
    return "\n\n".join(lines)


def _assert_safe_document(document: QTextDocument, sources: dict[str, str]) -> None:
    markup = document.toHtml()
    assert "<img" not in markup
    text = document.toPlainText()
    for name, src in sources.items():
        assert f"[image: {name}]" in text and src in text  # shown as words, with the address


def test_images_render_as_words_with_their_address(hostile: dict[str, str]) -> None:
    html = render_markdown(_reply(hostile)).html
    assert "<img" not in html
    assert "[image: zero]" in html and "/dev/zero" in html
    assert "&lt;img" in html  # raw HTML stays text
    # An http(s) image is a link that asks before opening (like any other link), never fetched.
    assert '<a href="https://example.org/cat.png"' in html


def test_the_chat_view_streams_stores_and_reopens_a_hostile_reply(
    qtbot: Any, make_window: Any, hostile: dict[str, str]
) -> None:
    reply = _reply(hostile)
    first = make_window()
    chat = first.chat
    store = first.context.store
    conversation = store.create("Hostile pictures", "")
    store.add_message(conversation.id, "user", "Describe the document.")
    store.add_message(conversation.id, "assistant", reply)
    chat.conversations.refresh()
    chat.open_conversation(conversation.id)
    qtbot.wait(50)  # let the view lay out (and, were it unsafe, load) what it shows
    view = chat.transcript.views[-1]
    assert view.body.markdown == reply
    _assert_safe_document(view.body.document(), hostile)

    # The same text streamed token by token into a reply in progress.
    view.set_streaming()
    for start in range(0, len(reply), 7):
        view.append_text(reply[start : start + 7])
    qtbot.wait(50)
    _assert_safe_document(view.body.document(), hostile)
    first.close()

    second = make_window()  # reopened: the stored message is shown again, safely
    second.chat.conversations.refresh()
    second.chat.open_conversation(conversation.id)
    qtbot.wait(50)
    _assert_safe_document(second.chat.transcript.views[-1].body.document(), hostile)
    assert second.isVisible()


def test_text_views_refuse_resources_that_are_not_hearths(qtbot: Any, hostile: dict[str, str]) -> None:
    """HTML with images, whoever wrote it: the chat's view and the dialogs' browsers load a blank
    pixel instead of the file (the FIFO would block, /dev/zero would exhaust memory)."""
    from desktop_app.ui.chat.markdown_view import MarkdownView

    for browser in (MarkdownView(), SafeTextBrowser()):
        qtbot.addWidget(browser)
        images = "".join(f'<img src="{src}" width="40">' for src in hostile.values())
        table = f"<table background='{hostile['fifo']}'><tr><td>x</td></tr></table>"
        browser.setHtml(f"<p>{images}<img src='file://{hostile['file']}'></p>{table}")
        browser.show()
        qtbot.waitExposed(browser)
        for src in [*hostile.values(), f"file://{hostile['file']}"]:
            loaded = browser.document().resource(QTextDocument.ResourceType.ImageResource.value, QUrl(src))
            assert isinstance(loaded, QImage) and loaded.size().width() == 1, src  # not the 37x23 picture
        assert browser.isVisible()


def test_only_hearths_own_resources_are_allowed(hostile: dict[str, str]) -> None:
    icon = next((paths.resources_dir() / "icons").glob("*.svg"))
    assert is_own_resource(QUrl.fromLocalFile(str(icon)))
    assert is_own_resource(QUrl("qrc:/qt-project.org/styles/commonstyle/images/file-16.png"))
    outside = [
        *hostile.values(),
        f"{paths.resources_dir()}/../pyproject.toml",  # out of the folder by "..": judged by the text
        "file://attacker.example/share/x.png",
        "\\\\attacker.example\\share\\x.png",
        "data:image/png;base64,AAAA",
        "http://example.org/x.png",
        "relative/picture.png",
    ]
    for address in outside:
        assert not is_own_resource(QUrl(address)), address


def test_tooltips_with_images_show_as_plain_text(qtbot: Any, hostile: dict[str, str]) -> None:
    from PySide6.QtCore import QEvent
    from PySide6.QtGui import QHelpEvent
    from PySide6.QtWidgets import QToolTip

    from desktop_app.ui.shared.safe_text import install_tooltip_guard

    app = QApplication.instance()
    assert isinstance(app, QApplication)
    guard = install_tooltip_guard(app)
    try:
        label = QLabel("hover me")
        qtbot.addWidget(label)
        tip = f'A row\'s output: <img src="{hostile["fifo"]}"> <b>bold</b>'
        label.setToolTip(tip)
        label.show()
        qtbot.waitExposed(label)
        assert loads_resources(tip) and not loads_resources("<b>Hearth's own</b> tip")
        event = QHelpEvent(QEvent.Type.ToolTip, QPoint(2, 2), label.mapToGlobal(QPoint(2, 2)))
        QApplication.sendEvent(label, event)
        qtbot.waitUntil(QToolTip.isVisible, timeout=2000)
        assert "<img" not in QToolTip.text() and "&lt;img" in QToolTip.text()  # escaped: shown, not loaded
        QToolTip.hideText()
    finally:
        app.removeEventFilter(guard)


def test_a_model_name_with_an_image_tag_shows_as_text(qtbot: Any, make_window: Any, hostile: dict[str, str]) -> None:
    """A GGUF's name is the file's words: a reply's author and the status bar show it as text."""
    from PySide6.QtCore import Qt

    window = make_window()
    store = window.context.store
    conversation = store.create("Named", "")
    store.add_message(conversation.id, "assistant", "Hello.")
    window.chat.conversations.refresh()
    window.chat.open_conversation(conversation.id)
    name = f'Model <img src="{hostile["fifo"]}"><img src="{hostile["zero"]}">'
    view = window.chat.transcript.views[-1]
    view.set_author(name)
    window.status_bar.model_label.setText(name)
    qtbot.wait(50)  # laid out and painted: a rich label would block on the FIFO here
    for label in (view.role_label, window.status_bar.model_label):
        assert label.textFormat() == Qt.TextFormat.PlainText and label.text() == name
        label.grab()  # painted


def test_every_label_shows_fetching_markup_as_text(qtbot: Any, hostile: dict[str, str]) -> None:
    """Any label (all of Hearth's are a Label): a file's name with an image tag on its first line is
    shown as words, not loaded; Hearth's own markup still renders; the next text is judged afresh."""
    from PySide6.QtCore import Qt

    from desktop_app.ui.shared.labels import Label

    picture = hostile["file"]  # 37×23: a QLabel that rendered it would be at least that tall
    hostile_name = f'Delete “<img src="{picture}">”?'
    plain_qt = QLabel(hostile_name)
    qtbot.addWidget(plain_qt)
    assert plain_qt.sizeHint().height() >= 23  # Qt's own label does load it (what Label prevents)
    for _round in range(2):
        label = Label(hostile_name)
        qtbot.addWidget(label)
        assert label.textFormat() == Qt.TextFormat.PlainText and label.text() == hostile_name
        assert label.sizeHint().height() < 23
        label.setText("<b>Hearth's own</b> words")
        assert label.textFormat() == Qt.TextFormat.AutoText
        label.setTextFormat(Qt.TextFormat.RichText)
        label.setText(f'<b>Picked:</b> <img src="{hostile["fifo"]}">')  # rich on purpose, still refused
        assert label.textFormat() == Qt.TextFormat.PlainText
        label.setText("<b>Picked:</b> a model that runs in the background")
        assert label.textFormat() == Qt.TextFormat.RichText
        label.grab()  # painted, nothing read


def test_the_window_makes_no_bare_qlabel() -> None:
    """Every label the window makes is a Label (the check above holds for all of them)."""
    import re

    ui = Path(__file__).resolve().parents[2] / "desktop_app" / "ui"
    made = [
        f"{path.relative_to(ui)}:{number}"
        for path in sorted(ui.rglob("*.py"))
        if path.name != "labels.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"\bQLabel\(|^class \w+\(QLabel\)", line.strip())
    ]
    assert not made, made


def test_a_question_naming_a_hostile_file_shows_it_as_text(qtbot: Any, hostile: dict[str, str]) -> None:
    """A message box asking about a file or a conversation whose name holds an image tag: the
    application's guard makes it plain text before it is first laid out, so nothing is read."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QMessageBox

    from desktop_app.ui.shared.safe_text import install_tooltip_guard

    app = QApplication.instance()
    assert isinstance(app, QApplication)
    guard = install_tooltip_guard(app)
    try:
        for _round in range(2):
            name = f'<img src="{hostile["file"]}">notes.pdf'
            box = QMessageBox(QMessageBox.Icon.Question, "Remove", f"Take “{name}” out of “Papers”?")
            qtbot.addWidget(box)
            box.show()
            qtbot.waitExposed(box)
            label = box.findChild(QLabel, "qt_msgbox_label")
            assert box.textFormat() == Qt.TextFormat.PlainText and label.text() == f"Take “{name}” out of “Papers”?"
            assert label.textFormat() == Qt.TextFormat.PlainText
            box.close()
        own = QMessageBox(QMessageBox.Icon.Information, "Hearth", "<b>Saved</b> in the background.")
        qtbot.addWidget(own)
        own.show()
        qtbot.waitExposed(own)
        assert own.textFormat() == Qt.TextFormat.AutoText  # Hearth's own markup is left alone
        own.close()
    finally:
        app.removeEventFilter(guard)

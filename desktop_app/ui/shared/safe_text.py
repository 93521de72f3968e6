"""Rich-text views that load nothing but Hearth's own resources.

Qt's rich text fetches an ``<img>``'s source by itself, with no click: a QTextBrowser showing
``<img src="/dev/zero">`` reads until memory runs out, a FIFO blocks the GUI thread, and on
Windows ``//host/share/x.png`` connects to another machine with the user's credentials. Text
from a model, a document or a server is never trusted, so it is shown in a
:class:`SafeTextBrowser`: its document (:class:`SafeTextDocument`) answers any address that is
not Hearth's own with empty data, before Qt's own loader (which would open the file) is reached,
and so does the browser's ``loadResource`` (used when navigating).

Hearth's own resources are Qt resources (``qrc:``) and files inside Hearth's resources folder.
An address is judged by its text first, so nothing outside that folder is ever touched.
Tooltips render rich text the same way, and PySide6 does not expose Qt's process-wide resource
provider: :class:`ToolTipGuard` (installed on the application) shows a tooltip whose text holds
markup that loads something (``<img>``, ``<link>``, a background, ``url(…)``) as plain text.
Labels do the same through :class:`~desktop_app.ui.shared.labels.Label`, which every label in the
window is (QLabels set to rich text must still be given outside text escaped, as the sources list does).
"""

from __future__ import annotations

import html
import os
import re
from pathlib import Path
from typing import Any

from PySide6 import QtGui
from PySide6.QtCore import QByteArray, QEvent, QObject, Qt, QUrl
from PySide6.QtGui import QHelpEvent, QImage, QTextDocument
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QLabel,
    QMessageBox,
    QTextBrowser,
    QTextEdit,
    QToolTip,
    QWidget,
)

from desktop_app.core import paths


def is_own_resource(url: QUrl) -> bool:
    """Whether ``url`` names one of Hearth's own resources (qrc:, or a file in resources/)."""
    scheme = url.scheme().lower()
    if scheme == "qrc":
        return True
    if scheme not in ("", "file") or url.host() or url.hasQuery():
        return False  # another scheme, a host (a UNC share), data: … never
    local = url.toLocalFile() if scheme == "file" else url.path()
    if not local or local.startswith(("//", "\\\\")) or "\\" in local:
        return False
    if not os.path.isabs(local):
        return False  # relative: Qt would resolve it against the working folder
    own = os.path.normpath(str(paths.resources_dir().resolve()))
    candidate = os.path.normpath(local)
    if os.path.commonpath([own, candidate]) != own:
        return False  # decided from the text alone: nothing outside is touched
    try:
        real = Path(candidate).resolve(strict=True)
    except (OSError, RuntimeError):
        return False
    return real.is_file() and real.is_relative_to(own)  # a link inside may point elsewhere


def refused(kind: int) -> Any:
    """What a refused address loads as: for an image a blank pixel (an empty or null answer
    makes Qt load the image file itself), for anything else empty data."""
    if kind == QTextDocument.ResourceType.ImageResource.value:
        image = QImage(1, 1, QImage.Format.Format_ARGB32)
        image.fill(0)
        return image
    return QByteArray()


class SafeTextDocument(QTextDocument):
    """A QTextDocument that loads only Hearth's own resources."""

    def loadResource(self, type: int, name: QUrl | str) -> Any:  # noqa: N802 - Qt signature
        if not is_own_resource(QUrl(name)):
            return refused(type)
        return super().loadResource(type, name)


class SafeTextBrowser(QTextBrowser):
    """A QTextBrowser for text Hearth did not write: loads only Hearth's own resources and
    opens no link by itself (whoever shows it handles ``anchorClicked``)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setDocument(SafeTextDocument(self))
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)

    def setDocument(self, document: QTextDocument) -> None:  # noqa: N802 - Qt's name
        if not isinstance(document, SafeTextDocument):
            raise TypeError("a SafeTextBrowser shows only a SafeTextDocument")
        super().setDocument(document)

    def loadResource(self, type: int, name: QUrl | str) -> Any:  # noqa: N802 - Qt signature
        if not is_own_resource(QUrl(name)):
            return refused(type)
        return super().loadResource(type, name)


# Markup that makes Qt's rich text fetch something: an image or a style sheet, an attribute naming
# a source or a background, a CSS url(). ("background" alone is a word, not markup.)
_LOADING_MARKUP = re.compile(
    r"<\s*(?:img|link)\b|\bbackground(?:-image)?\s*[:=]|url\s*\(|\bsrc\s*=", re.IGNORECASE
)


def fetches_resources(text: str, text_format: Qt.TextFormat = Qt.TextFormat.AutoText) -> bool:
    """Whether ``text``, shown in ``text_format``, is rich text holding markup that fetches something."""
    if not text or text_format == Qt.TextFormat.PlainText:
        return False
    rich = text_format != Qt.TextFormat.AutoText or QtGui.Qt.mightBeRichText(text)
    return rich and _LOADING_MARKUP.search(text) is not None


def loads_resources(text: str) -> bool:
    """Whether Qt would read ``text`` as rich text holding markup that fetches something."""
    return fetches_resources(text)


def as_plain_html(text: str) -> str:
    return f"<p style='white-space:pre-wrap'>{html.escape(text)}</p>"


class ToolTipGuard(QObject):
    """An application event filter: a tooltip (a widget's, an item view's, or a passage's in a
    text view) or a message box whose text would fetch a resource is shown as plain text instead."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if event.type() == QEvent.Type.Polish and isinstance(watched, QMessageBox):
            _plain_if_fetching(watched)  # polished before it is first laid out, which would load
            return False
        if event.type() != QEvent.Type.ToolTip or not isinstance(watched, QWidget):
            return False
        assert isinstance(event, QHelpEvent)
        text = _tooltip_text(watched, event)
        if not loads_resources(text):
            return False
        QToolTip.showText(event.globalPos(), as_plain_html(text), watched)
        return True


def _plain_if_fetching(box: QMessageBox) -> None:
    """A message box (a question naming a file or a conversation) shows text that would fetch
    something as plain text: its texts are AutoText labels, like any QLabel."""
    if fetches_resources(box.text(), box.textFormat()) or fetches_resources(box.informativeText()):
        box.setTextFormat(Qt.TextFormat.PlainText)
        for label in box.findChildren(QLabel):
            label.setTextFormat(Qt.TextFormat.PlainText)


def _tooltip_text(widget: QWidget, event: QHelpEvent) -> str:
    owner = widget.parent()
    if isinstance(owner, QAbstractItemView) and widget is owner.viewport():
        return str(owner.indexAt(event.pos()).data(Qt.ItemDataRole.ToolTipRole) or "")
    if isinstance(owner, QTextEdit) and widget is owner.viewport():
        return owner.cursorForPosition(event.pos()).charFormat().toolTip() or widget.toolTip()
    return widget.toolTip()


def install_tooltip_guard(app: QApplication) -> ToolTipGuard:
    guard = ToolTipGuard(app)
    app.installEventFilter(guard)
    return guard

"""Opening an address that leaves this computer, only after the user says so.

Hearth promises that nothing leaves the machine unless the user asks; a link in a model's
answer is the model's words (often made up), so a click shows the full address and asks first.
"""

from __future__ import annotations

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QMessageBox, QWidget

CONFIRM_TITLE = "Open a link outside Hearth?"


def confirm_external_link(parent: QWidget, url: QUrl) -> QMessageBox:
    """Shows (without blocking) a question naming the full address; opens it in the browser
    only when the user chooses Open. Returns the box (tests answer it)."""
    address = url.toString()
    what = "your e-mail program" if url.scheme() == "mailto" else "your web browser"
    box = QMessageBox(parent)
    box.setObjectName("externalLinkBox")
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle(CONFIRM_TITLE)
    box.setText(f"This opens {what} at:\n\n{address}")
    box.setInformativeText("It leaves this computer. The model wrote this link; it may be wrong or made up.")
    open_button = box.addButton("Open", QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)

    def on_finished(_result: int) -> None:
        if box.clickedButton() is open_button:
            QDesktopServices.openUrl(url)

    box.finished.connect(on_finished)
    box.open()
    return box

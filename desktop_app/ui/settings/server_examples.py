"""How to call the local server from a program: its address and ready-to-run examples (curl and
Python's openai package), each with a Copy button. The key itself is never shown again (it was
shown once, when made): the examples read it from an environment variable."""

from __future__ import annotations

import json

from PySide6.QtGui import QFont, QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.ui.shared.labels import Label

KEY_VARIABLE = "HEARTH_API_KEY"
NO_MODEL = "MODEL-NAME"  # shown when no model is loaded: the Chat's model name goes there


def curl_example(base_url: str, model: str, guarded: bool) -> str:
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "Hello!"}]})
    lines = [f"curl {base_url}/chat/completions \\", '  -H "Content-Type: application/json" \\']
    if guarded:
        lines.append(f'  -H "Authorization: Bearer ${KEY_VARIABLE}" \\')
    lines.append(f"  -d '{body}'")
    return "\n".join(lines)


def python_example(base_url: str, model: str, guarded: bool) -> str:
    key = f'os.environ["{KEY_VARIABLE}"]' if guarded else '"none"  # no key needed on this computer'
    lines = ["import os"] if guarded else []
    lines += [
        "from openai import OpenAI  # pip install openai",
        "",
        f'client = OpenAI(base_url="{base_url}", api_key={key})',
        "reply = client.chat.completions.create(",
        f'    model="{model}", messages=[{{"role": "user", "content": "Hello!"}}]',
        ")",
        "print(reply.choices[0].message.content)",
    ]
    return "\n".join(lines)


class ExamplesDialog(QDialog):
    """The address and the two examples, for the model loaded now."""

    def __init__(self, base_url: str, model: str, guarded: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Calling Hearth's server from a program")
        self.copied = ""  # what the last Copy put on the clipboard
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        layout = QVBoxLayout(self)
        intro = Label(
            "Any program that speaks the OpenAI API can use the model loaded in the Chat: give it this "
            "address as its base URL."
            + (
                f" It must send the API key: put it in the {KEY_VARIABLE} environment variable (it was shown "
                "when you made it; make a new one if it is lost)."
                if guarded
                else " No key is needed from this computer."
            )
            + ("" if model != NO_MODEL else f" Load a model in the Chat; its name replaces {NO_MODEL}.")
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.address_edit, address_row = self._copy_row(base_url, mono)
        layout.addLayout(address_row)
        self.curl_view = self._example(layout, "With curl (a terminal)", curl_example(base_url, model, guarded), mono)
        self.python_view = self._example(layout, "With Python", python_example(base_url, model, guarded), mono)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.accept)
        layout.addWidget(buttons)
        self.resize(760, self.sizeHint().height())

    def copy(self, text: str) -> None:
        QGuiApplication.clipboard().setText(text)
        self.copied = text

    def _copy_row(self, text: str, font: QFont) -> tuple[QPlainTextEdit, QHBoxLayout]:
        view = QPlainTextEdit(text)
        view.setReadOnly(True)
        view.setFont(font)
        view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)  # code keeps its lines; scrolls sideways if narrow
        lines = text.count("\n") + 1
        scrollbar = view.horizontalScrollBar().sizeHint().height()
        view.setFixedHeight(view.fontMetrics().lineSpacing() * lines + 2 * view.frameWidth() + 12 + scrollbar)
        button = QPushButton("Copy")
        button.setToolTip("Put it on the clipboard")
        button.clicked.connect(lambda: self.copy(view.toPlainText()))
        row = QHBoxLayout()
        row.addWidget(view, 1)
        row.addWidget(button)
        return view, row

    def _example(self, layout: QVBoxLayout, title: str, text: str, font: QFont) -> QPlainTextEdit:
        layout.addWidget(Label(f"<b>{title}</b>"))
        view, row = self._copy_row(text, font)
        layout.addLayout(row)
        return view

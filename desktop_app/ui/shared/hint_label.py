"""The small grey explanation under a control (the style sheet's ``hintLabel``), wrapped to its box."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel

from desktop_app.ui.shared.labels import Label


def hint_label(text: str = "", wrap: bool = True) -> QLabel:
    label = Label(text)
    label.setObjectName("hintLabel")
    label.setWordWrap(wrap)
    return label

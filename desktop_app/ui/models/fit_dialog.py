"""How a model fits this computer, per device: what its fit badge sums up (Library and Browse)."""

from __future__ import annotations

import sqlite3

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.fit.badges import FitBadge
from desktop_app.core.fit.breakdown import breakdown
from desktop_app.core.units import human_bytes
from desktop_app.ui.shared.labels import Label


def _cell(value: int | None) -> str:
    return "—" if value is None else human_bytes(max(0, value))


class FitDialog(QDialog):
    """The badge's verdict, memory per device (RAM, GPU), the layers' split and the plan's notes."""

    def __init__(self, name: str, badge: FitBadge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("fitDialog")
        self.setWindowTitle(f"How {name} fits this computer")
        self.setMinimumWidth(520)
        layout = QVBoxLayout(self)
        result = badge.result
        heading = f"<b>{name}</b><br>{badge.label}" + (f": {badge.detail}" if badge.detail else "")
        self.verdict_label = Label(heading)
        self.verdict_label.setWordWrap(True)
        self.verdict_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.verdict_label)
        self.table = QTableWidget()
        self.table.setObjectName("fitBreakdown")
        self.notes_label = Label("")
        self.notes_label.setWordWrap(True)
        self.notes_label.setObjectName("hintLabel")
        if result is None:  # an unknown fit: the badge's reason is all there is
            self.table.hide()
            self.layers_label = Label("")
        else:
            shown = breakdown(result)
            columns = ["RAM"] + ([f"GPU ({shown.gpu_name})"] if shown.gpu_name else [])
            self.table.setColumnCount(len(columns))
            self.table.setHorizontalHeaderLabels(columns)
            self.table.setRowCount(len(shown.rows))
            self.table.setVerticalHeaderLabels([row.label for row in shown.rows])
            for r, row in enumerate(shown.rows):
                values = [row.ram] + ([row.gpu] if shown.gpu_name else [])
                for c, value in enumerate(values):
                    item = QTableWidgetItem(_cell(value))
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                    item.setToolTip(row.tip)
                    self.table.setItem(r, c, item)
            self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
            self.table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
            self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
            self.table.setSizeAdjustPolicy(QTableWidget.SizeAdjustPolicy.AdjustToContents)
            self.table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            self.table.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            gpu_full = f"{result.max_ctx_full_gpu:,}" if result.max_ctx_full_gpu else "none"
            self.layers_label = Label(
                f"{shown.layers}. At {result.n_ctx:,} tokens of context, KV cache {result.kv_type}. "
                f"Largest context that fits: {result.max_ctx:,} tokens"
                + (f" (fully on the GPU: {gpu_full})." if shown.gpu_name else ".")
            )
            self.notes_label.setText("\n".join(f"• {note}" for note in result.notes))
        self.layers_label.setWordWrap(True)
        layout.addWidget(self.table)
        layout.addWidget(self.layers_label)
        layout.addWidget(self.notes_label)
        estimate = Label(
            "An estimate from the file's header. Each load in Hearth is measured and kept next to its "
            "estimate. " + _calibration_words()
        )
        estimate.setObjectName("hintLabel")
        estimate.setWordWrap(True)
        layout.addWidget(estimate)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)


def _calibration_words() -> str:
    """How far off the estimate has been here (a small SQLite read of the recorded loads)."""
    from desktop_app.core.errors import HearthError
    from desktop_app.core.fit import calibration

    try:
        return calibration.error_words(calibration.history(limit=50))
    except (HearthError, OSError, sqlite3.Error):
        return ""


def open_fit_dialog(previous: FitDialog | None, name: str, badge: FitBadge, parent: QWidget) -> FitDialog:
    """A model's fit dialog, one at a time: the one open before it is closed."""
    if previous is not None:
        previous.close()
    dialog = FitDialog(name, badge, parent)
    dialog.open()
    return dialog

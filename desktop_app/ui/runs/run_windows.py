"""One window of each kind per run page: shown again if open for the same run, else opened anew."""

from __future__ import annotations

from collections.abc import Callable

import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QMessageBox, QWidget

from desktop_app.core.errors import HearthError


def show_run_window(
    open_windows: dict[str, QDialog], kind: str, run_id: int | None, parent: QWidget, make: Callable[[int], QDialog]
) -> QDialog | None:
    """Raises the open ``kind`` window if it shows ``run_id``; otherwise closes it and opens ``make(run_id)``
    (deleted when closed). A HearthError while making it is shown in plain words."""
    if run_id is None:
        return None
    old = open_windows.get(kind)
    if old is not None and not shiboken6.isValid(old):  # closed, and deleted with it
        old = None
    if old is not None and old.property("run_id") == run_id and old.isVisible():
        old.raise_()
        old.activateWindow()
        return old
    if old is not None:
        old.close()
    try:
        dialog = make(run_id)
    except HearthError as exc:
        QMessageBox.warning(parent, "Cannot open", f"{exc.message}\n\n{exc.hint}".strip())
        return None
    dialog.setProperty("run_id", run_id)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    open_windows[kind] = dialog
    dialog.show()
    return dialog

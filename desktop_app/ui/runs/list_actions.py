"""Keeping the stored runs: delete, rename, import an archive, export (CSV with its manifest,
an archive another Hearth imports, or the manifest alone). The list's and the run page's
buttons call these; the view lists and shows what changed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from desktop_app.core.errors import HearthError
from desktop_app.core.runs import exchange
from desktop_app.core.runs.storage import RunStore
from desktop_app.ui.runs.rename_dialog import RenameDialog
from desktop_app.ui.shared.notice_bar import NoticeBar, NoticeKind

EXPORT_FILTER = "CSV with its manifest (*.csv);;Archive another Hearth can import (*.zip);;Manifest only (*.json)"


class RunListActions(QObject):
    run_changed = Signal(int)  # renamed or imported: list it again and show it
    run_deleted = Signal()

    def __init__(
        self, store: RunStore, notice: NoticeBar, selected: Callable[[], int | None], parent: QWidget
    ) -> None:
        super().__init__(parent)
        self.store = store
        self.notice = notice
        self.selected = selected
        self.window = parent

    @Slot()
    def delete_selected(self) -> None:
        run_id = self.selected()
        if run_id is None:
            return
        answer = QMessageBox.question(self.window, "Delete run", f"Delete run #{run_id} and all its rows?")
        if answer != QMessageBox.StandardButton.Yes:
            return
        self.store.delete(run_id)
        self.run_deleted.emit()

    def ask_rename(self, run_id: int, title: str, note: str) -> None:
        """The rename dialog over the run's ``title`` and ``note``."""
        dialog = RenameDialog(title, note, self.window)
        dialog.accepted.connect(lambda: self.rename(run_id, dialog.title.text(), dialog.note.toPlainText()))
        dialog.open()

    def rename(self, run_id: int, title: str, note: str) -> None:
        try:
            self.store.rename(run_id, title, note)
        except HearthError as exc:
            self.notice.show_notice(exc.message, exc.hint)
            return
        self.run_changed.emit(run_id)

    @Slot()
    def ask_import(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self.window, "Import a run", str(Path.home()), "Hearth run (*.zip)")
        if name:
            self.import_archive(Path(name))

    def import_archive(self, path: Path) -> int | None:
        try:
            run_id = exchange.import_archive(self.store, path)
        except HearthError as exc:
            self.notice.show_notice(exc.message, exc.hint)
            return None
        self.run_changed.emit(run_id)
        return run_id

    @Slot()
    def ask_export(self) -> None:
        run_id = self.selected()
        if run_id is None:
            return
        name, chosen = QFileDialog.getSaveFileName(
            self.window, "Export run", str(Path.home() / f"run-{run_id}.csv"), EXPORT_FILTER
        )
        if not name:
            return
        path = Path(name)
        if not path.suffix:
            path = path.with_suffix(".zip" if "zip" in chosen else ".json" if "json" in chosen else ".csv")
        self.export(run_id, path)

    def export(self, run_id: int, path: Path) -> list[Path]:
        try:
            written = exchange.export(self.store, run_id, path)
        except HearthError as exc:
            self.notice.show_notice(exc.message, exc.hint)
            return []
        self.notice.show_notice("Exported: " + ", ".join(p.name for p in written), kind=NoticeKind.info)
        return written

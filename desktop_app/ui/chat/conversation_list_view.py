"""The conversations: search by text, new, rename, export (Markdown or JSON), delete (after asking)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import (
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QSize,
    QStandardPaths,
    Qt,
    QTimer,
    Signal,
    Slot,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLineEdit,
    QListView,
    QMenu,
    QMessageBox,
    QPushButton,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.conversations import export as conversation_export
from desktop_app.core.conversations.store import ConversationStore
from desktop_app.core.errors import HearthError
from desktop_app.ui.chat.conversation_list_model import ConversationListModel
from desktop_app.ui.shared.item_models import ItemRole
from desktop_app.ui.shared.resources import icon

SEARCH_DELAY_MS = 200
EXPORT_FILTERS = {"md": "Markdown (*.md)", "json": "JSON (*.json)"}


class _FitWidthDelegate(QStyledItemDelegate):
    """Rows as wide as the list, so long titles end in "…" instead of scrolling sideways."""

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:  # noqa: N802
        hint = super().sizeHint(option, index)
        return QSize(1, hint.height())


def default_export_folder() -> Path:
    """The user's Documents folder, else their home: never the working folder (an installed
    app's is its install folder)."""
    documents = Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation) or Path.home())
    return documents if documents.is_dir() else Path.home()


class ConversationListView(QWidget):
    """Emits ``conversation_selected(id)`` and ``new_requested``; renames, exports and deletes
    through the store."""

    conversation_selected = Signal(int)
    new_requested = Signal()
    conversation_deleted = Signal(int)
    conversation_exported = Signal(int, str)  # id, the file written

    def __init__(self, store: ConversationStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("conversationPanel")
        self._store = store
        self._current_id: int | None = None
        self._export_folder: Path | None = None  # where the last export went (this session)
        self._export_format = "md"
        self.model = ConversationListModel(self)

        self.new_button = QPushButton(icon("plus"), "New chat")
        self.new_button.setObjectName("newChatButton")
        self.new_button.setToolTip("Start a new conversation (Ctrl+N)")
        self.new_button.clicked.connect(self._on_new_button_clicked)
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText("Search conversations")
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.addAction(icon("search"), QLineEdit.ActionPosition.LeadingPosition)
        self.search_edit.textChanged.connect(self._on_search_edit_text_changed)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self.refresh)

        self.list_view = QListView()
        self.list_view.setObjectName("conversationList")
        self.list_view.setModel(self.model)
        self.list_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.list_view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list_view.setUniformItemSizes(True)
        self.list_view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list_view.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list_view.setItemDelegate(_FitWidthDelegate(self.list_view))
        self.list_view.customContextMenuRequested.connect(self._on_list_view_context_menu_requested)
        self.list_view.clicked.connect(self._on_list_view_clicked)
        self.list_view.activated.connect(self._on_list_view_clicked)

        self.rename_button = QPushButton(icon("edit"), "")
        self.rename_button.setToolTip("Rename the selected conversation")
        self.rename_button.clicked.connect(self._on_rename_button_clicked)
        self.export_button = QPushButton(icon("export"), "")
        self.export_button.setToolTip("Export the selected conversation with its provenance (Ctrl+Shift+E)")
        self.export_button.clicked.connect(self._on_export_button_clicked)
        self.delete_button = QPushButton(icon("delete"), "")
        self.delete_button.setToolTip("Delete the selected conversation")
        self.delete_button.clicked.connect(self._on_delete_button_clicked)
        actions = QHBoxLayout()
        actions.setContentsMargins(0, 0, 0, 0)
        actions.addStretch(1)
        actions.addWidget(self.rename_button)
        actions.addWidget(self.export_button)
        actions.addWidget(self.delete_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.setSpacing(8)
        layout.addWidget(self.new_button)
        layout.addWidget(self.search_edit)
        layout.addWidget(self.list_view, 1)
        layout.addLayout(actions)
        self.refresh()

    # -- state ------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Reloads the list from the store (with the search text), keeping the selection."""
        self.model.set_conversations(self._store.list(self.search_edit.text()))
        self._select_row(self.model.row_of(self._current_id) if self._current_id is not None else -1)

    def set_current(self, conversation_id: int | None) -> None:
        """Marks the conversation shown (None: a new, not yet saved one) without emitting."""
        self._current_id = conversation_id
        self._select_row(self.model.row_of(conversation_id) if conversation_id is not None else -1)

    def _select_row(self, row: int) -> None:
        selection = self.list_view.selectionModel()
        if row < 0:
            selection.clearSelection()
            self.list_view.setCurrentIndex(QModelIndex())
        else:
            index = self.model.index(row, 0)
            selection.setCurrentIndex(index, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        has_current = self._current_id is not None
        self.rename_button.setEnabled(has_current)
        self.export_button.setEnabled(has_current)
        self.delete_button.setEnabled(has_current)

    # -- actions ------------------------------------------------------------------------------

    def rename(self, conversation_id: int) -> None:
        conversation = self._store.get(conversation_id)
        title, ok = QInputDialog.getText(self, "Rename conversation", "Title:", text=conversation.title)
        if ok and title.strip():
            self._store.rename(conversation_id, title.strip())
            self.refresh()

    def delete(self, conversation_id: int) -> None:
        conversation = self._store.get(conversation_id)
        answer = QMessageBox.question(
            self,
            "Delete conversation",
            f"Delete “{conversation.title}” and all its messages? This cannot be undone.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        self._store.delete(conversation_id)
        if self._current_id == conversation_id:
            self._current_id = None
        self.refresh()
        self.conversation_deleted.emit(conversation_id)

    def export(self, conversation_id: int) -> Path | None:
        """Asks where, then writes the conversation as Markdown or JSON (by the file's suffix)
        with what produced each answer. Returns the file written, or None (cancelled, failed)."""
        try:
            conversation = self._store.get(conversation_id)
        except HearthError as exc:
            self.show_error(exc.message, exc.hint)
            return None
        path = self.ask_export_path(conversation_export.export_file_name(conversation.title, self._export_format))
        if path is None:
            return None
        fmt = conversation_export.format_for(path, self._export_format)
        try:
            written = conversation_export.write_export(self._store, conversation_id, path, fmt)
        except HearthError as exc:
            self.show_error(exc.message, exc.hint)
            return None
        self._export_folder = written.parent
        self._export_format = fmt
        self.conversation_exported.emit(conversation_id, str(written))
        return written

    def ask_export_path(self, default_name: str) -> Path | None:
        """The file to export to, with a .md or .json suffix, or None (tests replace this)."""
        folder = self._export_folder or default_export_folder()
        filters = [EXPORT_FILTERS[self._export_format]] + [
            f for fmt, f in EXPORT_FILTERS.items() if fmt != self._export_format
        ]
        chosen, selected = QFileDialog.getSaveFileName(
            self, "Export conversation", str(folder / default_name), ";;".join(filters), filters[0]
        )
        if not chosen:
            return None
        path = Path(chosen)
        if path.suffix.lower() not in conversation_export.SUFFIXES:  # a name typed without its suffix
            fmt = next((fmt for fmt, f in EXPORT_FILTERS.items() if f == selected), self._export_format)
            path = path.with_name(f"{path.name}.{fmt}")
        return path

    def show_error(self, message: str, hint: str) -> None:
        """Tells the user why the export failed, in plain words (tests replace this)."""
        box = QMessageBox(QMessageBox.Icon.Warning, "Export conversation", message, QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        if hint:
            box.setInformativeText(hint)
        box.open()

    def context_menu(self, conversation_id: int) -> QMenu:
        """Rename…, Export…, Delete… for one conversation."""
        menu = QMenu(self)
        menu.addAction(icon("edit"), "Rename…", lambda: self.rename(conversation_id))
        menu.addAction(icon("export"), "Export…", lambda: self.export(conversation_id))
        menu.addAction(icon("delete"), "Delete…", lambda: self.delete(conversation_id))
        return menu

    # -- slots ----------------------------------------------------------------------------------

    @Slot()
    def _on_new_button_clicked(self) -> None:
        self.new_requested.emit()

    @Slot(str)
    def _on_search_edit_text_changed(self, _text: str) -> None:
        self._search_timer.start()

    def stop_search(self) -> None:
        """The window is closing: a search still waiting for its delay is dropped."""
        self._search_timer.stop()

    @Slot(QModelIndex)
    def _on_list_view_clicked(self, index: QModelIndex) -> None:
        conversation_id = index.data(ItemRole.key)
        if conversation_id is not None and conversation_id != self._current_id:
            self._current_id = int(conversation_id)
            self._select_row(index.row())
            self.conversation_selected.emit(self._current_id)

    @Slot()
    def _on_rename_button_clicked(self) -> None:
        if self._current_id is not None:
            self.rename(self._current_id)

    @Slot()
    def _on_export_button_clicked(self) -> None:
        if self._current_id is not None:
            self.export(self._current_id)

    @Slot()
    def _on_delete_button_clicked(self) -> None:
        if self._current_id is not None:
            self.delete(self._current_id)

    @Slot(QPoint)
    def _on_list_view_context_menu_requested(self, point: QPoint) -> None:
        index = self.list_view.indexAt(point)
        conversation_id = index.data(ItemRole.key) if index.isValid() else None
        if conversation_id is None:
            return
        menu = self.context_menu(int(conversation_id))
        menu.exec(self.list_view.viewport().mapToGlobal(point))
        menu.deleteLater()

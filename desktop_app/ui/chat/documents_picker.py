"""Which document collections the conversation answers from, and whether only from them.

A button under the message box names the attached collections ("Documents: papers ▾")
and opens a menu to tick them; next to it, the "Documents only" switch. The chat view
stores both with the conversation.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QMenu, QToolButton, QWidget

from desktop_app.core.errors import HearthError
from desktop_app.core.rag import retrieve
from desktop_app.core.rag.catalog import CollectionInfo
from desktop_app.core.rag.store import DocumentStore
from desktop_app.core.units import plural
from desktop_app.ui.shared.resources import icon

MAX_NAMES_SHOWN = 2


def button_text(names: Sequence[str]) -> str:
    if not names:
        return "Documents: none ▾"
    shown = ", ".join(names[:MAX_NAMES_SHOWN])
    more = len(names) - MAX_NAMES_SHOWN
    return f"Documents: {shown}" + (f" +{more}" if more > 0 else "") + " ▾"


class DocumentsPicker(QWidget):
    """The attach button and the "Documents only" switch. It only reports what the user
    picks; the chat view decides where it is stored."""

    collections_picked = Signal(list)  # the names now attached
    documents_only_toggled = Signal(bool)
    manage_requested = Signal()  # "Manage collections…": show the Documents section

    def __init__(self, store: DocumentStore | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._store = store or DocumentStore()
        self._available: list[CollectionInfo] = []
        self._selected: list[str] = []
        # The conversation's "documents only" choice; the switch shows it only while documents are
        # attached (ticked with nothing attached, it promised something no answer would do).
        self._only = False

        self.button = QToolButton()
        self.button.setObjectName("documentsButton")
        self.button.setIcon(icon("documents"))
        self.button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.button.setToolTip(
            "Answer from your documents: attach collections to this conversation. The answer cites them as [1], [2]."
        )
        self.menu = QMenu(self)
        self.menu.aboutToShow.connect(self._on_menu_about_to_show)
        self.button.setMenu(self.menu)

        self.only_switch = QCheckBox("Documents only")
        self.only_switch.setObjectName("documentsOnlySwitch")
        self.only_switch.setToolTip(
            "On: the model answers only from the attached documents, and says it does not know when they do "
            "not contain the answer.\nOff: it may add what it knows, marked as not coming from your documents."
        )
        self.only_switch.toggled.connect(self._on_only_switch_toggled)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(10)
        layout.addWidget(self.button)
        layout.addWidget(self.only_switch)
        self.refresh()

    # -- state ---------------------------------------------------------------------------------

    @property
    def selected(self) -> list[str]:
        return list(self._selected)

    @property
    def available(self) -> list[str]:
        return [c.name for c in self._available]

    def readable(self, names: Sequence[str]) -> list[str]:
        """Those of ``names`` that exist and hold passages: what a question can really be asked of."""
        known = {c.name.lower() for c in self._available if c.chunks}
        return [n for n in names if n.lower() in known]

    @property
    def documents_only(self) -> bool:
        return self._only

    def set_state(self, names: Sequence[str], documents_only: bool) -> None:
        """Shows a conversation's attachment (no signal is emitted)."""
        self._selected = list(names)
        self._only = documents_only
        self._update()

    def refresh(self) -> None:
        """Lists the collections again (one was created, renamed or deleted)."""
        try:
            self._available = self._store.list_collections()
        except HearthError:
            self._available = []
        self._rebuild_menu()
        self._update()

    def pick(self, names: Sequence[str]) -> None:
        """Attaches ``names``, as ticking them in the menu does."""
        self._selected = list(names)
        self._update()
        self.collections_picked.emit(list(self._selected))

    def _update(self) -> None:
        """The button's text, the switch, and the ticks (the menu's actions stay: one of
        them may be the one reporting the change)."""
        self.button.setText(button_text(self._selected))
        if self.button.property("attached") != bool(self._selected):
            self.button.setProperty("attached", bool(self._selected))  # the style sheet highlights it
            self.button.style().unpolish(self.button)
            self.button.style().polish(self.button)
        self.only_switch.setEnabled(bool(self._selected))
        self.only_switch.blockSignals(True)
        self.only_switch.setChecked(self._only and bool(self._selected))
        self.only_switch.blockSignals(False)
        chosen = {n.lower() for n in self._selected}
        for action in self.collection_actions():
            action.blockSignals(True)
            action.setChecked(str(action.data()).lower() in chosen)
            action.blockSignals(False)
        self.detach_action.setVisible(bool(self._selected))
        # Attached documents will need their embedding model, vector index and keyword index: load
        # them now, in the background, while the question is typed (retrieve.warm_up).
        for info in self._available:
            if info.chunks and info.name.lower() in chosen:
                retrieve.warm_up(self._store, info)

    def _rebuild_menu(self) -> None:
        self.menu.clear()
        if not self._available:
            empty = self.menu.addAction("No document collections yet")
            empty.setEnabled(False)
        chosen = {n.lower() for n in self._selected}
        for info in self._available:
            files = f"{info.files:,} file{'s' if info.files != 1 else ''}"
            action = QAction(f"{info.name}  ({files})", self.menu)
            action.setCheckable(True)
            action.setChecked(info.name.lower() in chosen)
            action.setData(info.name)
            action.setToolTip(f"{plural(info.chunks, 'passage')} indexed with {info.embed_model}")
            action.toggled.connect(self._on_action_toggled)
            self.menu.addAction(action)
        self.menu.addSeparator()
        self.detach_action = self.menu.addAction("Detach all")
        self.detach_action.triggered.connect(self._on_detach_triggered)
        self.detach_action.setVisible(bool(self._selected))
        manage = self.menu.addAction("Manage collections…")
        manage.triggered.connect(self.manage_requested)

    def collection_actions(self) -> list[QAction]:
        return [a for a in self.menu.actions() if a.isCheckable()]

    # -- slots -----------------------------------------------------------------------------------

    @Slot()
    def _on_menu_about_to_show(self) -> None:
        self.refresh()

    @Slot(bool)
    def _on_action_toggled(self, checked: bool) -> None:
        action = self.sender()
        if not isinstance(action, QAction):
            return
        name = str(action.data())
        names = [n for n in self._selected if n.lower() != name.lower()]
        if checked:
            names.append(name)
        self.pick(names)

    @Slot()
    def _on_detach_triggered(self) -> None:
        self.pick([])

    @Slot(bool)
    def _on_only_switch_toggled(self, checked: bool) -> None:
        self._only = checked
        self.documents_only_toggled.emit(checked)

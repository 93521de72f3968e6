"""The main window: a sidebar of sections, the section shown, and the status bar.

A section is a name and a factory taking the :class:`AppContext`; adding one to
:data:`SECTIONS` is all it takes (its icon is ``resources/icons/<name>.svg`` in
lower case, when there is one). Ctrl+1…Ctrl+n switch between them in order.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSize, Qt, QTimer, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import QHBoxLayout, QListWidget, QListWidgetItem, QMainWindow, QStackedWidget, QWidget

from desktop_app.core.errors import HearthError
from desktop_app.ui.chat.chat_view import ChatView
from desktop_app.ui.compare.view import CompareView
from desktop_app.ui.context import AppContext
from desktop_app.ui.documents.view import DocumentsView
from desktop_app.ui.models.view import ModelsView
from desktop_app.ui.runs.view import RunsView
from desktop_app.ui.settings.view import SettingsView
from desktop_app.ui.shared.about_dialog import AboutDialog
from desktop_app.ui.shared.resources import icon
from desktop_app.ui.shared.status_bar import ModelStatusBar

SectionFactory = Callable[[AppContext], QWidget]

SECTIONS: list[tuple[str, SectionFactory]] = [
    ("Chat", ChatView),
    ("Documents", DocumentsView),
    ("Models", ModelsView),
    ("Compare", CompareView),
    ("Runs", RunsView),
    ("Settings", SettingsView),
]

SIDEBAR_ROW_HEIGHT = 38
SIDEBAR_ICON_COLOR = "#d1d5db"
GEOMETRY_KEY = "window/geometry"
SECTION_KEY = "window/section"


class MainWindow(QMainWindow):
    def __init__(self, context: AppContext | None = None, load_last_model: bool = True) -> None:
        super().__init__()
        self.context = context or AppContext()
        self.setWindowTitle("Hearth")
        self.setMinimumSize(720, 480)

        self.sidebar = QListWidget()
        self.sidebar.setObjectName("sidebar")
        self.sidebar.setIconSize(QSize(20, 20))
        self.sidebar.setFixedWidth(150)
        self.sidebar.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.sidebar.setSpacing(2)
        self.stack = QStackedWidget()
        self.sections: dict[str, QWidget] = {}
        for number, (name, factory) in enumerate(SECTIONS, start=1):
            widget = factory(self.context)
            self.sections[name] = widget
            self.stack.addWidget(widget)
            item = QListWidgetItem(icon(name.lower(), SIDEBAR_ICON_COLOR), name)
            item.setSizeHint(QSize(0, SIDEBAR_ROW_HEIGHT))
            item.setToolTip(f"{name} (Ctrl+{number})" if number <= 9 else name)
            self.sidebar.addItem(item)
            if number <= 9:
                QShortcut(QKeySequence(f"Ctrl+{number}"), self, lambda row=number - 1: self.show_section(row))
        self.sidebar.currentRowChanged.connect(self._on_sidebar_current_row_changed)
        models_view = self.sections.get("Models")
        if isinstance(models_view, ModelsView):  # a finished download or import shows up in the chat's picker
            models_view.library_changed.connect(self.chat.model_picker.refresh)
        documents_view = self.sections.get("Documents")
        if isinstance(documents_view, DocumentsView):  # the chat's list of collections to attach follows
            documents_view.collections_changed.connect(self.chat.refresh_documents)
            self.chat.documents_requested.connect(lambda: self.show_section(list(self.sections).index("Documents")))
        runs_view, compare_view = self.sections.get("Runs"), self.sections.get("Compare")
        if isinstance(runs_view, RunsView) and isinstance(compare_view, CompareView):
            # The quantisation lab's "is Q4_K_M worse than Q8_0 on my task?": the two variants on a dataset.
            compare_view.dataset_comparison_requested.connect(runs_view.prepare_comparison)
            compare_view.dataset_comparison_requested.connect(
                lambda _paths: self.show_section(list(self.sections).index("Runs"))
            )

        central = QWidget()
        layout = QHBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.sidebar)
        layout.addWidget(self.stack, 1)
        self.setCentralWidget(central)
        self.status_bar = ModelStatusBar(self.context)
        self.setStatusBar(self.status_bar)
        self.help_menu = self.menuBar().addMenu("&Help")
        about = self.help_menu.addAction("&About Hearth", lambda: AboutDialog(self).exec())
        about.setMenuRole(QAction.MenuRole.AboutRole)  # macOS puts it in the application menu

        state = self.context.window_state
        geometry = state.value(GEOMETRY_KEY)
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1280, 800)
        section = state.value(SECTION_KEY, 0)
        self.show_section(int(section) if isinstance(section, int | str) and str(section).isdigit() else 0)
        if load_last_model:
            QTimer.singleShot(0, self._load_last_model)

    @property
    def chat(self) -> ChatView:
        view = self.sections["Chat"]
        assert isinstance(view, ChatView)
        return view

    def show_section(self, row: int) -> None:
        if 0 <= row < self.stack.count():
            self.sidebar.setCurrentRow(row)

    def _load_last_model(self) -> None:
        """Loads the model used last time, if its file is still there (the window is already up)."""
        context = self.context
        last = context.settings.last_model
        if not last or context.models.busy or context.models.model is not None:
            return
        path = Path(last)
        if path.is_file():
            context.models.load(path, context.settings.load, context.settings.template_for(path))

    @Slot(int)
    def _on_sidebar_current_row_changed(self, row: int) -> None:
        if row >= 0:
            self.stack.setCurrentIndex(row)
            self.context.window_state.setValue(SECTION_KEY, row)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        for widget in self.sections.values():
            flush = getattr(widget, "flush", None)
            if callable(flush):
                try:
                    flush()
                except HearthError:
                    pass  # e.g. a conversation deleted meanwhile: nothing left to save
        self.context.window_state.setValue(GEOMETRY_KEY, self.saveGeometry())
        self.context.close()
        super().closeEvent(event)

"""The main window: a sidebar of sections, the section shown, and the status bar.

A section is a name and a factory taking the :class:`AppContext`; adding one to
:data:`SECTIONS` is all it takes (its icon is ``resources/icons/<name>.svg`` in
lower case, when there is one). Ctrl+1…Ctrl+n switch between them in order.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from PySide6.QtCore import QSize, Qt, QTimer, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import QHBoxLayout, QListWidget, QListWidgetItem, QMainWindow, QStackedWidget, QWidget

from desktop_app.core.errors import HearthError
from desktop_app.core.models import library
from desktop_app.ui.chat.chat_view import ChatView
from desktop_app.ui.compare.view import CompareView
from desktop_app.ui.context import AppContext
from desktop_app.ui.documents.view import DocumentsView
from desktop_app.ui.models.view import ModelsView
from desktop_app.ui.runs.view import RunsView
from desktop_app.ui.settings.view import SettingsView
from desktop_app.ui.shared.about_dialog import AboutDialog
from desktop_app.ui.shared.resources import icon
from desktop_app.ui.shared.shortcuts_dialog import ShortcutsDialog
from desktop_app.ui.shared.status_bar import ModelStatusBar
from desktop_app.ui.welcome.view import WelcomeView

SectionFactory = Callable[[AppContext], QWidget]
Section = TypeVar("Section", bound=QWidget)

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
FIRST_SIZE = QSize(1280, 800)  # the first window, where the screen has room
FRAME_ROOM = QSize(16, 40)  # the window manager's frame: sides, title bar (unknown before it is shown)


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
        # Whoever adds a model (a download or import in Models, a variant made in Compare) says so on
        # the context, and every list of local models follows without a Refresh.
        self.context.library_changed.connect(self._on_context_library_changed)
        models_view = self.section(ModelsView)
        if models_view is not None:
            models_view.chat_requested.connect(self.chat_with)
            models_view.sign_in_requested.connect(self.show_hub_sign_in)
        compare = self.section(CompareView)
        if compare is not None:
            compare.variant_made.connect(lambda _result: self.context.library_changed.emit(compare))
        documents_view = self.section(DocumentsView)
        if documents_view is not None:  # the chat's list of collections to attach follows
            documents_view.collections_changed.connect(self.chat.refresh_documents)
            self.chat.documents_requested.connect(lambda: self.show_section(list(self.sections).index("Documents")))
        runs_view, compare_view = self.section(RunsView), self.section(CompareView)
        if runs_view is not None and compare_view is not None:
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
        self.chat.conversation_changed.connect(lambda _id: self.status_bar.clear_last_reply())
        self.help_menu = self.menuBar().addMenu("&Help")
        self.help_menu.addAction("&Getting started", self.show_welcome)
        shortcuts = self.help_menu.addAction("&Keyboard shortcuts", lambda: ShortcutsDialog(self).exec())
        shortcuts.setShortcut(QKeySequence(QKeySequence.StandardKey.HelpContents))
        self.help_menu.addAction("Engine &crash log", self.open_engine_crash_log)
        about = self.help_menu.addAction("&About Hearth", lambda: AboutDialog(self).exec())
        about.setMenuRole(QAction.MenuRole.AboutRole)  # macOS puts it in the application menu

        state = self.context.window_state
        geometry = state.value(GEOMETRY_KEY)
        if geometry is None or not self.restoreGeometry(geometry):
            self._first_geometry()
        section = state.value(SECTION_KEY, 0)
        self.show_section(int(section) if isinstance(section, int | str) and str(section).isdigit() else 0)
        self.welcome: WelcomeView | None = None  # built when first shown
        self._section_before_welcome = 0
        if not self.context.settings.welcome_dismissed:
            self.show_welcome()
        if load_last_model:
            QTimer.singleShot(0, self._load_last_model)

    def _first_geometry(self) -> None:
        """1280×800 where the screen has room for it, else the room there is, centred: a first
        window larger than a small laptop's screen hides its status bar and the right of every page."""
        screen = self.screen()
        if screen is None:
            self.resize(FIRST_SIZE)
            return
        room = screen.availableGeometry()
        size = FIRST_SIZE.boundedTo(room.size() - FRAME_ROOM).expandedTo(self.minimumSize())
        self.resize(size)
        spare = room.size() - size - FRAME_ROOM
        self.move(room.x() + max(0, spare.width() // 2), room.y() + max(0, spare.height() // 2))

    @property
    def chat(self) -> ChatView:
        view = self.sections["Chat"]
        assert isinstance(view, ChatView)
        return view

    def section(self, kind: type[Section]) -> Section | None:
        """The section of that class, or None when the window has none."""
        return next((w for w in self.sections.values() if isinstance(w, kind)), None)

    def show_section(self, row: int) -> None:
        if 0 <= row < self.stack.count():
            self.sidebar.setCurrentRow(row)

    def open_engine_crash_log(self) -> bool:
        """Help › Engine crash log: every time the model's engine process ended unasked, with its last
        output. False (and a word in the status bar) when it never has."""
        from PySide6.QtCore import QUrl
        from PySide6.QtGui import QDesktopServices

        from desktop_app.core.inference import engine_crash

        path = engine_crash.log_path()
        if not path.is_file():
            self.statusBar().showMessage("The model's engine has not crashed: there is no crash log.", 8000)
            return False
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))):
            self.statusBar().showMessage(f"The crash log could not be opened: it is {path}", 15000)
        return True

    def show_welcome(self) -> None:
        """The first-run page ("Getting started"), in place of the current section."""
        if self.welcome is None:
            self.welcome = WelcomeView(self.context)
            self.welcome.chat_requested.connect(self.chat_with)
            self.welcome.repo_requested.connect(self._on_welcome_repo_requested)
            self.welcome.closed.connect(lambda: self.show_section(max(0, self._section_before_welcome)))
            self.stack.addWidget(self.welcome)
        else:
            self.welcome.refresh()
        self.welcome.show_start()
        if self.sidebar.currentRow() >= 0:
            self._section_before_welcome = self.sidebar.currentRow()
        self.sidebar.setCurrentRow(-1)  # no section chosen: any click on the sidebar leaves the page
        self.stack.setCurrentWidget(self.welcome)

    def chat_with(self, path: Path) -> None:
        """Shows the chat with ``path`` loaded (loading it unless it is the model loaded)."""
        context = self.context
        loaded = context.models.model
        if loaded is None or loaded.path.resolve() != Path(path).resolve():
            context.models.load(Path(path), context.settings.load, context.settings.template_for(path))
        self.chat.new_conversation()  # "Chat with this model": a conversation of its own, not the last one
        self.show_section(list(self.sections).index("Chat"))

    def show_hub_sign_in(self) -> None:
        """Settings, at the Hugging Face account (a gated repository's "Sign in…")."""
        settings_view = self.section(SettingsView)
        if settings_view is not None:
            self.show_section(list(self.sections).index("Settings"))
            settings_view.show_hub_sign_in()

    @Slot(str)
    def _on_welcome_repo_requested(self, repo_id: str) -> None:
        models_view = self.section(ModelsView)
        if models_view is not None:
            self.show_section(list(self.sections).index("Models"))
            models_view.show_repo(repo_id)

    @Slot(object)
    def _on_context_library_changed(self, _source: object) -> None:
        self.chat.model_picker.refresh()

    def _load_last_model(self) -> None:
        """Loads the model used last time, if its file is still there (the window is already up);
        at the first run, the starter model, so the chat is ready at once."""
        context = self.context
        last = context.settings.last_model
        if not last and not context.settings.welcome_dismissed:
            starter = library.starter_model_path()
            last = str(starter) if starter is not None else ""
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
        if self.welcome is not None:
            self.welcome.shutdown()
        self.context.window_state.setValue(GEOMETRY_KEY, self.saveGeometry())
        self.context.close()
        super().closeEvent(event)

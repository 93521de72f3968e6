"""What every section of the window shares: settings, the conversation store, the model, the
document collections."""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, QSettings, Signal

from desktop_app.core import paths
from desktop_app.core import settings as settings_store
from desktop_app.core.conversations.store import ConversationStore
from desktop_app.core.rag.store import DocumentStore
from desktop_app.core.settings import Settings
from desktop_app.ui.api_server import ApiServerHost
from desktop_app.ui.model_host import ModelHost

WINDOW_STATE_FILE = "window-state.ini"


class AppContext(QObject):
    """Built once per main window, on the GUI thread; sections receive it in their factory.

    ``settings`` is the one live :class:`Settings`: change it, then call
    :meth:`save_settings` so it is written and every view showing it refreshes.
    """

    settings_changed = Signal(object)  # the QObject that made the change (views skip their own echo)
    # A model file was added to or removed from the local models (downloaded, imported, made in
    # Compare): the QObject that did it, so every list of local models follows without a Refresh.
    library_changed = Signal(object)
    hub_account_changed = Signal()  # signed in to or out of Hugging Face

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings: Settings = settings_store.load()
        self.store = ConversationStore()
        self._documents: DocumentStore | None = None
        self._documents_lock = threading.Lock()  # the model thread asks for it too
        self.models = ModelHost(self, documents=lambda: self.documents)
        # Hearth's own OpenAI-compatible server: listens only once the user has turned it on.
        self.server = ApiServerHost(self.models, lambda: self.settings, self)
        if self.settings.server.enabled:
            self.server.apply()
        # Window geometry and splitter positions: a file inside the data folder, so HEARTH_HOME isolates it.
        self.window_state = QSettings(str(paths.home() / WINDOW_STATE_FILE), QSettings.Format.IniFormat, self)

    @property
    def documents(self) -> DocumentStore:
        """The window's one document store (Documents, the chat's picker, Runs): its open Chroma
        handles are cached once. Made on first use; Chroma itself loads when a collection is read."""
        with self._documents_lock:
            if self._documents is None:
                self._documents = DocumentStore()
            return self._documents

    def save_settings(self, source: QObject | None = None) -> None:
        settings_store.save(self.settings)
        self.settings_changed.emit(source)

    def close(self) -> None:
        """Stops the server and the model thread and closes the database. Safe to call twice."""
        self.server.shutdown()
        self.models.shutdown()
        self.window_state.sync()
        self.store.close()

"""The Models section: Browse the Hub, follow Downloads, manage the Library.

Browse: a search box (or a pasted repository id / Hub address, opened directly) with a
sort, the results, and the repository page: its card data and its GGUF files grouped by
quantisation with size and a fit badge per file. The badges come from each file's
header, read remotely on a pool thread; the context-length control recomputes them at
once from the cached headers. Download queues the selected model.

All network and disk work runs off the GUI thread (:mod:`desktop_app.ui.shared.background`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QCoreApplication, QModelIndex, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTabWidget,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core import settings as settings_store
from desktop_app.core.cancel import CancelToken
from desktop_app.core.errors import HearthError
from desktop_app.core.fit.badges import FitBadge
from desktop_app.core.hub import account as hub_account
from desktop_app.core.hub import client as hub_client
from desktop_app.core.hub import recommended
from desktop_app.core.hub.client import ModelFile, RepoPage, RepoSummary
from desktop_app.core.hub.downloads import DownloadItem, DownloadQueue
from desktop_app.core.settings import Settings
from desktop_app.core.units import human_bytes
from desktop_app.ui.models.downloads_service import DownloadService
from desktop_app.ui.models.downloads_tab import DownloadsTab
from desktop_app.ui.models.fit_dialog import FitDialog, open_fit_dialog
from desktop_app.ui.models.item_models import RepoFilesModel, SearchResultsModel
from desktop_app.ui.models.library_tab import LibraryTab, context_spin, rows_table
from desktop_app.ui.shared.background import JobRunner
from desktop_app.ui.shared.item_models import ItemRole
from desktop_app.ui.shared.labels import Label
from desktop_app.ui.shared.notice_bar import NoticeBar, NoticeKind

if TYPE_CHECKING:
    from desktop_app.ui.context import AppContext

SORT_LABELS = {"downloads": "Most downloaded", "likes": "Most liked", "recent": "Recently updated"}


class BrowseTab(QWidget):
    """Search the Hub and look at a repository's GGUF files before downloading one."""

    repo_shown = Signal(object)  # RepoPage
    badges_done = Signal()  # every file of the shown repository has its badge
    download_added = Signal(object)  # list[DownloadItem]
    sign_in_requested = Signal()  # "Sign in to Hugging Face…" beside a gated repository

    def __init__(self, jobs: JobRunner, downloads: DownloadService, n_ctx: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("browseTab")
        self._jobs = jobs
        self._downloads = downloads
        self.page: RepoPage | None = None

        self.search_edit = QLineEdit()
        self.search_edit.setObjectName("hubSearch")
        self.search_edit.setPlaceholderText("Search GGUF models, or paste owner/name or a Hugging Face address")
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.returnPressed.connect(self.search)
        self.sort_combo = QComboBox()
        for key, label in SORT_LABELS.items():
            self.sort_combo.addItem(label, key)
        self.sort_combo.currentIndexChanged.connect(self._on_sort_combo_current_index_changed)
        self.search_button = QPushButton("Search")
        self.search_button.clicked.connect(self.search)
        self.notice = NoticeBar()

        self.results_model = SearchResultsModel(self)
        self.results_view = rows_table("hubResults", self.results_model)
        header = self.results_view.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in (1, 2, 3):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.results_view.selectionModel().currentRowChanged.connect(self._on_results_current_row_changed)
        self.status_label = Label("")
        self.status_label.setObjectName("hintLabel")

        self.title_label = Label("Pick a repository to see its files.")
        self.title_label.setObjectName("repoTitle")
        self.title_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.facts_label = Label("")
        self.facts_label.setWordWrap(True)
        self.facts_label.setTextFormat(Qt.TextFormat.PlainText)
        self.facts_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.gated_label = Label("")
        self.gated_label.setObjectName("gatedNotice")
        self.gated_label.setWordWrap(True)
        self.gated_label.hide()
        self.sign_in_button = QPushButton("Sign in to Hugging Face…")
        self.sign_in_button.setObjectName("hubSignInButton")
        self.sign_in_button.setToolTip("Paste an access token in Settings › Hugging Face account")
        self.sign_in_button.clicked.connect(self.sign_in_requested)
        self.sign_in_button.hide()
        self.fit_dialog: FitDialog | None = None
        self.ctx_spin = context_spin(n_ctx)
        self.ctx_spin.valueChanged.connect(self._on_ctx_spin_value_changed)
        self.files_model = RepoFilesModel(self)
        self.files_view = QTreeView()
        self.files_view.setObjectName("repoFiles")
        self.files_view.setModel(self.files_model)
        self.files_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.files_view.setUniformRowHeights(True)
        files_header = self.files_view.header()
        files_header.setStretchLastSection(False)
        files_header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        files_header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        files_header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.files_view.selectionModel().currentRowChanged.connect(self._on_files_current_row_changed)
        self.files_view.doubleClicked.connect(self._on_files_view_double_clicked)
        self.files_view.clicked.connect(self._on_files_view_clicked)
        self.fit_label = Label("")
        self.fit_label.setObjectName("hintLabel")
        self.download_button = QPushButton("Download")
        self.download_button.setEnabled(False)
        self.download_button.clicked.connect(self.download_selected)

        search_row = QHBoxLayout()
        search_row.addWidget(self.search_edit, 1)
        search_row.addWidget(self.sort_combo)
        search_row.addWidget(self.search_button)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.results_view, 1)
        left_layout.addWidget(self.status_label)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.title_label)
        right_layout.addWidget(self.facts_label)
        gated_row = QHBoxLayout()
        gated_row.addWidget(self.gated_label, 1)
        gated_row.addWidget(self.sign_in_button, 0, Qt.AlignmentFlag.AlignTop)
        right_layout.addLayout(gated_row)
        ctx_row = QHBoxLayout()
        ctx_row.addWidget(Label("Fit at a context of"))
        ctx_row.addWidget(self.ctx_spin)
        ctx_row.addStretch(1)
        right_layout.addLayout(ctx_row)
        right_layout.addWidget(self.files_view, 1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.fit_label, 1)
        bottom.addWidget(self.download_button)
        right_layout.addLayout(bottom)
        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        layout = QVBoxLayout(self)
        layout.addLayout(search_row)
        layout.addWidget(self.notice)
        layout.addWidget(splitter, 1)

        jobs.succeeded.connect(self._on_jobs_succeeded)
        jobs.failed.connect(self._on_jobs_failed)
        jobs.partial.connect(self._on_jobs_partial)
        jobs.finished.connect(self._on_jobs_finished)

    # -- actions (callable from tests) ---------------------------------------------------------

    @property
    def n_ctx(self) -> int:
        return int(self.ctx_spin.value())

    @property
    def sort(self) -> str:
        return str(self.sort_combo.currentData())

    def search(self) -> None:
        text = self.search_edit.text().strip()
        repo_id = hub_client.parse_repo_ref(text) if text else None
        if repo_id is not None and ("/" in text):
            self.open_repo(repo_id)
            return
        sort = self.sort
        self.notice.dismiss()
        self.status_label.setText("Searching…")
        self._jobs.start("search", lambda _cancel, _report: hub_client.search(text, sort=sort))

    def open_repo(self, repo: str) -> None:
        self.notice.dismiss()
        self._jobs.cancel("badges")
        self.title_label.setText(f"Opening {repo}…")
        self.facts_label.setText("")
        self.gated_label.hide()
        self.sign_in_button.hide()
        self.files_model.set_page(None)
        self.page = None
        self._update_buttons()
        self._jobs.start("repo", lambda _cancel, _report: hub_client.open_repo(repo))

    def selected_model(self) -> ModelFile | None:
        index = self.files_view.currentIndex()
        item = index.siblingAtColumn(0).data(ItemRole.item) if index.isValid() else None
        return item if isinstance(item, ModelFile) else None

    def select_model(self, name: str) -> bool:
        index = self.files_model.index_of(name)
        if not index.isValid():
            return False
        self.files_view.setCurrentIndex(index)
        return True

    def show_fit(self, model: ModelFile) -> FitDialog | None:
        """Opens the per-device breakdown behind ``model``'s fit badge (None while its header is read)."""
        badge = self.files_model.badge(model.name)
        if badge is None:
            return None
        self.fit_dialog = open_fit_dialog(self.fit_dialog, model.name, badge, self)
        return self.fit_dialog

    def download_selected(self) -> list[DownloadItem]:
        model = self.selected_model()
        if model is None or self.page is None:
            return []
        try:
            items = self._downloads.queue.add_model(self.page, model)
        except HearthError as exc:
            self.notice.show_notice(exc.message, exc.hint)
            return []
        self._downloads.add(items)
        self.notice.show_notice(f"“{model.name}” ({human_bytes(model.size)}) is in Downloads.", kind=NoticeKind.info)
        self.download_added.emit(items)
        return items

    # -- page ----------------------------------------------------------------------------------

    def _show_page(self, page: RepoPage) -> None:
        self.page = page
        self.title_label.setText(f"<b>{page.repo_id}</b>")
        facts = page.card_facts()
        if page.base_models:
            facts.append(f"based on {', '.join(page.base_models)}")
        facts.append(f"{page.downloads:,} downloads, {page.likes:,} likes")
        openness = recommended.openness_facts(page, recommended.find(page.repo_id))
        self.facts_label.setText(" · ".join(facts) + f"\n{openness}")
        self.gated_label.setText(page.gated_message)
        self.gated_label.setVisible(bool(page.gated))
        if page.gated:
            account = hub_account.current()
            self.sign_in_button.setText("Hugging Face account…" if account.signed_in else "Sign in to Hugging Face…")
            if account.signed_in:  # the token is there: what is left is the account's access
                who = f" as {account.name}" if account.name else ""
                self.gated_label.setText(
                    f"“{page.repo_id}” is gated. Hearth is signed in{who}: its files open if that account "
                    f"has accepted the terms on {page.url}."
                )
        self.sign_in_button.setVisible(bool(page.gated))
        self.files_model.set_page(page)
        self.files_view.expandAll()
        if not page.models:
            self.fit_label.setText("This repository has no GGUF model files.")
        elif page.refused:
            self.fit_label.setText(f"Not listed (unsafe file names): {', '.join(page.refused)}")
        else:
            self.fit_label.setText("Reading the files' headers to see how they fit…")
        self._update_buttons()
        self.repo_shown.emit(page)
        if page.models:
            self._start_badges(page)

    def _start_badges(self, page: RepoPage) -> None:
        n_ctx = self.n_ctx

        def work(cancel: CancelToken, report: Callable[[Any], None]) -> dict[str, FitBadge]:
            return hub_client.badges(
                page, n_ctx, cancel=cancel, on_badge=lambda model, badge: report((model.name, badge))
            )

        self._jobs.start("badges", work)

    def _recompute_badges(self) -> None:
        page = self.page
        if page is None:
            return
        for model in self.files_model.models():
            badge = hub_client.cached_badge(page, model, self.n_ctx)
            if badge is not None:
                self.files_model.set_badge(model.name, badge)
        self._show_selected_fit()

    def _show_selected_fit(self) -> None:
        model = self.selected_model()
        if model is None:
            return
        badge = self.files_model.badge(model.name)
        if badge is None:
            self.fit_label.setText(f"{model.name}: reading its header…")
        else:
            detail = f" ({badge.detail})" if badge.detail else ""
            self.fit_label.setText(f"{model.name} at {self.n_ctx:,} tokens: {badge.label}{detail}")

    def _update_buttons(self) -> None:
        self.download_button.setEnabled(self.page is not None and self.selected_model() is not None)

    # -- reactions -----------------------------------------------------------------------------

    @Slot(str, object)
    def _on_jobs_succeeded(self, kind: str, result: object) -> None:
        if kind == "search":
            assert isinstance(result, list)
            self.results_model.set_results(result)
            self.status_label.setText(f"{len(result)} repositories" if result else "No GGUF repositories match.")
        elif kind == "repo":
            assert isinstance(result, RepoPage)
            self._show_page(result)
        elif kind == "badges":
            self._recompute_badges()  # the context may have changed while headers were read
            self.badges_done.emit()

    @Slot(str, str, str)
    def _on_jobs_failed(self, kind: str, message: str, hint: str) -> None:
        if kind == "search":
            self.status_label.setText("")
            self.notice.show_notice(message, hint)
        elif kind == "repo":
            self.title_label.setText("Pick a repository to see its files.")
            self.notice.show_notice(message, hint)
        elif kind == "badges":
            self.fit_label.setText("")
            self.notice.show_notice(message, hint)

    @Slot(str, object)
    def _on_jobs_partial(self, kind: str, piece: object) -> None:
        if kind != "badges" or self.page is None:
            return
        assert isinstance(piece, tuple)
        name, badge = piece
        model = next((m for m in self.files_model.models() if m.name == name), None)
        current = hub_client.cached_badge(self.page, model, self.n_ctx) if model is not None else None
        self.files_model.set_badge(name, current or badge)
        self._show_selected_fit()

    @Slot(str)
    def _on_jobs_finished(self, kind: str) -> None:
        if kind == "badges" and self.selected_model() is None and self.page is not None:
            self.fit_label.setText("Pick a file to download.")

    @Slot(QModelIndex, QModelIndex)
    def _on_results_current_row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        item = self.results_model.result_at(current.row()) if current.isValid() else None
        if isinstance(item, RepoSummary):
            self.open_repo(item.repo_id)

    @Slot(QModelIndex, QModelIndex)
    def _on_files_current_row_changed(self, _current: QModelIndex, _previous: QModelIndex) -> None:
        self._update_buttons()
        self._show_selected_fit()

    @Slot(QModelIndex)
    def _on_files_view_double_clicked(self, index: QModelIndex) -> None:
        if isinstance(index.siblingAtColumn(0).data(ItemRole.item), ModelFile):
            self.download_selected()

    @Slot(QModelIndex)
    def _on_files_view_clicked(self, index: QModelIndex) -> None:
        item = index.siblingAtColumn(0).data(ItemRole.item)
        if index.column() == RepoFilesModel.FIT_COLUMN and isinstance(item, ModelFile):
            self.show_fit(item)

    @Slot(int)
    def _on_sort_combo_current_index_changed(self, _index: int) -> None:
        if self.results_model.rowCount() and hub_client.parse_repo_ref(self.search_edit.text()) is None:
            self.search()

    @Slot(int)
    def _on_ctx_spin_value_changed(self, _value: int) -> None:
        self._recompute_badges()


class ModelsView(QWidget):
    """The Models section. ``context`` is the window's AppContext (None: settings from disk).

    Call :meth:`shutdown` (or :meth:`flush`, which the main window calls on close) before it
    goes: it stops the jobs and the download thread; a running download continues at the
    next start.
    """

    library_changed = Signal()  # a model was downloaded, imported, deleted or removed from the list
    chat_requested = Signal(object)  # Path: the Library's "Chat with this model"
    sign_in_requested = Signal()  # a gated repository's "Sign in to Hugging Face…"

    def __init__(
        self,
        context: AppContext | None = None,
        parent: QWidget | None = None,
        *,
        queue: DownloadQueue | None = None,
        library_home: Path | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("modelsView")
        self._context = context
        self._own_settings: Settings | None = None if context is not None else settings_store.load()
        n_ctx = self.settings().load.n_ctx

        self.jobs = JobRunner(self)
        self.downloads = DownloadService(queue, self)
        self.browse = BrowseTab(self.jobs, self.downloads, n_ctx)
        self.downloads_tab = DownloadsTab(self.downloads)
        self.library = LibraryTab(self.jobs, self.settings, self.save_settings, n_ctx, home=library_home)

        title = Label("Models")
        title.setObjectName("sectionTitle")
        self.tabs = QTabWidget()
        self.tabs.setObjectName("modelsTabs")
        self.tabs.addTab(self.browse, "Browse")
        self.tabs.addTab(self.downloads_tab, "Downloads")
        self.tabs.addTab(self.library, "Library")
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(self.tabs, 1)

        self.browse.download_added.connect(self._on_browse_download_added)
        self.downloads.item_finished.connect(self._on_downloads_item_finished)
        self.library.library_changed.connect(self.library_changed)
        self.library.chat_requested.connect(self.chat_requested)
        self.browse.sign_in_requested.connect(self.sign_in_requested)
        self.downloads.item_changed.connect(self._on_downloads_item_changed)
        self._listed_paths = list(self.settings().extra_model_paths)
        if context is not None:
            # Other sections add models too (a file opened in Chat, a variant made in Compare).
            self.library_changed.connect(self._on_library_changed)
            context.library_changed.connect(self._on_context_library_changed)
            context.settings_changed.connect(self._on_context_settings_changed)
            context.hub_account_changed.connect(self._on_context_hub_account_changed)
        self._shut_down = False
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)
        self.library.refresh()
        self._update_downloads_tab_title()

    def settings(self) -> Settings:
        if self._context is not None:
            return self._context.settings
        assert self._own_settings is not None
        return self._own_settings

    def save_settings(self) -> None:
        if self._context is not None:
            self._context.save_settings(self)
        else:
            assert self._own_settings is not None
            settings_store.save(self._own_settings)

    def show_repo(self, repo_id: str) -> None:
        """Opens ``repo_id``'s page in Browse (the first-run page's recommended models)."""
        self.tabs.setCurrentWidget(self.browse)
        self.browse.search_edit.setText(repo_id)
        self.browse.open_repo(repo_id)

    def flush(self) -> None:
        """Called by the main window when it closes."""
        self.shutdown()

    def shutdown(self) -> None:
        if self._shut_down:
            return
        self._shut_down = True
        self.jobs.shutdown()
        self.downloads.shutdown()

    def _update_downloads_tab_title(self) -> None:
        active = [i for i in self.downloads.queue.items() if i.state.active]
        self.tabs.setTabText(1, f"Downloads ({len(active)})" if active else "Downloads")

    @Slot(object)
    def _on_browse_download_added(self, items: list[DownloadItem]) -> None:
        if items:
            self.downloads_tab.select(items[0].id)

    @Slot(object)
    def _on_downloads_item_finished(self, _item: DownloadItem) -> None:
        self.library.refresh()
        self.library_changed.emit()

    @Slot()
    def _on_library_changed(self) -> None:
        if self._context is not None:
            self._context.library_changed.emit(self)

    @Slot(object)
    def _on_context_library_changed(self, source: object) -> None:
        if source is not self:
            self.library.refresh()

    @Slot(object)
    def _on_context_settings_changed(self, source: object) -> None:
        listed = list(self.settings().extra_model_paths)
        if listed != self._listed_paths:  # e.g. a file opened in Chat is remembered there
            self._listed_paths = listed
            if source is not self:
                self.library.refresh()

    @Slot()
    def _on_context_hub_account_changed(self) -> None:
        page = self.browse.page
        if page is not None and page.gated:  # its files may be readable now
            self.browse.open_repo(page.repo_id)

    @Slot(object)
    def _on_downloads_item_changed(self, _item: DownloadItem) -> None:
        self._update_downloads_tab_title()

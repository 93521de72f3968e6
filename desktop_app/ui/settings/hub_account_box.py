"""Settings → Hugging Face account: sign in with an access token (for gated models such as Llama
and Gemma), see who is signed in, sign out. The token is kept where huggingface_hub keeps it;
the Hub is asked only when the user signs in or presses Check."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QTimer, QUrl, Slot
from PySide6.QtGui import QDesktopServices, QShowEvent
from PySide6.QtWidgets import (
    QApplication,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.cancel import CancelToken
from desktop_app.core.hub.account import Account
from desktop_app.ui.context import AppContext
from desktop_app.ui.shared.background import JobRunner
from desktop_app.ui.shared.hint_label import hint_label
from desktop_app.ui.shared.labels import Label


class HubAccountBox(QGroupBox):
    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__("Hugging Face account", parent)
        self.setObjectName("hubAccountBox")
        # The group holds the focus while its fields are disabled: a disabled focused field hands the
        # focus down the chain, and the Settings page scrolled to wherever it landed (the top).
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self._context = context
        self.account: Account | None = None  # read when first shown (it loads huggingface_hub)
        self.status_label = Label("")
        self.status_label.setObjectName("hubAccountStatus")
        self.status_label.setWordWrap(True)
        self.token_edit = QLineEdit()
        self.token_edit.setObjectName("hubTokenEdit")
        self.token_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.token_edit.setPlaceholderText("Paste an access token (hf_…)")
        self.token_edit.returnPressed.connect(self.sign_in)
        self.sign_in_button = QPushButton("Sign in")
        self.sign_in_button.clicked.connect(self.sign_in)
        self.sign_out_button = QPushButton("Sign out")
        self.sign_out_button.clicked.connect(self.sign_out)
        self.check_button = QPushButton("Check")
        self.check_button.setToolTip("Ask Hugging Face whose token this is")
        self.check_button.clicked.connect(self.check)
        self.tokens_link = hint_label()
        self.tokens_link.setTextFormat(Qt.TextFormat.RichText)
        self.tokens_link.linkActivated.connect(self._on_tokens_link_activated)
        self.error_label = Label("")
        self.error_label.setStyleSheet("color: #cf222e;")
        self.error_label.setWordWrap(True)
        self.error_label.hide()

        token_row = QHBoxLayout()
        token_row.addWidget(self.token_edit, 1)
        token_row.addWidget(self.sign_in_button)
        account_row = QHBoxLayout()
        account_row.addWidget(self.status_label, 1)
        account_row.addWidget(self.check_button, 0, Qt.AlignmentFlag.AlignTop)
        account_row.addWidget(self.sign_out_button, 0, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.addLayout(account_row)
        layout.addLayout(token_row)
        layout.addWidget(self.error_label)
        layout.addWidget(self.tokens_link)

        self._jobs = JobRunner(self, max_threads=1)
        self._jobs.succeeded.connect(self._on_jobs_succeeded)
        self._jobs.failed.connect(self._on_jobs_failed)
        self._jobs.finished.connect(self._on_jobs_finished)

    # -- actions (callable from tests) ---------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._jobs.busy("account")

    def refresh(self) -> None:
        """Shows the sign-in as this computer has it (reads the token file; asks the Hub nothing)."""
        from desktop_app.core.hub import account

        self._show(account.current())

    def sign_in(self) -> None:
        from desktop_app.core.hub import account

        token = self.token_edit.text()
        self._start("Checking the token with Hugging Face…", lambda: account.sign_in(token))

    def sign_out(self) -> None:
        from desktop_app.core.hub import account

        self._start("Signing out…", account.sign_out)

    def check(self) -> None:
        from desktop_app.core.hub import account

        self._start("Asking Hugging Face…", account.check)

    def focus_sign_in(self) -> None:
        """Shown from a gated repository's "Sign in to Hugging Face…"."""
        if self.account is None:
            self.refresh()
        self.token_edit.setFocus()

    def shutdown(self) -> None:
        self._jobs.shutdown()

    # -- reactions -----------------------------------------------------------------------------

    def _start(self, doing: str, work: Callable[[], Account]) -> None:
        self.error_label.hide()
        self.status_label.setText(doing)
        focused = QApplication.focusWidget()
        if focused is not None and self.isAncestorOf(focused):
            self.setFocus(Qt.FocusReason.OtherFocusReason)
        for widget in (self.token_edit, self.sign_in_button, self.sign_out_button, self.check_button):
            widget.setEnabled(False)

        def job(_cancel: CancelToken, _report: Callable[[Any], None]) -> Account:
            return work()

        self._jobs.start("account", job)

    def _show(self, account: Account) -> None:
        from desktop_app.core.hub.account import TOKENS_PAGE
        from desktop_app.core.hub.client import endpoint

        self.account = account
        self.status_label.setText(account.summary)
        signed_in = account.signed_in
        self.token_edit.setVisible(not signed_in)
        self.sign_in_button.setVisible(not signed_in)
        self.sign_out_button.setVisible(signed_in and not account.from_environment)
        self.check_button.setVisible(signed_in and not account.name)
        for widget in (self.token_edit, self.sign_in_button, self.sign_out_button, self.check_button):
            widget.setEnabled(True)
        where = f"Kept in {account.token_file}, shared with huggingface_hub and the hf command."
        if signed_in:
            self.tokens_link.setText(where)
        else:
            url = f"{endpoint()}{TOKENS_PAGE}"
            self.tokens_link.setText(
                f"Gated models (Llama, Gemma…) need a token: create one (read access is enough) at "
                f"<a href='{url}'>{url}</a>, and accept each model's terms on its page. {where}"
            )

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self.account is None:
            self.refresh()

    @Slot(str, object)
    def _on_jobs_succeeded(self, _kind: str, account: object) -> None:
        assert isinstance(account, Account)
        changed = self.account is None or (account.signed_in, account.name) != (
            self.account.signed_in,
            self.account.name,
        )
        self.token_edit.clear()
        self._show(account)
        self._reveal(self.status_label)
        if changed:
            self._context.hub_account_changed.emit()

    @Slot(str, str, str)
    def _on_jobs_failed(self, _kind: str, message: str, hint: str) -> None:
        self.refresh()
        self.error_label.setText(f"{message} {hint}".strip())
        self.error_label.show()
        self._reveal(self.error_label)

    @Slot(str)
    def _on_jobs_finished(self, _kind: str) -> None:
        for widget in (self.token_edit, self.sign_in_button, self.sign_out_button, self.check_button):
            widget.setEnabled(True)
        if self.hasFocus():  # back where the next step is, without scrolling the page
            following = self.token_edit if self.token_edit.isVisible() else self.sign_out_button
            if following.isVisible():
                following.setFocus(Qt.FocusReason.OtherFocusReason)

    def _reveal(self, label: QLabel) -> None:
        """Scrolls the page (if it must) so that ``label``, just changed, is in sight once laid out."""
        area = self.parentWidget()
        while area is not None and not isinstance(area, QScrollArea):
            area = area.parentWidget()
        if isinstance(area, QScrollArea):
            scroll_area = area
            QTimer.singleShot(0, lambda: scroll_area.ensureWidgetVisible(label, 0, 24))

    @Slot(str)
    def _on_tokens_link_activated(self, url: str) -> None:
        QDesktopServices.openUrl(QUrl(url))  # the user clicked it: their browser, their choice

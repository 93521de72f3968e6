"""Opening a cited document in the system's viewer, at its page where the platform allows."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices

from desktop_app.core import pdf_pages

log = logging.getLogger(__name__)

# PDF viewers that honour "#page=N" on a file URL: the browsers Windows and macOS open PDFs
# with by default do; on Linux, xdg-open treats the fragment as part of the file name.
PAGE_FRAGMENT_PLATFORMS = ("win32", "darwin")


def source_url(path: str, page: int | None = None) -> QUrl:
    """The URL that opens ``path`` (at ``page`` for a PDF, where the platform allows it)."""
    url = QUrl.fromLocalFile(str(path))
    if page and str(path).lower().endswith(".pdf") and sys.platform in PAGE_FRAGMENT_PLATFORMS:
        url.setFragment(f"page={page}")
    return url


def open_source(path: str, page: int | None = None) -> bool:
    """Opens a document in the system's viewer. False (and a log line) when it cannot."""
    if not Path(path).exists():
        log.warning("Cannot open %s: the file is gone", path)
        return False
    is_pdf = path.lower().endswith(".pdf")
    if page and is_pdf and sys.platform.startswith("linux") and pdf_pages.open_at_page(path, page):
        return True  # xdg-open has no page argument: the default viewer was started at the page
    opened = QDesktopServices.openUrl(source_url(path, page))
    if not opened:
        log.warning("No application opened %s", path)
    return bool(opened)

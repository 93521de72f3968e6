"""Icons and the style sheet from the repository's (or installer's) resources folder."""

from __future__ import annotations

import functools
import logging

from PySide6.QtGui import QIcon

from desktop_app.core import paths

log = logging.getLogger(__name__)

STYLE_SHEET = "style.qss"


@functools.cache
def icon(name: str) -> QIcon:
    """``resources/icons/<name>.svg``, or an empty icon (and a log line) when missing."""
    path = paths.resources_dir() / "icons" / f"{name}.svg"
    if not path.is_file():
        log.warning("Missing icon %s", path)
        return QIcon()
    return QIcon(str(path))


def style_sheet() -> str:
    path = paths.resources_dir() / STYLE_SHEET
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        log.warning("No style sheet (%s): using the platform look", exc)
        return ""

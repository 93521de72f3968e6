"""Icons and the style sheet from the repository's (or installer's) resources folder."""

from __future__ import annotations

import functools
import logging
import re

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QIcon, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer

from desktop_app.core import paths

log = logging.getLogger(__name__)

STYLE_SHEET = "style.qss"


ICON_COLOR = "#4b5563"  # the stroke colour the SVG files are drawn in
_ICON_RENDER_PX = 64


@functools.cache
def icon(name: str, color: str = "") -> QIcon:
    """``resources/icons/<name>.svg`` (drawn in ``color`` if given), or an empty icon and a
    log line when the file is missing."""
    path = paths.resources_dir() / "icons" / f"{name}.svg"
    if not path.is_file():
        log.warning("Missing icon %s", path)
        return QIcon()
    if not color:
        return QIcon(str(path))
    svg = path.read_text(encoding="utf-8").replace(ICON_COLOR, color)
    renderer = QSvgRenderer(QByteArray(svg.encode("utf-8")))
    pixmap = QPixmap(_ICON_RENDER_PX, _ICON_RENDER_PX)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    renderer.render(painter)
    painter.end()
    return QIcon(pixmap)


def style_sheet() -> str:
    """The style sheet, with ``url(@icons/x.svg)`` made into the icon's absolute path, quoted: an
    installer unpacked into a folder such as ``R&D 100%`` or ``My Apps`` has spaces and symbols
    in that path, which break an unquoted url() and with it the whole style sheet."""
    path = paths.resources_dir() / STYLE_SHEET
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        log.warning("No style sheet (%s): using the platform look", exc)
        return ""
    icons = (paths.resources_dir() / "icons").as_posix()

    def quoted(match: re.Match[str]) -> str:
        target = f"{icons}/{match.group(1)}".replace("\\", "\\\\").replace('"', '\\"')
        return f'url("{target}")'

    return re.sub(r"url\(\s*@icons/([^)\s]+)\s*\)", quoted, text)

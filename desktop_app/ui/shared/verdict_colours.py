"""The colour of each fit verdict, wherever a fit badge is drawn (Models, the first-run page)."""

from __future__ import annotations

from PySide6.QtGui import QColor

from desktop_app.core.fit.result import Verdict

BADGE_COLOURS = {
    Verdict.FULL_GPU: QColor("#1a7f37"),
    Verdict.PARTIAL_GPU: QColor("#9a6700"),
    Verdict.CPU: QColor("#0969da"),
    Verdict.TOO_LARGE: QColor("#cf222e"),
    Verdict.UNKNOWN: QColor("#6e7781"),
}

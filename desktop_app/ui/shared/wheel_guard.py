"""Fields on a scrolling page take the mouse wheel only once focused (clicked or tabbed to):
scrolling the page past a spin box or a drop-down must move the page, not change the setting
under the pointer on its way."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QAbstractSpinBox, QApplication, QComboBox, QScrollArea, QSlider, QWidget


class _WheelGuard(QObject):
    def __init__(self, area: QScrollArea) -> None:
        super().__init__(area)
        self._area = area

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() != QEvent.Type.Wheel or not isinstance(watched, QWidget) or watched.hasFocus():
            return False
        assert isinstance(event, QWheelEvent)
        # Handed to the page itself (Qt passes an ignored wheel event on only when it came from
        # the system, so passing it on is not left to Qt).
        viewport = self._area.viewport()
        moved = QWheelEvent(
            viewport.mapFromGlobal(event.globalPosition()), event.globalPosition(), event.pixelDelta(),
            event.angleDelta(), event.buttons(), event.modifiers(), event.phase(), event.inverted(),
        )  # fmt: skip
        QApplication.sendEvent(viewport, moved)
        return True


def guard_fields(area: QScrollArea) -> None:
    """Guards the fields now on ``area``'s page (again, harmlessly, for those already guarded)."""
    page = area.widget()
    if page is None:
        return
    guard = area.findChild(_WheelGuard) or _WheelGuard(area)
    for kind in (QAbstractSpinBox, QComboBox, QSlider):
        for field in page.findChildren(kind):
            # A wheel would otherwise give them focus first (Qt's default WheelFocus).
            field.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            field.installEventFilter(guard)

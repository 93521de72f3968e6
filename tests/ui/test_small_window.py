"""The window at 1024×700, a small laptop's: Settings and Compare fit without sideways scrolling."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QApplication


def _show(qtbot: Any, window: Any, name: str) -> Any:
    window.show_section(list(window.sections).index(name))
    view = window.sections[name]
    qtbot.waitUntil(view.isVisible)
    QApplication.processEvents()
    return view


def test_settings_and_compare_fit_a_small_window(qtbot: Any, window: Any) -> None:
    window.resize(1024, 700)
    qtbot.waitUntil(lambda: window.width() == 1024)

    settings = _show(qtbot, window, "Settings")
    qtbot.waitUntil(lambda: settings.one_column)
    assert settings.horizontalScrollBar().maximum() == 0  # nothing hidden to the right
    assert settings.widget().width() <= settings.viewport().width()

    compare = _show(qtbot, window, "Compare")
    qtbot.waitUntil(lambda: compare.results.charts.stacked)
    assert compare.geometry().right() <= window.stack.geometry().width()
    assert compare.results.charts.size_chart.width() <= compare.results.charts.width()

    window.resize(1600, 1000)
    qtbot.waitUntil(lambda: not settings.one_column or not settings.isVisible())
    _show(qtbot, window, "Settings")
    qtbot.waitUntil(lambda: not settings.one_column)  # room again: two columns

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


def test_a_first_window_fits_the_screen_and_the_next_start_keeps_its_size(
    qtbot: Any, gui_settings: Any, no_dangling_qthreads: None
) -> None:
    """No saved geometry: the first window is 1280×800 where there is room, else the screen's room,
    centred (this offscreen screen is 800×800). A size the user chose is kept at the next start."""
    from desktop_app.ui.main_window import MainWindow

    first = MainWindow(load_last_model=False)
    qtbot.addWidget(first)
    first.show()
    qtbot.waitExposed(first)
    room = first.screen().availableGeometry()
    assert room.width() < 1280  # the case under test: a screen smaller than the usual first window
    frame = first.frameGeometry()
    assert room.contains(frame), (room, frame)  # the title bar and the status bar on the screen
    assert abs(frame.center().x() - room.center().x()) <= 8
    first.resize(760, 640)
    qtbot.waitUntil(lambda: first.width() == 760)
    first.close()

    again = MainWindow(load_last_model=False)
    qtbot.addWidget(again)
    again.show()
    qtbot.waitExposed(again)
    assert (again.width(), again.height()) == (760, 640)
    again.close()

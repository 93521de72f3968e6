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


def _wheel(widget: Any, notches: int) -> None:
    """One turn of the mouse wheel over ``widget`` (negative: towards the user, scrolling down)."""
    from PySide6.QtCore import QPoint, QPointF, Qt
    from PySide6.QtGui import QWheelEvent

    local = QPointF(widget.rect().center())
    event = QWheelEvent(
        local, QPointF(widget.mapToGlobal(local.toPoint())), QPoint(), QPoint(0, 120 * notches),
        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False,
    )  # fmt: skip
    QApplication.sendEvent(widget, event)


def test_scrolling_settings_past_a_field_moves_the_page_not_the_setting(qtbot: Any, window: Any) -> None:
    """At 1024×700 Settings scrolls; the wheel over a spin box or drop-down it passes leaves the
    setting alone (it changed Top-k on its way). Clicked into, the field takes the wheel again."""
    from PySide6.QtWidgets import QComboBox, QSpinBox

    window.resize(1024, 700)
    qtbot.waitUntil(lambda: window.width() == 1024)
    settings = _show(qtbot, window, "Settings")
    bar = settings.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0)
    fields = settings.widget()
    spin = next(f for f in fields.findChildren(QSpinBox) if f.isEnabled() and f.value() < f.maximum())
    combo = next(f for f in fields.findChildren(QComboBox) if f.isEnabled() and f.currentIndex() < f.count() - 1)
    for field, state in ((spin, spin.value), (combo, combo.currentIndex)):
        settings.ensureWidgetVisible(field)
        bar.setValue(max(0, bar.value() - 40))  # room to scroll down
        QApplication.processEvents()
        before, top = state(), bar.value()
        _wheel(field, -1)
        QApplication.processEvents()
        assert state() == before
        assert bar.value() > top  # the page moved instead

    # Clicked into, a field takes the wheel (the drop-downs' changes start work; one field shows it).
    before = spin.value()
    spin.setFocus()
    qtbot.waitUntil(spin.hasFocus)
    _wheel(spin, 1)
    QApplication.processEvents()
    assert spin.value() == before + spin.singleStep()


def test_documents_actions_stack_in_a_narrow_pane_and_none_is_clipped(qtbot: Any, window: Any) -> None:
    """The six collection buttons fit the details pane: one row in a wide window, two at 1024×700
    (where "Embedding model…" was clipped between its neighbours)."""
    details = _show(qtbot, window, "Documents").details
    buttons = [details.add_files_button, details.add_folder_button, details.remove_button,
               details.update_button, details.model_button, details.rebuild_button]  # fmt: skip

    def assert_all_shown() -> None:
        QApplication.processEvents()
        for i, button in enumerate(buttons):
            assert button.width() >= button.sizeHint().width(), button.text()  # its whole label
            assert button.x() >= 0 and button.geometry().right() <= details.width(), button.text()
            for other in buttons[i + 1 :]:
                assert not button.geometry().intersects(other.geometry()), (button.text(), other.text())

    for size, stacked in (((1600, 1000), False), ((1024, 700), True), ((1600, 1000), False)):
        window.resize(*size)
        qtbot.waitUntil(lambda size=size: window.width() == size[0])
        qtbot.waitUntil(lambda stacked=stacked: details.actions_stacked == stacked)
        assert_all_shown()
        if not stacked:  # one row, the two groups together: the room left is after them
            gap = details.update_button.x() - details.remove_button.geometry().right()
            assert gap < 3 * details.remove_button.width() // 2, gap

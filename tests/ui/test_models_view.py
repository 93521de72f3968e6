"""The Models section (offscreen): browsing the Hub stand-in (tests/hubstub.py, since the real Hub
is not reachable here), downloading with pause / resume / cancel, and the library."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hubstub import (
    GEMMA_REPO,
    SMOL_FILE,
    SMOL_REPO,
    SPLIT_REPO,
    HubStub,
    closed_port,
    file_hashes,
    point_hub_at,
)
from PySide6.QtCore import Qt

from desktop_app.core import paths
from desktop_app.core.fit import badges as fit_badges
from desktop_app.core.fit import plan as fit_plan
from desktop_app.core.hub.downloads import DownloadItem
from desktop_app.core.models import gguf_meta, library
from desktop_app.ui.models.item_models import RepoFilesModel
from desktop_app.ui.models.view import ModelsView
from desktop_app.ui.shared.item_models import ItemRole

NET_TIMEOUT_MS = 60_000


@pytest.fixture
def library_home(tmp_path: Path, smollm2_path: Path) -> Path:
    """A home folder where LM Studio keeps one model (a copy of SmolLM2)."""
    home = tmp_path / "home"
    target = home / ".lmstudio/models/lmstudio-community/SmolLM2-GGUF/lms-smol-Q4_1.gguf"
    target.parent.mkdir(parents=True)
    shutil.copyfile(smollm2_path, target)
    return home


@pytest.fixture
def view(qtbot: Any, hub_stub: HubStub, library_home: Path) -> Iterator[ModelsView]:
    widget = ModelsView(library_home=library_home)
    qtbot.addWidget(widget)
    widget.resize(1100, 700)
    widget.show()
    qtbot.waitUntil(lambda: not widget.library.loading, timeout=NET_TIMEOUT_MS)
    yield widget
    hub_stub.knobs.release.set()  # a download stalled on purpose must not hold the thread
    widget.shutdown()


def open_repo(qtbot: Any, view: ModelsView, text: str) -> None:
    browse = view.browse
    browse.search_edit.setText(text)
    with qtbot.waitSignals([browse.repo_shown, browse.badges_done], order="strict", timeout=NET_TIMEOUT_MS):
        qtbot.mouseClick(browse.search_button, Qt.MouseButton.LeftButton)


def item_state(view: ModelsView, item_id: str) -> DownloadItem:
    row = view.downloads_tab.model.row_of(item_id)
    item = view.downloads_tab.model.item_at(row)
    assert item is not None
    return item


def test_search_lists_results_and_opens_a_repo_with_fit_badges(
    qtbot: Any, qtmodeltester: Any, view: ModelsView, hub_stub: HubStub, smollm2_path: Path
) -> None:
    browse = view.browse
    browse.search_edit.setText("smollm2")
    with qtbot.waitSignal(view.jobs.succeeded, timeout=NET_TIMEOUT_MS, check_params_cb=lambda k, _r: k == "search"):
        qtbot.keyClick(browse.search_edit, Qt.Key.Key_Return)
    results = browse.results_model
    assert [results.result_at(r).repo_id for r in range(results.rowCount())] == [SMOL_REPO, SPLIT_REPO]  # type: ignore[union-attr]
    qtmodeltester.check(results)

    with qtbot.waitSignals([browse.repo_shown, browse.badges_done], order="strict", timeout=NET_TIMEOUT_MS):
        browse.results_view.selectRow(0)
    assert browse.page is not None and browse.page.repo_id == SMOL_REPO
    assert "apache-2.0" in browse.facts_label.text()
    files = browse.files_model
    qtmodeltester.check(files)
    index = files.index_of(SMOL_FILE, RepoFilesModel.FIT_COLUMN)
    expected = fit_plan.plan(gguf_meta.read_local(smollm2_path), fit_badges.machine(), browse.n_ctx)
    assert index.data(Qt.ItemDataRole.DisplayRole) == fit_badges.VERDICT_LABELS[expected.verdict]
    assert index.data(ItemRole.badge).result == expected
    size_index = files.index_of(SMOL_FILE, 1)
    assert size_index.data(Qt.ItemDataRole.DisplayRole) == "93.8 MB"
    assert files.index(0, 0).data(Qt.ItemDataRole.DisplayRole) == "Q4_1"  # the quant group

    # A new context length: every badge recomputed from the cached headers, without the network.
    hub_stub.reset_log()
    browse.ctx_spin.setValue(16384)
    badge = files.index_of(SMOL_FILE, RepoFilesModel.FIT_COLUMN).data(ItemRole.badge)
    assert badge.result == fit_plan.plan(gguf_meta.read_local(smollm2_path), fit_badges.machine(), 16384)
    assert hub_stub.requests() == []
    qtmodeltester.check(files)


def test_a_pasted_hub_address_opens_the_repo_directly(qtbot: Any, view: ModelsView, hub_stub: HubStub) -> None:
    open_repo(qtbot, view, f"https://huggingface.co/{GEMMA_REPO}/tree/main")
    assert view.browse.page is not None and view.browse.page.repo_id == GEMMA_REPO
    assert not [s for s in hub_stub.requests() if s.path.startswith("/api/models?")]  # no search was made
    assert view.browse.results_model.rowCount() == 0


def test_download_with_pause_and_resume(
    qtbot: Any, qtmodeltester: Any, view: ModelsView, hub_stub: HubStub, smollm2_path: Path
) -> None:
    open_repo(qtbot, view, SMOL_REPO)
    hub_stub.knobs.stall_after[SMOL_FILE] = 8 * 1024 * 1024  # the server stops sending here until released
    assert view.browse.select_model(SMOL_FILE)
    assert view.browse.download_button.isEnabled()
    qtbot.mouseClick(view.browse.download_button, Qt.MouseButton.LeftButton)
    tab = view.downloads_tab
    (item,) = view.downloads.queue.items()
    assert tab.selected() is not None and tab.selected().id == item.id  # type: ignore[union-attr]
    qtbot.waitUntil(hub_stub.knobs.stalled.is_set, timeout=NET_TIMEOUT_MS)
    qtbot.waitUntil(lambda: item_state(view, item.id).downloaded > 0, timeout=NET_TIMEOUT_MS)
    assert item_state(view, item.id).state == "downloading"
    qtmodeltester.check(tab.model)
    assert tab.pause_button.isEnabled() and not tab.resume_button.isEnabled()

    qtbot.mouseClick(tab.pause_button, Qt.MouseButton.LeftButton)
    hub_stub.knobs.stall_after.clear()
    hub_stub.knobs.release.set()  # the stalled response ends; the worker sees the pause
    qtbot.waitUntil(lambda: item_state(view, item.id).state == "paused", timeout=NET_TIMEOUT_MS)
    paused = item_state(view, item.id)
    kept = view.downloads.queue.partial_path(paused).stat().st_size
    assert kept > 0
    assert tab.model.index(tab.model.row_of(item.id), 2).data() == f"Paused at {paused_size(kept)}"
    assert tab.resume_button.isEnabled()

    with qtbot.waitSignal(view.library_changed, timeout=NET_TIMEOUT_MS):
        qtbot.mouseClick(tab.resume_button, Qt.MouseButton.LeftButton)
    done = item_state(view, item.id)
    assert done.state == "done"
    assert file_hashes(Path(done.path))[0] == file_hashes(smollm2_path)[0]
    last = [s for s in hub_stub.requests("GET", SMOL_FILE) if s.path.startswith("/repos/")][-1]
    assert last.range == f"bytes={kept}-"
    qtbot.waitUntil(lambda: not view.library.loading, timeout=NET_TIMEOUT_MS)
    assert view.library.select_path(Path(done.path))
    assert view.library.selected().source == "downloaded"  # type: ignore[union-attr]


def paused_size(n: int) -> str:
    from desktop_app.core.units import human_bytes

    return human_bytes(n)


def test_a_download_running_when_the_app_closes_continues_at_the_next_start(
    qtbot: Any, view: ModelsView, hub_stub: HubStub, smollm2_path: Path, library_home: Path
) -> None:
    open_repo(qtbot, view, SMOL_REPO)
    hub_stub.knobs.stall_after[SMOL_FILE] = 6 * 1024 * 1024
    assert view.browse.select_model(SMOL_FILE)
    (item,) = view.browse.download_selected()
    qtbot.waitUntil(hub_stub.knobs.stalled.is_set, timeout=NET_TIMEOUT_MS)
    view.downloads.queue.suspend_all()  # what closing the window does first
    hub_stub.knobs.stall_after.clear()
    hub_stub.knobs.release.set()
    view.shutdown()
    assert not view.downloads.running
    kept = view.downloads.queue.partial_path(item).stat().st_size
    assert kept > 0

    again = ModelsView(library_home=library_home)  # the next start, same data folder
    qtbot.addWidget(again)
    try:
        assert again.downloads.queue.get(item.id).state in ("queued", "downloading", "done")
        qtbot.waitUntil(lambda: again.downloads.queue.get(item.id).state == "done", timeout=NET_TIMEOUT_MS)
    finally:
        again.shutdown()
    done = again.downloads.queue.get(item.id)
    assert file_hashes(Path(done.path))[0] == file_hashes(smollm2_path)[0]
    last = [s for s in hub_stub.requests("GET", SMOL_FILE) if s.path.startswith("/repos/")][-1]
    assert last.range == f"bytes={kept}-"


def test_cancel_deletes_the_partial_download(qtbot: Any, view: ModelsView, hub_stub: HubStub) -> None:
    open_repo(qtbot, view, SPLIT_REPO)
    model = view.browse.page.models[0]  # type: ignore[union-attr]
    first = model.parts[0].path
    hub_stub.knobs.stall_after[first] = 4 * 1024 * 1024
    assert view.browse.select_model(model.name)
    items = view.browse.download_selected()
    assert len(items) == 2  # one per part
    qtbot.waitUntil(hub_stub.knobs.stalled.is_set, timeout=NET_TIMEOUT_MS)
    tab = view.downloads_tab
    tab.select(items[0].id)
    qtbot.mouseClick(tab.cancel_button, Qt.MouseButton.LeftButton)
    tab.select(items[1].id)
    qtbot.mouseClick(tab.cancel_button, Qt.MouseButton.LeftButton)  # still waiting: cancelled at once
    hub_stub.knobs.stall_after.clear()
    hub_stub.knobs.release.set()
    qtbot.waitUntil(lambda: item_state(view, items[0].id).state == "cancelled", timeout=NET_TIMEOUT_MS)
    assert item_state(view, items[1].id).state == "cancelled"
    assert not list(paths.models_dir().rglob("*.part")) and not list(paths.models_dir().rglob("*.gguf"))
    assert tab.clear_button.isEnabled()
    qtbot.mouseClick(tab.clear_button, Qt.MouseButton.LeftButton)
    assert tab.model.rowCount() == 0


def test_a_gated_repo_download_says_why_it_cannot_start(qtbot: Any, view: ModelsView) -> None:
    from hubstub import GATED_REPO

    open_repo(qtbot, view, GATED_REPO)
    assert view.browse.gated_label.isVisible() and "gated" in view.browse.gated_label.text()
    assert view.browse.select_model(view.browse.page.models[0].name)  # type: ignore[union-attr]
    assert view.browse.download_selected() == []
    assert view.browse.notice.isVisible() and "gated repository" in view.browse.notice.text
    assert view.downloads.queue.items() == []


def test_library_lists_other_apps_and_manages_hearths_own(
    qtbot: Any, qtmodeltester: Any, view: ModelsView, smollm2_path: Path, library_home: Path, tmp_path: Path
) -> None:
    lib = view.library
    qtmodeltester.check(lib.model)
    sources = {m.source for m in lib.model.models()}
    assert {"LM Studio", "starter"} <= sources
    lms = next(m for m in lib.model.models() if m.source == "LM Studio")
    expected = fit_plan.plan(gguf_meta.read_local(smollm2_path), fit_badges.machine(), lib.n_ctx)
    assert lib.model.badge(lms).result == expected  # type: ignore[union-attr]
    row = lib.model.models().index(lms)
    assert lib.model.index(row, lib.model.FIT_COLUMN).data() == fit_badges.VERDICT_LABELS[expected.verdict]

    # Another app's model: no delete, only remove from the list (the file stays).
    assert lib.select_path(lms.path)
    assert not lib.delete_button.isEnabled() and lib.remove_button.isEnabled()
    with qtbot.waitSignal(lib.library_changed):
        qtbot.mouseClick(lib.remove_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not lib.loading, timeout=NET_TIMEOUT_MS)
    assert lms.path not in [m.path for m in lib.model.models()] and lms.path.is_file()

    # Import a copy, then delete it (after confirmation) to free the disk.
    source = tmp_path / "elsewhere" / "imported-smol.Q4_1.gguf"
    source.parent.mkdir()
    shutil.copyfile(smollm2_path, source)
    with qtbot.waitSignal(lib.library_changed, timeout=NET_TIMEOUT_MS):
        lib.import_file(source, copy=True)
    qtbot.waitUntil(lambda: not lib.loading, timeout=NET_TIMEOUT_MS)
    copied = paths.models_dir() / "imported" / source.name
    assert lib.select_path(copied)
    assert lib.selected().source == "imported"  # type: ignore[union-attr]
    assert lib.delete_button.isEnabled()
    asked: list[str] = []

    def say_no(_title: str, text: str) -> bool:
        asked.append(text)
        return False

    lib.confirm = say_no  # type: ignore[assignment]
    qtbot.mouseClick(lib.delete_button, Qt.MouseButton.LeftButton)
    assert copied.is_file() and asked and "93.8 MB" in asked[0]  # said no: nothing deleted
    lib.confirm = lambda title, text: True  # type: ignore[method-assign]
    with qtbot.waitSignal(lib.library_changed):
        qtbot.mouseClick(lib.delete_button, Qt.MouseButton.LeftButton)
    assert not copied.exists()
    assert "freed" in lib.notice.text
    qtbot.waitUntil(lambda: not lib.loading, timeout=NET_TIMEOUT_MS)
    assert copied not in [m.path for m in lib.model.models()]

    # Or use a file where it is: listed from the settings' extra model paths.
    with qtbot.waitSignal(lib.library_changed, timeout=NET_TIMEOUT_MS):
        lib.import_file(source, copy=False)
    qtbot.waitUntil(lambda: not lib.loading, timeout=NET_TIMEOUT_MS)
    assert str(source) in view.settings().extra_model_paths
    assert lib.select_path(source) and lib.selected().source == "opened"  # type: ignore[union-attr]

    # The context length recomputes the fit column at once.
    lib.ctx_spin.setValue(2048)
    starter = next(m for m in lib.model.models() if m.source == "starter")
    assert lib.model.badge(starter).result.n_ctx == 2048  # type: ignore[union-attr]
    qtmodeltester.check(lib.model)


def test_offline_shows_a_clear_notice_and_the_library_still_works(
    qtbot: Any, view: ModelsView, monkeypatch: pytest.MonkeyPatch, smollm2_path: Path
) -> None:
    point_hub_at(monkeypatch, f"http://127.0.0.1:{closed_port()}")  # nothing listens there
    browse = view.browse
    browse.search_edit.setText("llama")
    with qtbot.waitSignal(view.jobs.failed, timeout=NET_TIMEOUT_MS):
        qtbot.mouseClick(browse.search_button, Qt.MouseButton.LeftButton)
    assert browse.notice.isVisible()
    assert browse.notice.text.startswith("You are offline or the Hub is unreachable.")
    view.library.refresh()
    qtbot.waitUntil(lambda: not view.library.loading, timeout=NET_TIMEOUT_MS)
    assert smollm2_path in [m.path for m in view.library.model.models()]


def test_the_main_window_has_a_models_section(make_window: Any, hub_stub: HubStub) -> None:
    window = make_window()
    models = window.sections["Models"]
    assert isinstance(models, ModelsView)
    names = [window.sidebar.item(i).text() for i in range(window.sidebar.count())]
    assert "Models" in names
    window.close()  # stops the section's jobs and download thread (checked by no_dangling_qthreads)
    assert not models.downloads.running


def test_headers_of_local_models_are_read_once() -> None:
    # The library reads headers once per file version, so the fit column recomputes cheaply.
    starter = library.starter_model_path()
    assert starter is not None
    assert library.read_header(starter) is library.read_header(starter)

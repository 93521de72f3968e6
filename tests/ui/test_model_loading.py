"""Loading on the model worker: progress, fingerprint, cancel, unload."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from desktop_app.core.cancel import Progress
from desktop_app.ui.model_host import HostState

from .conftest import LOAD_TIMEOUT_MS, load_model


def test_load_shows_progress_and_computes_the_fingerprint(qtbot: Any, window: Any, smollm2_path: Path) -> None:
    host = window.context.models
    progress_view = window.chat.load_progress
    seen: list[tuple[Progress, bool]] = []
    host.load_progress.connect(lambda p: seen.append((p, progress_view.isVisible())))
    load_model(qtbot, window, smollm2_path)

    messages = {p.message for p, _visible in seen}
    assert "Loading model" in messages
    assert any(m.startswith("Computing the model's fingerprint") for m in messages)
    assert all(visible for _p, visible in seen)  # the progress row is up while loading
    assert not progress_view.isVisible()  # ...and gone after
    assert host.sha256 == hashlib.sha256(smollm2_path.read_bytes()).hexdigest()
    assert host.model.n_ctx == 1024  # the load settings were applied
    assert window.context.settings.last_model == str(smollm2_path)
    assert window.status_bar.gpu_layers_label.text() == f"GPU layers {host.model.n_gpu_layers}"


def test_cancel_a_load(qtbot: Any, window: Any, smollm2_path: Path) -> None:
    host = window.context.models
    progress_view = window.chat.load_progress
    with qtbot.waitSignal(host.load_cancelled, timeout=LOAD_TIMEOUT_MS):
        window.chat.model_picker.load(smollm2_path)
        assert host.state is HostState.loading and progress_view.isVisible()
        progress_view.cancel_button.click()
        assert progress_view.cancel_button.text() == "Cancelling…"
    assert host.model is None and not host.busy
    assert not progress_view.isVisible()
    assert not window.chat.notice.isVisible()  # a cancel is not an error
    # Loading again works.
    load_model(qtbot, window, smollm2_path)


def test_unload_frees_the_model(qtbot: Any, loaded_window: Any) -> None:
    picker = loaded_window.chat.model_picker
    host = loaded_window.context.models
    with qtbot.waitSignal(host.model_changed, check_params_cb=lambda m: m is None):
        picker.unload_button.click()
    assert host.model is None
    assert picker.combo.currentIndex() == -1
    assert loaded_window.status_bar.model_label.text() == "No model loaded"
    assert not loaded_window.chat.send_button.isEnabled()

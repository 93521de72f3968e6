"""Getting started tells the truth about fit (issue 21): the verdict above ("N of the M recommended
models fit") and the figure on each card come from one number, a model that needs more than the
computer can give is listed as not fitting with what would make it fit, and the page says the same
when opened again, at 1280×800 and at 1024×700."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest
from PySide6.QtCore import Qt

from desktop_app.core.fit import badges
from desktop_app.core.hardware import HardwareInfo
from desktop_app.core.units import human_bytes

from .conftest import LOAD_TIMEOUT_MS

GIB = 1024**3
SIZES = [(1280, 800), (1024, 700)]


@pytest.fixture
def reviewers_computer(monkeypatch: pytest.MonkeyPatch) -> HardwareInfo:
    """The walkthrough's computer: 23.5 GB of RAM, no GPU, 17 GB of it free. This test machine has
    other memory, so the hardware the page plans for is replaced (the only thing mocked)."""
    real = badges.machine()
    hw = dataclasses.replace(
        real, ram_total=int(23.5 * GIB), ram_available=17 * GIB, gpus=[], gpu_offload=False, backend="CPU", notes=[]
    )
    monkeypatch.setattr(badges, "machine", lambda refresh=False: hw)
    return hw


def test_the_verdict_and_the_cards_agree_and_too_large_says_what_would_fit(
    qtbot: Any, window: Any, reviewers_computer: HardwareInfo
) -> None:
    for width, height in SIZES:
        window.resize(width, height)
        if window.welcome is not None:
            window.welcome.recommendations = []  # the second time: wait for the page's own new survey
        window.show_welcome()
        welcome = window.welcome
        qtbot.waitUntil(lambda w=welcome: bool(w.recommendations), timeout=LOAD_TIMEOUT_MS)
        assert welcome.hardware is not None and welcome.hardware.ram_total == reviewers_computer.ram_total
        recs = welcome.recommendations
        fitting = [r for r in recs if r.fits]
        verdict = welcome.fits_label.text()
        assert verdict.startswith(f"{len(fitting)} of the {len(recs)} recommended models fit")
        assert f"{len(recs) - len(fitting)} need more memory than this computer has" in verdict
        qtbot.mouseClick(welcome.bigger_button, Qt.MouseButton.LeftButton)
        welcome.models_list.show_too_large.setChecked(True)
        for card in welcome.models_list.cards:
            rec = card.recommendation
            result = rec.badge.result
            assert result is not None
            usable = result.breakdown.cpu.budget
            shown = human_bytes(result.ram_required)
            assert shown in card.fit_label.text(), card.fit_label.text()
            assert rec.fits == (result.ram_required <= usable)  # the figure shown is the one judged
            if rec.fits:
                assert not card.remedy_label.isVisibleTo(card)
            else:
                assert card.remedy_label.isVisibleTo(card)
                assert re.match(r"(Would fit with|Needs about)", card.remedy_label.text())
            assert "color:#0969da'>Runs" not in card.fit_label.text()  # no blue words that look like a link
        too_large = {c.recommendation.model.name for c in welcome.models_list.cards if not c.recommendation.fits}
        assert {"Qwen3 32B", "Gemma 3 27B"} <= too_large
        welcome.show_start()

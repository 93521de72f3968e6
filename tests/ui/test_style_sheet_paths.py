"""The style sheet from an installer unpacked into a folder with spaces and symbols in its path."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QtMsgType, qInstallMessageHandler
from PySide6.QtWidgets import QApplication

from desktop_app.core import paths
from desktop_app.ui.shared import resources

REPO_RESOURCES = Path(__file__).resolve().parents[2] / "resources"


@pytest.fixture
def qt_warnings() -> Iterator[list[str]]:
    seen: list[str] = []

    def handler(kind: QtMsgType, _context: Any, message: str) -> None:
        if kind != QtMsgType.QtDebugMsg:
            seen.append(message)

    previous = qInstallMessageHandler(handler)
    yield seen
    qInstallMessageHandler(previous)


@pytest.mark.parametrize("folder", ["R&D 100%", 'My Apps (x86) "new"'])
def test_style_sheet_parses_from_an_awkward_folder(
    qapp: QApplication, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, qt_warnings: list[str], folder: str
) -> None:
    unpacked = tmp_path / folder / "resources"
    shutil.copytree(REPO_RESOURCES, unpacked)
    monkeypatch.setattr(paths, "resources_dir", lambda: unpacked)
    sheet = resources.style_sheet()
    assert f'url("{(unpacked / "icons").as_posix()}/chevron-down.svg")'.replace('"new"', '\\"new\\"') in sheet
    before = qapp.styleSheet()
    try:
        qapp.setStyleSheet(sheet)
        qapp.processEvents()
    finally:
        qapp.setStyleSheet(before)
    assert not [m for m in qt_warnings if "style" in m.lower()], qt_warnings

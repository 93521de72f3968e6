"""Help › About Hearth: versions and licences, without loading the heavy libraries."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from desktop_app.ui.shared.about_dialog import AboutDialog

REPO = Path(__file__).resolve().parents[2]


def test_help_menu_opens_the_about_dialog_with_versions_and_licences(qtbot: Any, window: Any) -> None:
    actions = {action.text().replace("&", ""): action for action in window.help_menu.actions()}
    assert "About Hearth" in actions
    seen: list[AboutDialog] = []

    def look_and_close() -> None:
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, AboutDialog)
        seen.append(dialog)
        dialog.reject()

    QTimer.singleShot(0, look_and_close)
    actions["About Hearth"].trigger()  # exec() returns once look_and_close has closed it
    assert len(seen) == 1
    rows = {
        seen[0].table.item(row, 0).text(): (seen[0].table.item(row, 1).text(), seen[0].table.item(row, 2).text())
        for row in range(seen[0].table.rowCount())
    }
    assert rows["PySide6_Essentials"][0] == importlib.metadata.version("PySide6-Essentials")
    assert rows["PySide6_Essentials"][1].startswith("LGPL-3.0")
    assert rows["llama_cpp_python"] == (importlib.metadata.version("llama-cpp-python"), "MIT")
    assert rows["Python"][1] == "PSF-2.0"


def test_opening_the_dialog_loads_no_heavy_library(tmp_path: Path) -> None:
    code = (
        "import json, sys\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from desktop_app.ui.app import HEAVY_MODULES\n"
        "from desktop_app.ui.shared.about_dialog import AboutDialog\n"
        "dialog = AboutDialog()\n"
        "dialog.show()\n"
        "app.processEvents()\n"
        "heavy = [m for m in HEAVY_MODULES if m in sys.modules]\n"
        "print(json.dumps({'rows': dialog.table.rowCount(), 'heavy': heavy}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={"HEARTH_HOME": str(tmp_path), "QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["heavy"] == []
    assert report["rows"] >= 5

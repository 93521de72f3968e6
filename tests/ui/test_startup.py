"""Start-up: the window opens before any heavy library loads."""

from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import desktop_app.ui
from desktop_app.ui.app import HEAVY_MODULES

REPO = Path(__file__).resolve().parents[2]


def test_smoke_run_opens_the_window_without_heavy_libraries(tmp_path: Path) -> None:
    env = dict(os.environ, HEARTH_HOME=str(tmp_path / "home"))
    env.pop("QT_QPA_PLATFORM", None)  # --smoke must choose offscreen by itself
    result = subprocess.run(
        [sys.executable, "-m", "desktop_app", "--smoke"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, result.stdout
    report = json.loads(lines[0])
    assert report["heavy_modules"] == []
    assert 0 < report["window_shown_s"] < 60
    assert report["sections"][:1] == ["Chat"]
    assert report["errors"] == 0
    assert (tmp_path / "home" / "logs" / "hearth.log").is_file()


def test_importing_the_ui_loads_no_heavy_library() -> None:
    modules = [m.name for m in pkgutil.walk_packages(desktop_app.ui.__path__, "desktop_app.ui.")]
    code = f"""
import importlib, sys
for name in {modules!r}:
    importlib.import_module(name)
print(",".join(m for m in {HEAVY_MODULES!r} if m in sys.modules))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_python_slots_keep_reference_counts_intact(qtbot: object) -> None:
    """PySide6 6.12.0 dropped a reference to None on every slot call, so the app aborted
    ("none_dealloc") once enough signals had fired (pyproject.toml excludes that release)."""
    from PySide6.QtWidgets import QScrollBar

    bar = QScrollBar()
    bar.valueChanged.connect(lambda _value: None)
    before = sys.getrefcount(None)
    for value in range(1, 501):
        bar.setRange(0, value)
        bar.setValue(value)
    assert sys.getrefcount(None) - before > -100

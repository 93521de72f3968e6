"""The core is Qt-free and start-up stays light, checked by a machine.

Each check runs in a fresh interpreter so modules imported by other tests don't hide
an import made at module level.
"""

from __future__ import annotations

import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import desktop_app.cli
import desktop_app.core

HEAVY = ("llama_cpp", "torch", "chromadb", "sentence_transformers", "pypdfium2")


def _modules(package: object) -> list[str]:
    path = package.__path__  # type: ignore[attr-defined]
    prefix = package.__name__ + "."  # type: ignore[attr-defined]
    return [m.name for m in pkgutil.walk_packages(path, prefix)]


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)


def test_core_and_cli_import_without_pyside6() -> None:
    modules = _modules(desktop_app.core) + _modules(desktop_app.cli)
    code = f"""
import importlib, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "PySide6" or name.startswith("PySide6."):
            raise ImportError("core must not import " + name)
sys.meta_path.insert(0, Block())
for name in {modules!r}:
    importlib.import_module(name)
"""
    result = _run(code)
    assert result.returncode == 0, result.stderr


def test_importing_core_and_cli_loads_no_heavy_library() -> None:
    modules = _modules(desktop_app.core) + _modules(desktop_app.cli)
    code = f"""
import importlib, sys
for name in {modules!r}:
    importlib.import_module(name)
print(",".join(m for m in {HEAVY!r} if m in sys.modules))
"""
    result = _run(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_the_core_tests_need_no_pyside6() -> None:
    """`pytest tests/core` works where PySide6 is absent: every core test module imports without it."""
    root = Path(__file__).resolve().parents[2]
    code = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "PySide6" or name.startswith(("PySide6.", "shiboken6", "pytestqt")):
            raise ImportError("tests/core must not need " + name)
sys.meta_path.insert(0, Block())
import pytest
# Without pytest-qt its qt_* options are unknown: --strict-config is left out here only.
args = ["{root / "tests" / "core"}", "--collect-only", "-q", "-p", "no:pytest-qt", "-p", "no:cacheprovider",
        "-o", "addopts=--strict-markers"]
sys.exit(pytest.main(args))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False, cwd=root
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert re.search(r"^\d{2,} tests collected", result.stdout, re.M), result.stdout[-500:]

"""Heavy libraries are imported by one thread at a time (core/heavy_imports.py): two threads that
ask at once import one after the other, never interleaved; a library already there is not asked
for again. Real modules written by the test, imported by real threads."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from desktop_app.core.heavy_imports import import_heavy

SLOW = """
import time
import heavy_log
heavy_log.events.append(("start", __name__, time.monotonic()))
time.sleep(0.3)
heavy_log.events.append(("end", __name__, time.monotonic()))
"""


@pytest.fixture
def slow_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, float]]:
    (tmp_path / "heavy_log.py").write_text("events = []\n", encoding="utf-8")
    for name in ("heavy_one", "heavy_two"):
        (tmp_path / f"{name}.py").write_text(SLOW, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("heavy_log", "heavy_one", "heavy_two"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    import heavy_log  # type: ignore[import-not-found]

    return heavy_log.events  # type: ignore[no-any-return]


def test_two_threads_import_one_after_the_other(slow_modules: list[tuple[str, str, float]]) -> None:
    threads = [threading.Thread(target=import_heavy, args=(name,)) for name in ("heavy_one", "heavy_two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    kinds = [kind for kind, _name, _at in slow_modules]
    assert kinds == ["start", "end", "start", "end"]  # never two imports under way at once
    assert {name for _kind, name, _at in slow_modules} == {"heavy_one", "heavy_two"}
    import_heavy("heavy_one", "heavy_two")  # both there: nothing imported again
    assert len(slow_modules) == 4

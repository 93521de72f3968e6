"""Compare's progress in words (issue 21, item 5): the step being measured and the time left while
a real comparison runs, at 1280×800 (then the results given the whole width, item 4) and again at
1024×700 (stopped once the step shows); the time
left from the pace so far; and another program keeping the processors busy is seen and said."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from desktop_app.core.cancel import Progress
from desktop_app.ui.compare.progress_words import BUSY_SHARE, OthersLoad, ProgressWords
from desktop_app.ui.compare.view import CompareView
from tests.ui.compare.test_ql_compare_view import RUN_TIMEOUT_MS, view  # noqa: F401 - the fixture

SIZES = [(1280, 800), (1024, 700)]


def test_the_step_and_the_time_left_are_shown(
    view: CompareView,  # noqa: F811 - the fixture imported above
    qtbot: Any,
    models_in_home: list[Path],
) -> None:
    _f16, q8, q4 = models_in_home
    view.form.set_checked([q8, q4])
    guide = view.results.reading_guide.text()  # each technical figure of the table in one plain sentence
    assert all(term in guide for term in ("bits per weight", "Perplexity", "KL divergence", "Top-1 agreement"))
    for number, (width, height) in enumerate(SIZES):
        view.resize(width, height)
        shown: list[str] = []
        with qtbot.waitSignal(view.run_started, timeout=5000):
            view.form.run_button.click()
        job = view.job
        assert job is not None
        job.progress.connect(lambda _p, seen=shown: seen.append(view.form.status.text()))  # after the view's slot
        if number == 0:
            with qtbot.waitSignals([view.run_finished, job.done], timeout=RUN_TIMEOUT_MS):
                pass
            assert view.form.status.text().startswith("Done in")
            # The results can have the whole width, and give it back.
            narrow = view.results.table.width()
            view.results.wide_button.click()
            assert not view.form.isVisible() and view.results.wide_button.text() == "Show the form"
            qtbot.waitUntil(lambda n=narrow: view.results.table.width() > n)
            view.results.wide_button.click()
            assert view.form.isVisible() and view.results.wide_button.text() == "Hide the form"
        else:  # the second time, stopped once the step being measured shows
            qtbot.waitUntil(lambda seen=shown: any("Now: " in t for t in seen), timeout=RUN_TIMEOUT_MS)
            with qtbot.waitSignals([view.run_cancelled, job.done], timeout=RUN_TIMEOUT_MS):
                view.form.stop_button.click()
        steps = [t for t in shown if "Now: " in t]
        assert steps, shown
        # Which file is measured, and what is measured of it.
        assert any(q8.stem in t or q4.stem in t for t in steps)
        assert all(t.splitlines()[0].endswith(("left", "left…")) for t in steps)
        assert "%" in steps[0].splitlines()[0]  # the share done, beside the time left


def test_the_time_left_follows_the_pace_so_far() -> None:
    words = ProgressWords()
    start = words.started
    assert words.left_s(0.01, start + 60) is None  # too little done to say
    assert words.left_s(0.5, start + 2) is None  # too soon to say
    assert words.left_s(0.25, start + 60) == pytest.approx(180.0)  # (start + 60) - start is not exactly 60
    assert words.left_s(1.0, start + 60) is None
    text = words.describe(Progress(1, 4, "SmolLM2-Q8_0: perplexity, window 3 of 8"))
    assert text.splitlines()[1] == "Now: SmolLM2-Q8_0: perplexity, window 3 of 8"


def test_another_program_keeping_the_processors_busy_is_seen() -> None:
    """A real busy program, not a child of this one (the shell that starts it exits at once, so
    the loop belongs to no one here), is counted among the others."""
    script = "import time\nend = time.time() + 20\nwhile time.time() < end: pass\n"
    shell = subprocess.run(
        ["sh", "-c", f'"{sys.executable}" -c "$0" >/dev/null 2>&1 & echo $!', script],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    pid = int(shell.stdout.strip())
    try:
        load = OthersLoad()
        load.read()
        time.sleep(1.5)
        share = load.read()
        cores = os.cpu_count() or 1
        assert share >= 0.6 / cores  # at least most of one processor, on any machine
        words = ProgressWords(load=load)
        text = words.describe(Progress(1, 4, "measuring"))
        assert ("Other programs are using" in text) == (load.share >= BUSY_SHARE)
    finally:
        os.kill(pid, signal.SIGTERM)

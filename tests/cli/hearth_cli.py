"""`hearth` run as a user runs it, in a child process on the test's data folder, and the small
labelled dataset the runs, sweep, coding and judge commands are tried on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

MODEL = "SmolLM2-135M-Instruct.Q4_1"
TIMEOUT_S = 300
REVIEWS = [
    ("a1", "I loved this film, the acting is wonderful.", "positive"),
    ("a2", "Terrible, boring and far too long.", "negative"),
    ("a3", "A masterpiece, I cried at the end.", "positive"),
    ("a4", "I want my money back.", "negative"),
    ("a5", "Great fun for the whole family.", "positive"),
    ("a6", "The worst movie of the year.", "negative"),
    ("a7", "Beautiful music and a touching story.", "positive"),
    ("a8", "Awful dialogue, I fell asleep.", "negative"),
    ("a9", "Clever, warm and very funny.", "positive"),
    ("a10", "A mess from start to finish.", "negative"),
]


def hearth_env(home: Path) -> dict[str, str]:
    return {**os.environ, "HEARTH_HOME": str(home)}


def hearth(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "desktop_app", *args],
        capture_output=True, text=True, env=hearth_env(home), timeout=TIMEOUT_S, check=False,
    )  # fmt: skip


def hearth_json(*args: str, home: Path) -> Any:
    out = hearth(*args, "--json", home=home)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)

"""`hearth chat` with a base model (Gemma 3 270M, no chat template) tells the user, as the window
does, that the prompt is given as plain text to continue. A real subprocess, the real model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from desktop_app.cli.chat import BASE_MODEL_NOTE


def _chat(model: Path, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "desktop_app", "chat", str(model), "-p", "Once upon a time", "--max-tokens", "1",
         "--ctx", "256", "--seed", "1"],
        capture_output=True, text=True, env={**os.environ, "HEARTH_HOME": str(home)}, timeout=300, check=False,
    )  # fmt: skip


def test_a_base_model_is_named_as_such_on_the_terminal(gemma_path: Path, hearth_home: Path) -> None:
    base = _chat(gemma_path, hearth_home)
    assert base.returncode == 0, base.stderr
    assert f"hearth: {BASE_MODEL_NOTE}" in base.stderr
    assert "base model" not in base.stdout  # the reply stays clean on stdout

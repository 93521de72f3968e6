from __future__ import annotations

import subprocess
import sys


def test_warm_up_loads_once_in_the_background() -> None:
    """In a fresh process, so the session's shared embedder does not hide the load."""
    code = (
        "from desktop_app.core.rag.embedder import DEFAULT_MODEL, loaded_embedder, warm_up\n"
        "assert loaded_embedder(DEFAULT_MODEL) is None\n"
        "thread = warm_up(DEFAULT_MODEL)\n"
        "assert thread is not None and warm_up(DEFAULT_MODEL) is None  # one load at a time\n"
        "thread.join(300)\n"
        "assert loaded_embedder(DEFAULT_MODEL) is not None\n"
        "assert warm_up(DEFAULT_MODEL) is None  # already loaded\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"

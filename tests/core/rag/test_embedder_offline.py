"""The embedder needs no network and does not switch the whole app offline."""

from __future__ import annotations

import os
import socket
import subprocess
import sys


def test_embedder_loads_without_network_and_leaves_hub_online() -> None:
    with socket.socket() as s:  # a port nothing listens on: any Hub request would fail at once
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    env["HF_ENDPOINT"] = f"http://127.0.0.1:{closed}"
    code = (
        "import os\n"
        "from desktop_app.core.rag.embedder import Embedder\n"
        "e = Embedder()\n"
        "v = e.encode(['a sentence'])\n"
        "import huggingface_hub.constants as c\n"
        "print(len(v[0]), os.environ.get('HF_HUB_OFFLINE'), c.HF_HUB_OFFLINE)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["384", "None", "False"]

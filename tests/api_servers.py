"""Real OpenAI-compatible servers on loopback, started once per test session when first needed
and stopped at its end: Hearth's own server (part 1 of issue 11) on SmolLM2, and
llama-cpp-python's own server (``python -m llama_cpp.server``) on SmolLM2 in a child process.

Each has its own data folder, so what it logs is apart from the tests' HEARTH_HOME.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

HEARTH_KEY = "hearth-test-key"
LLAMA_CPP_KEY = "llama-cpp-test-key"
START_TIMEOUT_S = 90


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, key: str, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode}")
        try:
            if httpx.get(f"{url}/models", headers={"Authorization": f"Bearer {key}"}, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up within {START_TIMEOUT_S} s")


@dataclass
class RunningServer:
    url: str  # ends with /v1
    key: str
    home: Path
    model_id: str
    server: object = None  # Hearth's LocalServer (its request log), None for a child process

    @property
    def root(self) -> str:
        return self.url.removesuffix("/v1")


@pytest.fixture(scope="session")
def hearth_server(tmp_path_factory: pytest.TempPathFactory, smollm2_path: Path) -> Iterator[RunningServer]:
    """Hearth's server with an API key, loading SmolLM2 at the first request (2048 tokens of context)."""
    from desktop_app.core import settings as settings_store
    from desktop_app.core.server.model_access import EngineQueue
    from desktop_app.core.server.runner import LocalServer
    from desktop_app.core.settings import LoadSettings, SamplingSettings, Settings

    home = tmp_path_factory.mktemp("hearth-server-home")
    config = Settings(load=LoadSettings(n_ctx=2048), sampling=SamplingSettings(max_tokens=16))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HEARTH_HOME", str(home))
        settings_store.save(config)
        queue = EngineQueue(config)
        server = LocalServer(queue, "127.0.0.1", 0, HEARTH_KEY, defaults=lambda: config, db_path=home / "hearth.db")
        server.start()
    model_id = smollm2_path.stem
    try:
        yield RunningServer(server.url, HEARTH_KEY, home, model_id, server)
    finally:
        server.stop()
        queue.close()


@pytest.fixture(scope="session")
def llama_cpp_server(tmp_path_factory: pytest.TempPathFactory, smollm2_path: Path) -> Iterator[RunningServer]:
    """``python -m llama_cpp.server`` on SmolLM2 (llama-cpp-python's server extra), with an API key."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("llama-cpp-server") / "server.log"
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_path), "--host", "127.0.0.1",
        "--port", str(port), "--n_ctx", "2048", "--api_key", LLAMA_CPP_KEY, "--verbose", "False",
        "--interrupt_requests", "False",  # requests sent together wait their turn (dataset runs)
    ]  # fmt: skip
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env={**os.environ})
    url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_until_up(url, LLAMA_CPP_KEY, process)
        model_id = httpx.get(f"{url}/models", headers={"Authorization": f"Bearer {LLAMA_CPP_KEY}"}).json()["data"][0]
        yield RunningServer(url, LLAMA_CPP_KEY, log_path.parent, model_id["id"])
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

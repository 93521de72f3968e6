"""Who may reach Hearth's server: loopback by default, any other address only with an API key,
refused before anything listens; `hearth serve` in a real child process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from api_servers import free_port, wait_until_up

from desktop_app.core.errors import HearthError
from desktop_app.core.server import access
from desktop_app.core.server.model_access import EngineQueue
from desktop_app.core.server.runner import LocalServer, bind

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.5.0.1", True), ("localhost", True), ("::1", True), ("[::1]", True),
     ("0.0.0.0", False), ("192.168.1.20", False), ("::", False), ("my-laptop.local", False)],
)  # fmt: skip
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert access.is_loopback(host) is loopback


def test_a_non_loopback_address_is_refused_without_a_key_before_anything_listens() -> None:
    port = free_port()
    server = LocalServer(EngineQueue(), "0.0.0.0", port, api_key=None)
    with pytest.raises(HearthError, match="no API key is set") as refused:
        server.start()
    assert "127.0.0.1" in refused.value.hint
    assert not server.running
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # nothing listens
    access.check_bind("0.0.0.0", "a-key")  # with a key the user's choice stands (not bound here: tests stay local)


def test_a_port_in_use_is_a_plain_words_error() -> None:
    taken = bind("127.0.0.1", 0, None)
    try:
        with pytest.raises(HearthError, match="already in use"):
            bind("127.0.0.1", taken.getsockname()[1], None)
    finally:
        taken.close()


def test_keys_are_compared_whole() -> None:
    assert access.key_matches(None, None)  # no key set: open (loopback only, see check_bind)
    assert access.key_matches("k", "Bearer k")
    assert not access.key_matches("k", "Bearer kk")
    assert not access.key_matches("k", None)
    assert not access.key_matches("k", "k")


def test_a_new_key_is_stored_outside_the_settings(hearth_home: Path) -> None:
    key = access.new_key()
    assert key.startswith("hearth-") and len(key) > 40
    assert access.stored_key() == key
    assert key not in (hearth_home / "settings.json").read_text() if (hearth_home / "settings.json").exists() else True
    access.forget_key()
    assert access.stored_key() is None


def _cli(args: list[str], home: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "HEARTH_HOME": str(home)}
    return subprocess.Popen(
        [sys.executable, "-m", "desktop_app", *args], cwd=REPO, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def test_hearth_serve_refuses_another_address_without_a_key(hearth_home: Path) -> None:
    process = _cli(["serve", "--host", "0.0.0.0", "--port", str(free_port())], hearth_home)
    _out, err = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "no API key is set" in err


def test_hearth_serve_listens_on_loopback_and_stops_on_ctrl_c(hearth_home: Path) -> None:
    port = free_port()
    process = _cli(["serve", "--port", str(port), "--new-key"], hearth_home)
    try:
        url = f"http://127.0.0.1:{port}/v1"
        key = ""
        for line in process.stderr:  # the key is printed once, then the address
            if line.strip().startswith("hearth-"):
                key = line.strip()
            if "serving on" in line:
                break
        assert key
        wait_until_up(url, key)
        assert httpx.get(f"{url}/models").status_code == 401
        models = httpx.get(f"{url}/models", headers={"Authorization": f"Bearer {key}"}).json()
        assert any(m["owned_by"] == "hearth" for m in models["data"])
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)
    assert process.returncode == 0


def test_the_server_stack_is_imported_only_when_a_server_starts() -> None:
    """FastAPI, uvicorn, pydantic and httpx load when a server starts or a remote model is used,
    not with the window or the CLI (each takes a noticeable part of a second)."""
    modules = [
        "desktop_app.cli", "desktop_app.cli.serve", "desktop_app.core.server.runner", "desktop_app.core.server.access",
        "desktop_app.core.server.model_access", "desktop_app.core.inference.remote",
        "desktop_app.core.inference.remote_chat",
    ]  # fmt: skip
    stack = ("fastapi", "uvicorn", "starlette", "pydantic", "httpx", "openai")
    code = f"import sys, {', '.join(modules)}; print(sorted(m for m in {stack!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "[]"

"""API keys: in the OS keyring when there is one, else in a file only the user can read.

This machine has no keyring backend (keyring offers only its "fail" backend), so the file is
what the app really uses here. A keyring backend cannot exist here, so the one test of that
path installs a small in-memory backend through keyring's own API and says so.
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend

from desktop_app.core import secrets


@pytest.fixture
def no_keyring() -> Iterator[None]:
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(previous)


def test_without_a_keyring_keys_go_to_a_file_readable_by_the_user_only(no_keyring: None, hearth_home: Path) -> None:
    assert not secrets.keyring_available()
    assert secrets.get("server") is None
    secrets.put("server", "s3cret")
    secrets.put("endpoint:lab", "other")
    path = secrets.secrets_path()
    assert path.parent == hearth_home
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert secrets.get("server") == "s3cret" and secrets.get("endpoint:lab") == "other"
    assert "private file" in secrets.where()
    secrets.delete("server")
    assert secrets.get("server") is None and secrets.get("endpoint:lab") == "other"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    secrets.delete("never-stored")  # nothing to delete is not an error


def test_a_damaged_secrets_file_reads_as_empty(no_keyring: None) -> None:
    secrets.secrets_path().write_text("{not json")
    assert secrets.get("server") is None
    secrets.put("server", "new")
    assert secrets.get("server") == "new"


class MemoryKeyring(KeyringBackend):
    """Stand-in for an OS keyring (none exists on this machine)."""

    priority = 10  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        from keyring.errors import PasswordDeleteError

        if self.store.pop((service, username), None) is None:
            raise PasswordDeleteError(username)


def test_with_a_keyring_keys_go_there_and_not_to_the_file() -> None:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        assert secrets.keyring_available()
        secrets.put("server", "in-keyring")
        assert backend.store == {("Hearth", "server"): "in-keyring"}
        assert secrets.get("server") == "in-keyring"
        assert not secrets.secrets_path().exists()
        secrets.delete("server")
        assert secrets.get("server") is None
    finally:
        keyring.set_keyring(previous)

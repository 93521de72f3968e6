"""API keys (Hearth's own server key, remote servers' keys): in the OS keyring through the
``keyring`` package, else in a file only the user can read (0600).

No keyring backend on a machine (a bare Linux without Secret Service, a container) is normal:
keyring then offers only its "fail" backend, and keys go to ``secrets.json`` in the data
folder instead. Settings files never hold a key.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

from desktop_app.core import paths
from desktop_app.core.errors import HearthError

log = logging.getLogger(__name__)

SERVICE = "Hearth"
FILE_NAME = "secrets.json"
_LOCK = threading.Lock()


def secrets_path() -> Path:
    return paths.home() / FILE_NAME


def keyring_available() -> bool:
    """True when keyring has a real backend (its priority is above zero)."""
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:  # pragma: no cover - keyring is a dependency
        return False
    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring):
        return False
    try:
        return float(getattr(backend, "priority", 1)) > 0
    except Exception:  # noqa: BLE001 - a backend whose priority raises is unusable
        return False


def where() -> str:
    """Where keys are kept, in words (the settings show it)."""
    if keyring_available():
        import keyring

        return f"the system keyring ({type(keyring.get_keyring()).__name__})"
    return f"a private file ({secrets_path()}, readable by you only)"


def _read_file() -> dict[str, str]:
    try:
        data = json.loads(secrets_path().read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("The secrets file is unreadable (%s); treating it as empty", exc)
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _write_file(data: dict[str, str]) -> None:
    path = secrets_path()
    temporary = path.with_name(path.name + ".tmp")
    try:
        # Created 0600 from the start: the key is never readable by others, not even briefly.
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(temporary, 0o600)  # an existing temporary file keeps its mode through O_CREAT
        os.replace(temporary, path)
    except OSError as exc:
        raise HearthError(f"The key could not be saved in {path}: {exc.strerror or exc}.") from None


def get(name: str) -> str | None:
    if keyring_available():
        import keyring

        try:
            value = keyring.get_password(SERVICE, name)
        except Exception as exc:  # noqa: BLE001 - keyring backends raise their own kinds (locked, denied)
            raise HearthError(f"The system keyring could not be read: {exc}", "Unlock it and try again.") from None
        if value is not None:
            return value
    with _LOCK:
        return _read_file().get(name)


def put(name: str, value: str) -> None:
    if keyring_available():
        import keyring

        try:
            keyring.set_password(SERVICE, name, value)
            return
        except Exception as exc:  # noqa: BLE001 - as above
            raise HearthError(f"The system keyring could not store the key: {exc}", "Unlock it, then retry.") from None
    with _LOCK:
        data = _read_file()
        data[name] = value
        _write_file(data)


def delete(name: str) -> None:
    if keyring_available():
        import keyring
        from keyring.errors import PasswordDeleteError

        try:
            keyring.delete_password(SERVICE, name)
        except PasswordDeleteError:
            pass
        except Exception as exc:  # noqa: BLE001 - as above
            raise HearthError(f"The system keyring could not remove the key: {exc}") from None
    with _LOCK:
        data = _read_file()
        if data.pop(name, None) is not None:
            _write_file(data)

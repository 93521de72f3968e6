"""Two kinds of failure: ones the user can act on, and a silent cancel.

Anything else is a bug: the UI logs it and shows it as such.
"""

from __future__ import annotations


class HearthError(Exception):
    """A failure caused by the environment or the input, told in plain words.

    ``message`` says what happened; ``hint`` says what the user can do next.
    """

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()


class ModelLoadError(HearthError):
    """A model file that cannot be read or loaded."""


class OfflineError(HearthError):
    """The network or a server cannot be reached, or offline mode forbids asking it."""


class OfflineModeError(OfflineError):
    """Offline mode (HF_HUB_OFFLINE) is on: nothing was asked of the network."""


class AccessDeniedError(HearthError):
    """A server refused: a gated or private repository, a missing or wrong token."""


class Cancelled(Exception):  # noqa: N818 - reads naturally: ``raise Cancelled``
    """The user stopped the work. Not an error: nothing is shown."""


class DiskFullError(HearthError):
    """The disk is full (ENOSPC, SQLite's "database or disk is full"): what was written before stays."""

"""Writing a small file so that a crash or a full disk never leaves half of it: the text goes
to a temporary file beside the target, which then replaces it in one step."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import uuid
from pathlib import Path
from typing import Any

from desktop_app.core import paths
from desktop_app.core.errors import DiskFullError, HearthError


def write_error(path: Path, exc: OSError) -> HearthError:
    code = exc.errno
    if code in (errno.ENOSPC, errno.EDQUOT):
        return DiskFullError(
            f"The disk is full: “{path.name}” was not written.", "Free some space, or choose another folder."
        )
    if code == errno.EROFS:
        return HearthError(f"“{path.parent}” is on a read-only disk.", "Choose another folder, such as your Documents.")
    if code in (errno.EACCES, errno.EPERM):
        return HearthError(
            f"Hearth is not allowed to write in “{path.parent}”.",
            "Choose another folder, such as your Documents, or close the file if another program has it open.",
        )
    if code in (errno.ENOENT, errno.ENOTDIR):
        return HearthError(f"The folder “{path.parent}” does not exist.", "Choose another folder.")
    if code == errno.EISDIR:
        return HearthError(f"“{path}” is a folder.", "Choose a file name.")
    return HearthError(f"“{path.name}” could not be written: {exc.strerror or exc}.", "Choose another folder.")


def write_text_atomically(path: Path, text: str) -> None:
    """Writes ``text`` to a temporary file next to ``path``, then moves it into place: a
    reader never sees half a file, and a failed write leaves the previous file as it was.
    Raises HearthError in plain words."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _new_file_mode(path))
        with open(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise write_error(path, exc) from exc


def _new_file_mode(path: Path) -> int:
    """0600 inside Hearth's data folder (settings, queues: the owner's only); elsewhere (an
    export the user asked for) what the file had, or the usual 0666 less the umask."""
    with contextlib.suppress(OSError):
        if path.parent.resolve().is_relative_to(paths.home_path().resolve()):
            return 0o600
    with contextlib.suppress(OSError):
        return path.stat().st_mode & 0o777
    return 0o666


def write_json_atomically(path: Path, data: Any) -> None:
    """``data`` as indented JSON, written like :func:`write_text_atomically`."""
    write_text_atomically(path, json.dumps(data, indent=2) + "\n")

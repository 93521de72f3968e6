"""Moving the data folder to another place (a bigger disk) from the app, without HEARTH_HOME.

The choice is a small pointer file in the user's config folder (not inside the data folder,
which is what moves). A move copies everything — the database through SQLite's backup API,
so a live connection cannot tear it — checks the copy, then writes the pointer; Hearth uses
the new folder from its next start and the old one stays until the user deletes it.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from desktop_app.core import paths
from desktop_app.core.atomic_files import write_json_atomically
from desktop_app.core.cancel import CancelToken, Progress, ProgressCallback
from desktop_app.core.errors import HearthError
from desktop_app.core.units import human_bytes

_SKIP = {"hearth.db-wal", "hearth.db-shm"}  # folded into the copy by the backup API
CHUNK = 8 << 20


def _files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink() and path.name not in _SKIP:
            yield path


def check_target(target: Path) -> None:
    """HearthError when ``target`` cannot take the data folder."""
    if os.environ.get("HEARTH_HOME"):
        raise HearthError(
            "The data folder is set by the HEARTH_HOME environment variable.",
            "Change or unset HEARTH_HOME to keep the data elsewhere.",
        )
    source = paths.home().resolve()
    target = target.expanduser().resolve()
    if target == source or target.is_relative_to(source) or source.is_relative_to(target):
        raise HearthError("Choose a folder outside the current data folder (and not one that holds it).")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise HearthError(f"“{target}” is not an empty folder.", "Choose a new or empty folder.")


def move(target: Path, progress: ProgressCallback | None = None, cancel: CancelToken | None = None) -> Path:
    """Copies the data folder to ``target`` and makes it the folder of the next start.

    Nothing changes for this run; a failure or a cancel removes the partial copy and leaves
    the pointer as it was. Returns the resolved target.
    """
    check_target(target)
    cancel = cancel or CancelToken()
    source = paths.home().resolve()
    target = target.expanduser().resolve()
    files = list(_files(source))
    total = sum(f.stat().st_size for f in files)
    target.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(target).free
    if total > free:
        raise HearthError(
            f"The data folder holds {human_bytes(total)}; only {human_bytes(free)} are free at {target}.",
            "Free some space there, or choose another disk.",
        )
    done = 0
    try:
        for path in files:
            cancel.raise_if_cancelled()
            relative = path.relative_to(source)
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            if relative == Path("hearth.db"):
                _backup_database(path, destination)
                done += path.stat().st_size
            else:
                done = _copy(path, destination, done, total, progress, cancel)
            if progress:
                progress(Progress(done, total, f"Copied {relative.as_posix()}"))
        copied = sum(f.stat().st_size for f in _files(target))
        if copied < total - sum(f.stat().st_size for f in files if f.name == "hearth.db"):
            raise HearthError("The copy is smaller than the data folder.", "Check the target disk, then try again.")
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    paths.pointer_path().parent.mkdir(parents=True, exist_ok=True)
    write_json_atomically(paths.pointer_path(), {"home": str(target), "moved_from": str(source)})
    return target


def _copy(path: Path, destination: Path, done: int, total: int, progress: ProgressCallback | None,
          cancel: CancelToken) -> int:  # fmt: skip
    try:
        with path.open("rb") as src, destination.open("wb") as dst:
            while chunk := src.read(CHUNK):
                cancel.raise_if_cancelled()
                dst.write(chunk)
                done += len(chunk)
                if progress:
                    progress(Progress(done, total, f"Copying {path.name}"))
        shutil.copystat(path, destination)
    except OSError as exc:
        raise HearthError(f"Copying {path.name} failed: {exc.strerror or exc}.") from None
    return done


def _backup_database(path: Path, destination: Path) -> None:
    source = sqlite3.connect(path)
    try:
        target = sqlite3.connect(destination)
        try:
            source.backup(target)
        finally:
            target.close()
    finally:
        source.close()

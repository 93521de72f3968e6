"""A model file's sha256, computed once and cached by (path, size, mtime)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from desktop_app.core import db as dbmod
from desktop_app.core.cancel import CancelToken, Progress, ProgressCallback

_CHUNK = 4 * 1024 * 1024


def sha256_file(path: Path, progress: ProgressCallback | None = None, cancel: CancelToken | None = None) -> str:
    size = path.stat().st_size
    digest = hashlib.sha256()
    done = 0
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            done += len(chunk)
            if cancel:
                cancel.raise_if_cancelled()
            if progress:
                progress(Progress(done, size, "Computing the model's fingerprint (first time only)"))
    return digest.hexdigest()


def cached_sha256(path: Path, progress: ProgressCallback | None = None, cancel: CancelToken | None = None) -> str:
    path = path.resolve()
    stat = path.stat()
    db = dbmod.connect()
    try:
        row = db.execute(
            "SELECT sha256 FROM model_hashes WHERE path=? AND size=? AND mtime_ns=?",
            (str(path), stat.st_size, stat.st_mtime_ns),
        ).fetchone()
        if row:
            return str(row[0])
        digest = sha256_file(path, progress, cancel)
        with db:
            db.execute(
                "INSERT OR REPLACE INTO model_hashes VALUES (?, ?, ?, ?)",
                (str(path), stat.st_size, stat.st_mtime_ns, digest),
            )
        return digest
    finally:
        db.close()

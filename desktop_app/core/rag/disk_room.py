"""Room on the disk for a collection's vectors, checked before and during indexing: a run stops
cleanly, between files, while there is still room (Chroma's files written half on a full disk
are what damages a collection)."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from desktop_app.core import errors
from desktop_app.core.errors import HearthError
from desktop_app.core.rag.store import FileWrite
from desktop_app.core.units import human_bytes, plural


class DiskFullError(errors.DiskFullError):
    """Indexing stopped because the disk is (nearly) full."""


class DiskRoom:
    """Free space where the vectors go, checked before and during indexing: the run stops
    cleanly, between files, while there is still room (Chroma's files written half on a full
    disk are what damages a collection)."""

    def __init__(self, folder: Path, name: str) -> None:
        self.folder = folder
        self.name = name
        total = shutil.disk_usage(folder).total
        # Kept free: 5% of the disk, at least 1 MiB, at most 256 MiB.
        self.reserve = int(min(256 * 2**20, max(2**20, total * 0.05)))

    def free(self) -> int:
        return shutil.disk_usage(self.folder).free

    def check(self) -> None:
        """Stops a run before it starts when the disk is already within the reserve."""
        if not self.fitting([0]):
            raise self.full(0)

    def fitting(self, needs: Sequence[int]) -> int:
        """How many of these writes, in order, fit in the room left."""
        room = self.free() - self.reserve
        for count, need in enumerate(needs):
            room -= need
            if room < 0:
                return count
        return len(needs)

    def full(self, done: int) -> HearthError:
        so_far = f" after {plural(done, 'file')}" if done else ""
        return DiskFullError(
            f"The disk holding Hearth's documents is nearly full ({human_bytes(self.free())} free): indexing "
            f"“{self.name}” stopped{so_far}, before the collection could be damaged. What was indexed is kept.",
            f"Free some space, then run: hearth docs sync “{self.name}” (or Update in Documents) to continue.",
        )


def write_estimate(write: FileWrite) -> int:
    """Bytes a file's chunks may take in Chroma: vectors (index and catalogue), text twice
    (metadata and its index; on a server, document and full-text index), metadata, with room
    for the index to grow."""
    dim = int(write.vectors.shape[1]) if write.vectors.ndim == 2 else 384
    text_bytes = sum(len(c.text.encode("utf-8")) for c in write.chunks)
    return len(write.chunks) * (dim * 4 * 3 + 2048) + text_bytes * 3

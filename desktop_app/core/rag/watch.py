"""Finding what changed in a collection's files: a polling scan over sizes and dates.

Why polling rather than file-system events (inotify, FSEvents, ReadDirectoryChangesW):
- it sees changes made while Hearth was closed, which events never report, so the
  same scan serves "resume after a restart" and "keep watching";
- it works the same on every platform and on network shares, external drives and
  cloud-synced folders, where events are missing or unreliable;
- it is cheap: one ``stat`` per file; a file is hashed (sha256) only when its size or
  date changed, and re-embedded only when its content did (a file that was merely
  touched or copied back keeps its chunks).

A source folder that is not reachable (an unplugged drive) is reported, and its
files are kept: only files whose folder is there but which are gone are removed.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from desktop_app.core.cancel import CancelToken
from desktop_app.core.rag.catalog import CollectionInfo, FileRecord, Source, covered
from desktop_app.core.rag.parsers import kind_for
from desktop_app.core.rag.store import DocumentStore

log = logging.getLogger(__name__)

SKIP_DIRS = {"node_modules", "__pycache__", "site-packages", "venv", "env", "$recycle.bin", "system volume information"}


@dataclass(frozen=True)
class FileTask:
    path: str
    size: int
    mtime_ns: int
    previous: FileRecord | None  # the manifest's record, when the file was seen before


@dataclass
class ScanPlan:
    to_index: list[FileTask] = field(default_factory=list)  # new files, or changed size/date
    to_remove: list[str] = field(default_factory=list)  # gone from disk, or no longer in any source
    unchanged: int = 0
    still_skipped: list[FileRecord] = field(default_factory=list)  # unreadable before, not changed since
    ignored: Counter[str] = field(default_factory=Counter)  # file types Hearth does not read, by extension
    missing_sources: list[str] = field(default_factory=list)
    scanned_sources: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.to_index and not self.to_remove


def _hidden(name: str) -> bool:
    return name.startswith((".", "~$")) or name.lower() in SKIP_DIRS


def walk_source(
    source: Source, cancel: CancelToken | None = None
) -> tuple[list[tuple[str, os.stat_result]], Counter[str]]:
    """(path, stat) of every readable document under a source; and what was ignored, by extension."""
    found: list[tuple[str, os.stat_result]] = []
    ignored: Counter[str] = Counter()
    if not source.is_folder:
        try:
            found.append((source.path, os.stat(source.path)))
        except OSError:
            pass
        return found, ignored
    for root, dirs, files in os.walk(source.path, followlinks=False):
        if cancel:
            cancel.raise_if_cancelled()
        dirs[:] = sorted(d for d in dirs if not _hidden(d))
        for name in sorted(files):
            if _hidden(name):
                continue
            path = os.path.join(root, name)
            if kind_for(Path(name)) is None:
                ignored[Path(name).suffix.lower() or name] += 1
                continue
            try:
                stat = os.stat(path)
            except OSError:
                continue
            if not os.path.isfile(path):
                continue
            found.append((path, stat))
    return found, ignored


def scan(
    store: DocumentStore,
    info: CollectionInfo,
    only: Sequence[str] | None = None,
    cancel: CancelToken | None = None,
    needs_reindex: Callable[[FileRecord], bool] | None = None,
) -> ScanPlan:
    """Compares the sources on disk with the manifest. ``only`` limits the scan to those
    source paths (the rest of the collection is left as it is)."""
    plan = ScanPlan()
    sources = store.sources(info)
    known = store.file_map(info)
    included = [s for s in sources if s.mode == "include" and (only is None or s.path in only)]
    seen: set[str] = set()
    for source in included:
        if not os.path.exists(source.path):
            plan.missing_sources.append(source.path)
            continue
        plan.scanned_sources.append(source.path)
        found, ignored = walk_source(source, cancel)
        plan.ignored.update(ignored)
        for path, stat in found:
            if path in seen or not covered(path, sources):
                continue
            seen.add(path)
            previous = known.get(path)
            same_stat = previous is not None and previous.size == stat.st_size and previous.mtime_ns == stat.st_mtime_ns
            if same_stat and previous is not None and previous.status == "skipped":
                plan.still_skipped.append(previous)
            elif same_stat and previous is not None and not (needs_reindex and needs_reindex(previous)):
                plan.unchanged += 1
            else:
                plan.to_index.append(FileTask(path, stat.st_size, stat.st_mtime_ns, previous))
    # Files no longer on disk (in a source that is there) or no longer in any source.
    reachable = [s.path for s in included if s.path in plan.scanned_sources]
    for path in known:
        if path in seen:
            continue
        gone_from_disk = any(path == r or path.startswith(r.rstrip(os.sep) + os.sep) for r in reachable)
        # A shared collection also lists other clients' files: only what left this computer's own
        # sources goes.
        if gone_from_disk or (not info.shared and not covered(path, sources)):
            plan.to_remove.append(path)
    return plan


class PollingWatcher:
    """Calls ``on_tick`` every ``interval_s`` seconds on a background thread until stopped
    (used by ``hearth docs watch``; the GUI uses a QTimer and its own worker instead)."""

    def __init__(self, interval_s: float, on_tick: Callable[[], None]) -> None:
        self.interval_s = interval_s
        self._on_tick = on_tick
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hearth-docs-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def join(self, timeout: float | None = None) -> bool:
        """Waits up to ``timeout`` seconds; True while the watcher still runs."""
        self._thread.join(timeout)
        return self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._on_tick()
            except Exception:  # a failed scan must not end the watch; it is logged
                log.exception("Scanning watched folders failed")
            self._stop.wait(self.interval_s)

"""Downloads from the Hub that never lose progress or trust.

A persistent queue (``downloads.json`` in the data folder) of files, each pinned to
the commit it was listed at. A download streams into a partial file next to its
destination and resumes it with an HTTP ``Range`` request after a pause, a dropped
connection or a restart of the app. Before it starts, the free disk space is
checked; when it ends, the sha256 is compared with the Hub's LFS hash (a mismatch
deletes the file and says so), and the revision is recorded in a sidecar
``<file>.hearth.json``.

Names from the Hub are never trusted as paths: :func:`unsafe_reason` refuses
``..``, absolute paths, backslashes, drive letters and other tricks, and every
destination is checked to stay inside its folder.

Files land in ``models/<owner>/<repo>/<file>``, or, when the user prefers, in the
shared Hugging Face cache, so that other tools reuse them.

The bytes themselves (HTTP ``Range`` into the partial file, the hash, moving the
verified file into place) are ``transfer.py``'s; this module is the queue: what is
queued, where each file goes, what pause, cancel and a closing app mean, and the
queue file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import hashlib
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop_app.core import locks, paths
from desktop_app.core.atomic_files import write_json_atomically
from desktop_app.core.cancel import CancelToken, Progress, ProgressCallback, Throttle
from desktop_app.core.errors import Cancelled, HearthError
from desktop_app.core.hub.transfer import Transfer, install
from desktop_app.core.models.files import hf_cache_dir, safe_relative_path, unsafe_reason
from desktop_app.core.units import human_bytes, human_duration

if TYPE_CHECKING:
    from desktop_app.core.hub.client import HubFile, ModelFile, RepoPage

log = logging.getLogger(__name__)

QUEUE_FILE = "downloads.json"
PARTIAL_SUFFIX = ".part"
RETRY_DELAYS_S = (0.5, 2.0, 5.0)  # a dropped connection resumes by itself this many times
SAVE_INTERVAL_S = 5.0
NOTIFY_INTERVAL_S = 0.2


class DownloadState(str, enum.Enum):
    """Where a download is; stored in the queue file by value."""

    QUEUED = "queued"
    DOWNLOADING = "downloading"
    PAUSED = "paused"
    VERIFYING = "verifying"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value

    @property
    def resumable(self) -> bool:
        return self in (DownloadState.PAUSED, DownloadState.FAILED)

    @property
    def finished(self) -> bool:
        return self in (DownloadState.DONE, DownloadState.CANCELLED)

    @property
    def active(self) -> bool:
        return self in (DownloadState.QUEUED, DownloadState.DOWNLOADING, DownloadState.VERIFYING)


_NAME_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


# -- names and places ------------------------------------------------------------------------


def _check_repo_id(repo_id: str) -> tuple[str, str]:
    owner, _, name = repo_id.partition("/")
    for part in (owner, name):
        if not _NAME_PART.match(part) or ".." in part:
            raise HearthError(f"“{repo_id}” is not a valid repository name.")
    return owner, name


def _inside(path: Path, root: Path) -> Path:
    """``path``, after checking that it resolves to a place inside ``root``."""
    resolved = path.resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise HearthError(f"Refused to write outside {root}: {path}.")
    return path


def hearth_destination(repo_id: str, filename: str) -> Path:
    """Where a Hub file lands in Hearth's models folder: ``models/<owner>/<repo>/<file>``."""
    owner, name = _check_repo_id(repo_id)
    relative = safe_relative_path(filename)
    root = paths.models_dir()
    return _inside(root.joinpath(owner, name, *relative.parts), root)


def _hf_repo_folder(repo_id: str) -> Path:
    from huggingface_hub.file_download import repo_folder_name

    _check_repo_id(repo_id)
    return hf_cache_dir() / repo_folder_name(repo_id=repo_id, repo_type="model")


# -- the queue -------------------------------------------------------------------------------


@dataclass
class DownloadItem:
    """One file to download, pinned to a commit. ``speed``/``eta`` are live only while running."""

    id: str
    repo_id: str
    filename: str  # path in the repository
    revision: str  # commit sha
    size: int
    sha256: str  # LFS sha256; "" for a file kept in git (then ``blob_id``, its git sha1, is checked)
    blob_id: str = ""
    to_hf_cache: bool = False
    state: DownloadState = DownloadState.QUEUED
    downloaded: int = 0
    error: str = ""
    hint: str = ""
    path: str = ""  # where the finished file is
    model_name: str = ""  # the model it belongs to (a split model has several files)
    created_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    speed: float = 0.0
    eta: float | None = None

    _PERSISTED = (
        "id", "repo_id", "filename", "revision", "size", "sha256", "blob_id", "to_hf_cache", "state",
        "downloaded", "error", "hint", "path", "model_name", "created_at", "finished_at",
    )  # fmt: skip

    @property
    def name(self) -> str:
        return self.filename.rsplit("/", 1)[-1]

    @property
    def fraction(self) -> float:
        return min(1.0, self.downloaded / self.size) if self.size else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self._PERSISTED}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DownloadItem:
        known = {k: data[k] for k in cls._PERSISTED if k in data}
        if "state" in known:
            known["state"] = DownloadState(known["state"])
        return cls(**known)


@dataclass
class _Run:
    token: CancelToken
    wake: threading.Event
    # What stopping means: "pause" keeps the partial file, "cancel" deletes it, "suspend" (the
    # app is closing) keeps it and leaves the download queued, to continue at the next start.
    action: str = "pause"


Listener = Callable[[DownloadItem], None]


class DownloadQueue:
    """The download queue, persisted. Thread-safe: the GUI pauses or cancels from its thread
    while a worker runs :meth:`run`; listeners hear every change (on the thread that made it)."""

    def __init__(self, path: Path | None = None, retry_delays: tuple[float, ...] = RETRY_DELAYS_S) -> None:
        self.path = path or paths.home() / QUEUE_FILE
        self.retry_delays = retry_delays
        self.prefer_hf_cache = False
        self._lock = threading.RLock()
        self._items: dict[str, DownloadItem] = {}
        self._runs: dict[str, _Run] = {}
        self._listeners: list[Listener] = []
        self._suspended = False
        self._load()

    # -- persistence ---------------------------------------------------------------------------

    def _load(self) -> None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            log.warning("Download queue %s unreadable (%s); starting empty", self.path, exc)
            return
        if not isinstance(data, dict):
            return
        self.prefer_hf_cache = bool(data.get("prefer_hf_cache", False))
        for raw in data.get("items", []):
            try:
                item = DownloadItem.from_dict(raw)
            except TypeError:
                log.warning("Skipping a malformed download entry: %r", raw)
                continue
            if unsafe_reason(item.filename) or not re.fullmatch(r"[0-9a-f]{40}", item.revision):
                log.warning("Skipping a download entry that is not safe to follow: %r", raw)
                continue
            if item.state in (DownloadState.DOWNLOADING, DownloadState.VERIFYING):
                item.state = DownloadState.PAUSED  # the app stopped while it ran: it resumes from its partial file
            if not item.state.finished:
                with contextlib.suppress(HearthError, OSError):
                    partial = self.partial_path(item)
                    item.downloaded = partial.stat().st_size if partial.exists() else 0
            self._items[item.id] = item

    def save(self) -> None:
        with self._lock:
            data = {
                "version": 1,
                "prefer_hf_cache": self.prefer_hf_cache,
                "items": [item.to_dict() for item in self._items.values()],
            }
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_json_atomically(self.path, data)

    def set_prefer_hf_cache(self, value: bool) -> None:
        """Whether new downloads go to the shared Hugging Face cache (remembered)."""
        with self._lock:
            self.prefer_hf_cache = bool(value)
            self.save()

    # -- listing -------------------------------------------------------------------------------

    def items(self) -> list[DownloadItem]:
        """Copies of the items, oldest first."""
        with self._lock:
            return [dataclasses.replace(i) for i in self._items.values()]

    def get(self, item_id: str) -> DownloadItem:
        with self._lock:
            item = self._items.get(item_id)
            if item is None:
                raise HearthError("That download is no longer in the list.")
            return dataclasses.replace(item)

    def next_queued(self) -> DownloadItem | None:
        with self._lock:
            for item in self._items.values():
                if item.state == DownloadState.QUEUED and item.id not in self._runs:
                    return dataclasses.replace(item)
        return None

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Calls ``listener`` with a copy of an item whenever it changes; returns an unsubscribe."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock, contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return unsubscribe

    def _notify(self, item: DownloadItem) -> None:
        snapshot = dataclasses.replace(item)
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(snapshot)
            except Exception:  # a listener's bug must not stop a download
                log.exception("Download listener failed")

    def _change(self, item: DownloadItem, save: bool = True, **changes: Any) -> None:
        with self._lock:
            for key, value in changes.items():
                setattr(item, key, value)
            if save:
                self.save()
        self._notify(item)

    # -- adding --------------------------------------------------------------------------------

    def paths_for(self, item: DownloadItem) -> tuple[Path, Path]:
        """(destination, partial file) of ``item``, computed from its repository and name."""
        if item.to_hf_cache:
            blob_name = (item.sha256 or item.blob_id).lower()
            if not re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", blob_name):
                raise HearthError(f"“{item.filename}” has no usable hash, so it cannot go to the shared cache.")
            folder = _hf_repo_folder(item.repo_id)
            relative = safe_relative_path(item.filename)
            snapshot = _inside(folder.joinpath("snapshots", item.revision, *relative.parts), folder)
            return snapshot, folder / "blobs" / f"{blob_name}.incomplete"
        dest = hearth_destination(item.repo_id, item.filename)
        return dest, dest.with_name(dest.name + PARTIAL_SUFFIX)

    def partial_path(self, item: DownloadItem) -> Path:
        return self.paths_for(item)[1]

    def add_file(
        self,
        repo_id: str,
        hub_file: HubFile,
        revision: str,
        to_hf_cache: bool | None = None,
        model_name: str = "",
    ) -> DownloadItem:
        """Queues one file (no network). An existing entry for the same file and commit is reused."""
        safe_relative_path(hub_file.path)
        _check_repo_id(repo_id)
        if not re.fullmatch(r"[0-9a-fA-F]{40}", revision):
            raise HearthError(f"“{revision}” is not a commit; downloads are pinned to the commit they were listed at.")
        to_cache = self.prefer_hf_cache if to_hf_cache is None else to_hf_cache
        with self._lock:
            for item in self._items.values():
                if (item.repo_id, item.filename, item.to_hf_cache) != (repo_id, hub_file.path, to_cache):
                    continue
                if item.state in (
                    DownloadState.QUEUED,
                    DownloadState.DOWNLOADING,
                    DownloadState.VERIFYING,
                    DownloadState.PAUSED,
                    DownloadState.FAILED,
                ):
                    # Unfinished: it continues at the commit it started from, whatever the Hub has now.
                    if item.state == DownloadState.FAILED:
                        self._change(item, state=DownloadState.QUEUED, error="", hint="")
                    return dataclasses.replace(item)
                if item.revision != revision.lower():
                    continue
                if item.state == DownloadState.DONE and item.path and Path(item.path).is_file():
                    return dataclasses.replace(item)
                self._change(item, state=DownloadState.QUEUED, error="", hint="", finished_at=None)
                return dataclasses.replace(item)
            item = DownloadItem(
                id=uuid.uuid4().hex[:12],
                repo_id=repo_id,
                filename=hub_file.path,
                revision=revision.lower(),
                size=hub_file.size,
                sha256=hub_file.sha256.lower(),
                blob_id=hub_file.blob_id.lower(),
                to_hf_cache=to_cache,
                model_name=model_name or hub_file.path,
            )
            self.paths_for(item)  # refuses what cannot be placed safely
            dest = self.paths_for(item)[0]
            if dest.is_file() and dest.stat().st_size == item.size:
                item.state, item.path, item.downloaded = DownloadState.DONE, str(dest), item.size
                item.finished_at = time.time()
            self._items[item.id] = item
            self.save()
        self._notify(item)
        return dataclasses.replace(item)

    def add_model(self, page: RepoPage, model: ModelFile, to_hf_cache: bool | None = None) -> list[DownloadItem]:
        """Queues every file of ``model`` (one, or each part of a split model)."""
        if page.gated and not _has_token():
            from desktop_app.core.hub.client import gated_error

            raise gated_error(page.repo_id)
        return [self.add_file(page.repo_id, part, page.revision, to_hf_cache, model.name) for part in model.parts]

    def request(
        self, repo: str, spec: str, token: str | None = None, to_hf_cache: bool | None = None
    ) -> list[DownloadItem]:
        """Queues the model ``spec`` (a file name, a split model's name or a quant) of ``repo``."""
        from desktop_app.core.hub import client as hub_client

        safe_relative_path(spec)  # a hostile name is refused before anything is asked of the Hub
        page = hub_client.open_repo(repo, token=token)
        return self.add_model(page, page.find(spec), to_hf_cache)

    # -- control -------------------------------------------------------------------------------

    def pause(self, item_id: str) -> None:
        """Stops a download, keeping what it has; :meth:`resume` continues from there."""
        with self._lock:
            item = self._items.get(item_id)
            if item is None:
                return
            run = self._runs.get(item_id)
            if run is not None:
                run.action = "pause"
                run.token.cancel()
                run.wake.set()
            elif item.state == DownloadState.QUEUED:
                self._change(item, state=DownloadState.PAUSED)

    def resume(self, item_id: str) -> None:
        """Puts a paused or failed download back in the queue."""
        with self._lock:
            item = self._items.get(item_id)
            if item is not None and (item.state.resumable or item.state is DownloadState.CANCELLED):
                self._change(item, state=DownloadState.QUEUED, error="", hint="")

    def cancel(self, item_id: str) -> None:
        """Stops a download and deletes what it downloaded so far."""
        with self._lock:
            item = self._items.get(item_id)
            if item is None or item.state == DownloadState.DONE:
                return
            run = self._runs.get(item_id)
            if run is not None:
                run.action = "cancel"
                run.token.cancel()
                run.wake.set()
                return
            self._delete_partial(item)
            self._change(item, state=DownloadState.CANCELLED, downloaded=0, speed=0.0, eta=None)

    def suspend_all(self) -> None:
        """The app is closing: stops running downloads, keeping them queued for the next start."""
        with self._lock:
            self._suspended = True
            for run in self._runs.values():
                run.action = "suspend"
                run.token.cancel()
                run.wake.set()

    def remove(self, item_id: str) -> None:
        """Drops an entry from the list (a running download is cancelled first)."""
        with self._lock:
            item = self._items.get(item_id)
            if item is None:
                return
            if item.id in self._runs:
                self.cancel(item_id)
                return
            if item.state != DownloadState.DONE:
                self._delete_partial(item)
            del self._items[item_id]
            self.save()

    def clear_finished(self) -> None:
        with self._lock:
            for item in list(self._items.values()):
                if item.state.finished and item.id not in self._runs:
                    del self._items[item.id]
            self.save()

    def _delete_partial(self, item: DownloadItem) -> None:
        with contextlib.suppress(HearthError, OSError):
            self.partial_path(item).unlink(missing_ok=True)

    # -- running -------------------------------------------------------------------------------

    def run(self, item_id: str, progress: ProgressCallback | None = None, cancel: CancelToken | None = None) -> Path:
        """Downloads one item on the calling thread; returns the finished file.

        ``cancel`` (or :meth:`pause`) stops it and keeps the partial file; :meth:`cancel`
        deletes it. Raises Cancelled when stopped, HearthError when it fails (a partial
        file stays for a resume, unless it failed its checksum).
        """
        with self._lock:
            item = self._items.get(item_id)
            if item is None:
                raise HearthError("That download is no longer in the list.")
            if item_id in self._runs:
                raise HearthError(f"“{item.name}” is already downloading.")
            if item.state == DownloadState.DONE and item.path and Path(item.path).is_file():
                return Path(item.path)
            run = _Run(CancelToken(), threading.Event())
            if self._suspended:
                run.action = "suspend"
                run.token.cancel()
            self._runs[item_id] = run
            self._change(item, state=DownloadState.DOWNLOADING, error="", hint="", speed=0.0, eta=None)
        try:
            with self._download_lock(item):  # one writer per partial file, across processes
                path = self._transfer(item, run, cancel, progress)
        except Cancelled:
            self._stopped(item, run)
            raise
        except locks.LockHeldError:
            self._change(item, save=False, state=DownloadState.QUEUED, speed=0.0, eta=None)  # the holder's to record
            raise
        except HearthError as exc:
            with contextlib.suppress(HearthError):  # a full disk must not hide the first failure behind the queue's
                self._change(item, state=DownloadState.FAILED, error=exc.message, hint=exc.hint, speed=0.0, eta=None)
            raise
        except Exception:
            with contextlib.suppress(HearthError):
                self._change(
                    item,
                    state=DownloadState.FAILED,
                    error="The download failed unexpectedly.",
                    hint="",
                    speed=0.0,
                    eta=None,
                )
            raise
        except BaseException:  # KeyboardInterrupt in the CLI: keep the partial file for the next run
            self._stopped(item, run)
            raise
        else:
            self._change(
                item,
                state=DownloadState.DONE,
                path=str(path),
                downloaded=item.size,
                finished_at=time.time(),
                speed=0.0,
                eta=None,
            )
            return path
        finally:
            with self._lock:
                self._runs.pop(item_id, None)

    def run_pending(self, progress: ProgressCallback | None = None, cancel: CancelToken | None = None) -> None:
        """Runs queued items one after another until none is left (failures are recorded, not raised)."""
        while (item := self.next_queued()) is not None:
            if cancel is not None and cancel.cancelled:
                return
            with contextlib.suppress(Cancelled, HearthError):
                self.run(item.id, progress, cancel)

    def _stopped(self, item: DownloadItem, run: _Run) -> None:
        if run.action == "cancel":
            self._delete_partial(item)
            self._change(item, state=DownloadState.CANCELLED, downloaded=0, speed=0.0, eta=None)
        else:
            with contextlib.suppress(OSError, HearthError):
                partial = self.partial_path(item)
                item.downloaded = partial.stat().st_size if partial.exists() else 0
            state = DownloadState.QUEUED if run.action == "suspend" else DownloadState.PAUSED
            self._change(item, state=state, speed=0.0, eta=None)

    def _download_lock(self, item: DownloadItem) -> contextlib.AbstractContextManager[None]:
        key = hashlib.sha256(str(self.partial_path(item)).encode("utf-8")).hexdigest()[:20]
        return locks.hold(
            self.path.parent / "locks" / f"download-{key}.lock",
            f"The download of “{item.name}”",
            hint="Another Hearth program is downloading it; wait for it to finish (or stop it there).",
        )

    def _check_stop(self, run: _Run, cancel: CancelToken | None) -> None:
        if run.token.cancelled or (cancel is not None and cancel.cancelled):
            raise Cancelled

    def _transfer(
        self, item: DownloadItem, run: _Run, cancel: CancelToken | None, progress: ProgressCallback | None
    ) -> Path:
        def check_stop() -> None:
            self._check_stop(run, cancel)

        check_stop()
        dest, partial = self.paths_for(item)
        saves = Throttle(SAVE_INTERVAL_S, wait_first=True)
        notices = Throttle(NOTIFY_INTERVAL_S)

        def on_bytes(done: int, speed: float) -> None:
            item.downloaded = done
            item.speed = speed
            item.eta = (item.size - done) / speed if speed > 0 else None
            if progress is not None:
                message = f"{human_bytes(speed)}/s" if speed else ""
                if item.eta is not None:
                    message += f", {human_duration(item.eta)} left"
                progress(Progress(done, item.size, message))
            if notices.ready(force=done == item.size):
                self._change(item, save=saves.ready())

        digest = Transfer(
            item,
            partial,
            check_stop=check_stop,
            wait=run.wake.wait,
            retry_delays=self.retry_delays,
            on_bytes=on_bytes,
            on_verifying=lambda: self._change(
                item, state=DownloadState.VERIFYING, downloaded=item.size, speed=0.0, eta=None
            ),
            progress=progress,
        ).run()
        return install(item, dest, partial, digest)


def _has_token() -> bool:
    from huggingface_hub import get_token

    return bool(get_token())

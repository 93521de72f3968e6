"""Indexing: scan -> parse and chunk (one thread) -> embed and write (another), with progress and cancel.

The two stages run at once, joined by a bounded queue: while the embedding model
works on one batch, the next files are being read, so the embedder is never left
waiting on a slow PDF and memory stays bounded. Chunks of small files are embedded
together in batches; each file is written as soon as all its chunks have vectors.

Restarts and crashes: progress is the manifest itself. A file is recorded as indexed
only after all its chunks are stored, so an interrupted run (cancel, crash, power
cut) is resumed by simply running again: finished files are skipped by the scan,
unfinished ones are indexed again under the same chunk ids (no duplicates), and
chunks left by a crash are swept (see store.py).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import queue
import shutil
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop_app.core import errors
from desktop_app.core.cancel import CancelToken, Progress
from desktop_app.core.errors import Cancelled, HearthError
from desktop_app.core.models.fingerprint import sha256_file
from desktop_app.core.rag import documents_settings as rag_config
from desktop_app.core.rag import embed_backends, embed_rates, ocr, ocr_switch
from desktop_app.core.rag.catalog import CollectionInfo, FileRecord
from desktop_app.core.rag.chunking import Chunk, chunk_document, chunker_id
from desktop_app.core.rag.embedder import Embedder, expected_model_id, export_needed, fallback_reason, get_embedder
from desktop_app.core.rag.parsers import PARSER_VERSION, ParsedDocument, UnreadableDocument, parse
from desktop_app.core.rag.parsers.pictures import found_no_text
from desktop_app.core.rag.store import DocumentStore, FileWrite
from desktop_app.core.rag.vectors import CollectionDamagedError, StoreDamagedError, is_disk_full
from desktop_app.core.rag.watch import FileTask, ScanPlan, scan
from desktop_app.core.units import about_duration, human_bytes, plural

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

# Chunks embedded per call: sorted by length within it, so the backend's batches (16 for ONNX,
# 64 for PyTorch) pad less (see Embedder.encode). At least 8 of the backend's batches: PyTorch's
# batches of 64 in windows of 256 ran 2-5% slower than in windows of 512 (benchmarks/README.md).
EMBED_WINDOW = 256
WINDOW_BATCHES = 8
QUEUE_FILES = 32
# Files waiting for the writer: a window's worth, so the encoder never waits on the disk.
WRITE_QUEUE_FILES = 64
# Files stored together (one Chroma write, one manifest commit; each a disk sync): the files that
# were waiting when the writer came free. Bounds what a cancel lets finish.
WRITE_BATCH_FILES = 16
# How long the encoder waits for the reader before embedding a part window (a full window is
# faster per chunk, sorted by length within it; a reader slower than this is not waited for).
READER_WAIT_S = 0.1
READER_NICENESS = 10
LOCK_WAIT_S = 6 * 3600.0  # a second indexer of one collection waits (with a message) rather than fail


class DiskFullError(errors.DiskFullError):
    """Indexing stopped because the disk is (nearly) full."""


@dataclass(frozen=True)
class IndexProgress(Progress):
    """``done``/``total`` count files; the rest is what the progress bar's label shows."""

    files_done: int = 0
    files_total: int = 0
    chunks_done: int = 0
    chunks_queued: int = 0  # chunks found so far (the reader runs ahead of the embedder)
    rate: float = 0.0  # chunks per second, end to end
    eta_s: float | None = None
    current: str = ""
    phase: str = "indexing"  # "waiting" | "loading" | "scanning" | "removing" | "indexing" | "done"
    ocr: str = ""  # "recognising page 3 of 12 of scan.pdf" while a scanned page is read (ocr.py)

    def describe(self) -> str:
        parts = [f"{self.files_done:,} of {plural(self.files_total, 'file')}", plural(self.chunks_done, "chunk")]
        if self.ocr:
            parts.append(self.ocr)
        if self.rate:
            parts.append(f"{self.rate:,.0f} chunks/s")
        if self.eta_s is not None and self.files_done < self.files_total:
            parts.append(f"about {about_duration(self.eta_s)} left")
        return " · ".join(parts)


IndexProgressCallback = Callable[[IndexProgress], None]


@dataclass
class SkippedFile:
    path: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class IngestReport:
    """What an indexing run did; filled in as it goes, so a cancelled run's report is accurate."""

    collection: str
    indexed: list[str] = field(default_factory=list)  # new or changed files, now indexed
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)  # could not be read
    no_text: list[str] = field(default_factory=list)  # pictures with no text in them: left out, not failures
    notes: list[SkippedFile] = field(default_factory=list)  # indexed, with a remark (pages without text…)
    ignored: dict[str, int] = field(default_factory=dict)  # file types not read, by extension
    missing_sources: list[str] = field(default_factory=list)
    chunks_added: int = 0
    elapsed_s: float = 0.0  # all of it, loading the embedding model included
    index_s: float = 0.0  # reading, embedding and writing the files
    embed_s: float = 0.0
    cancelled: bool = False
    backend: str = ""  # what embedded this run's chunks
    backend_note: str = ""  # why it is not the collection's own backend (an exact one fell back to PyTorch)

    @property
    def rate(self) -> float:
        """Chunks per second, end to end (read, chunk, embed, store), model loading aside."""
        return self.chunks_added / self.index_s if self.index_s > 0 else 0.0

    def add_skipped(self, path: str, reason: str) -> None:
        """A file left out: a picture with no text apart from the files that could not be read."""
        if found_no_text(reason):
            self.no_text.append(path)
        else:
            self.skipped.append(SkippedFile(path, reason))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["files_indexed"] = len(self.indexed)
        data["chunks"] = self.chunks_added
        data["chunks_per_s"] = round(self.rate, 1)
        return data

    def summary(self) -> str:
        text = f"{plural(len(self.indexed), 'file')} indexed ({plural(self.chunks_added, 'chunk')})"
        if self.unchanged:
            text += f", {self.unchanged} unchanged"
        if self.removed:
            text += f", {len(self.removed)} removed"
        if self.skipped:
            text += f", {len(self.skipped)} could not be read"
        if self.no_text:
            text += f", {plural(len(self.no_text), 'picture')} had no text"
        return text + (" — stopped before the end" if self.cancelled else "")


def create_collection(
    store: DocumentStore,
    name: str,
    settings: rag_config.RagSettings | None = None,
    server: str | None = None,
    token: str | None = None,
) -> CollectionInfo:
    """A new collection in the local store, or on the Chroma server at ``server`` (joined when
    another client made it there; ``token`` None: the one saved for that server, if any)."""
    settings = settings or rag_config.load()
    backend = embed_backends.for_new_collection(settings.embed_backend)
    if server:
        return store.shared.create(
            name, server, token, settings.embed_model, backend, settings.chunk_tokens, settings.chunk_overlap,
            lambda model, chosen: embed_backends.vector_space(expected_model_id(model), chosen),
        )  # fmt: skip
    return store.create_collection(
        name, settings.embed_model, settings.chunk_tokens, settings.chunk_overlap, embed_backend=backend
    )


def ensure_collection(
    store: DocumentStore, name: str, settings: rag_config.RagSettings | None = None
) -> CollectionInfo:
    return store.find(name) or create_collection(store, name, settings)


def add_paths(
    store: DocumentStore,
    name: str,
    targets: Sequence[str | Path],
    watch: bool | None = None,
    cancel: CancelToken | None = None,
    progress: IndexProgressCallback | None = None,
    report: IngestReport | None = None,
) -> IngestReport:
    """Adds files and folders to a collection (created when new) and indexes them."""
    info = ensure_collection(store, name)
    added = [store.add_source(info, target, watch) for target in targets]
    return index_collection(store, info.name, [s.path for s in added], cancel, progress, report)


def index_collection(
    store: DocumentStore,
    name: str,
    only: Sequence[str] | None = None,
    cancel: CancelToken | None = None,
    progress: IndexProgressCallback | None = None,
    report: IngestReport | None = None,
) -> IngestReport:
    """Brings the index up to date with the collection's sources (or only those in ``only``):
    new and changed files are indexed, deleted ones removed. Raises Cancelled when stopped;
    ``report`` (if given) then holds what was done."""
    cancel = cancel or CancelToken()
    info = store.collection(name)
    report = report if report is not None else IngestReport(info.name)
    report.collection = info.name

    def waiting(text: str) -> None:
        log.warning("%s", text)
        if progress:
            progress(IndexProgress(0, None, text, phase="waiting"))

    # One writer per collection: a second program (or task) waits for the first, then finds its work done.
    with store.writing(info, wait_s=LOCK_WAIT_S, on_wait=waiting, cancelled=lambda: cancel.cancelled):
        return _index_locked(store, store.collection(info.name), only, cancel, progress, report)


def _index_locked(
    store: DocumentStore,
    info: CollectionInfo,
    only: Sequence[str] | None,
    cancel: CancelToken,
    progress: IndexProgressCallback | None,
    report: IngestReport,
) -> IngestReport:
    started = time.perf_counter()
    chunker = chunker_id(info.chunk_tokens, info.chunk_overlap)
    model_id = embed_backends.vector_space(expected_model_id(info.embed_model), info.embed_backend)
    # A shared collection: other clients' files first (and a refusal if its vectors are another model's).
    info = store.shared.pull(info, model_id, force=True)
    if not info.shared:
        problem = store.store_problem()
        if problem:
            raise store_damaged(info, problem)
    if info.chunks and not info.shared and store.chunk_count(info) == 0:
        # The vector store was deleted or replaced behind Hearth's back: index everything again.
        log.warning("The vectors of %s are gone; indexing its files again", info.name)
        store.forget_files(info)
        info = store.refresh(info)
    health = store.health(info, writing=True) if not info.shared else None
    if health is not None and health.state == "damaged":
        raise CollectionDamagedError(
            f"The collection “{info.name}” is damaged: {health.reason}.", health.advice(info.name)
        )
    if info.chunks and not info.shared:
        store.probe(info)  # a damaged index fails here in plain words, never as "N unchanged"
    if info.dirty:
        store.sweep_orphans(info)  # the last run did not finish: drop what it half-wrote
    room = DiskRoom(store.chroma_path, info.name)
    room.check()
    store.set_dirty(info, True)
    embedder: Embedder | None = None
    try:
        if progress:
            progress(IndexProgress(0, None, "Looking for new and changed files", phase="scanning"))
        plan = scan(
            store,
            info,
            only,
            cancel,
            needs_reindex=lambda r: r.status == "indexed" and (r.chunker != chunker or r.embed_model_id != model_id),
        )
        report.unchanged += plan.unchanged
        report.ignored = dict(Counter(report.ignored) + plan.ignored)
        report.missing_sources.extend(plan.missing_sources)
        for record in plan.still_skipped:
            report.add_skipped(record.path, record.reason)
        if plan.to_remove:
            if progress:
                progress(IndexProgress(0, None, "Removing deleted files", phase="removing"))
            store.remove_files(info, plan.to_remove)
            report.removed.extend(plan.to_remove)
        if plan.to_index:
            # The model loads only when there is something to embed: a scan that finds no change is cheap.
            if progress:
                message = (
                    "Preparing the embedding model for fast indexing (once)"
                    if export_needed(info.embed_model, info.embed_backend)
                    else "Loading the embedding model"
                )
                progress(IndexProgress(0, len(plan.to_index), message, phase="loading"))
            embedder = get_embedder(info.embed_model, info.embed_backend)
            report.backend = embedder.backend
            report.backend_note = fallback_reason(info.embed_model, info.embed_backend)
            cancel.raise_if_cancelled()
            pipeline = _Pipeline(store, info, embedder, chunker, plan, cancel, progress, report, started)
            pipeline.room = room
            pipeline.run()
        elif progress:
            progress(IndexProgress(0, 0, "Up to date", phase="done"))
        store.mark_scanned(info, plan.scanned_sources)
    except Cancelled:
        store.set_dirty(info, False)  # a cancel stops between files: everything written is complete
        raise
    except HearthError:
        raise
    except Exception as exc:
        if is_disk_full(exc):
            raise room.full(len(report.indexed)) from exc
        raise
    else:
        store.set_dirty(info, False)  # (after any other error it stays set: the next run sweeps)
    finally:
        report.elapsed_s = time.perf_counter() - started
        if embedder is not None and embedder.rate:
            with contextlib.suppress(HearthError, OSError):
                embed_rates.record_rate(store, embedder.rate_key, embedder.rate)
    return report


def store_damaged(info: CollectionInfo, problem: str) -> HearthError:
    return StoreDamagedError(
        f"The collection “{info.name}” cannot be used: {problem[:1].lower()}{problem[1:]}",
        f"Rebuild it: hearth docs rebuild “{info.name}” (or Rebuild in Documents).",
    )


def rebuild_collection(
    store: DocumentStore,
    name: str,
    cancel: CancelToken | None = None,
    progress: IndexProgressCallback | None = None,
    report: IngestReport | None = None,
) -> IngestReport:
    """Rebuilds a collection whose vectors are damaged or lost: drops them, keeps its settings
    (model, backend, chunk sizes) and sources, and indexes every file again from the sources."""
    info = store.collection(name)
    with store.writing(info, wait_s=0):
        store.reset_vectors(info)
    return index_collection(store, info.name, None, cancel, progress, report)


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
    (document and full-text index), metadata, with room for the index to grow."""
    dim = int(write.vectors.shape[1]) if write.vectors.ndim == 2 else 384
    text_bytes = sum(len(c.text.encode("utf-8")) for c in write.chunks)
    return len(write.chunks) * (dim * 4 * 3 + 2048) + text_bytes * 3


_DONE = object()


@dataclass
class _Parsed:
    task: FileTask
    sha256: str
    doc: ParsedDocument
    chunks: list[Chunk]
    vectors: list[np.ndarray] = field(default_factory=list)

    @property
    def embedded(self) -> int:
        return sum(len(v) for v in self.vectors)


@dataclass(frozen=True)
class _Embedded:
    """A file with all its vectors, for the writer."""

    item: _Parsed
    vectors: np.ndarray


def _write_groups(jobs: list[Any]) -> list[Any]:
    """Consecutive embedded files as one list (stored in one write); other jobs as they come."""
    groups: list[Any] = []
    for job in jobs:
        if isinstance(job, _Embedded):
            if groups and isinstance(groups[-1], list):
                groups[-1].append(job)
            else:
                groups.append([job])
        else:
            groups.append(job)
    return groups


def _yield_cpu_to_the_encoder() -> None:
    """Lowers the calling thread's priority (Linux: per thread). The reader only has to keep a
    few files ahead of the encoder; at equal priority it takes cores from torch's threads, which
    then wait for each other (measured: indexing at 70-80% of bare encoding speed on 2 cores)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), READER_NICENESS)


class _Pipeline:
    def __init__(
        self,
        store: DocumentStore,
        info: CollectionInfo,
        embedder: Embedder,
        chunker: str,
        plan: ScanPlan,
        cancel: CancelToken,
        progress: IndexProgressCallback | None,
        report: IngestReport,
        started: float,
    ) -> None:
        self.store = store
        self.info = info
        self.embedder = embedder
        self.chunker = chunker
        self.plan = plan
        self.cancel = cancel
        self.progress = progress
        self.report = report
        self.started = started
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_FILES)
        self.stop = threading.Event()
        self.files_done = 0
        self.bytes_total = sum(t.size for t in plan.to_index) or 1
        self.bytes_done = 0.0
        self.chunks_done = 0
        self.chunks_queued = 0
        self.embed_started: float | None = None
        self.current = ""
        self.encode_s0 = embedder.encode_s
        self.window = max(EMBED_WINDOW, WINDOW_BATCHES * embedder.batch_size)
        self.writes: queue.Queue[Any] = queue.Queue(maxsize=WRITE_QUEUE_FILES)
        self.write_error: BaseException | None = None
        self.emit_lock = threading.Lock()
        self.room: DiskRoom | None = None
        self.ocr_on = ocr_switch.ocr_enabled(store, info)  # scanned pages recognised (ocr.py), unless switched off
        self.ocr_note = ""

    # -- reader thread ---------------------------------------------------------------------------

    def _read(self) -> None:
        _yield_cpu_to_the_encoder()
        try:
            for task in self.plan.to_index:
                if self.cancel.cancelled or self.stop.is_set():
                    break
                self._put(self._prepare(task))
        except BaseException as exc:  # noqa: BLE001 - handed to the writer, which re-raises it
            self._put(exc)
        finally:
            self._put(_DONE)

    def _put(self, item: Any) -> None:
        """Blocks while the queue is full; gives up once the writer has stopped."""
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _drain(self) -> None:
        try:
            while True:
                self.queue.get_nowait()
        except queue.Empty:
            pass

    def _prepare(self, task: FileTask) -> Any:
        path = Path(task.path)
        try:
            sha = sha256_file(path, cancel=self.cancel)
        except OSError as exc:
            return ("skip", task, "", f"The file cannot be opened ({exc.strerror or exc}).")
        previous = task.previous
        if (
            previous is not None
            and previous.sha256 == sha
            and (
                previous.status == "skipped"
                or (previous.chunker == self.chunker and previous.embed_model_id == self.embedder.id)
            )
        ):
            return ("touch", task, previous)
        try:
            doc = parse(path, self._ocr_request(path))
        except UnreadableDocument as exc:
            return ("skip", task, sha, str(exc))
        chunks = chunk_document(doc, self.embedder.token_offsets, self.info.chunk_tokens, self.info.chunk_overlap)
        if not chunks:
            return ("skip", task, sha, "The file contains no text.")
        return _Parsed(task, sha, doc, chunks)

    def _ocr_request(self, path: Path) -> ocr.OcrRequest | None:
        if not self.ocr_on:
            return None

        def progress(done: int, total: int) -> None:
            self.ocr_note = f"recognising page {done + 1} of {total} of {path.name}" if done < total else ""
            self._emit()

        return ocr.OcrRequest(self.cancel, progress)

    # -- embedding (the calling thread) -----------------------------------------------------------

    def run(self) -> None:
        if not self.plan.to_index:
            self._emit(phase="done")
            return
        began = time.perf_counter()
        reader = threading.Thread(target=self._read, name="hearth-docs-reader", daemon=True)
        writer = threading.Thread(target=self._store_writes, name="hearth-docs-writer", daemon=True)
        reader.start()
        writer.start()
        pending: list[_Parsed] = []
        try:
            while True:
                item = self._next(pending)
                if item is _DONE:
                    break
                if isinstance(item, BaseException):
                    raise item
                self.cancel.raise_if_cancelled()
                if isinstance(item, _Parsed):
                    pending.append(item)
                    self.chunks_queued += len(item.chunks)
                    self.current = item.task.path
                elif item[0] == "touch":
                    self._submit(functools.partial(self._touch, item[1], item[2]))
                else:
                    self._submit(functools.partial(self._skip, *item[1:]))
                while self._unembedded(pending) >= self._window():
                    self._embed_some(pending)
            # All read: the last file is embedded on its own, so the files before it are written
            # while it is, and only its own write is left after the last vector.
            while pending:
                self._embed_some(pending, hold_last=len(pending) > 1)
            self.cancel.raise_if_cancelled()
        except Cancelled:
            self.report.cancelled = True
            raise
        finally:
            self.stop.set()  # the reader ends at its next file or queue wait
            self._drain()
            reader.join()
            self._drain()
            self.writes.put(_DONE)  # the writer finishes what it has (a cancel: the file it is on)
            writer.join()
            self.report.embed_s += self.embedder.encode_s - self.encode_s0
            self.report.index_s += time.perf_counter() - began
        if self.write_error is not None:
            raise self.write_error
        if self.cancel.cancelled:
            self.report.cancelled = True
            raise Cancelled()
        self._emit(phase="done")

    def _next(self, pending: list[_Parsed]) -> Any:
        """The reader's next item. While it has nothing ready, waits a little for more chunks to
        fill the window, then embeds what is waiting, so the encoder never idles on a slow reader."""
        while True:
            if not self._unembedded(pending):
                return self.queue.get()
            try:
                return self.queue.get(timeout=READER_WAIT_S)
            except queue.Empty:
                self._embed_some(pending)

    @staticmethod
    def _unembedded(pending: list[_Parsed]) -> int:
        return sum(len(p.chunks) - p.embedded for p in pending)

    def _window(self) -> int:
        """Chunks per call. The first call is one backend batch, so the encoder starts as soon as
        the reader has that many (a full window took the reader ~0.1 s, with the encoder idle)."""
        return self.window if self.embed_started is not None else self.embedder.batch_size

    def _embed_some(self, pending: list[_Parsed], hold_last: bool = False) -> None:
        """Embeds up to one window of waiting chunks (``hold_last``: none of the last file's), then
        hands every complete file to the writer."""
        import numpy as np

        self.cancel.raise_if_cancelled()
        wanted: list[tuple[_Parsed, int, int]] = []
        room = self._window()
        for item in pending[:-1] if hold_last else pending:
            left = len(item.chunks) - item.embedded
            if left <= 0:
                continue
            take = min(left, room)
            wanted.append((item, item.embedded, item.embedded + take))
            room -= take
            if room == 0:
                break
        if wanted:
            if self.embed_started is None:
                self.embed_started = time.perf_counter()
            texts = [c.embed_text for item, a, b in wanted for c in item.chunks[a:b]]
            base = self.chunks_done

            def embedded(step: Progress) -> None:
                self.chunks_done = base + int(step.done)
                self._emit()

            vectors = self.embedder.encode(texts, cancel=self.cancel, progress=embedded)
            offset = 0
            for item, a, b in wanted:
                item.vectors.append(vectors[offset : offset + (b - a)])
                offset += b - a
            self.chunks_done = base + len(texts)
        while pending and pending[0].embedded >= len(pending[0].chunks):
            done = pending.pop(0)
            self._submit(_Embedded(done, np.vstack(done.vectors)))
        self._emit()

    # -- writing (its own thread) ------------------------------------------------------------------

    def _submit(self, job: Callable[[], None] | _Embedded) -> None:
        """Queues a store write, in order; blocks while the writer is that far behind."""
        while True:
            if self.write_error is not None:
                raise self.write_error
            try:
                self.writes.put(job, timeout=0.1)
                return
            except queue.Full:
                continue

    def _store_writes(self) -> None:
        """Runs the writes while the next chunks are embedded (onnxruntime, PyTorch and Chroma's
        Rust core all release the GIL). Files waiting together are stored together. Never starts
        a write after a cancel, never stops inside one; after an error the rest is dropped and the
        error re-raised by ``run``."""
        while True:
            jobs = [self.writes.get()]
            while len(jobs) < WRITE_BATCH_FILES and jobs[-1] is not _DONE:
                try:
                    jobs.append(self.writes.get_nowait())
                except queue.Empty:
                    break
            for group in _write_groups(jobs):
                if group is _DONE:
                    return
                if self.write_error is not None or self.cancel.cancelled:
                    continue
                try:
                    group() if callable(group) else self._write(group)
                except BaseException as exc:  # noqa: BLE001 - handed to run(), which re-raises it
                    self.write_error = exc

    def _touch(self, task: FileTask, previous: FileRecord) -> None:
        self.store.touch_file(self.info, task.path, task.size, task.mtime_ns)
        if previous.status == "skipped":
            self.report.add_skipped(task.path, previous.reason)
        else:
            self.report.unchanged += 1
        self._file_finished(task)

    def _skip(self, task: FileTask, sha: str, reason: str) -> None:
        self.store.mark_skipped(self.info, task.path, task.size, task.mtime_ns, sha, reason)
        self.report.add_skipped(task.path, reason)
        self._file_finished(task)

    def _write(self, files: list[_Embedded]) -> None:
        """Stores files in one write (their chunks, then their manifest rows). On a nearly full
        disk, stores the files that fit and then stops the run."""
        writes = [self._file_write(f.item, f.vectors) for f in files]
        fit = len(writes) if self.room is None else self.room.fitting([write_estimate(w) for w in writes])
        if fit:
            self.store.write_files(self.info, writes[:fit])
        for file, write in zip(files[:fit], writes[:fit], strict=True):
            self.report.indexed.append(write.record.path)
            self.report.chunks_added += len(write.chunks)
            if file.item.doc.notes:
                self.report.notes.append(SkippedFile(write.record.path, " ".join(file.item.doc.notes)))
            self._file_finished(file.item.task)
        if fit < len(writes) and self.room is not None:
            raise self.room.full(len(self.report.indexed))

    def _file_write(self, item: _Parsed, vectors: np.ndarray) -> FileWrite:
        doc = item.doc
        record = FileRecord(
            path=item.task.path,
            status="indexed",
            size=item.task.size,
            mtime_ns=item.task.mtime_ns,
            sha256=item.sha256,
            reason="",
            kind=doc.kind,
            title=doc.title,
            pages=doc.pages,
            chunks=len(item.chunks),
            chunker=self.chunker,
            embed_model_id=self.embedder.id,
            notes=" ".join(doc.notes),
            indexed_at=time.time(),
        )
        extra = {"parser": PARSER_VERSION, "backend": self.embedder.backend}
        if doc.ocr:  # pages read by OCR and the recogniser's confidence: "2:0.97 3:0.91"
            extra["ocr_pages"] = " ".join(f"{page}:{conf}" for page, conf in sorted(doc.ocr.items()))
        return FileWrite(record, item.chunks, vectors, extra, replaces=item.task.previous is not None)

    def _file_finished(self, task: FileTask) -> None:
        self.files_done += 1
        self.bytes_done += task.size
        self.current = task.path
        self._emit()

    def _emit(self, phase: str = "indexing") -> None:
        if not self.progress:
            return
        with self.emit_lock:  # called by the embedding and the writing threads
            self._emit_locked(phase)

    def _emit_locked(self, phase: str) -> None:
        assert self.progress is not None
        now = time.perf_counter()
        elapsed = now - self.started
        rate = self.chunks_done / (now - self.embed_started) if self.embed_started and now > self.embed_started else 0.0
        eta = None
        if 0 < self.bytes_done < self.bytes_total and elapsed > 0:
            eta = (self.bytes_total - self.bytes_done) / (self.bytes_done / elapsed)
        total = len(self.plan.to_index)
        self.progress(
            IndexProgress(
                done=self.files_done,
                total=total,
                message=Path(self.current).name if self.current else "",
                files_done=self.files_done,
                files_total=total,
                chunks_done=self.chunks_done,
                chunks_queued=self.chunks_queued,
                rate=rate,
                eta_s=eta,
                current=self.current,
                phase=phase,
                ocr=self.ocr_note,
            )
        )


# -- changing the embedding model or backend -----------------------------------------------------


@dataclass(frozen=True)
class ModelChangePlan:
    collection: str
    current_model: str
    new_model: str
    files: int
    chunks: int  # chunks to embed again (the count now; the new tokenizer may cut a little differently)
    seconds: float | None  # estimate from a measured rate; None when no rate is known
    rate: float  # chunks per second used for the estimate
    rate_measured: bool  # measured for this very model and backend (not borrowed from another)
    current_backend: str = ""
    new_backend: str = ""
    reembed: bool = True  # False: the new backend makes the same vectors, nothing is embedded again

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        new_label = embed_backends.backend(self.new_backend).label if self.new_backend else ""
        if not self.reembed:
            old_label = embed_backends.backend(self.current_backend).label
            return (
                f"Nothing is embedded again: {old_label} and {new_label} make the same vectors "
                f"(checked to a cosine of at least 0.999). New files will be embedded with {new_label}."
            )
        what = self.new_model + (f" ({new_label})" if new_label else "")
        text = f"{plural(self.chunks, 'chunk')} in {plural(self.files, 'file')} will be embedded again with {what}"
        if self.seconds is not None:
            basis = "" if self.rate_measured else " (estimated from the current model's speed)"
            text += f": about {about_duration(self.seconds)}{basis}"
        return text + "."


def plan_model_change(
    store: DocumentStore, name: str, new_model: str, new_backend: str | None = None
) -> ModelChangePlan:
    """What switching a collection's embedding model (or only its backend) costs, before doing it.
    A backend that makes the same vectors as the current one (PyTorch fp32 and ONNX fp32) costs
    nothing; any other change embeds every chunk again."""
    info = store.collection(name)
    backend = embed_backends.backend(new_backend or info.embed_backend).name
    same_model = new_model.strip() == info.embed_model
    reembed = not (same_model and embed_backends.same_vectors(info.embed_backend, backend))
    rates = embed_rates.rates(store)

    def model_of(key: str) -> str:
        return key.split("@")[0]

    def backend_of(key: str) -> str:
        return key.rpartition("#")[2] if "#" in key else "torch"  # rates from before backends were PyTorch's

    measured = next(
        (r for k, r in rates.items() if model_of(k) == new_model.strip() and backend_of(k) == backend), None
    )
    fallback = next((r for k, r in rates.items() if model_of(k) == info.embed_model), None)
    rate = measured or fallback or 0.0
    seconds = info.chunks / rate if rate and reembed else (0.0 if not reembed else None)
    return ModelChangePlan(
        info.name, info.embed_model, new_model.strip(), info.files, info.chunks if reembed else 0, seconds, rate,
        bool(measured), info.embed_backend, backend, reembed,
    )  # fmt: skip


def change_model(store: DocumentStore, name: str, new_model: str, new_backend: str | None = None) -> CollectionInfo:
    """Switches the model and/or backend (checking first that it loads); run index_collection
    next to re-embed (when the plan says so)."""
    info = store.collection(name)
    new_model = new_model.strip()
    backend = embed_backends.backend(new_backend or info.embed_backend).name
    if new_model == info.embed_model and backend == info.embed_backend:
        raise HearthError(f"“{info.name}” already uses {new_model} on {embed_backends.backend(backend).label}.")
    embedder = get_embedder(new_model, backend)  # fails here, in plain words, before anything is dropped
    if embedder.backend != backend:
        raise HearthError(
            f"The embedding backend “{embed_backends.backend(backend).label}” cannot run here.",
            fallback_reason(new_model, backend),
        )
    if new_model == info.embed_model and embed_backends.same_vectors(info.embed_backend, backend):
        return store.set_embed_backend(info, backend)
    return store.set_embed_model(info, new_model, backend)

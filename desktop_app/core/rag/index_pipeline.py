"""Indexing's pipeline: parse and chunk (one thread) -> embed and write (another), with progress and cancel.

The two stages run at once, joined by a bounded queue: while the embedding model
works on one batch, the next files are being read, so the embedder is never left
waiting on a slow PDF and memory stays bounded. Chunks of small files are embedded
together in batches; each file is written as soon as all its chunks have vectors.
"""

from __future__ import annotations

import contextlib
import functools
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop_app.core.cancel import CancelToken, Progress
from desktop_app.core.errors import Cancelled
from desktop_app.core.models.fingerprint import sha256_file
from desktop_app.core.rag import ocr, ocr_switch
from desktop_app.core.rag.catalog import CollectionInfo, FileRecord
from desktop_app.core.rag.chunking import Chunk, chunk_document
from desktop_app.core.rag.disk_room import DiskRoom, write_estimate
from desktop_app.core.rag.embedder import Embedder
from desktop_app.core.rag.index_report import IndexProgress, IndexProgressCallback, IngestReport, SkippedFile
from desktop_app.core.rag.parsers import PARSER_VERSION, ParsedDocument, UnreadableDocument, parse
from desktop_app.core.rag.store import DocumentStore, FileWrite
from desktop_app.core.rag.watch import FileTask, ScanPlan

if TYPE_CHECKING:
    import numpy as np


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


class IndexPipeline:
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
                while self._unembedded(pending) >= self.window:
                    self._embed_some(pending)
            while pending:
                self._embed_some(pending)
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

    def _embed_some(self, pending: list[_Parsed]) -> None:
        """Embeds up to one window of waiting chunks, then hands every complete file to the writer."""
        import numpy as np

        self.cancel.raise_if_cancelled()
        wanted: list[tuple[_Parsed, int, int]] = []
        room = self.window
        for item in pending:
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

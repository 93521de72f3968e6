"""Where threads meet Qt: the model worker and its GUI-side host.

One :class:`ModelWorker` QObject lives on its own QThread and owns the
:class:`~desktop_app.core.inference.engine.Engine` (a ``Llama`` is not thread-safe). The GUI
talks to it only through :class:`ModelHost`, which sends requests over queued
signals, keeps the state the GUI shows (the loaded model, busy or not) and stops
work through a :class:`CancelToken` per request. Generated text comes back in
batches about every 50 ms, not one signal per token.

Answers from documents run on the same thread (retrieval counts tokens with the
loaded model's tokenizer); the worker keeps its own :class:`DocumentStore` and loads
the embedding model there the first time it is needed.
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
import logging
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from desktop_app.core.cancel import CancelToken, Progress
from desktop_app.core.conversations.chat import make_provenance
from desktop_app.core.errors import Cancelled, HearthError
from desktop_app.core.fit import calibration
from desktop_app.core.inference.engine import Engine, LoadedModel, Message, Reply
from desktop_app.core.models import fingerprint, gguf_meta
from desktop_app.core.settings import LoadSettings, SamplingSettings

if TYPE_CHECKING:
    from desktop_app.core.rag.store import DocumentStore

log = logging.getLogger(__name__)

TOKEN_BATCH_S = 0.05
PROGRESS_INTERVAL_S = 0.05
SHUTDOWN_WAIT_MS = 30_000


@dataclass(frozen=True)
class LoadRequest:
    path: Path
    settings: LoadSettings
    template: str = "auto"  # the user's chat-template choice for this model (inference.templates)
    cancel: CancelToken = field(default_factory=CancelToken)


@dataclass(frozen=True)
class GenerationRequest:
    request_id: int
    conversation_id: int
    messages: list[Message]
    sampling: SamplingSettings
    system_prompt: str
    cancel: CancelToken = field(default_factory=CancelToken)


@dataclass(frozen=True)
class RagRequest(GenerationRequest):
    """An answer from documents: ``messages`` is the history before ``question``."""

    collections: list[str] = field(default_factory=list)
    question: str = ""
    documents_only: bool | None = None  # None: the documents settings' default


PREPARING_DOCUMENTS = "Preparing documents…"
SEARCHING_DOCUMENTS = "Searching your documents…"
READING_SOURCES = "Reading the sources…"


class ModelWorker(QObject):
    """Runs on the model thread. Every slot catches its own errors and reports them."""

    load_progress = Signal(object)  # Progress
    # Each load report carries its request and what is loaded now (LoadedModel | None).
    model_loaded = Signal(object, object, str)  # LoadRequest, LoadedModel, sha256
    load_failed = Signal(object, object, str, str)  # LoadRequest, LoadedModel | None, message, hint
    load_cancelled = Signal(object, object)  # LoadRequest, LoadedModel | None
    tokens_generated = Signal(int, str)  # request id, text since the last batch
    reply_finished = Signal(int, object, object)  # request id, Reply, Provenance
    generation_failed = Signal(int, str, str)  # request id, message, hint
    rag_status = Signal(int, str)  # request id, what an answer from documents is doing now
    rag_prepared = Signal(int, object)  # request id, {"budget": {...}, "sources": n, "history_dropped": n}
    rag_finished = Signal(int, object, object, object)  # request id, Reply | None, Provenance | None, rag dict
    bug_raised = Signal(object)  # an unexpected exception, for the GUI's excepthook
    template_changed = Signal(object)  # LoadedModel, now prompted with another chat template
    shut_down = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._engine = Engine()
        self._documents: DocumentStore | None = None
        self._sha256 = ""
        self._calibrated = True
        self._last_progress = 0.0

    @Slot(str)
    def set_template(self, preference: str) -> None:
        if self._engine.model is not None:
            self._engine.set_template(preference)
            self.template_changed.emit(self._engine.model)

    @Slot(object)
    def load(self, request: LoadRequest) -> None:
        try:
            request.cancel.raise_if_cancelled()
            gguf_meta.read_local(request.path)  # a broken file fails here, before the current model is unloaded
            sha256 = fingerprint.cached_sha256(request.path, self._report_progress, request.cancel)
            model = self._engine.load(
                request.path, request.settings, self._report_progress, request.cancel, request.template
            )
        except Cancelled:
            self.load_cancelled.emit(request, self._engine.model)
        except HearthError as exc:
            self.load_failed.emit(request, self._engine.model, exc.message, exc.hint)
        except Exception as exc:  # noqa: BLE001 - a bug: reported to the user, and the worker lives on
            message = f"Loading “{request.path.name}” failed unexpectedly."
            self.load_failed.emit(request, self._engine.model, message, "")
            self.bug_raised.emit(exc)
        else:
            self._sha256 = sha256
            self._calibrated = False
            self.model_loaded.emit(request, model, sha256)

    def _report_progress(self, progress: Progress) -> None:
        now = time.monotonic()
        if now - self._last_progress >= PROGRESS_INTERVAL_S or progress.fraction == 1.0:
            self._last_progress = now
            self.load_progress.emit(progress)

    def _stream(self, request_id: int, items: Iterator[str | Reply]) -> Reply:
        """Forwards generated text in batches (about every 50 ms) and returns the Reply."""
        reply: Reply | None = None
        batch: list[str] = []
        last_emit = float("-inf")  # the first piece goes out at once
        for item in items:
            if isinstance(item, Reply):
                reply = item
                break
            batch.append(item)
            now = time.monotonic()
            if now - last_emit >= TOKEN_BATCH_S:
                self.tokens_generated.emit(request_id, "".join(batch))
                batch.clear()
                last_emit = now
        if batch:
            self.tokens_generated.emit(request_id, "".join(batch))
        if reply is None:
            raise HearthError("The model stopped without finishing its reply.")
        return reply

    def _calibrate(self) -> None:
        """Once per load: what the model really costs, against the fit check's estimate."""
        model = self._engine.model
        if self._calibrated or model is None:
            return
        self._calibrated = True
        calibration.record_real_load(
            model.path, model.n_ctx, model.n_gpu_layers, model.settings.flash_attn, self._engine.baseline_rss
        )

    @Slot(object)
    def generate(self, request: GenerationRequest) -> None:
        model = self._engine.model
        try:
            if model is None:
                raise HearthError("No model is loaded.", "Pick a model above the conversation first.")
            items = self._engine.stream_chat(request.messages, request.sampling, request.cancel)
            reply = self._stream(request.request_id, items)
            provenance = make_provenance(model, self._sha256, request.sampling, request.system_prompt, reply)
        except HearthError as exc:
            self.generation_failed.emit(request.request_id, exc.message, exc.hint)
        except Exception as exc:  # noqa: BLE001 - a bug: reported to the user, and the worker lives on
            self.generation_failed.emit(request.request_id, "The reply failed because of an unexpected error.", "")
            self.bug_raised.emit(exc)
        else:
            self.reply_finished.emit(request.request_id, reply, provenance)
            self._calibrate()

    @Slot(object)
    def generate_rag(self, request: RagRequest) -> None:
        """An answer from the attached collections: retrieve, fit the prompt in the context
        (reported before the model starts), stream the answer, then check its citations."""
        from desktop_app.core.rag import answer as rag_answer
        from desktop_app.core.rag import config as rag_config
        from desktop_app.core.rag.embedder import get_embedder, loaded_embedder
        from desktop_app.core.rag.store import DocumentStore

        model = self._engine.model
        rid = request.request_id
        try:
            if model is None:
                raise HearthError("No model is loaded.", "Pick a model above the conversation first.")
            if self._documents is None:
                self._documents = DocumentStore()
            store = self._documents
            settings = rag_config.load()
            infos = [store.collection(name) for name in request.collections]
            cold = sorted({i.embed_model for i in infos if i.chunks and loaded_embedder(i.embed_model) is None})
            if cold:
                self.rag_status.emit(rid, PREPARING_DOCUMENTS)
                for name in cold:  # seconds, once per process
                    get_embedder(name)
            self.rag_status.emit(rid, SEARCHING_DOCUMENTS)
            prompt = rag_answer.prepare(
                self._engine, store, request.collections, request.question, request.messages,
                request.system_prompt, settings, None, request.sampling.max_tokens, request.documents_only,
            )  # fmt: skip
            self.rag_prepared.emit(
                rid,
                {
                    "budget": prompt.budget.to_dict(),
                    "sources": len(prompt.sources),
                    "history_dropped": prompt.history_dropped,
                    "nothing_relevant": prompt.nothing_relevant,
                },
            )
            reply: Reply | None = None
            provenance = None
            if prompt.nothing_relevant:  # documents only, and nothing relevant: the model is not asked
                self.tokens_generated.emit(rid, rag_answer.NO_ANSWER)
                result = rag_answer.finish(prompt, rag_answer.NO_ANSWER)
            else:
                self.rag_status.emit(rid, READING_SOURCES)
                items = self._engine.stream_tokens(
                    prompt.tokens, request.sampling, request.cancel, prompt.max_new_tokens, prompt.history_dropped
                )
                reply = self._stream(rid, items)
                result = rag_answer.finish(prompt, reply)
                # The system prompt the model really saw: the conversation's, with the grounding rules.
                system = prompt.messages[0].content if prompt.messages else request.system_prompt
                provenance = make_provenance(model, self._sha256, request.sampling, system, reply)
            data = result.to_dict()
        except HearthError as exc:
            self.generation_failed.emit(rid, exc.message, exc.hint)
        except Exception as exc:  # noqa: BLE001 - a bug: reported to the user, and the worker lives on
            message = "The answer from your documents failed because of an unexpected error."
            self.generation_failed.emit(rid, message, "")
            self.bug_raised.emit(exc)
        else:
            self.rag_finished.emit(rid, reply, provenance, data)
            if reply is not None:
                self._calibrate()

    @Slot()
    def unload(self) -> None:
        self._engine.unload()
        self._sha256 = ""

    @Slot()
    def shut_down_thread(self) -> None:
        """Frees the model on the thread that owns it, then ends the thread's event loop."""
        self._engine.unload()
        self.shut_down.emit()
        thread = self.thread()
        if thread is not None:
            thread.quit()


class HostState(enum.Enum):
    idle = "idle"
    loading = "loading"
    generating = "generating"


class ModelHost(QObject):
    """The GUI thread's handle on the model worker. Use it from the GUI thread only."""

    # What the GUI listens to.
    state_changed = Signal(object)  # HostState
    model_changed = Signal(object)  # LoadedModel | None
    load_progress = Signal(object)  # Progress
    load_failed = Signal(str, str)  # message, hint
    load_cancelled = Signal()
    tokens_received = Signal(int, str)  # request id, text
    reply_finished = Signal(int, object, object)  # request id, Reply, Provenance
    generation_failed = Signal(int, str, str)  # request id, message, hint
    rag_status = Signal(int, str)  # request id, what an answer from documents is doing now
    rag_prepared = Signal(int, object)  # request id, {"budget": {...}, "sources": n, ...}
    rag_finished = Signal(int, object, object, object)  # request id, Reply | None, Provenance | None, rag dict

    # Requests to the worker (queued: they cross to the model thread).
    _load_requested = Signal(object)
    _generate_requested = Signal(object)
    _generate_rag_requested = Signal(object)
    _unload_requested = Signal()
    _shutdown_requested = Signal()
    _template_requested = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.model: LoadedModel | None = None
        self.sha256 = ""
        self.state = HostState.idle
        self.last_reply: Reply | None = None
        self._current: LoadRequest | GenerationRequest | None = None
        self._ids = itertools.count(1)
        self._thread = QThread()
        self._thread.setObjectName("hearth-model")
        self._worker = ModelWorker()
        self._worker.moveToThread(self._thread)
        self._thread.finished.connect(self._worker.deleteLater)

        self._load_requested.connect(self._worker.load)
        self._generate_requested.connect(self._worker.generate)
        self._generate_rag_requested.connect(self._worker.generate_rag)
        self._unload_requested.connect(self._worker.unload)
        self._shutdown_requested.connect(self._worker.shut_down_thread)
        self._template_requested.connect(self._worker.set_template)
        self._worker.template_changed.connect(self._on_worker_template_changed)

        self._worker.load_progress.connect(self.load_progress)
        self._worker.model_loaded.connect(self._on_worker_model_loaded)
        self._worker.load_failed.connect(self._on_worker_load_failed)
        self._worker.load_cancelled.connect(self._on_worker_load_cancelled)
        self._worker.tokens_generated.connect(self._on_worker_tokens_generated)
        self._worker.reply_finished.connect(self._on_worker_reply_finished)
        self._worker.generation_failed.connect(self._on_worker_generation_failed)
        self._worker.rag_status.connect(self.rag_status)
        self._worker.rag_prepared.connect(self.rag_prepared)
        self._worker.rag_finished.connect(self._on_worker_rag_finished)
        self._worker.bug_raised.connect(self._on_worker_bug_raised)
        self._thread.start()

    # -- requests -------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self.state is not HostState.idle

    @property
    def running(self) -> bool:
        return self._thread.isRunning()

    def load(self, path: Path, settings: LoadSettings, template: str = "auto") -> LoadRequest:
        """Loads ``path`` (replacing the loaded model). A reply in progress is stopped first.
        ``template``: the user's chat-template choice for this model."""
        request = LoadRequest(Path(path), dataclasses.replace(settings), template)
        self.stop()  # a reply or an earlier load in progress gives way
        self._current = request
        self._set_state(HostState.loading)
        self._load_requested.emit(request)
        return request

    def set_template(self, preference: str) -> None:
        """Prompts the loaded model with another chat template from the next reply on (no reload)."""
        if self.busy:
            raise HearthError("The model is busy.", "Wait for it to finish, or press Stop.")
        if self.model is not None:
            self._template_requested.emit(preference)

    @Slot(object)
    def _on_worker_template_changed(self, model: LoadedModel) -> None:
        self.model = model
        self.model_changed.emit(model)

    def generate(
        self, conversation_id: int, messages: list[Message], sampling: SamplingSettings, system_prompt: str
    ) -> GenerationRequest:
        if self.busy:
            raise HearthError("The model is busy.", "Wait for it to finish, or press Stop.")
        if self.model is None:
            raise HearthError("No model is loaded.", "Pick a model above the conversation first.")
        request = GenerationRequest(
            next(self._ids), conversation_id, list(messages), dataclasses.replace(sampling), system_prompt
        )
        self._current = request
        self._set_state(HostState.generating)
        self._generate_requested.emit(request)
        return request

    def generate_rag(
        self,
        conversation_id: int,
        collections: list[str],
        question: str,
        history: list[Message],
        sampling: SamplingSettings,
        system_prompt: str,
        documents_only: bool | None = None,
    ) -> RagRequest:
        """Answers ``question`` from ``collections`` (``history``: the turns before it)."""
        if self.busy:
            raise HearthError("The model is busy.", "Wait for it to finish, or press Stop.")
        if self.model is None:
            raise HearthError("No model is loaded.", "Pick a model above the conversation first.")
        request = RagRequest(
            next(self._ids), conversation_id, list(history), dataclasses.replace(sampling), system_prompt,
            collections=list(collections), question=question, documents_only=documents_only,
        )  # fmt: skip
        self._current = request
        self._set_state(HostState.generating)
        self._generate_rag_requested.emit(request)
        return request

    @property
    def current_load(self) -> LoadRequest | None:
        return self._current if isinstance(self._current, LoadRequest) else None

    def stop(self) -> None:
        """Stops the reply or the load in progress; the worker reports when it has."""
        if self._current is not None:
            self._current.cancel.cancel()

    @property
    def stopping(self) -> bool:
        return self._current is not None and self._current.cancel.cancelled

    def unload(self) -> None:
        self.stop()
        self._unload_requested.emit()
        self.model = None
        self.sha256 = ""
        self.model_changed.emit(None)

    def shutdown(self) -> None:
        """Cancel, let the worker free the model on its own thread, quit and wait."""
        if not self._thread.isRunning():
            return
        self.stop()
        self._shutdown_requested.emit()
        if not self._thread.wait(SHUTDOWN_WAIT_MS):
            log.error("The model thread did not stop within %d s", SHUTDOWN_WAIT_MS // 1000)
            self._thread.quit()
            self._thread.wait()

    # -- worker reports ---------------------------------------------------------------------

    def _set_state(self, state: HostState) -> None:
        if state is not self.state:
            self.state = state
            self.state_changed.emit(state)

    def _finish_load(self, request: LoadRequest, current: LoadedModel | None, sha256: str | None = None) -> bool:
        """Records what is loaded now; False when ``request`` was superseded by a later one."""
        if sha256 is not None:
            self.sha256 = sha256
        elif current is None:
            self.sha256 = ""
        if current is not self.model or sha256 is not None:
            self.model = current
            self.model_changed.emit(current)
        if request is not self._current:
            return False
        self._current = None
        self._set_state(HostState.idle)
        return True

    @Slot(object, object, str)
    def _on_worker_model_loaded(self, request: LoadRequest, model: LoadedModel, sha256: str) -> None:
        self._finish_load(request, model, sha256)

    @Slot(object, object, str, str)
    def _on_worker_load_failed(
        self, request: LoadRequest, current: LoadedModel | None, message: str, hint: str
    ) -> None:
        if self._finish_load(request, current):
            self.load_failed.emit(message, hint)

    @Slot(object, object)
    def _on_worker_load_cancelled(self, request: LoadRequest, current: LoadedModel | None) -> None:
        if self._finish_load(request, current):
            self.load_cancelled.emit()

    @Slot(int, str)
    def _on_worker_tokens_generated(self, request_id: int, text: str) -> None:
        self.tokens_received.emit(request_id, text)

    @Slot(int, object, object)
    def _on_worker_reply_finished(self, request_id: int, reply: Reply, provenance: object) -> None:
        self.last_reply = reply
        self._finish_generation(request_id)
        self.reply_finished.emit(request_id, reply, provenance)

    @Slot(int, object, object, object)
    def _on_worker_rag_finished(self, request_id: int, reply: Reply | None, provenance: object, data: Any) -> None:
        if reply is not None:
            self.last_reply = reply
        self._finish_generation(request_id)
        self.rag_finished.emit(request_id, reply, provenance, data)

    @Slot(int, str, str)
    def _on_worker_generation_failed(self, request_id: int, message: str, hint: str) -> None:
        self._finish_generation(request_id)
        self.generation_failed.emit(request_id, message, hint)

    def _finish_generation(self, request_id: int) -> None:
        if isinstance(self._current, GenerationRequest) and self._current.request_id == request_id:
            self._current = None
            self._set_state(HostState.idle)

    @Slot(object)
    def _on_worker_bug_raised(self, error: BaseException) -> None:
        sys.excepthook(type(error), error, error.__traceback__)

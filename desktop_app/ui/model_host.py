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

A model on a server (:class:`RemoteModel`) takes the local model's place when picked: the
local one is unloaded, and replies stream from the server through the same thread and
signals. Requests to Hearth's own server (the Local server setting) run here too, queued in
order with the chat's, so the window and scripts share one model in memory. A dataset run
(the Runs section) is a :class:`JobRequest` on the same thread: the host is busy while it runs.
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
import logging
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from PySide6.QtCore import QObject, QThread, Signal, Slot

from desktop_app.core.cancel import CancelToken, Progress
from desktop_app.core.conversations.chat import make_provenance, make_remote_provenance
from desktop_app.core.errors import Cancelled, HearthError
from desktop_app.core.fit import calibration
from desktop_app.core.inference.engine import Engine, LoadedModel, Message, Reply
from desktop_app.core.inference.remote import RemoteModel, RemoteReply
from desktop_app.core.models import fingerprint, gguf_meta
from desktop_app.core.settings import LoadSettings, RemoteEndpoint, SamplingSettings
from desktop_app.ui.threads import stop_thread

if TYPE_CHECKING:
    from desktop_app.core.inference.remote_chat import RemoteChat
    from desktop_app.core.rag.store import DocumentStore

log = logging.getLogger(__name__)
T = TypeVar("T")

TOKEN_BATCH_S = 0.05
PROGRESS_INTERVAL_S = 0.05


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


@dataclass(frozen=True)
class RemoteRequest:
    """Chat with ``model_id`` on ``endpoint`` (the local model is unloaded once it is reached)."""

    endpoint: RemoteEndpoint
    model_id: str
    cancel: CancelToken = field(default_factory=CancelToken)


@dataclass(frozen=True)
class ServedJob:
    """A request to Hearth's own server, run on the model thread with the loaded model."""

    model_id: str
    run: Callable[[Engine, str], Any]
    cancel: CancelToken
    future: Future[Any]


@dataclass(frozen=True)
class JobRequest:
    """Long work on the loaded engine (a dataset run): ``run(engine, sha256, cancel)`` on the model
    thread; the host is busy until it ends, and Stop cancels it."""

    request_id: int
    run: Callable[[Engine, str, CancelToken], Any]
    cancel: CancelToken = field(default_factory=CancelToken)


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
    job_finished = Signal(int, object)  # request id, the job's result
    job_failed = Signal(int, str, str)  # request id, message, hint (an empty message: cancelled)
    bug_raised = Signal(object)  # an unexpected exception, for the GUI's excepthook
    template_changed = Signal(object)  # LoadedModel, now prompted with another chat template
    remote_ready = Signal(object, object)  # RemoteRequest, RemoteModel
    remote_failed = Signal(object, str, str)  # RemoteRequest, message, hint
    shut_down = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._engine = Engine()
        self._remote: RemoteChat | None = None
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
            self._drop_remote()
            self._sha256 = sha256
            self._calibrated = False
            self.model_loaded.emit(request, model, sha256)

    @Slot(object)
    def use_remote(self, request: RemoteRequest) -> None:
        """Reaches the server and asks what it is; only then is the local model unloaded."""
        from desktop_app.core.inference.remote import RemoteClient
        from desktop_app.core.inference.remote_chat import RemoteChat

        try:
            request.cancel.raise_if_cancelled()
            client = RemoteClient.for_endpoint(request.endpoint)
            try:
                model = client.describe_model(request.model_id, request.endpoint.id, request.endpoint.n_ctx)
            except BaseException:
                client.close()
                raise
        except (Cancelled, HearthError) as exc:
            message, hint = (exc.message, exc.hint) if isinstance(exc, HearthError) else ("", "")
            self.remote_failed.emit(request, message, hint)
            return
        self._drop_remote()
        self._engine.unload()
        self._sha256 = ""
        self._remote = RemoteChat(client, model)
        self.remote_ready.emit(request, model)

    def _drop_remote(self) -> None:
        if self._remote is not None:
            self._remote.client.close()
            self._remote = None

    @Slot(object)
    def run_job(self, request: JobRequest) -> None:
        try:
            if self._engine.model is None:
                raise HearthError("No local model is loaded.", "Pick a model first.")
            result = request.run(self._engine, self._sha256, request.cancel)
        except Cancelled:
            self.job_failed.emit(request.request_id, "", "")
        except HearthError as exc:
            self.job_failed.emit(request.request_id, exc.message, exc.hint)
        except Exception as exc:  # noqa: BLE001 - a bug: reported to the user, and the worker lives on
            self.job_failed.emit(request.request_id, "The work stopped because of an unexpected error.", "")
            self.bug_raised.emit(exc)
        else:
            self.job_finished.emit(request.request_id, result)

    @Slot(object)
    def run_served(self, job: ServedJob) -> None:
        """A request to Hearth's server: answered with the model loaded in the window."""
        if not job.future.set_running_or_notify_cancel():
            return
        try:
            job.cancel.raise_if_cancelled()
            model = self._engine.model
            if model is None:
                raise HearthError(
                    "Hearth's window has no local model loaded.", f"Load “{job.model_id}” in the Chat, then ask again."
                )
            if model.name != job.model_id:
                raise HearthError(
                    f"Hearth's window has “{model.name}” loaded, not “{job.model_id}”.",
                    "Ask for the loaded model, or load the other one in Hearth's chat.",
                )
            job.future.set_result(job.run(self._engine, self._sha256))
        except BaseException as exc:  # noqa: BLE001 - every failure belongs to the request's future
            job.future.set_exception(exc)

    def _report_progress(self, progress: Progress) -> None:
        now = time.monotonic()
        if now - self._last_progress >= PROGRESS_INTERVAL_S or progress.fraction == 1.0:
            self._last_progress = now
            self.load_progress.emit(progress)

    def _stream(self, request_id: int, items: Iterator[str | T]) -> T:
        """Forwards generated text in batches (about every 50 ms) and returns what ends the stream
        (the Reply; for an answer from documents, the checked RagAnswer)."""
        reply: T | None = None
        batch: list[str] = []
        last_emit = float("-inf")  # the first piece goes out at once
        for item in items:
            if not isinstance(item, str):
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
        if self._remote is not None:
            self._generate_remote(self._remote, request)
            return
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

    def _generate_remote(self, remote: RemoteChat, request: GenerationRequest) -> None:
        try:
            items = remote.stream_chat(request.messages, request.sampling, request.cancel)
            reply = self._stream(request.request_id, items)
            assert isinstance(reply, RemoteReply)
            provenance = make_remote_provenance(remote.model, request.sampling, request.system_prompt, reply)
        except HearthError as exc:
            self.generation_failed.emit(request.request_id, exc.message, exc.hint)
        except Exception as exc:  # noqa: BLE001 - a bug: reported to the user, and the worker lives on
            self.generation_failed.emit(request.request_id, "The reply failed because of an unexpected error.", "")
            self.bug_raised.emit(exc)
        else:
            self.reply_finished.emit(request.request_id, reply, provenance)

    @Slot(object)
    def generate_rag(self, request: RagRequest) -> None:
        """An answer from the attached collections: retrieve, fit the prompt in the context
        (reported before the model starts), stream the answer, then check its citations."""
        from desktop_app.core.rag import answer as rag_answer
        from desktop_app.core.rag import config as rag_config
        from desktop_app.core.rag.embedder import get_embedder, loaded_embedder
        from desktop_app.core.rag.store import DocumentStore

        engine = self._remote or self._engine
        model = engine.model
        rid = request.request_id
        try:
            if model is None:
                raise HearthError("No model is loaded.", "Pick a model above the conversation first.")
            if self._documents is None:
                self._documents = DocumentStore()
            store = self._documents
            settings = rag_config.load()
            infos = [store.collection(name) for name in request.collections]
            wanted = {(i.embed_model, i.embed_backend) for i in infos if i.chunks}
            cold = sorted((name, backend) for name, backend in wanted if loaded_embedder(name, backend) is None)
            if cold:
                self.rag_status.emit(rid, PREPARING_DOCUMENTS)
                for name, backend in cold:  # seconds, once per process: the backend the collection was made with
                    get_embedder(name, backend)
            self.rag_status.emit(rid, SEARCHING_DOCUMENTS)
            prepared: list[rag_answer.RagPrompt] = []

            def on_prepared(prompt: rag_answer.RagPrompt) -> None:
                prepared.append(prompt)
                self.rag_prepared.emit(
                    rid,
                    {
                        "budget": prompt.budget.to_dict(),
                        "sources": len(prompt.sources),
                        "history_dropped": prompt.history_dropped,
                        "nothing_relevant": prompt.nothing_relevant,
                    },
                )
                if not prompt.nothing_relevant:  # documents only and nothing relevant: the model is not asked
                    self.rag_status.emit(rid, READING_SOURCES)

            options = rag_answer.AskOptions(
                documents_only=request.documents_only,
                system_prompt=request.system_prompt,
                max_answer_tokens=request.sampling.max_tokens,
                history=list(request.messages),
            )
            items = rag_answer.answer_stream(
                engine, store, request.collections, request.question, request.sampling, request.cancel, options,
                settings, on_prepared,
            )  # fmt: skip
            result = self._stream(rid, items)
            assert isinstance(result, rag_answer.RagAnswer)
            reply = result.reply
            provenance = None
            if reply is not None:
                # The system prompt the model really saw: the conversation's, with the grounding rules.
                prompt = prepared[0]
                system = prompt.messages[0].content if prompt.messages else request.system_prompt
                if isinstance(reply, RemoteReply):
                    assert self._remote is not None
                    provenance = make_remote_provenance(self._remote.model, request.sampling, system, reply)
                else:
                    assert isinstance(model, LoadedModel)
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
        self._drop_remote()
        self._engine.unload()
        self._sha256 = ""

    @Slot()
    def shut_down_thread(self) -> None:
        """Frees the model on the thread that owns it, then ends the thread's event loop."""
        self._drop_remote()
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
    job_finished = Signal(int, object)  # request id, result
    job_failed = Signal(int, str, str)  # request id, message, hint (an empty message: cancelled)

    # Requests to the worker (queued: they cross to the model thread).
    _load_requested = Signal(object)
    _generate_requested = Signal(object)
    _generate_rag_requested = Signal(object)
    _unload_requested = Signal()
    _shutdown_requested = Signal()
    _template_requested = Signal(str)
    remote_changed = Signal(object)  # RemoteModel | None: the model on a server chatted with
    _remote_requested = Signal(object)
    _served_requested = Signal(object)
    _job_requested = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.model: LoadedModel | None = None
        self.remote: RemoteModel | None = None
        self.sha256 = ""
        self.state = HostState.idle
        self.last_reply: Reply | None = None
        self._current: LoadRequest | RemoteRequest | GenerationRequest | JobRequest | None = None
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
        self._remote_requested.connect(self._worker.use_remote)
        self._served_requested.connect(self._worker.run_served)
        self._job_requested.connect(self._worker.run_job)
        self._worker.job_finished.connect(self._on_worker_job_finished)
        self._worker.job_failed.connect(self._on_worker_job_failed)
        self._worker.remote_ready.connect(self._on_worker_remote_ready)
        self._worker.remote_failed.connect(self._on_worker_remote_failed)

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

    @property
    def has_model(self) -> bool:
        """A local model is loaded, or a model on a server is chosen."""
        return self.model is not None or self.remote is not None

    @property
    def model_name(self) -> str:
        current = self.model or self.remote
        return current.name if current is not None else ""

    def use_remote(self, endpoint: RemoteEndpoint, model_id: str) -> RemoteRequest:
        """Chats with ``model_id`` on ``endpoint`` from now on (the local model is unloaded)."""
        request = RemoteRequest(dataclasses.replace(endpoint), model_id)
        self.stop()
        self._current = request
        self._set_state(HostState.loading)
        self._remote_requested.emit(request)
        return request

    def run_job(self, run: Callable[[Engine, str, CancelToken], Any]) -> JobRequest:
        """Runs ``run(engine, sha256, cancel)`` on the model thread with the loaded local model
        (a dataset run shares the chat's model: it is never loaded twice)."""
        if self.busy:
            raise HearthError("The model is busy.", "Wait for it to finish, or press Stop.")
        if self.model is None:
            raise HearthError("No local model is loaded.", "Pick a model first.")
        request = JobRequest(next(self._ids), run)
        self._current = request
        self._set_state(HostState.generating)
        self._job_requested.emit(request)
        return request

    def submit_served(self, job: ServedJob) -> None:
        """From any thread (the server's): queues ``job`` on the model thread, after the chat's work."""
        self._served_requested.emit(job)

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
        if not self.has_model:
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
        if not self.has_model:
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
        self._set_remote(None)

    def _set_remote(self, model: RemoteModel | None) -> None:
        if model is not self.remote:
            self.remote = model
            self.remote_changed.emit(model)

    def shutdown(self) -> None:
        """Cancel, let the worker free the model on its own thread, quit and wait."""
        if not self._thread.isRunning():
            return
        self.stop()
        self._shutdown_requested.emit()  # the worker frees the model on its thread, then quits it
        if not stop_thread(self._thread, "model", quit_loop=False):
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
        self._set_remote(None)
        self._finish_load(request, model, sha256)

    @Slot(object, object)
    def _on_worker_remote_ready(self, request: RemoteRequest, model: RemoteModel) -> None:
        if self.model is not None:
            self.model = None
            self.sha256 = ""
            self.model_changed.emit(None)
        self._set_remote(model)
        if request is self._current:
            self._current = None
            self._set_state(HostState.idle)

    @Slot(object, str, str)
    def _on_worker_remote_failed(self, request: RemoteRequest, message: str, hint: str) -> None:
        if request is not self._current:
            return
        self._current = None
        self._set_state(HostState.idle)
        if message:
            self.load_failed.emit(message, hint)

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

    @Slot(int, object)
    def _on_worker_job_finished(self, request_id: int, result: object) -> None:
        self._finish_job(request_id)
        self.job_finished.emit(request_id, result)

    @Slot(int, str, str)
    def _on_worker_job_failed(self, request_id: int, message: str, hint: str) -> None:
        self._finish_job(request_id)
        self.job_failed.emit(request_id, message, hint)

    def _finish_job(self, request_id: int) -> None:
        if isinstance(self._current, JobRequest) and self._current.request_id == request_id:
            self._current = None
            self._set_state(HostState.idle)

    def _finish_generation(self, request_id: int) -> None:
        if isinstance(self._current, GenerationRequest) and self._current.request_id == request_id:
            self._current = None
            self._set_state(HostState.idle)

    @Slot(object)
    def _on_worker_bug_raised(self, error: BaseException) -> None:
        sys.excepthook(type(error), error, error.__traceback__)

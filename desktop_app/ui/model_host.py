"""The GUI thread's handle on the model thread.

:class:`ModelHost` sends requests (:mod:`desktop_app.ui.model_requests`) over queued signals to
the :class:`~desktop_app.ui.model_worker.ModelWorker` on its own QThread, which owns the engine
(llama.cpp in a child process); the host keeps the state the GUI shows (the loaded model, busy or
not) and stops work through a :class:`CancelToken` per request. When the engine process dies in a
reply, ``engine_crashed`` says so in plain words; the reply so far is kept, marked cut short.
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from desktop_app.core.cancel import CancelToken
from desktop_app.core.errors import HearthError
from desktop_app.core.inference.engine import Engine, LoadedModel, Message, Reply
from desktop_app.core.inference.remote import RemoteModel
from desktop_app.core.settings import LoadSettings, RemoteEndpoint, SamplingSettings
from desktop_app.ui.model_requests import (
    PREPARING_DOCUMENTS,
    SEARCHING_DOCUMENTS,
    GenerationRequest,
    JobRequest,
    LoadRequest,
    RagRequest,
    RemoteRequest,
    ServedJob,
)
from desktop_app.ui.model_worker import ModelWorker
from desktop_app.ui.threads import stop_thread

if TYPE_CHECKING:
    from desktop_app.core.rag.store import DocumentStore

__all__ = [
    "PREPARING_DOCUMENTS",
    "SEARCHING_DOCUMENTS",
    "GenerationRequest",
    "HostState",
    "ModelHost",
    "RagRequest",
    "ServedJob",
]


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
    rag_prepared = Signal(int, object)  # request id, the context's Budget (before the model starts)
    rag_finished = Signal(int, object, object, object)  # request id, Reply | None, Provenance | None, RagAnswer
    job_finished = Signal(int, object)  # request id, result
    job_failed = Signal(int, str, str)  # request id, message, hint (an empty message: cancelled)
    engine_crashed = Signal(str, str)  # message, hint: the engine process ended in a reply (kept, cut short)

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

    def __init__(self, parent: QObject | None = None, documents: Callable[[], DocumentStore] | None = None) -> None:
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
        self._worker = ModelWorker(documents)
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
        self._worker.engine_crashed.connect(self.engine_crashed)
        self._thread.start()

    # -- requests -------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self.state is not HostState.idle

    @property
    def running(self) -> bool:
        return self._thread.isRunning()

    @property
    def engine_pid(self) -> int | None:
        """The engine process's id, None while there is none (tests send it signals)."""
        return self._worker.engine_pid

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
    def _on_worker_rag_finished(self, request_id: int, reply: Reply | None, provenance: object, answer: object) -> None:
        if reply is not None:
            self.last_reply = reply
        self._finish_generation(request_id)
        self.rag_finished.emit(request_id, reply, provenance, answer)

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

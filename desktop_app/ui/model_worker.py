"""The model thread's worker: owns the engine (in its own process) and answers the host's requests.

One :class:`ModelWorker` QObject lives on its own QThread and owns an
:class:`~desktop_app.core.inference.engine_process.EngineProcess`: llama.cpp runs in a child
process, so a native crash, the out-of-memory killer or a runaway chat template ends that process,
never the window. Requests arrive over queued signals from :class:`~desktop_app.ui.model_host.ModelHost`;
generated text goes back in batches about every 50 ms, not one signal per token.

When the engine dies in a reply (or an answer from documents), the text written so far is kept as
a reply cut short (finish "crashed"), the host says in plain words what happened, and the next request starts a fresh
engine with the same model. When it ignores Stop it is killed, and the reply so far is kept as
stopped.

Answers from documents run on the same thread (retrieval counts tokens with the loaded model's
tokenizer); the worker reads the window's :class:`DocumentStore` (its own when made alone) and
loads the embedding model there the first time it is needed. A model on a server
(:class:`RemoteModel`) takes the local model's place when picked: the local one is unloaded, and
replies stream from the server through the same thread and signals. Requests to Hearth's own
server run here too, queued in order with the chat's; a dataset run is a :class:`JobRequest` on
the same thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, TypeVar

from PySide6.QtCore import QObject, Signal, Slot

from desktop_app.core.cancel import Progress, Throttle
from desktop_app.core.conversations.chat import make_provenance, make_remote_provenance
from desktop_app.core.errors import Cancelled, HearthError
from desktop_app.core.fit import calibration
from desktop_app.core.inference.engine import LoadedModel, Reply, Timings
from desktop_app.core.inference.engine_crash import EngineCrashError
from desktop_app.core.inference.engine_process import EngineProcess
from desktop_app.core.inference.remote import RemoteReply
from desktop_app.core.models import fingerprint, gguf_meta
from desktop_app.ui.model_requests import (
    PREPARING_DOCUMENTS,
    READING_SOURCES,
    SEARCHING_DOCUMENTS,
    GenerationRequest,
    JobRequest,
    LoadRequest,
    RagRequest,
    RemoteRequest,
    ServedJob,
)
from desktop_app.ui.threads import report_outcome

if TYPE_CHECKING:
    from desktop_app.core.conversations.store import Provenance
    from desktop_app.core.inference.remote_chat import RemoteChat
    from desktop_app.core.rag.answer import RagPrompt
    from desktop_app.core.rag.answer_record import RagAnswer
    from desktop_app.core.rag.store import DocumentStore

T = TypeVar("T")

TOKEN_BATCH_S = 0.05
PROGRESS_INTERVAL_S = 0.05


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
    engine_crashed = Signal(str, str)  # message, hint: a reply was cut short by the engine's end
    rag_status = Signal(int, str)  # request id, what an answer from documents is doing now
    rag_prepared = Signal(int, object)  # request id, the context's Budget (before the model starts)
    rag_finished = Signal(int, object, object, object)  # request id, Reply | None, Provenance | None, RagAnswer
    job_finished = Signal(int, object)  # request id, the job's result
    job_failed = Signal(int, str, str)  # request id, message, hint (an empty message: cancelled)
    bug_raised = Signal(object)  # an unexpected exception, for the GUI's excepthook
    template_changed = Signal(object)  # LoadedModel, now prompted with another chat template
    remote_ready = Signal(object, object)  # RemoteRequest, RemoteModel
    remote_failed = Signal(object, str, str)  # RemoteRequest, message, hint
    shut_down = Signal()

    def __init__(self, documents: Callable[[], DocumentStore] | None = None) -> None:
        super().__init__()
        self._engine = EngineProcess()
        self._remote: RemoteChat | None = None
        self._documents = documents  # the window's one store (AppContext.documents); else one of its own
        self._sha256 = ""
        self._calibrated = True
        self._progress_throttle = Throttle(PROGRESS_INTERVAL_S)

    @property
    def engine_pid(self) -> int | None:
        """The engine process's id (None while no model is loaded): read from any thread."""
        return self._engine.pid

    @Slot(str)
    def set_template(self, preference: str) -> None:
        if self._engine.model is None:
            return
        try:
            self._engine.set_template(preference)
        except HearthError as exc:  # the engine had ended and could not start again
            self.engine_crashed.emit(exc.message, exc.hint)
            return
        self.template_changed.emit(self._engine.model)

    @Slot(object)
    def load(self, request: LoadRequest) -> None:
        def work() -> tuple[LoadedModel, str]:
            request.cancel.raise_if_cancelled()
            gguf_meta.read_local(request.path)  # a broken file fails here, before the current model is unloaded
            if self._engine.model is None:
                self._engine.prestart()  # the engine process starts while the file's sha256 is read
            sha256 = fingerprint.cached_sha256(request.path, self._report_progress, request.cancel)
            model = self._engine.load(
                request.path, request.settings, self._report_progress, request.cancel, request.template
            )
            return model, sha256

        def succeeded(result: tuple[LoadedModel, str]) -> None:
            self._drop_remote()
            self._sha256 = result[1]
            self._calibrated = False
            self.model_loaded.emit(request, result[0], result[1])

        report_outcome(
            work,
            succeeded=succeeded,
            failed=lambda message, hint: self.load_failed.emit(request, self._engine.model, message, hint),
            cancelled=lambda: self.load_cancelled.emit(request, self._engine.model),
            bug=self.bug_raised.emit,
            what=f"Loading “{request.path.name}”",
        )

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
        def work() -> object:
            if self._engine.model is None:
                raise HearthError("No local model is loaded.", "Pick a model first.")
            return request.run(self._engine, self._sha256, request.cancel)

        report_outcome(
            work,
            succeeded=lambda result: self.job_finished.emit(request.request_id, result),
            failed=lambda message, hint: self.job_failed.emit(request.request_id, message, hint),
            cancelled=lambda: self.job_failed.emit(request.request_id, "", ""),
            bug=self.bug_raised.emit,
            what="The work",
        )

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
        if self._progress_throttle.ready(force=progress.fraction == 1.0):
            self.load_progress.emit(progress)

    def _stream(self, request_id: int, items: Iterator[str | T], sent: list[str] | None = None) -> T:
        """Forwards generated text in batches (about every 50 ms) and returns what ends the stream
        (the Reply; for an answer from documents, the checked RagAnswer). ``sent`` collects the text
        forwarded, for a reply cut short."""
        reply: T | None = None
        batch: list[str] = []
        sent = [] if sent is None else sent
        batches = Throttle(TOKEN_BATCH_S)  # the first piece goes out at once
        for item in items:
            if not isinstance(item, str):
                reply = item
                break
            batch.append(item)
            if batches.ready():
                self._emit_batch(request_id, batch, sent)
        self._emit_batch(request_id, batch, sent)
        if reply is None:
            raise HearthError("The model stopped without finishing its reply.")
        return reply

    def _emit_batch(self, request_id: int, batch: list[str], sent: list[str]) -> None:
        if batch:
            text = "".join(batch)
            sent.append(text)
            self.tokens_generated.emit(request_id, text)
            batch.clear()

    def _calibrate(self) -> None:
        """Once per load: what the model really costs, against the fit check's estimate."""
        model = self._engine.model
        if self._calibrated or model is None:
            return
        self._calibrated = True
        calibration.record_real_load(
            model.path, model.n_ctx, model.n_gpu_layers, model.settings.flash_attn, self._engine.baseline_rss,
            pid=self._engine.pid,
        )  # fmt: skip

    @Slot(object)
    def generate(self, request: GenerationRequest) -> None:
        if self._remote is not None:
            self._generate_remote(self._remote, request)
            return
        model = self._engine.model
        sent: list[str] = []
        try:
            if model is None:
                raise HearthError("No model is loaded.", "Pick a model above the conversation first.")
            items = self._engine.stream_chat(request.messages, request.sampling, request.cancel)
            reply = self._stream(request.request_id, items, sent)
            provenance = make_provenance(model, self._sha256, request.sampling, request.system_prompt, reply)
        except (EngineCrashError, Cancelled) as exc:
            assert model is not None
            text = "".join(sent)
            if isinstance(exc, EngineCrashError) and not text:
                self.generation_failed.emit(request.request_id, exc.message, exc.hint)
            else:
                self.reply_finished.emit(request.request_id, *self._cut_short(request, model, text, exc))
        except HearthError as exc:
            self.generation_failed.emit(request.request_id, exc.message, exc.hint)
        except Exception as exc:  # noqa: BLE001 - a bug: reported to the user, and the worker lives on
            self.generation_failed.emit(request.request_id, "The reply failed because of an unexpected error.", "")
            self.bug_raised.emit(exc)
        else:
            self.reply_finished.emit(request.request_id, reply, provenance)
            self._calibrate()

    def _cut_short(
        self, request: GenerationRequest, model: LoadedModel, text: str, why: EngineCrashError | Cancelled,
        system_prompt: str | None = None,
    ) -> tuple[Reply, Provenance]:  # fmt: skip
        """The engine died (or was killed after Stop) in a reply or an answer from documents: what it
        wrote is kept, marked, with its provenance (``system_prompt``: what the model saw, when it is
        not the request's). A crash is said first, so the words are there when the reply is saved."""
        finish = "crashed" if isinstance(why, EngineCrashError) else "cancelled"
        reply = Reply(text=text, finish=finish, seed=request.sampling.seed, timings=Timings())
        system = request.system_prompt if system_prompt is None else system_prompt
        provenance = make_provenance(model, self._sha256, request.sampling, system, reply)
        if isinstance(why, EngineCrashError):
            self.engine_crashed.emit(why.message, why.hint)
        return reply, provenance

    def _generate_remote(self, remote: RemoteChat, request: GenerationRequest) -> None:
        rid = request.request_id

        def work() -> tuple[RemoteReply, Provenance]:
            reply = self._stream(rid, remote.stream_chat(request.messages, request.sampling, request.cancel))
            assert isinstance(reply, RemoteReply)
            return reply, make_remote_provenance(remote.model, request.sampling, request.system_prompt, reply)

        report_outcome(
            work,
            succeeded=lambda done: self.reply_finished.emit(rid, *done),
            failed=lambda message, hint: self.generation_failed.emit(rid, message, hint),
            cancelled=lambda: self.generation_failed.emit(rid, "The reply was stopped.", ""),
            bug=self.bug_raised.emit,
            what="The reply",
        )

    @Slot(object)
    def generate_rag(self, request: RagRequest) -> None:
        """An answer from the attached collections: retrieve, fit the prompt in the context
        (reported before the model starts), stream the answer, then check its citations."""
        rid = request.request_id

        def succeeded(done: tuple[RagAnswer, Provenance | None]) -> None:
            answer, provenance = done
            self.rag_finished.emit(rid, answer.reply, provenance, answer)
            if answer.reply is not None and answer.finish != "crashed":  # a dead engine has nothing to measure
                self._calibrate()

        report_outcome(
            lambda: self._answer_from_documents(request),
            succeeded=succeeded,
            failed=lambda message, hint: self.generation_failed.emit(rid, message, hint),
            # The engine ignored Stop and was killed: nothing of the answer is checked.
            cancelled=lambda: self.generation_failed.emit(rid, "The answer was stopped.", ""),
            bug=self.bug_raised.emit,
            what="The answer from your documents",
        )

    def _answer_from_documents(self, request: RagRequest) -> tuple[RagAnswer, Provenance | None]:
        """The checked answer and its provenance (None when the model was not asked)."""
        from desktop_app.core.rag import answer as rag_answer
        from desktop_app.core.rag import documents_settings as rag_config
        from desktop_app.core.rag.embedder import get_embedder, loaded_embedder
        from desktop_app.core.rag.store import DocumentStore

        engine = self._remote or self._engine
        model = engine.model
        rid = request.request_id
        if model is None:
            raise HearthError("No model is loaded.", "Pick a model above the conversation first.")
        if self._documents is None:
            own = DocumentStore()
            self._documents = lambda: own
        store = self._documents()
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
            self.rag_prepared.emit(rid, prompt.budget)
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
        sent: list[str] = []
        try:
            result = self._stream(rid, items, sent)
        except (EngineCrashError, Cancelled) as exc:
            # The engine died (or ignored Stop) mid-answer: the words so far are kept as a plain reply's
            # are, checked against the sources it was given. With none yet, the answer failed (or stopped).
            if not sent or not prepared or not isinstance(model, LoadedModel):
                raise
            partial, kept = self._cut_short(request, model, "".join(sent), exc, _grounded(prepared[0], request))
            return rag_answer.finish(prepared[0], partial), kept
        assert isinstance(result, rag_answer.RagAnswer)
        reply = result.reply
        provenance = None
        if reply is not None:
            system = _grounded(prepared[0], request)
            if isinstance(reply, RemoteReply):
                assert self._remote is not None
                provenance = make_remote_provenance(self._remote.model, request.sampling, system, reply)
            else:
                assert isinstance(model, LoadedModel)
                provenance = make_provenance(model, self._sha256, request.sampling, system, reply)
        return result, provenance

    @Slot()
    def unload(self) -> None:
        self._drop_remote()
        self._engine.unload()
        self._sha256 = ""

    @Slot()
    def shut_down_thread(self) -> None:
        """Ends the engine process, then the thread's event loop."""
        self._drop_remote()
        self._engine.unload()
        self.shut_down.emit()
        thread = self.thread()
        if thread is not None:
            thread.quit()


def _grounded(prompt: RagPrompt, request: RagRequest) -> str:
    """The system prompt the model really saw: the conversation's, with the grounding rules."""
    return prompt.messages[0].content if prompt.messages else request.system_prompt

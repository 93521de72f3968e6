"""Where the server's requests run: one model in memory, one request at a time, in order.

The engine is single-threaded, so the API never touches it directly: it submits a *job*
(a function of the engine) to a :class:`ModelAccess` and awaits the job's future. In the
window, the access is the chat's own model thread (queued behind the chat, one model in
memory for both); for ``hearth serve`` it is :class:`EngineQueue`, a thread of its own that
loads the model a request names.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from desktop_app.core import settings as settings_store
from desktop_app.core.cancel import CancelToken
from desktop_app.core.errors import Cancelled, HearthError
from desktop_app.core.inference.engine import Engine, LoadedModel
from desktop_app.core.inference.engine_process import EngineProcess
from desktop_app.core.models import library
from desktop_app.core.models.fingerprint import cached_sha256

log = logging.getLogger(__name__)

# A job runs on the model thread with the engine (a model loaded) and that model's sha256.
Job = Callable[[Engine, str], Any]


@dataclass(frozen=True)
class ServedModel:
    id: str  # what clients send as "model": the library's name for it
    path: Path
    created: int  # the file's modification time (OpenAI's "created")


class ModelAccess(Protocol):
    def list_models(self) -> list[ServedModel]: ...

    def loaded(self) -> tuple[LoadedModel, str] | None:
        """The model in memory now and its sha256 (read from any thread), or None."""
        ...

    def submit(self, model_id: str, job: Job, cancel: CancelToken) -> Future[Any]:
        """Runs ``job`` once ``model_id`` is the loaded model; a job whose ``cancel`` fired
        while it waited is dropped (its future raises Cancelled)."""
        ...


def served_models(extra_paths: Sequence[str]) -> list[ServedModel]:
    """The library's models, one per name (the first found wins, as in the model list)."""
    found: dict[str, ServedModel] = {}
    for model in library.list_models(list(extra_paths)):
        if model.name in found:
            continue
        try:
            created = int(model.path.stat().st_mtime)
        except OSError:
            continue
        found[model.name] = ServedModel(model.name, model.path, created)
    return list(found.values())


def find_model(models: Sequence[ServedModel], model_id: str) -> ServedModel:
    for model in models:
        if model.id == model_id:
            return model
    names = ", ".join(m.id for m in models[:8]) or "none"
    raise ModelNotFoundError(f"There is no model “{model_id}” in Hearth's library.", f"Models available: {names}.")


class ModelNotFoundError(HearthError):
    """A request named a model Hearth does not have (HTTP 404)."""


class EngineQueue:
    """``hearth serve``: a thread that owns an :class:`Engine` and runs jobs in order, loading the
    model each one names (the previous one is unloaded: one model in memory)."""

    def __init__(self, config: settings_store.Settings | None = None) -> None:
        self._config = config or settings_store.load()
        self._engine: Engine = EngineProcess()  # llama.cpp in its own process: a crash fails one request
        self._sha256 = ""
        self._jobs: queue.Queue[tuple[str, Job, CancelToken, Future[Any]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="hearth-serve-model", daemon=True)
        self._thread.start()

    @property
    def engine(self) -> Engine:
        return self._engine

    def list_models(self) -> list[ServedModel]:
        return served_models(self._config.extra_model_paths)

    def loaded(self) -> tuple[LoadedModel, str] | None:
        model = self._engine.model
        return (model, self._sha256) if model is not None else None

    def submit(self, model_id: str, job: Job, cancel: CancelToken) -> Future[Any]:
        future: Future[Any] = Future()
        self._jobs.put((model_id, job, cancel, future))
        return future

    def preload(self, model_id: str) -> None:
        """Loads ``model_id`` now (``hearth serve --model``) rather than at the first request."""
        self.submit(model_id, lambda _engine, _sha: None, CancelToken()).result()

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            item = self._jobs.get()
            if item is None:
                self._engine.unload()
                return
            model_id, job, cancel, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                if cancel.cancelled:
                    raise Cancelled
                self._ensure_loaded(model_id, cancel)
                future.set_result(job(self._engine, self._sha256))
            except BaseException as exc:  # noqa: BLE001 - every failure belongs to the request's future
                future.set_exception(exc)

    def _ensure_loaded(self, model_id: str, cancel: CancelToken) -> None:
        loaded = self._engine.model
        if loaded is not None and loaded.name == model_id:
            return
        model = find_model(self.list_models(), model_id)
        sha256 = cached_sha256(model.path, cancel=cancel)
        template_for = getattr(self._config, "template_for", None)  # per-model template choice, when kept
        if template_for is not None:
            self._engine.load(model.path, self._config.load, cancel=cancel, template=template_for(model.path))
        else:
            self._engine.load(model.path, self._config.load, cancel=cancel)
        self._sha256 = sha256
        log.info("Serving %s", model.path)

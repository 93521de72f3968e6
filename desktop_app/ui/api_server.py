"""Hearth's own server inside the window (Settings → Local server): off unless turned on.

Its requests run on the chat's model thread (:class:`WindowModels`), queued with the chat's
own work, so the window and the programs it serves share the one model in memory; a request
for another model than the one loaded is refused in plain words rather than swapping the
user's model under them. Starting and stopping happen on a helper thread (binding, importing
FastAPI and uvicorn, waiting for a stream to end), never on the GUI thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from desktop_app.core import paths
from desktop_app.core.cancel import CancelToken
from desktop_app.core.errors import HearthError
from desktop_app.core.heavy_imports import import_heavy
from desktop_app.core.inference.engine import LoadedModel
from desktop_app.core.server import access
from desktop_app.core.server.failures import START_FAILED, unexpected
from desktop_app.core.server.model_access import Job, ServedModel, find_model, served_models
from desktop_app.core.server.request_log import ServedEvent, ServerStats
from desktop_app.core.server.runner import LocalServer
from desktop_app.core.settings import Settings
from desktop_app.ui.model_host import ModelHost, ServedJob

log = logging.getLogger(__name__)


class WindowModels:
    """The server's access to models in the window: the chat's model thread (any thread may call)."""

    def __init__(self, host: ModelHost, settings: Callable[[], Settings]) -> None:
        self._host = host
        self._settings = settings
        self._checks = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hearth-serve-check")

    def list_models(self) -> list[ServedModel]:
        return served_models(list(self._settings().extra_model_paths))

    def loaded(self) -> tuple[LoadedModel, str] | None:
        model = self._host.model  # a reference read from another thread: the object itself never changes
        return (model, self._host.sha256) if model is not None else None

    def submit(self, model_id: str, job: Job, cancel: CancelToken) -> Future[Any]:
        future: Future[Any] = Future()
        model = self._host.model
        if model is not None and model.name == model_id:
            self._host.submit_served(ServedJob(model_id, job, cancel, future))
        else:  # says why off the event loop: listing the library reads folders
            self._checks.submit(self._refuse, model_id, future)
        return future

    def _refuse(self, model_id: str, future: Future[Any]) -> None:
        try:
            find_model(self.list_models(), model_id)  # not in the library: 404
            loaded = self._host.model
            if loaded is None:
                raise HearthError(
                    "Hearth's window has no local model loaded.", f"Load “{model_id}” in the Chat, then ask again."
                )
            raise HearthError(
                f"Hearth's window has “{loaded.name}” loaded, not “{model_id}”.",
                "Ask for the loaded model, or load the other one in Hearth's chat.",
            )
        except BaseException as exc:  # noqa: BLE001 - every outcome belongs to the request's future
            future.set_exception(exc)


class ApiServerHost(QObject):
    """The window's handle on its server. Use it from the GUI thread."""

    status_changed = Signal()  # started, stopped, failed to start
    request_served = Signal(object)  # ServedEvent, for every request answered or refused
    _finished = Signal(object, str)  # LocalServer | None, error text (from the helper thread)
    _event = Signal(object)  # ServedEvent (from the server's threads)

    def __init__(self, models: ModelHost, settings: Callable[[], Settings], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._models = WindowModels(models, settings)
        self._settings = settings
        self._server: LocalServer | None = None
        self._helper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hearth-serve-control")
        self.error = ""  # why the last start failed, in words
        self.pending = False  # a start or stop is under way
        self._closed = False
        self._finished.connect(self._on_finished)
        self._event.connect(self._on_event)

    # -- what the settings show ------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._server is not None and self._server.running

    @property
    def url(self) -> str:
        return self._server.url if self._server is not None else ""

    @property
    def guarded(self) -> bool:
        return self._server is not None and bool(self._server.api_key)

    def stats(self) -> ServerStats | None:
        return self._server.stats() if self._server is not None else None

    # -- on and off ----------------------------------------------------------------------------------

    def apply(self) -> None:
        """Runs the server as the settings say (restarting it for a new address or key)."""
        if self._closed:
            return
        config = self._settings().server
        self.pending = True
        self.status_changed.emit()
        self._helper.submit(self._restart, config.enabled, config.host, config.port)

    def _restart(self, enabled: bool, host: str, port: int) -> None:
        previous, self._server = self._server, None
        if previous is not None:
            previous.stop()
        if not enabled:
            self._finished.emit(None, "")
            return
        try:
            import_heavy("pydantic", "fastapi", "uvicorn")  # Chroma may be importing pydantic meanwhile
            key = access.stored_key()
            server = LocalServer(
                self._models,
                host,
                port,
                key,
                defaults=self._settings,
                db_path=paths.db_path(),
                listener=self._event.emit,
            )
            server.start()
        except HearthError as exc:
            self._finished.emit(None, str(exc))
        except Exception:  # a bug: the window lives on, the settings say what happened
            log.exception("The local server failed to start")
            self._finished.emit(None, unexpected(START_FAILED, paths.logs_dir()))
        else:
            self._finished.emit(server, "")

    def shutdown(self) -> None:
        """The window is closing: stops the server and waits for it (safe to call twice)."""
        if self._closed:
            return
        self._closed = True
        self._helper.submit(self._restart, False, "", 0).result()
        self._helper.shutdown(wait=True)

    @Slot(object, str)
    def _on_finished(self, server: LocalServer | None, error: str) -> None:
        self._server = server
        self.error = error
        self.pending = False
        self.status_changed.emit()

    @Slot(object)
    def _on_event(self, event: ServedEvent) -> None:
        self.request_served.emit(event)

"""What the GUI asks of the model thread: one frozen record per kind of request.

Each carries its own :class:`CancelToken`, so Stop reaches exactly the work it was pressed for;
the worker (:mod:`desktop_app.ui.model_worker`) answers each with signals that name it.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from desktop_app.core.cancel import CancelToken
from desktop_app.core.inference.engine import Engine, Message
from desktop_app.core.settings import LoadSettings, RemoteEndpoint, SamplingSettings

PREPARING_DOCUMENTS = "Preparing documents…"
SEARCHING_DOCUMENTS = "Searching your documents…"
READING_SOURCES = "Reading the sources…"


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

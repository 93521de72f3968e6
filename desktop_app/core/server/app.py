"""The OpenAI-compatible API as a FastAPI app: models, chat completions, completions, embeddings.

Generation runs on the model thread (:mod:`model_access`), one request at a time; this module
only turns requests into jobs and job results into OpenAI's shapes. Text streams back as
server-sent events as the model writes it. A client that goes away stops its generation: for
a stream, Starlette cancels the response when the connection drops; otherwise the handler
watches the connection while it waits. Errors come back in OpenAI's error shape.

Imported only when the server starts: FastAPI and pydantic stay out of the window's start-up.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import functools
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from desktop_app.core import settings as settings_store
from desktop_app.core.cancel import CancelToken
from desktop_app.core.errors import Cancelled, HearthError
from desktop_app.core.inference import grammars
from desktop_app.core.inference.engine import Engine
from desktop_app.core.server import access
from desktop_app.core.server.api_types import (
    ChatCompletionRequest,
    CompletionRequest,
    EmbeddingRequest,
    TokenCountRequest,
    _Generation,
    error_body,
)
from desktop_app.core.server.generation import Served, chat_job, completion_job
from desktop_app.core.server.model_access import ModelAccess, ModelNotFoundError, find_model
from desktop_app.core.server.request_log import RequestLog, RequestRecord
from desktop_app.core.settings import SamplingSettings

log = logging.getLogger(__name__)

DISCONNECT_POLL_S = 0.2
OWNED_BY = "hearth"


class ApiError(Exception):
    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", code: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.code = code


def _hearth_error(exc: HearthError) -> ApiError:
    if isinstance(exc, ModelNotFoundError):
        return ApiError(404, str(exc), code="model_not_found")
    return ApiError(400, str(exc))


def _client(request: Request, user: str | None = None) -> str:
    """Who asked, for the log: the request's ``user`` field, else its User-Agent."""
    if user and user.strip():
        return user.strip()[:80]
    agent = request.headers.get("user-agent", "").strip()
    return (agent.split(" ")[0] if agent else "unknown client")[:80]


def _sampling(body: _Generation, defaults: SamplingSettings, max_tokens: int | None) -> SamplingSettings:
    sampling = dataclasses.replace(defaults)
    for name in ("temperature", "top_p", "top_k", "min_p", "repeat_penalty", "seed"):
        value = getattr(body, name)
        if value is not None:
            setattr(sampling, name, value)
    if max_tokens is not None:
        sampling.max_tokens = max_tokens
    if body.seed is None:
        sampling.seed = -1  # a fresh seed per request; the one used is recorded and returned
    return sampling


def _grammar(body: _Generation, schema: dict[str, Any] | None) -> str | None:
    if schema is not None and body.grammar:
        raise HearthError("Send either response_format or grammar, not both.")
    if schema is not None:
        return grammars.json_schema(schema)
    return body.grammar or None


def _hearth_fields(served: Served) -> dict[str, Any]:
    """What Hearth adds to a response (clients ignore it): the exact model and seed."""
    template = getattr(served.model, "template", None)
    return {
        "model_path": str(served.model.path),
        "model_sha256": served.sha256,
        "quant": served.model.info.quant,
        "llama_cpp_version": served.model.llama_cpp_version,
        "n_ctx": served.model.n_ctx,
        "seed": served.reply.seed,
        "template": template.to_dict() if template is not None else None,
    }


def _usage(served: Served) -> dict[str, int]:
    completion = served.reply.timings.gen_tokens
    return {
        "prompt_tokens": served.prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": served.prompt_tokens + completion,
    }


def _finish_reason(served: Served) -> str:
    return "length" if served.reply.finish == "length" else "stop"


async def _wait_watching(request: Request, future: Future[Any], cancel: CancelToken) -> Any:
    """The job's result; a client that disconnects meanwhile cancels it."""
    wrapped = asyncio.wrap_future(future)
    while True:
        done, _pending = await asyncio.wait({wrapped}, timeout=DISCONNECT_POLL_S)
        if done:
            return wrapped.result()
        if not cancel.cancelled and await request.is_disconnected():
            cancel.cancel()


async def _first_piece(request: Request, handoff: _Handoff, cancel: CancelToken) -> str | None:
    """The first text of a stream, or None once the job is done without any; a client that
    disconnects meanwhile (a long prompt being read) cancels the job."""
    getter = asyncio.ensure_future(handoff.queue.get())  # one getter throughout: no piece can be lost
    while True:
        done, _pending = await asyncio.wait({getter}, timeout=DISCONNECT_POLL_S)
        if done:
            return getter.result()
        if not cancel.cancelled and await request.is_disconnected():
            cancel.cancel()


class _Handoff:
    """Text from the model thread to the event loop, in order; None marks the end."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()

    def put(self, item: str | None) -> None:
        try:
            self._loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the loop is closed: the server is shutting down
            pass


def _sse(data: dict[str, Any] | str) -> str:
    return f"data: {data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)}\n\n"


def create_app(
    models: ModelAccess,
    request_log: RequestLog,
    api_key: str | None,
    defaults: Callable[[], settings_store.Settings] = settings_store.load,
) -> FastAPI:
    """The app; ``defaults`` gives the sampling settings a request does not set (read per request)."""
    app = FastAPI(title="Hearth", docs_url=None, redoc_url=None, openapi_url=None)

    async def authorize(request: Request) -> None:
        if not access.key_matches(api_key, request.headers.get("authorization")):
            request_log.record_failure(request.url.path, _client(request), "refused: missing or wrong API key")
            raise ApiError(401, "The API key is missing or wrong.", "authentication_error", "invalid_api_key")

    @app.exception_handler(ApiError)
    async def on_api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.message, exc.kind, exc.code), status_code=exc.status)

    @app.exception_handler(HearthError)
    async def on_hearth_error(_request: Request, exc: HearthError) -> JSONResponse:
        error = _hearth_error(exc)
        return JSONResponse(error_body(error.message, error.kind, error.code), status_code=error.status)

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'body'}: {e.get('msg', '')}" for e in exc.errors()
        )
        return JSONResponse(error_body(f"The request is not valid: {problems}"), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = "invalid_request_error" if exc.status_code < 500 else "server_error"
        return JSONResponse(error_body(str(exc.detail), kind), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def on_bug(_request: Request, exc: Exception) -> JSONResponse:
        log.error("The server failed on a request", exc_info=exc)
        return JSONResponse(error_body(f"Hearth failed unexpectedly: {exc!r}", "server_error"), status_code=500)

    guarded = [Depends(authorize)]

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/models", dependencies=guarded)
    async def list_models() -> dict[str, Any]:
        served = await run_in_threadpool(models.list_models)
        data = [{"id": m.id, "object": "model", "created": m.created, "owned_by": OWNED_BY} for m in served]
        embed = await run_in_threadpool(_embedding_model_name)
        data.append({"id": embed, "object": "model", "created": 0, "owned_by": f"{OWNED_BY}-documents"})
        return {"object": "list", "data": data}

    @app.get("/v1/models/{model_id:path}", dependencies=guarded)
    async def get_model(model_id: str) -> dict[str, Any]:
        model = find_model(await run_in_threadpool(models.list_models), model_id)
        return {"id": model.id, "object": "model", "created": model.created, "owned_by": OWNED_BY}

    @app.get("/props", dependencies=guarded)
    async def props() -> dict[str, Any]:
        """What this server is and what it has loaded (as llama-server's /props): other Hearths
        record it as the provenance of what they are served."""
        version = _version()
        data: dict[str, Any] = {"server": "hearth", "version": version, "build_info": f"hearth {version}"}
        current = models.loaded()
        if current is not None:
            model, sha256 = current
            template = getattr(model, "template", None)
            data["model"] = {
                "id": model.name,
                "path": str(model.path),
                "sha256": sha256,
                "quant": model.info.quant,
                "n_ctx": model.n_ctx,
                "llama_cpp_version": model.llama_cpp_version,
                "template": template.to_dict() if template is not None else None,
            }
        return data

    @app.post("/extras/tokenize/count", dependencies=guarded)
    async def count_tokens(body: TokenCountRequest, request: Request) -> dict[str, int]:
        """The model's own token count for a text (llama-cpp-python's extra, so other Hearths can
        fit document answers into the context exactly)."""
        cancel = CancelToken()
        job = functools.partial(_count_job, body.input)
        return {"count": await _wait_watching(request, models.submit(body.model, job, cancel), cancel)}

    @app.post("/v1/chat/completions", dependencies=guarded, response_model=None)
    async def chat_completions(body: ChatCompletionRequest, request: Request) -> Any:
        body.refuse_unsupported()
        messages = body.engine_messages()
        config = defaults()
        sampling = _sampling(body, config.sampling, body.token_limit())
        schema = body.response_format.schema_to_follow() if body.response_format else None
        grammar = await run_in_threadpool(_grammar, body, schema)
        system = messages[0].content if messages[0].role == "system" else ""
        user_text = next((m.content for m in reversed(messages) if m.role == "user"), messages[-1].content)
        record = RequestRecord(
            endpoint="/v1/chat/completions",
            client=_client(request, body.user),
            model=body.model,
            response_id=f"chatcmpl-{uuid.uuid4().hex}",
            user_text=user_text,
            system_prompt=system,
            sampling=sampling,
            api={
                "messages": [{"role": m.role, "content": m.content} for m in messages],
                "stream": body.stream,
                "stop": body.stops(),
                "response_format": body.response_format.model_dump(by_alias=True) if body.response_format else None,
                "grammar": body.grammar,
                "ignored": body.ignored(),
                "remote_address": request.client.host if request.client else "",
            },
        )
        return await _generate(request, record, body, "chat", lambda emit: chat_job(
            messages, sampling, grammar, body.stops(), record.cancel, emit
        ))  # fmt: skip

    @app.post("/v1/completions", dependencies=guarded, response_model=None)
    async def completions(body: CompletionRequest, request: Request) -> Any:
        body.refuse_unsupported()
        prompt = body.text()
        config = defaults()
        # OpenAI's default for plain completions is 16 tokens.
        sampling = _sampling(body, config.sampling, body.max_tokens or 16)
        grammar = await run_in_threadpool(_grammar, body, None)
        record = RequestRecord(
            endpoint="/v1/completions",
            client=_client(request, body.user),
            model=body.model,
            response_id=f"cmpl-{uuid.uuid4().hex}",
            user_text=prompt,
            system_prompt="",
            sampling=sampling,
            api={
                "prompt": prompt,
                "stream": body.stream,
                "stop": body.stops(),
                "grammar": body.grammar,
                "ignored": body.ignored(),
                "remote_address": request.client.host if request.client else "",
            },
        )
        return await _generate(request, record, body, "text", lambda emit: completion_job(
            prompt, sampling, grammar, body.stops(), record.cancel, emit
        ))  # fmt: skip

    async def _generate(request: Request, record: RequestRecord, body: _Generation, kind: str, make_job: Any) -> Any:
        handoff = _Handoff()
        job = make_job(handoff.put if body.stream else (lambda _text: None))
        future = models.submit(body.model, job, record.cancel)
        request_log.record_generation(record, future)
        future.add_done_callback(lambda _f: handoff.put(None))
        created = int(time.time())
        if body.stream:
            # The status line waits for the first words: a request refused before any (an unknown
            # model, a prompt too long) gets its HTTP error, not a 200 with the error inside.
            first = await _first_piece(request, handoff, record.cancel)
            if first is None:
                try:
                    future.result()
                except Cancelled:
                    raise ApiError(499, "The request was cancelled.") from None
            events = _stream_events(handoff, future, record, body, kind, created, first)
            return StreamingResponse(events, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        try:
            served: Served = await _wait_watching(request, future, record.cancel)
        except Cancelled:
            raise ApiError(499, "The request was cancelled.") from None
        return _response(record, served, kind, created)

    async def _stream_events(
        handoff: _Handoff,
        future: Future[Served],
        record: RequestRecord,
        body: _Generation,
        kind: str,
        created: int,
        first: str | None,
    ) -> AsyncIterator[str]:
        object_name = "chat.completion.chunk" if kind == "chat" else "text_completion"

        def chunk(text: str | None, finish: str | None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
            if kind == "chat":
                delta: dict[str, Any] = {} if text is None else {"content": text}
                if text == "" and finish is None:
                    delta = {"role": "assistant", "content": ""}
                choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
            else:
                choice = {"index": 0, "text": text or "", "finish_reason": finish, "logprobs": None}
            data = {"id": record.response_id, "object": object_name, "created": created, "model": record.model,
                    "choices": [choice]}  # fmt: skip
            data.update(extra or {})
            return data

        try:
            if kind == "chat":
                yield _sse(chunk("", None))
            text = first
            while text is not None:
                yield _sse(chunk(text, None))
                text = await handoff.queue.get()
            try:
                served = future.result()
            except HearthError as exc:
                error = _hearth_error(exc)
                yield _sse(error_body(error.message, error.kind, error.code))
                return
            except Exception as exc:
                log.error("A streamed request failed", exc_info=exc)
                yield _sse(error_body(f"Hearth failed unexpectedly: {exc!r}", "server_error"))
                return
            extra = {"system_fingerprint": f"hearth-{served.sha256[:16]}", "hearth": _hearth_fields(served)}
            yield _sse(chunk(None, _finish_reason(served), extra))
            if body.include_usage():
                usage = {"id": record.response_id, "object": object_name, "created": created, "model": record.model,
                         "choices": [], "usage": _usage(served)}  # fmt: skip
                yield _sse(usage)
            yield _sse("[DONE]")
        finally:
            if not future.done():  # the client went away mid-stream: stop the model
                record.cancel.cancel()

    def _response(record: RequestRecord, served: Served, kind: str, created: int) -> dict[str, Any]:
        if kind == "chat":
            choice: dict[str, Any] = {
                "index": 0,
                "message": {"role": "assistant", "content": served.reply.text},
                "finish_reason": _finish_reason(served),
                "logprobs": None,
            }
            object_name = "chat.completion"
        else:
            choice = {"index": 0, "text": served.reply.text, "finish_reason": _finish_reason(served), "logprobs": None}
            object_name = "text_completion"
        return {
            "id": record.response_id,
            "object": object_name,
            "created": created,
            "model": record.model,
            "system_fingerprint": f"hearth-{served.sha256[:16]}",
            "choices": [choice],
            "usage": _usage(served),
            "hearth": _hearth_fields(served),
        }

    @app.post("/v1/embeddings", dependencies=guarded)
    async def embeddings(body: EmbeddingRequest, request: Request) -> dict[str, Any]:
        texts = body.texts()
        name = await run_in_threadpool(_embedding_model_name)
        if body.model != name:
            raise ApiError(
                404,
                f"Hearth embeds with the documents' embedding model “{name}”, not “{body.model}”. "
                f"Send model “{name}” (change it in Settings → Documents).",
                code="model_not_found",
            )
        vectors, tokens = await run_in_threadpool(_embed, name, texts)
        data = []
        for i, vector in enumerate(vectors):
            values: Any = (
                base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
                if body.encoding_format == "base64"
                else [float(x) for x in vector]
            )
            data.append({"object": "embedding", "index": i, "embedding": values})
        request_log.record_embeddings(_client(request, body.user), name)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return {"object": "list", "data": data, "model": name, "usage": usage}

    return app


def _count_job(text: str, engine: Engine, _sha256: str) -> int:
    return engine.count_tokens(text)


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("hearth")
    except metadata.PackageNotFoundError:  # a frozen build without its metadata
        return "unknown"


def _embedding_model_name() -> str:
    from desktop_app.core.rag import config as rag_config

    return rag_config.load().embed_model


def _embed(name: str, texts: list[str]) -> tuple[Any, int]:
    from desktop_app.core.rag.embedder import get_embedder

    embedder = get_embedder(name)
    vectors = embedder.encode(texts)
    return vectors, sum(embedder.count_tokens(t) for t in texts)

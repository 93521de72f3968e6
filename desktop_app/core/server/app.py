"""The OpenAI-compatible API as a FastAPI app: models, chat completions, completions, embeddings.

Generation runs on the model thread (:mod:`model_access`), one request at a time; this module
only turns requests into jobs and job results into OpenAI's shapes. Text streams back as
server-sent events as the model writes it. A client that goes away stops its generation: for
a stream, Starlette cancels the response when the connection drops; otherwise the handler
watches the connection while it waits. Errors come back in OpenAI's error shape, with the
status codes ``/openapi.json`` lists (400 for any request that is not valid, never 422).
Before any of it, :mod:`guard` refuses foreign hosts and sites and bodies that are too big.

Imported only when the server starts: FastAPI and pydantic stay out of the window's start-up.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from desktop_app.core import settings as settings_store
from desktop_app.core.cancel import CancelToken
from desktop_app.core.errors import Cancelled, HearthError
from desktop_app.core.inference import gbnf_check, grammars
from desktop_app.core.inference.engine import Engine
from desktop_app.core.inference.logprobs import ScoredToken
from desktop_app.core.server import access, embeddings, guard
from desktop_app.core.server.api_types import (
    ChatCompletionRequest,
    CompletionRequest,
    EmbeddingRequest,
    ErrorResponse,
    TokenCountRequest,
    _Generation,
    error_body,
)
from desktop_app.core.server.failures import REQUEST_FAILED, unexpected
from desktop_app.core.server.generation import (
    Choice,
    Served,
    chat_job,
    chat_logprobs,
    completion_job,
    completion_logprobs,
)
from desktop_app.core.server.model_access import ModelAccess, ModelNotFoundError, find_model
from desktop_app.core.server.request_log import RequestLog, RequestRecord
from desktop_app.core.settings import SamplingSettings

log = logging.getLogger(__name__)

DISCONNECT_POLL_S = 0.2
OWNED_BY = "hearth"
SAVE_HEADER = "x-hearth-save-conversation"
SAVE_FIELD = "hearth_save_conversation"

_ERROR = {"model": ErrorResponse}
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {**_ERROR, "description": "The request is not valid (said in words)."},
    401: {**_ERROR, "description": "The API key is missing or wrong."},
    403: {**_ERROR, "description": "Addressed to another host, or sent by a web page of another site."},
    404: {**_ERROR, "description": "No such model."},
    413: {**_ERROR, "description": "The request body is too large."},
}
_GENERATION_ERRORS = {**ERRORS, 499: {**_ERROR, "description": "The client went away; nothing was answered."}}
_GENERATED: dict[int | str, dict[str, Any]] = {
    200: {"description": "The answer: JSON, or server-sent events with stream: true.",
          "content": {"application/json": {}, "text/event-stream": {}}},
    **_GENERATION_ERRORS,
}  # fmt: skip


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


def _save_conversation(request: Request, body: _Generation, default: bool) -> bool:
    """Whether this answer becomes an "API: …" conversation: the setting, unless the client says."""
    said = request.headers.get(SAVE_HEADER)
    field = (body.model_extra or {}).get(SAVE_FIELD)
    if isinstance(field, bool):
        return field
    if said is not None:
        return said.strip().lower() not in ("0", "false", "no", "off")
    return default


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
    """The GBNF the reply must follow, checked here: llama.cpp crashes on one it cannot parse."""
    if schema is not None and body.grammar:
        raise HearthError("Send either response_format or grammar, not both.")
    grammar = grammars.json_schema(schema) if schema is not None else body.grammar
    if grammar is None:
        return None
    gbnf_check.check(grammar)
    return grammar


def _hearth_fields(served: Served) -> dict[str, Any]:
    """What Hearth adds to a response (clients ignore it): the exact model and seeds."""
    template = getattr(served.model, "template", None)
    return {
        "model_path": str(served.model.path),
        "model_sha256": served.sha256,
        "quant": served.model.info.quant,
        "llama_cpp_version": served.model.llama_cpp_version,
        "n_ctx": served.model.n_ctx,
        "seed": served.reply.seed,
        "seeds": [c.reply.seed for c in served.choices],
        "timings": [c.reply.timings.to_dict() for c in served.choices],
        "template": template.to_dict() if template is not None else None,
    }


def _usage(served: Served) -> dict[str, int]:
    completion = served.completion_tokens
    return {
        "prompt_tokens": served.prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": served.prompt_tokens + completion,
    }


def _finish_reason(choice: Choice) -> str:
    if choice.tool_calls:
        return "tool_calls"
    return "length" if choice.reply.finish == "length" else "stop"


async def _wait_watching(request: Request, future: Future[Any], cancel: CancelToken) -> Any:
    """The job's result; a client that disconnects meanwhile cancels it."""
    wrapped = asyncio.wrap_future(future)
    while True:
        done, _pending = await asyncio.wait({wrapped}, timeout=DISCONNECT_POLL_S)
        if done:
            return wrapped.result()
        if not cancel.cancelled and await request.is_disconnected():
            cancel.cancel()


Piece = tuple[int, str, list[ScoredToken]]  # (choice index, text, its tokens scored when asked)


async def _first_piece(request: Request, handoff: _Handoff, cancel: CancelToken) -> Piece | None:
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
        self.queue: asyncio.Queue[Piece | None] = asyncio.Queue()

    def put(self, item: Piece | None) -> None:
        try:
            self._loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the loop is closed: the server is shutting down
            pass

    def emit(self, index: int, text: str, scored: Sequence[ScoredToken] = ()) -> None:
        self.put((index, text, list(scored)))


def _ignore(index: int, text: str, scored: Sequence[ScoredToken] = ()) -> None:
    pass


def _sse(data: dict[str, Any] | str) -> str:
    return f"data: {data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)}\n\n"


def _schema(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema with the errors as they really are: 400 in OpenAI's shape, never 422."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, routes=app.routes, description=app.description)
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
    components = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    app.openapi_schema = schema
    return schema


def create_app(
    models: ModelAccess,
    request_log: RequestLog,
    api_key: str | None,
    defaults: Callable[[], settings_store.Settings] = settings_store.load,
    bound_host: str = "127.0.0.1",
) -> FastAPI:
    """The app; ``defaults`` gives the sampling settings a request does not set (read per request)."""
    app = FastAPI(title="Hearth", version=_version(), docs_url=None, redoc_url=None, openapi_url="/openapi.json")
    app.openapi = functools.partial(_schema, app)  # type: ignore[method-assign]
    app.add_middleware(guard.RequestGuard, bound_host=bound_host)
    db_path: Path = request_log.db_path

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
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'body'}: {e.get('msg', '')}" for e in exc.errors()[:5]
        )
        return JSONResponse(error_body(f"The request is not valid: {problems}"[:2000]), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = "invalid_request_error" if exc.status_code < 500 else "server_error"
        return JSONResponse(error_body(str(exc.detail), kind), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def on_bug(_request: Request, exc: Exception) -> JSONResponse:
        log.error("The server failed on a request", exc_info=exc)
        return JSONResponse(error_body(unexpected(REQUEST_FAILED), "server_error"), status_code=500)

    guarded = [Depends(authorize)]

    @app.get("/health", responses=ERRORS)
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/models", dependencies=guarded, responses=ERRORS)
    async def list_models() -> dict[str, Any]:
        served = await run_in_threadpool(models.list_models)
        data = [{"id": m.id, "object": "model", "created": m.created, "owned_by": OWNED_BY, "type": "llm"}
                for m in served]  # fmt: skip
        for embed in await run_in_threadpool(embeddings.embedding_models, db_path):
            data.append({"id": embed.id, "object": "model", "created": 0, "owned_by": f"{OWNED_BY}-documents",
                         "type": "embeddings", "aliases": sorted(embed.aliases)})  # fmt: skip
        return {"object": "list", "data": data}

    @app.get("/v1/models/{model_id:path}", dependencies=guarded, responses=ERRORS)
    async def get_model(model_id: str) -> dict[str, Any]:
        model = find_model(await run_in_threadpool(models.list_models), model_id)
        return {"id": model.id, "object": "model", "created": model.created, "owned_by": OWNED_BY}

    @app.get("/props", dependencies=guarded, responses=ERRORS)
    async def props() -> dict[str, Any]:
        """What this server is and what it has loaded (as llama-server's /props): other Hearths
        record it as the provenance of what they are served."""
        data: dict[str, Any] = {"server": "hearth", "version": app.version, "build_info": f"hearth {app.version}"}
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

    @app.post("/extras/tokenize/count", dependencies=guarded, responses=_GENERATION_ERRORS)
    async def count_tokens(body: TokenCountRequest, request: Request) -> dict[str, int]:
        """The model's own token count for a text (llama-cpp-python's extra, so other Hearths can
        fit document answers into the context exactly)."""
        cancel = CancelToken()
        job = functools.partial(_count_job, body.input)
        try:
            return {"count": await _wait_watching(request, models.submit(body.model, job, cancel), cancel)}
        except Cancelled:
            raise ApiError(499, "The request was cancelled.") from None

    @app.post("/v1/chat/completions", dependencies=guarded, response_model=None, responses=_GENERATED)
    async def chat_completions(body: ChatCompletionRequest, request: Request) -> Any:
        body.refuse_unsupported()
        conversation = body.conversation()
        tools = body.tool_request()
        top_n = body.top_logprobs_wanted()
        config = defaults()
        sampling = _sampling(body, config.sampling, body.token_limit())
        schema = body.response_format.schema_to_follow() if body.response_format else None
        if tools is not None and (schema is not None or body.grammar):
            raise HearthError("Send either tools or an output format (response_format, grammar), not both.")
        grammar = await run_in_threadpool(_grammar, body, schema)
        system = conversation[0]["content"] if conversation[0]["role"] == "system" else ""
        users = [m["content"] for m in conversation if m["role"] == "user"]
        record = RequestRecord(
            endpoint="/v1/chat/completions",
            client=_client(request, body.user),
            model=body.model,
            response_id=f"chatcmpl-{uuid.uuid4().hex}",
            user_text=users[-1] if users else conversation[-1]["content"],
            system_prompt=system,
            sampling=sampling,
            api={
                "messages": conversation,
                "stream": body.stream,
                "stop": body.stops(),
                "n": body.n,
                "logprobs": top_n,
                "tools": [t.model_dump(exclude_none=True) for t in body.tools] if body.tools else None,
                "tool_choice": body.tool_choice,
                "response_format": body.response_format.model_dump(by_alias=True) if body.response_format else None,
                "grammar": body.grammar,
                "ignored": body.ignored(),
                "remote_address": request.client.host if request.client else "",
            },
            save_conversation=_save_conversation(request, body, config.server.save_conversations),
        )
        return await _generate(request, record, body, "chat", lambda emit: chat_job(
            conversation, tools, sampling, grammar, body.stops(), body.n, top_n, record.cancel, emit
        ))  # fmt: skip

    @app.post("/v1/completions", dependencies=guarded, response_model=None, responses=_GENERATED)
    async def completions(body: CompletionRequest, request: Request) -> Any:
        body.refuse_unsupported()
        prompts = body.prompts()
        top_n = body.top_logprobs_wanted()
        config = defaults()
        # OpenAI's default for plain completions is 16 tokens.
        sampling = _sampling(body, config.sampling, 16 if body.max_tokens is None else body.max_tokens)
        grammar = await run_in_threadpool(_grammar, body, None)
        first = prompts[0]
        record = RequestRecord(
            endpoint="/v1/completions",
            client=_client(request, body.user),
            model=body.model,
            response_id=f"cmpl-{uuid.uuid4().hex}",
            user_text=first if isinstance(first, str) else json.dumps(first),
            system_prompt="",
            sampling=sampling,
            api={
                "prompt": body.prompt,
                "stream": body.stream,
                "stop": body.stops(),
                "n": body.n,
                "echo": body.echo,
                "logprobs": top_n,
                "grammar": body.grammar,
                "ignored": body.ignored(),
                "remote_address": request.client.host if request.client else "",
            },
            save_conversation=_save_conversation(request, body, config.server.save_conversations),
        )
        return await _generate(request, record, body, "text", lambda emit: completion_job(
            prompts, sampling, grammar, body.stops(), body.n, top_n, body.echo, record.cancel, emit
        ))  # fmt: skip

    async def _generate(request: Request, record: RequestRecord, body: _Generation, kind: str, make_job: Any) -> Any:
        handoff = _Handoff()
        job = make_job(handoff.emit if body.stream else _ignore)
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
        first: Piece | None,
    ) -> AsyncIterator[str]:
        object_name = "chat.completion.chunk" if kind == "chat" else "text_completion"

        scoring = body.top_logprobs_wanted() is not None
        offsets: dict[int, int] = {}

        def logprobs(index: int, text: str, scored: list[ScoredToken]) -> dict[str, Any] | None:
            if not scoring:
                return None
            start = offsets.get(index, 0)
            offsets[index] = start + len(text)
            return chat_logprobs(scored) if kind == "chat" else completion_logprobs(scored, start)

        def chunk(
            index: int,
            delta: dict[str, Any] | None,
            text: str | None,
            finish: str | None,
            extra: dict[str, Any] | None = None,
            scores: dict[str, Any] | None = None,
        ) -> dict[str, Any]:
            if kind == "chat":
                choice: dict[str, Any] = {"index": index, "delta": delta or {}, "finish_reason": finish,
                                          "logprobs": scores}  # fmt: skip
            else:
                choice = {"index": index, "text": text or "", "finish_reason": finish, "logprobs": scores}
            data = {"id": record.response_id, "object": object_name, "created": created, "model": record.model,
                    "choices": [choice]}  # fmt: skip
            data.update(extra or {})
            return data

        started: set[int] = set()
        try:
            piece = first
            while piece is not None:
                index, text, scored = piece
                if kind == "chat" and index not in started:
                    started.add(index)
                    yield _sse(chunk(index, {"role": "assistant", "content": ""}, None, None))
                yield _sse(chunk(index, {"content": text}, text, None, scores=logprobs(index, text, scored)))
                piece = await handoff.queue.get()
            try:
                served = future.result()
            except HearthError as exc:
                error = _hearth_error(exc)
                yield _sse(error_body(error.message, error.kind, error.code))
                return
            except Exception as exc:
                log.error("A streamed request failed", exc_info=exc)
                yield _sse(error_body(unexpected(REQUEST_FAILED), "server_error"))
                return
            extra = {"system_fingerprint": f"hearth-{served.sha256[:16]}", "hearth": _hearth_fields(served)}
            for choice in served.choices:
                if kind == "chat" and choice.index not in started:
                    yield _sse(chunk(choice.index, {"role": "assistant", "content": None if choice.tool_calls else ""},
                                     None, None))  # fmt: skip
                if choice.tool_calls:
                    calls = [{"index": i, **call} for i, call in enumerate(choice.tool_calls)]
                    yield _sse(chunk(choice.index, {"tool_calls": calls}, None, None))
                yield _sse(chunk(choice.index, {}, None, _finish_reason(choice), extra))
            if body.include_usage():
                usage = {"id": record.response_id, "object": object_name, "created": created, "model": record.model,
                         "choices": [], "usage": _usage(served)}  # fmt: skip
                yield _sse(usage)
            yield _sse("[DONE]")
        finally:
            if not future.done():  # the client went away mid-stream: stop the model
                record.cancel.cancel()

    def _response(record: RequestRecord, served: Served, kind: str, created: int) -> dict[str, Any]:
        choices = []
        for choice in served.choices:
            if kind == "chat":
                message: dict[str, Any] = {"role": "assistant", "content": choice.text}
                if choice.tool_calls:
                    message = {"role": "assistant", "content": None, "tool_calls": choice.tool_calls}
                choices.append({"index": choice.index, "message": message, "finish_reason": _finish_reason(choice),
                                "logprobs": choice.logprobs})  # fmt: skip
            else:
                choices.append({"index": choice.index, "text": choice.text, "finish_reason": _finish_reason(choice),
                                "logprobs": choice.logprobs})  # fmt: skip
        return {
            "id": record.response_id,
            "object": "chat.completion" if kind == "chat" else "text_completion",
            "created": created,
            "model": record.model,
            "system_fingerprint": f"hearth-{served.sha256[:16]}",
            "choices": choices,
            "usage": _usage(served),
            "hearth": _hearth_fields(served),
        }

    @app.post("/v1/embeddings", dependencies=guarded, response_model=None, responses=ERRORS)
    async def create_embeddings(body: EmbeddingRequest, request: Request) -> JSONResponse:
        inputs = body.inputs()
        known = await run_in_threadpool(embeddings.embedding_models, db_path)
        model = embeddings.find(known, body.model)
        vectors, tokens = await run_in_threadpool(
            embeddings.embed, model.id, inputs, body.encoding_format, body.dimensions
        )
        data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
        request_log.record_embeddings(_client(request, body.user), model.id, len(inputs), tokens)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        # Straight to JSON: FastAPI's own encoder walks every float of every vector (~20% of the time).
        return JSONResponse({"object": "list", "data": data, "model": model.id, "usage": usage})

    return app


def _count_job(text: str, engine: Engine, _sha256: str) -> int:
    return engine.count_tokens(text)


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("hearth")
    except metadata.PackageNotFoundError:  # a frozen build without its metadata
        return "unknown"

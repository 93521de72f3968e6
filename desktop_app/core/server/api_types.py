"""The OpenAI API's request bodies (pydantic, as FastAPI reads them) and its error shape.

Imported only once the server starts (by :mod:`app`): pydantic and FastAPI stay out of the
window's start-up. Unknown fields are kept, not refused, and recorded with the request as
ignored; fields Hearth cannot honour are refused in plain words rather than silently dropped.
Every list has a limit, so no request can ask for unbounded work.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from desktop_app.core.errors import HearthError
from desktop_app.core.server import tools as tool_calls

MAX_MESSAGES = 4096
MAX_PROMPTS = 64  # prompts in one /v1/completions request
MAX_CHOICES = 16  # n
MAX_TOP_LOGPROBS = 20
MAX_EMBEDDING_INPUTS = 2048
MAX_TOOLS = 128


class _Body(BaseModel):
    model_config = ConfigDict(extra="allow")

    def ignored(self) -> list[str]:
        return sorted(self.model_extra or {})


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class FunctionCall(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    arguments: str = "{}"


class ToolCall(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str = ""
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = Field(default=None, max_length=MAX_TOOLS)
    tool_call_id: str | None = None

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        parts = []
        for part in self.content:
            if part.type != "text":
                raise HearthError(f"Hearth's models read text only; this message has a “{part.type}” part.")
            parts.append(part.text or "")
        return "".join(parts)


class JsonSchemaSpec(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str = "output"
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class ResponseFormat(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)
    type: Literal["text", "json_object", "json_schema"] = "text"
    json_schema: JsonSchemaSpec | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")  # llama-cpp-python's form

    def schema_to_follow(self) -> dict[str, Any] | None:
        """The JSON schema the output must match (any JSON object for json_object), or None."""
        if self.type == "json_schema":
            if self.json_schema is None or self.json_schema.schema_ is None:
                raise HearthError("response_format json_schema needs a schema (json_schema.schema).")
            return self.json_schema.schema_
        if self.type == "json_object":
            return self.schema_ or {"type": "object"}
        return None


class FunctionSpec(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolSpec(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: Literal["function"] = "function"
    function: FunctionSpec


class _Generation(_Body):
    model: str
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int | None = Field(default=None, ge=0)
    seed: int | None = None
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    user: str | None = None
    n: int = Field(default=1, ge=1, le=MAX_CHOICES)
    # Accepted as llama.cpp's own servers accept them.
    top_k: int | None = Field(default=None, ge=0)
    min_p: float | None = Field(default=None, ge=0, le=1)
    repeat_penalty: float | None = Field(default=None, gt=0)
    grammar: str | None = None

    def stops(self) -> list[str]:
        if self.stop is None:
            return []
        stops = [self.stop] if isinstance(self.stop, str) else list(self.stop)
        if len(stops) > 4:
            raise HearthError("At most 4 stop sequences are allowed.")
        return [s for s in stops if s]

    def refuse_unsupported(self) -> None:
        if (self.model_extra or {}).get("functions"):
            raise HearthError("Hearth's server takes “tools”, not the older “functions”: send them as tools.")

    def include_usage(self) -> bool:
        return bool((self.stream_options or {}).get("include_usage"))

    def top_logprobs_wanted(self) -> int | None:
        """How many alternatives to return per token (0: the token's own only), or None for no
        log-probabilities at all."""
        raise NotImplementedError


class ChatCompletionRequest(_Generation):
    messages: list[ChatMessageIn] = Field(max_length=MAX_MESSAGES)
    max_completion_tokens: int | None = Field(default=None, ge=0)
    response_format: ResponseFormat | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=MAX_TOP_LOGPROBS)
    tools: list[ToolSpec] | None = Field(default=None, max_length=MAX_TOOLS)
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None

    def conversation(self) -> list[dict[str, Any]]:
        """The messages as plain data: role (developer as system), text, tool calls, tool results."""
        messages: list[dict[str, Any]] = []
        for message in self.messages:
            item: dict[str, Any] = {"role": "system" if message.role == "developer" else message.role,
                                    "content": message.text()}  # fmt: skip
            if message.tool_calls:
                item["tool_calls"] = [{"id": c.id, "name": c.function.name, "arguments": c.function.arguments}
                                      for c in message.tool_calls]  # fmt: skip
            if message.role == "tool":
                item["tool_call_id"] = message.tool_call_id or ""
                item["name"] = message.name or ""
            messages.append(item)
        if not messages:
            raise HearthError("messages is empty: send at least one message.")
        return messages

    def tool_request(self) -> tool_calls.ToolRequest | None:
        tools = [t.model_dump(exclude_none=True) for t in self.tools] if self.tools else None
        return tool_calls.tool_request(tools, self.tool_choice, self.parallel_tool_calls)

    def token_limit(self) -> int | None:
        return self.max_completion_tokens if self.max_completion_tokens is not None else self.max_tokens

    def top_logprobs_wanted(self) -> int | None:
        if not self.logprobs:
            if self.top_logprobs:
                raise HearthError("top_logprobs needs logprobs: true.")
            return None
        return self.top_logprobs or 0


TokenIds = list[int]


class CompletionRequest(_Generation):
    prompt: str | list[str] | TokenIds | list[TokenIds] = Field(
        description=f"Text or token ids; a list of them (at most {MAX_PROMPTS}) for one answer each."
    )
    echo: bool = False
    suffix: str | None = None
    logprobs: int | None = Field(default=None, ge=0, le=MAX_TOP_LOGPROBS)

    def prompts(self) -> list[str | list[int]]:
        """The prompts, each text or token ids."""
        prompt = self.prompt
        if isinstance(prompt, str):
            items: list[str | list[int]] = [prompt]
        elif prompt and all(isinstance(p, int) for p in prompt):
            items = [[int(p) for p in prompt if isinstance(p, int)]]
        else:
            items = list(prompt)  # type: ignore[arg-type]
        if not items:
            raise HearthError("prompt is empty: send a text, or a list of texts or token ids.")
        if len(items) > MAX_PROMPTS:
            raise HearthError(f"At most {MAX_PROMPTS} prompts are answered per request; this one has {len(items)}.")
        if len(items) * self.n > MAX_PROMPTS:
            raise HearthError(f"At most {MAX_PROMPTS} answers per request: prompts × n is {len(items) * self.n}.")
        for item in items:
            if not item:
                raise HearthError("A prompt is empty: give each prompt some text or tokens to continue.")
        return items

    def refuse_unsupported(self) -> None:
        super().refuse_unsupported()
        if self.suffix:
            raise HearthError("Hearth's server does not fill in the middle (suffix).")

    def top_logprobs_wanted(self) -> int | None:
        return self.logprobs


class EmbeddingRequest(_Body):
    model: str
    input: str | list[str] | TokenIds | list[TokenIds]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, ge=1)
    user: str | None = None

    def inputs(self) -> list[str | list[int]]:
        value = self.input
        if isinstance(value, str):
            items: list[str | list[int]] = [value]
        elif value and all(isinstance(v, int) for v in value):
            items = [[int(v) for v in value if isinstance(v, int)]]
        else:
            items = list(value)  # type: ignore[arg-type]
        if not items:
            raise HearthError("input is empty: send at least one text.")
        if len(items) > MAX_EMBEDDING_INPUTS:
            raise HearthError(f"At most {MAX_EMBEDDING_INPUTS:,} inputs per request; this one has {len(items):,}.")
        return items


class TokenCountRequest(_Body):
    model: str
    input: str


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    """OpenAI's error shape: every refusal has it."""

    error: ErrorDetail


def error_body(message: str, kind: str = "invalid_request_error", code: str | None = None) -> dict[str, Any]:
    """OpenAI's error shape, which its clients turn into their own exceptions."""
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}

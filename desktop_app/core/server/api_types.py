"""The OpenAI API's request bodies (pydantic, as FastAPI reads them) and its error shape.

Imported only once the server starts (by :mod:`app`): pydantic and FastAPI stay out of the
window's start-up. Unknown fields are kept, not refused, and recorded with the request as
ignored; fields Hearth cannot honour (tools, several choices, log-probabilities) are refused
in plain words rather than silently dropped.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from desktop_app.core.errors import HearthError
from desktop_app.core.inference.engine import Message


class _Body(BaseModel):
    model_config = ConfigDict(extra="allow")

    def ignored(self) -> list[str]:
        return sorted(self.model_extra or {})


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None

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


class _Generation(_Body):
    model: str
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    seed: int | None = None
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    user: str | None = None
    n: int = 1
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
        if self.n != 1:
            raise HearthError("Hearth writes one choice per request (n must be 1).")
        extra = self.model_extra or {}
        if extra.get("logprobs") not in (None, False, 0):
            raise HearthError("Hearth's server does not return log-probabilities.")
        for name in ("tools", "functions"):
            if extra.get(name):
                raise HearthError(f"Hearth's server does not support “{name}” (tool calls).")

    def include_usage(self) -> bool:
        return bool((self.stream_options or {}).get("include_usage"))


class ChatCompletionRequest(_Generation):
    messages: list[ChatMessageIn]
    max_completion_tokens: int | None = Field(default=None, ge=1)
    response_format: ResponseFormat | None = None

    def engine_messages(self) -> list[Message]:
        messages: list[Message] = []
        for message in self.messages:
            role = "system" if message.role == "developer" else message.role
            if role in ("tool", "function"):
                raise HearthError("Hearth's server does not support tool messages.")
            messages.append(Message(role, message.text()))
        if not messages:
            raise HearthError("messages is empty: send at least one message.")
        return messages

    def token_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


class CompletionRequest(_Generation):
    prompt: str | list[str]
    echo: bool = False
    suffix: str | None = None

    def text(self) -> str:
        if isinstance(self.prompt, str):
            return self.prompt
        if len(self.prompt) != 1:
            raise HearthError("Hearth completes one prompt per request.")
        return self.prompt[0]

    def refuse_unsupported(self) -> None:
        super().refuse_unsupported()
        if self.echo or self.suffix:
            raise HearthError("Hearth's server supports neither echo nor suffix.")


class EmbeddingRequest(_Body):
    model: str
    input: str | list[str]
    encoding_format: Literal["float", "base64"] = "float"
    user: str | None = None

    def texts(self) -> list[str]:
        texts = [self.input] if isinstance(self.input, str) else list(self.input)
        if not texts:
            raise HearthError("input is empty: send at least one text.")
        return texts


class TokenCountRequest(_Body):
    model: str
    input: str


def error_body(message: str, kind: str = "invalid_request_error", code: str | None = None) -> dict[str, Any]:
    """OpenAI's error shape, which its clients turn into their own exceptions."""
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}

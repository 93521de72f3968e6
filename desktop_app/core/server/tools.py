"""Tools (function calling) on /v1/chat/completions: what the model is told, how its call is
constrained, and how the call is read back into OpenAI's ``tool_calls``.

A model whose own chat template knows tools is prompted through that template (the engine's
``tokenize_with_tools``) and writes calls in the template's format: Hermes-style
``<tool_call>{"name": …, "arguments": {…}}</tool_call>``, or the bare JSON object. Any other model
gets the functions described in its system prompt and writes the JSON object. Either way a
grammar built from the functions' parameter schemas constrains the call, so every call names a
given function and its arguments match that function's schema. With ``tool_choice`` "auto" the
model may also answer in words; "required" or a named function forces a call; several calls
(a JSON list, or several Hermes blocks) unless ``parallel_tool_calls`` is false.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from desktop_app.core.errors import HearthError
from desktop_app.core.inference import grammars
from desktop_app.core.inference.engine import Message

MAX_PARALLEL_CALLS = 8
_HERMES_CALL = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.S)


@dataclass(frozen=True)
class ToolRequest:
    functions: list[dict[str, Any]]  # OpenAI "function" objects: name, description, parameters
    choice: str  # "auto" | "required" | the one function's name that must be called
    parallel: bool

    def allowed(self) -> list[dict[str, Any]]:
        if self.choice in ("auto", "required"):
            return self.functions
        return [f for f in self.functions if f["name"] == self.choice]


def tool_request(tools: list[dict[str, Any]] | None, tool_choice: Any, parallel: bool | None) -> ToolRequest | None:
    """The tools a request offers and how they must be used; None when none may be called."""
    choice: str = "auto" if tool_choice is None else tool_choice if isinstance(tool_choice, str) else ""
    if isinstance(tool_choice, dict):
        choice = str((tool_choice.get("function") or {}).get("name") or "")
        if not choice:
            raise HearthError('tool_choice must be "none", "auto", "required" or {"type": "function", '
                              '"function": {"name": …}}.')  # fmt: skip
    elif choice not in ("none", "auto", "required"):
        raise HearthError(f"tool_choice “{choice}” is not one of none, auto, required.")
    if not tools:
        if choice not in ("none", "auto"):
            raise HearthError("tool_choice asks for a tool call, but the request gives no tools.")
        return None
    if choice == "none":
        return None
    functions = [t["function"] for t in tools]
    names = [f["name"] for f in functions]
    if len(set(names)) != len(names):
        raise HearthError("Two tools have the same name: give each function its own name.")
    if choice not in ("auto", "required") and choice not in names:
        raise HearthError(f"tool_choice names “{choice}”, which is not one of the tools given.")
    return ToolRequest(functions, choice, parallel is not False)


def _arguments_schema(function: dict[str, Any]) -> dict[str, Any]:
    parameters = function.get("parameters")
    return parameters if isinstance(parameters, dict) and parameters else {"type": "object"}


def call_schema(request: ToolRequest) -> dict[str, Any]:
    """The JSON schema of one call (or of a list of calls, when several are allowed)."""
    options = [
        {
            "type": "object",
            "properties": {"name": {"const": f["name"]}, "arguments": _arguments_schema(f)},
            "required": ["name", "arguments"],
        }
        for f in request.allowed()
    ]
    return options[0] if len(options) == 1 else {"oneOf": options}


def grammar(request: ToolRequest, native: str) -> str:
    """GBNF for the model's answer: a call (or calls), or for "auto" also words."""
    one = re.sub(r"(?m)^root ::=", "call ::=", grammars.json_schema(call_schema(request)))
    if native == "hermes":
        block = '"<tool_call>\\n" call "\\n</tool_call>"'
        calls = f'{block} ("\\n" {block}){{0,{MAX_PARALLEL_CALLS - 1}}}' if request.parallel else block
    elif request.parallel:
        calls = f'call | "[" call ("," " "? call){{0,{MAX_PARALLEL_CALLS - 1}}} "]"'
    else:
        calls = "call"
    if request.choice == "auto":
        return f"root ::= calls | words\ncalls ::= {calls}\nwords ::= [^{{<\\[ \\n] .*\n{one}"
    return f"root ::= {calls}\n{one}"


def describe(request: ToolRequest) -> str:
    """The tools in words, for a model whose template does not know them."""
    lines = [
        "You can call functions. To call one, answer with only a JSON object "
        '{"name": <function name>, "arguments": <its arguments as JSON>}'
        + (", or a JSON list of such objects to call several." if request.parallel else "."),
        "The functions:",
    ]
    for function in request.allowed():
        summary = f"- {function['name']}"
        if function.get("description"):
            summary += f": {function['description']}"
        lines.append(f"{summary}\n  arguments (JSON schema): {json.dumps(_arguments_schema(function))}")
    if request.choice == "auto":
        lines.append("If no function is needed, answer in words.")
    return "\n".join(lines)


def _arguments(value: Any) -> Any:
    """Arguments as JSON values, as templates expect (clients send them as a JSON string)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def structured(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The conversation for a template that knows tools: calls with their arguments as objects."""
    out = []
    for message in messages:
        item = {"role": message["role"], "content": message.get("content") or ""}
        if message.get("tool_calls"):
            item["tool_calls"] = [
                {"id": c.get("id", ""), "type": "function",
                 "function": {"name": c["name"], "arguments": _arguments(c["arguments"])}}
                for c in message["tool_calls"]
            ]  # fmt: skip
        if message["role"] == "tool":
            item["tool_call_id"] = message.get("tool_call_id") or ""
            if message.get("name"):
                item["name"] = message["name"]
        out.append(item)
    return out


def as_engine_messages(messages: list[dict[str, Any]], request: ToolRequest | None) -> list[Message]:
    """The conversation as plain messages (a template without tools): calls as the JSON the model
    writes, results as user messages that say which call they answer; the tools in the system
    prompt."""
    result: list[Message] = []
    for message in messages:
        text = message.get("content") or ""
        if message.get("tool_calls"):
            calls = [{"name": c["name"], "arguments": _arguments(c["arguments"])} for c in message["tool_calls"]]
            written = json.dumps(calls[0] if len(calls) == 1 else calls, ensure_ascii=False)
            result.append(Message("assistant", f"{text}\n{written}".strip()))
        elif message["role"] == "tool":
            which = message.get("name") or message.get("tool_call_id") or "the function"
            result.append(Message("user", f"Result of {which}:\n{text}"))
        else:
            result.append(Message(message["role"], text))
    if request is not None:
        if result and result[0].role == "system":
            result[0] = Message("system", f"{result[0].content}\n\n{describe(request)}".strip())
        else:
            result.insert(0, Message("system", describe(request)))
    return result


def parse_calls(text: str, request: ToolRequest, native: str) -> list[dict[str, Any]] | None:
    """OpenAI's ``tool_calls`` from what the model wrote, or None when it answered in words."""
    if native == "hermes":
        found: list[Any] = []
        for block in _HERMES_CALL.findall(text):
            try:
                found.append(json.loads(block))
            except ValueError:
                return None
    else:
        try:
            data = json.loads(text)
        except ValueError:
            return None
        found = data if isinstance(data, list) else [data]
    names = {f["name"] for f in request.allowed()}
    calls = []
    for call in found:
        if not isinstance(call, dict) or call.get("name") not in names:
            return None
        arguments = call.get("arguments", call.get("parameters", {}))
        calls.append(
            {
                "id": f"call_{uuid.uuid4().hex[:24]}",
                "type": "function",
                "function": {"name": call["name"], "arguments": json.dumps(arguments, ensure_ascii=False)},
            }
        )
    return calls or None

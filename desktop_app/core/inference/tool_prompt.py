"""Prompts with tools, written by the model's own chat template when it knows tools.

Templates that take a ``tools`` variable (Qwen, Hermes, Llama 3.1, SmolLM3, …) describe the
functions and show earlier calls and their results in the format the model was trained on;
:func:`native_format` says which output format that template teaches ("hermes":
``<tool_call>{…}</tool_call>``, else plain JSON). Other models get the tools described in words
by the server (core/server/tools.py). Either way the call itself is constrained by a grammar.
"""

from __future__ import annotations

from typing import Any

from desktop_app.core.errors import HearthError
from desktop_app.core.inference.templates import ChatTemplate, install_template_limits


def native_format(template: ChatTemplate) -> str:
    """ "hermes" or "json" for a template that renders ``tools``, else ""."""
    if template.name != "file" or "tools" not in template.text:
        return ""
    return "hermes" if "<tool_call>" in template.text else "json"


def render(
    template: ChatTemplate,
    bos_text: str,
    eos_text: str,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None,
) -> str:
    install_template_limits()  # before the import: the bounded formatter (templates.py)
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    formatter = Jinja2ChatFormatter(
        template=template.text, eos_token=eos_text, bos_token=bos_text, add_generation_prompt=True
    )
    try:
        return str(formatter(messages=messages, tools=tools or None).prompt)  # type: ignore[arg-type]
    except Exception as exc:  # noqa: BLE001 - templates raise anything; the client needs words
        raise HearthError(f"The model's chat template rejected this conversation with tools: {exc}") from None

"""Tool calls (issue 23, item 3) without a model: the grammar a call is constrained by (checked by
the GBNF check, so llama.cpp can use it), calls read back from what a model writes in either
format, the history for templates with and without tools, and a Hermes-style template (as Qwen's
and Hermes' files carry) writing the tools and earlier calls itself."""

from __future__ import annotations

import json
from typing import Any

import pytest

from desktop_app.core.errors import HearthError
from desktop_app.core.inference import tool_prompt
from desktop_app.core.inference.gbnf_check import check
from desktop_app.core.inference.templates import ChatTemplate
from desktop_app.core.server import tools

CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
WEATHER = {"name": "get_weather", "description": "Weather now.", "parameters": CITY}
TIME = {"name": "get_time", "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}}}
SPECS = [{"type": "function", "function": WEATHER}, {"type": "function", "function": TIME}]
HERMES = """{%- if tools %}<|im_start|>system
You may call functions. <tools>{% for t in tools %}{{ t | tojson }}{% endfor %}</tools>
Answer with <tool_call>{"name": ..., "arguments": ...}</tool_call>.<|im_end|>
{% endif %}{%- for m in messages %}<|im_start|>{{ m.role }}
{%- if m.tool_calls %}{% for c in m.tool_calls %}
<tool_call>{"name": "{{ c.function.name }}", "arguments": {{ c.function.arguments | tojson }}}</tool_call>
{%- endfor %}{% else %}
{{ m.content }}{% endif %}<|im_end|>
{% endfor %}<|im_start|>assistant
"""


@pytest.mark.parametrize("choice", ["auto", "required", {"type": "function", "function": {"name": "get_time"}}])
@pytest.mark.parametrize("parallel", [True, False])
@pytest.mark.parametrize("native", ["", "json", "hermes"])
def test_every_call_grammar_is_one_llama_cpp_accepts(choice: Any, parallel: bool, native: str) -> None:
    request = tools.tool_request(SPECS, choice, parallel)
    assert request is not None
    check(tools.grammar(request, native))


def test_calls_are_read_back_in_either_format() -> None:
    request = tools.tool_request(SPECS, "auto", True)
    assert request is not None
    (one,) = tools.parse_calls('{"name": "get_weather", "arguments": {"city": "Oslo"}}', request, "") or []
    assert one["function"]["name"] == "get_weather" and json.loads(one["function"]["arguments"]) == {"city": "Oslo"}
    several = tools.parse_calls('[{"name": "get_weather", "arguments": {"city": "Oslo"}}, '
                                '{"name": "get_time", "arguments": {"zone": "CET"}}]', request, "json")  # fmt: skip
    assert several is not None and [c["function"]["name"] for c in several] == ["get_weather", "get_time"]
    assert len({c["id"] for c in several}) == 2
    hermes = tools.parse_calls('<tool_call>\n{"name": "get_time", "arguments": {"zone": "UTC"}}\n</tool_call>\n'
                               '<tool_call>\n{"name": "get_time", "arguments": {"zone": "CET"}}\n</tool_call>',
                               request, "hermes")  # fmt: skip
    assert hermes is not None and len(hermes) == 2
    assert tools.parse_calls("It is sunny in Oslo.", request, "") is None  # "auto": words are an answer
    assert tools.parse_calls('{"name": "rm_rf", "arguments": {}}', request, "") is None  # not a tool given


def test_tool_choice_is_checked() -> None:
    assert tools.tool_request(SPECS, "none", None) is None
    assert tools.tool_request(None, None, None) is None
    for choice, said in [("sometimes", "not one of"), ({"type": "function", "function": {"name": "nope"}}, "nope"),
                         ({"type": "function"}, "tool_choice")]:  # fmt: skip
        with pytest.raises(HearthError, match=said):
            tools.tool_request(SPECS, choice, None)
    with pytest.raises(HearthError, match="gives no tools"):
        tools.tool_request(None, "required", None)
    with pytest.raises(HearthError, match="same name"):
        tools.tool_request(SPECS + SPECS[:1], "auto", None)


def test_the_history_without_a_tools_template() -> None:
    call = {"id": "c1", "name": "get_weather", "arguments": '{"city": "Oslo"}'}
    conversation: list[dict[str, Any]] = [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "content": "4 degrees", "tool_call_id": "c1", "name": ""},
    ]
    request = tools.tool_request(SPECS, "auto", True)
    messages = tools.as_engine_messages(conversation, request)
    assert messages[0].role == "system"
    assert "get_weather" in messages[0].content and "Weather now." in messages[0].content
    assert json.loads(messages[2].content) == {"name": "get_weather", "arguments": {"city": "Oslo"}}
    assert messages[3].role == "user" and messages[3].content == "Result of c1:\n4 degrees"


def test_a_template_with_tools_writes_them_itself() -> None:
    template = ChatTemplate("file", "file", "0" * 64, HERMES)
    assert tool_prompt.native_format(template) == "hermes"
    assert tool_prompt.native_format(ChatTemplate("file", "file", "0" * 64, "{{ messages }}")) == ""
    conversation = tools.structured([
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "name": "get_weather",
                                                             "arguments": '{"city": "Oslo"}'}]},
        {"role": "tool", "content": "4 degrees", "tool_call_id": "c1", "name": "get_weather"},
    ])  # fmt: skip
    prompt = tool_prompt.render(template, "", "<|im_end|>", conversation, SPECS)
    assert '"name": "get_weather"' in prompt and "<tools>" in prompt
    assert '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>' in prompt
    assert prompt.rstrip().endswith("<|im_start|>assistant")

"""The JSON-schema grammar keeps raw control characters out of strings (JSON forbids them;
llama-cpp-python's converter lets them in, and SmolLM2 then writes a newline inside a string).
Served JSON is checked strictly in tests/core/server and tests/core/inference."""

from __future__ import annotations

from desktop_app.core.inference import grammars


def test_strings_exclude_control_characters() -> None:
    gbnf = grammars.json_schema({"type": "object", "properties": {"note": {"type": "string"}}})
    (char,) = [line for line in gbnf.splitlines() if line.startswith("char ::=")]
    assert char.startswith('char ::= [^"\\\\\\x7F\\x00-\\x1F] |')
    from llama_cpp import LlamaGrammar

    LlamaGrammar.from_string(gbnf, verbose=False)  # llama.cpp accepts it

"""GBNF grammars that constrain what a model may write: one of a set of labels, JSON that
matches a schema, or a number. llama.cpp applies them while sampling, so every output is valid
by construction (dataset runs, and ``response_format`` on the local server)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from desktop_app.core.errors import HearthError

NUMBER = 'root ::= "-"? [0-9]+ ("." [0-9]+)?\n'
_LOOSE_CHAR = 'char ::= [^"\\\\] |'
_JSON_CHAR = 'char ::= [^"\\\\\\x7F\\x00-\\x1F] |'


def _literal(text: str) -> str:
    # A GBNF string literal: JSON's escaping is what GBNF accepts for quotes and backslashes.
    return json.dumps(text, ensure_ascii=False)


def labels(choices: Sequence[str]) -> str:
    """Exactly one of ``choices``, written as given."""
    cleaned = [c for c in (str(c).strip() for c in choices) if c]
    if not cleaned:
        raise HearthError("A label task needs at least one label.", "Type the labels, separated by commas.")
    if len(set(cleaned)) != len(cleaned):
        raise HearthError("The labels repeat themselves.", "Give each label once.")
    return "root ::= " + " | ".join(_literal(c) for c in cleaned) + "\n"


def json_schema(schema: dict[str, Any]) -> str:
    """JSON matching ``schema`` (llama-cpp-python's converter, as its own server uses)."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    try:
        gbnf = str(json_schema_to_gbnf(json.dumps(schema)))
    except Exception as exc:  # noqa: BLE001 - the converter raises anything on a schema it cannot express
        raise HearthError(f"This JSON schema cannot be used to constrain the output: {exc}") from None
    # Its string characters admit raw control characters (a newline inside a string), which JSON
    # forbids: exclude them, as llama.cpp's own converter does.
    return gbnf.replace(_LOOSE_CHAR, _JSON_CHAR)

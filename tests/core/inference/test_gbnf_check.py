"""The GBNF check that stands between a request and llama.cpp's grammar parser (issue 23, item 1):
llama.cpp crashes the process on a grammar it cannot parse, so each one it would refuse must be
refused here, in words; each one it accepts must pass. The grammars that pass are then really
used by llama.cpp (the engine compiles them) without a crash."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from desktop_app.core.inference import grammars
from desktop_app.core.inference.gbnf_check import GrammarError, check

GOOD = [
    'root ::= "a"',
    'root ::= "yes" | "no"\n',
    "root ::= [a-z]+ tail?\ntail ::= [0-9]{1,3}\n",
    'root ::= "a" root | "b"',  # right recursion is fine
    'root ::= ("x" | "y")* "."  # a comment',
    'root ::= [^"\\\\\\x7F\\x00-\\x1F] "\\u00e9" "\\n"',
    "root ::= <[42]> !<[7]>",
    "root ::= (\n  item\n  | item item\n)\nitem ::= .",
    'root ::= "a"{0} "b"',
]
BAD = [
    ("b", "::="),  # the request that crashed the server
    ("", "empty"),
    ("   \n", "empty"),
    ('x ::= "a"', "root"),
    ("root ::= foo", "foo"),
    ('root ::= root "a"', "left-recursive"),
    ('root ::= a\na ::= b? root\nb ::= "x"', "left-recursive"),
    ('root ::= "a"*+', "left-recursive"),
    ('root ::= ( "a"', ")"),
    ('root ::= "abc', "not closed"),
    ("root ::= [a-", "early"),
    ('root ::= "\\q"', "escape"),
    ('root ::= "\\x4"', "hexadecimal"),
    ('root ::= "a"{3,1}', "smaller"),
    ('root ::= "a"{5000}', "too many"),
    ("root ::= *", "repeat"),
    ("root ::= <hello>", "id"),
    ('root ::= "a" ) "b"', "new line"),
    ('root ::= "a"\x00', "NUL"),
    ("root ::= " + "(" * 3000 + '"a"' + ")" * 3000, "nested"),
]


@pytest.mark.parametrize("grammar", GOOD)
def test_grammars_llama_cpp_accepts_pass(grammar: str) -> None:
    check(grammar)


@pytest.mark.parametrize(("grammar", "said"), BAD)
def test_grammars_llama_cpp_would_crash_on_are_refused_in_words(grammar: str, said: str) -> None:
    with pytest.raises(GrammarError) as refused:
        check(grammar)
    assert said in str(refused.value)
    assert refused.value.hint  # what to do about it


def test_the_grammars_hearth_writes_itself_pass() -> None:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "tags": {"type": "array", "items": {"enum": ["a", "b"]}},
                       "n": {"type": "integer", "minimum": 0}},
        "required": ["name"],
    }  # fmt: skip
    check(grammars.json_schema(schema))
    check(grammars.labels(["yes", "no", 'say "maybe"']))
    check(grammars.NUMBER)
    from llama_cpp import llama_grammar

    for name in ("ARITHMETIC_GBNF", "C_GBNF", "CHESS_GBNF", "JAPANESE_GBNF", "JSON_ARR_GBNF", "JSON_GBNF", "LIST_GBNF"):
        check(getattr(llama_grammar, name))
    check(grammars.json_schema(json.loads('{"type": "array", "items": {"type": "number"}, "maxItems": 3}')))


def test_the_engine_refuses_a_bad_grammar_without_crashing(engine: Any) -> None:
    from desktop_app.core.errors import HearthError
    from desktop_app.core.inference.engine import Message
    from desktop_app.core.settings import SamplingSettings

    sampling = SamplingSettings(max_tokens=4, seed=1, temperature=0)
    with pytest.raises(HearthError, match="::="):
        engine.generate([Message("user", "Hi")], sampling, grammar="b")
    with pytest.raises(HearthError, match="left-recursive"):
        engine.generate([Message("user", "Hi")], sampling, grammar='root ::= root "a"')
    for grammar in ('root ::= "yes" | "no"', "root ::= <[42]>{1,2}"):  # what passes, llama.cpp really runs
        assert engine.generate([Message("user", "Hi")], sampling, grammar=grammar).finish in ("stop", "length")


def _random_grammar(rng: random.Random) -> str:
    """A small grammar, often valid, often not in one of the ways people get GBNF wrong."""

    def item(level: int) -> str:
        kind = rng.random()
        if kind < 0.45:
            good, bad = ['"x"', '"x"', '"\\n"', '"a\\"b"'], ['"\\q"', '"ab', '""']
            text = rng.choice(good) if rng.random() > 0.05 else rng.choice(bad)
        elif kind < 0.7:
            text = rng.choice(["[a-c]", "[^x]", "[\\]]", "[a-]", "."]) if rng.random() > 0.03 else "["
        elif kind < 0.85:
            text = rng.choice(["root", "a", "b", "a-b"]) if rng.random() > 0.05 else "c"
        elif level < 2:
            text = "(" + alternates(level + 1) + (")" if rng.random() > 0.05 else "")
        else:
            text = '"y"'
        suffix = rng.choice(["", "", "", "", "", "*", "+", "?", "{2}", "{0,3}", "{1,}"])
        return text + (suffix if rng.random() > 0.03 else rng.choice(["{,2}", "{", "*?"]))

    def sequence(level: int) -> str:
        return " ".join(item(level) for _ in range(rng.randint(0 if rng.random() < 0.1 else 1, 3)))

    def alternates(level: int) -> str:
        sep = rng.choice([" | ", " | ", " | ", " |\n  "]) if rng.random() > 0.05 else "\n| "
        return sep.join(sequence(level) for _ in range(rng.randint(1, 3)))

    rules = []
    names = ["root", *rng.sample(["a", "b", "a-b"], rng.randint(2, 3))] if rng.random() > 0.05 else ["a"]
    for name in names:
        arrow = "::=" if rng.random() > 0.05 else rng.choice(["::", "="])
        comment = rng.choice(["", "", "  # note"])
        rules.append(f"{name} {arrow} {alternates(0)}{comment}")
    return rng.choice(["\n", "\n\n", "\r\n"]).join(rules) + rng.choice(["", "\n"])


def test_the_check_agrees_with_llama_cpp_on_random_grammars(engine: Any) -> None:
    """Differential: llama.cpp's own parser (its sampler constructor, which returns NULL for a
    grammar it refuses; only using that NULL crashes) against the check, on random grammars."""
    import llama_cpp

    vocab = engine._llm._model.vocab  # the test reaches into llama.cpp on purpose: it is the reference
    rng = random.Random(23)
    verdicts = {"accepted": 0, "refused": 0}
    for _ in range(400):
        grammar = _random_grammar(rng)
        sampler = llama_cpp.llama_sampler_init_grammar(vocab, grammar.encode(), b"root")
        if sampler:
            llama_cpp.llama_sampler_free(sampler)
        try:
            check(grammar)
            ours = True
        except GrammarError:
            ours = False
        assert ours == bool(sampler), grammar
        verdicts["accepted" if ours else "refused"] += 1
    assert min(verdicts.values()) > 25  # both kinds were really tried

"""A lab's own tools against Hearth's server (issue 23), through the real ``openai`` client and
plain HTTP on 127.0.0.1: log-probabilities (chat and completions), echo, lm-evaluation-harness's
``local-completions`` requests checked against llama-cpp-python scoring the same model directly,
tools, batched prompts, n > 1 with per-choice seeds, embeddings by name and token ids,
``/openapi.json``, and answers kept as conversations only when wanted.

lm-evaluation-harness itself is not a test dependency (it pulls in datasets, torch extras and
more): its ``local-completions`` request and its ``parse_logprobs`` are rebuilt here as it sends
and reads them (lm_eval/models/openai_completions.py).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import numpy as np
import openai
import pytest

from desktop_app.core.conversations.store import ConversationStore
from desktop_app.core.server.request_log import read_log

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather now in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"enum": ["celsius", "fahrenheit"]}},
            "required": ["city", "unit"],
        },
    },
}
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {
    "type": "object", "properties": {"zone": {"type": "string"}}, "required": ["zone"]}}}  # fmt: skip

# A small local multiple-choice task: (question, choices, index of the right one).
TASK = [
    ("The capital of France is", [" Paris", " London", " Berlin"], 0),
    ("Two plus two equals", [" four", " seven", " ten"], 0),
    ("The sky on a clear day is", [" blue", " green", " purple"], 0),
    ("Water freezes at zero degrees", [" Celsius", " Kelvin"], 0),
    ("A baby cat is called a", [" kitten", " puppy", " calf"], 0),
    ("The opposite of hot is", [" cold", " loud", " tall"], 0),
]


@pytest.fixture(scope="module")
def client(hearth_server: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=hearth_server.url, api_key=hearth_server.key, max_retries=0)


@pytest.fixture(scope="module")
def direct(smollm2_path: Path) -> Iterator[Any]:
    """llama-cpp-python on the same file, with the logits of every position (the reference)."""
    from llama_cpp import Llama

    from desktop_app.core.settings import LoadSettings

    # Flash attention as the server loads the model (it moves log-probabilities by ~0.1 either way).
    llm = Llama(model_path=str(smollm2_path), n_ctx=512, logits_all=True, verbose=False, n_threads=2,
                flash_attn=LoadSettings().flash_attn)  # fmt: skip
    yield llm
    llm.close()


def _post(hearth_server: Any, path: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    return httpx.post(f"{hearth_server.url}{path}", json=body, timeout=120,
                      headers={"Authorization": f"Bearer {hearth_server.key}", **headers})  # fmt: skip


def test_chat_log_probabilities(client: openai.OpenAI, hearth_server: Any) -> None:
    reply = client.chat.completions.create(
        model=hearth_server.model_id, messages=[{"role": "user", "content": "Name a fruit."}],
        max_tokens=6, temperature=0, logprobs=True, top_logprobs=3,
    )  # fmt: skip
    choice = reply.choices[0]
    assert choice.logprobs is not None and choice.logprobs.content
    content = choice.logprobs.content
    assert "".join(t.token for t in content) == choice.message.content
    for token in content:
        assert token.logprob <= 0 and len(token.top_logprobs) == 3
        best = max(token.top_logprobs, key=lambda t: t.logprob)
        assert token.logprob == best.logprob  # temperature 0: each token is the most likely one
        assert bytes(token.bytes or []).decode("utf-8", "replace") == token.token

    stream = client.chat.completions.create(
        model=hearth_server.model_id, messages=[{"role": "user", "content": "Name a fruit."}],
        max_tokens=6, temperature=0, logprobs=True, top_logprobs=3, stream=True,
    )  # fmt: skip
    text, tokens = "", []
    for chunk in stream:
        for part in chunk.choices:
            text += part.delta.content or ""
            tokens += part.logprobs.content if part.logprobs and part.logprobs.content else []
    assert text == choice.message.content  # the same answer, streamed, each piece with its tokens
    assert [t.logprob for t in tokens] == [t.logprob for t in content]


def test_completions_echo_and_logprobs_in_the_openai_shape(client: openai.OpenAI, hearth_server: Any) -> None:
    prompt = "The capital of France is"
    reply = client.completions.create(model=hearth_server.model_id, prompt=prompt, max_tokens=2, temperature=0,
                                      logprobs=2, echo=True)  # fmt: skip
    choice = reply.choices[0]
    assert choice.text.startswith(prompt) and len(choice.text) > len(prompt)
    logprobs = choice.logprobs
    assert logprobs is not None and logprobs.tokens and logprobs.token_logprobs and logprobs.top_logprobs
    assert logprobs.token_logprobs[0] is None and logprobs.top_logprobs[0] is None  # nothing before the first
    assert len(logprobs.tokens) == len(logprobs.token_logprobs) == len(logprobs.text_offset or [])
    assert all(lp is not None and lp <= 0 for lp in logprobs.token_logprobs[1:])
    assert all(len(top) <= 2 for top in logprobs.top_logprobs[1:] if top is not None)
    assert "".join(logprobs.tokens) == choice.text
    usage = reply.usage
    assert usage is not None and usage.prompt_tokens + 2 >= len(logprobs.tokens) - 1


def _lm_eval_requests(llm: Any) -> tuple[list[list[int]], list[int]]:
    """lm-eval's loglikelihood requests: context + continuation as token ids, and the context's length."""
    prompts, ctxlens = [], []
    for question, choices, _right in TASK:
        context = llm.tokenize(question.encode(), add_bos=False)
        for choice in choices:
            prompts.append(context + llm.tokenize(choice.encode(), add_bos=False, special=False))
            ctxlens.append(len(context))
    return prompts, ctxlens


def _parse_logprobs(output: dict[str, Any], ctxlens: list[int]) -> list[tuple[float, bool]]:
    """lm-eval's LocalCompletionsAPI.parse_logprobs, as it reads a response."""
    results = []
    for choice, ctxlen in zip(sorted(output["choices"], key=lambda c: c["index"]), ctxlens, strict=True):
        token_logprobs = choice["logprobs"]["token_logprobs"][ctxlen:-1]
        top_logprobs = choice["logprobs"]["top_logprobs"][ctxlen:-1]
        greedy = all(tok == max(top.values()) for tok, top in zip(token_logprobs, top_logprobs, strict=True))
        results.append((sum(token_logprobs), greedy))
    return results


def _direct_scores(llm: Any, prompts: list[list[int]], ctxlens: list[int]) -> list[float]:
    scores = []
    for tokens, ctxlen in zip(prompts, ctxlens, strict=True):
        llm.reset()
        llm.eval(tokens)
        logits = np.asarray(llm.scores[: len(tokens)], dtype=np.float64)
        logp = logits - logits.max(axis=1, keepdims=True)
        logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))
        scores.append(sum(logp[i - 1, tokens[i]] for i in range(ctxlen, len(tokens))))
    return scores


def _accuracy(scores: list[float]) -> tuple[float, list[int]]:
    picks, start = [], 0
    for _question, choices, _right in TASK:
        block = scores[start : start + len(choices)]
        picks.append(int(np.argmax(block)))
        start += len(choices)
    right = [r for _q, _c, r in TASK]
    return sum(p == r for p, r in zip(picks, right, strict=True)) / len(TASK), picks


def test_lm_eval_local_completions_scores_as_llama_cpp_python_does(hearth_server: Any, direct: Any) -> None:
    prompts, ctxlens = _lm_eval_requests(direct)
    body = {"model": hearth_server.model_id, "prompt": prompts, "temperature": 0, "max_tokens": 1, "logprobs": 1,
            "seed": 1234, "echo": True}  # fmt: skip  (lm-eval's _create_payload for loglikelihood)
    response = _post(hearth_server, "/completions", body, **{"X-Hearth-Save-Conversation": "false"})
    assert response.status_code == 200, response.text
    output = response.json()
    assert len(output["choices"]) == len(prompts)
    for choice, tokens in zip(sorted(output["choices"], key=lambda c: c["index"]), prompts, strict=True):
        assert len(choice["logprobs"]["token_logprobs"]) == len(tokens) + 1  # the prompt, echoed, and one token
    served = _parse_logprobs(output, ctxlens)
    reference = _direct_scores(direct, prompts, ctxlens)
    for (score, _greedy), expected in zip(served, reference, strict=True):
        assert math.isclose(score, expected, abs_tol=2e-3), (score, expected)
    served_accuracy, served_picks = _accuracy([s for s, _g in served])
    direct_accuracy, direct_picks = _accuracy(reference)
    assert served_picks == direct_picks and served_accuracy == direct_accuracy
    assert served_accuracy >= 0.5  # the small model gets most of these right: the scores mean something


def test_batched_prompts_and_several_choices_with_their_own_seeds(client: openai.OpenAI, hearth_server: Any) -> None:
    batch = client.completions.create(model=hearth_server.model_id, prompt=["1, 2, 3, 4,", "a, b, c, d,"],
                                      max_tokens=4, temperature=0)  # fmt: skip
    texts = {c.index: c.text for c in batch.choices}
    assert texts[0].startswith(" 5") and texts[1].strip().startswith("e")
    assert batch.usage is not None and batch.usage.completion_tokens <= 8

    several = client.completions.create(model=hearth_server.model_id, prompt="Once upon a time", max_tokens=8,
                                        temperature=1.0, seed=40, n=3)  # fmt: skip
    assert [c.index for c in several.choices] == [0, 1, 2]
    seeds = several.model_extra["hearth"]["seeds"]
    assert seeds == [40, 41, 42]
    again = client.completions.create(model=hearth_server.model_id, prompt="Once upon a time", max_tokens=8,
                                      temperature=1.0, seed=41)  # fmt: skip
    assert again.choices[0].text == several.choices[1].text  # any one choice replays from its seed

    chat = client.chat.completions.create(model=hearth_server.model_id, n=2, max_tokens=4, temperature=1.0,
                                          messages=[{"role": "user", "content": "Say hi."}])  # fmt: skip
    assert [c.index for c in chat.choices] == [0, 1]
    assert len(chat.model_extra["hearth"]["seeds"]) == 2


def test_streamed_choices_carry_their_index(client: openai.OpenAI, hearth_server: Any) -> None:
    stream = client.completions.create(model=hearth_server.model_id, prompt=["1, 2,", "x, y,"], max_tokens=3,
                                       temperature=0, stream=True)  # fmt: skip
    texts: dict[int, str] = {0: "", 1: ""}
    finished = set()
    for chunk in stream:
        for choice in chunk.choices:
            texts[choice.index] += choice.text
            if choice.finish_reason:
                finished.add(choice.index)
    assert finished == {0, 1} and texts[0].startswith(" 3")


def test_a_required_tool_call(client: openai.OpenAI, hearth_server: Any) -> None:
    reply = client.chat.completions.create(
        model=hearth_server.model_id, max_tokens=60, temperature=0, tools=[WEATHER, TIME],  # type: ignore[list-item]
        messages=[{"role": "user", "content": "What is the weather in Paris?"}], tool_choice="required",
    )  # fmt: skip
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.tool_calls
    for call in choice.message.tool_calls:
        assert call.id.startswith("call_") and call.type == "function"
        spec = WEATHER if call.function.name == "get_weather" else TIME
        jsonschema.validate(json.loads(call.function.arguments), spec["function"]["parameters"])  # type: ignore[index]


def test_a_named_tool_parallel_calls_and_tool_results_in_the_history(
    client: openai.OpenAI, hearth_server: Any
) -> None:
    named = client.chat.completions.create(
        model=hearth_server.model_id, max_tokens=60, temperature=0, tools=[WEATHER, TIME],  # type: ignore[list-item]
        messages=[{"role": "user", "content": "Weather in Oslo and in Rome?"}],
        tool_choice={"type": "function", "function": {"name": "get_weather"}}, parallel_tool_calls=True,
    )  # fmt: skip
    calls = named.choices[0].message.tool_calls
    assert calls and all(c.function.name == "get_weather" for c in calls)

    def call(n: int, city: str) -> dict[str, Any]:
        arguments = json.dumps({"city": city, "unit": "celsius"})
        return {"id": f"call_{n}", "type": "function", "function": {"name": "get_weather", "arguments": arguments}}

    history: list[Any] = [
        {"role": "user", "content": "Weather in Oslo and in Rome?"},
        {"role": "assistant", "content": None, "tool_calls": [call(1, "Oslo"), call(2, "Rome")]},
        {"role": "tool", "tool_call_id": "call_1", "content": "4 degrees, rain"},
        {"role": "tool", "tool_call_id": "call_2", "content": "19 degrees, sun"},
    ]  # fmt: skip
    answer = client.chat.completions.create(model=hearth_server.model_id, messages=history, max_tokens=12,
                                            temperature=0, tools=[WEATHER], tool_choice="none")  # type: ignore[list-item]  # fmt: skip
    assert answer.choices[0].message.content and answer.choices[0].finish_reason in ("stop", "length")

    auto = client.chat.completions.create(model=hearth_server.model_id, messages=history, max_tokens=40,
                                          temperature=0, tools=[WEATHER])  # type: ignore[list-item]  # fmt: skip
    message = auto.choices[0].message
    assert message.content or message.tool_calls  # words or a call: both are answers under "auto"

    with pytest.raises(openai.BadRequestError, match="not one of the tools"):
        client.chat.completions.create(model=hearth_server.model_id, messages=history, tools=[WEATHER],  # type: ignore[list-item]
                                       tool_choice={"type": "function", "function": {"name": "nope"}})  # fmt: skip


def test_a_streamed_tool_call(client: openai.OpenAI, hearth_server: Any) -> None:
    stream = client.chat.completions.create(
        model=hearth_server.model_id, max_tokens=60, temperature=0, tools=[WEATHER], stream=True,  # type: ignore[list-item]
        messages=[{"role": "user", "content": "Weather in Lima?"}], tool_choice="required",
    )  # fmt: skip
    names, arguments, finish = [], "", None
    for chunk in stream:
        for choice in chunk.choices:
            for call in choice.delta.tool_calls or []:
                if call.function and call.function.name:
                    names.append(call.function.name)
                arguments += (call.function.arguments or "") if call.function else ""
            finish = choice.finish_reason or finish
    assert names and names[0] == "get_weather" and finish == "tool_calls"
    assert json.loads(arguments)["city"]


def test_embeddings_by_their_usual_names_and_by_token_ids(client: openai.OpenAI, hearth_server: Any) -> None:
    text = "The cat sat on the mat."
    plain = client.embeddings.create(model="all-MiniLM-L6-v2", input=text, encoding_format="float")
    vector = np.array(plain.data[0].embedding)
    for name in ("sentence-transformers/all-MiniLM-L6-v2", "ALL-MINILM-L6-V2"):
        other = client.embeddings.create(model=name, input=[text])
        assert np.allclose(other.data[0].embedding, vector, atol=1e-5)
        assert other.model == "all-MiniLM-L6-v2"

    from desktop_app.core.rag.embedder import get_embedder

    ids = get_embedder("all-MiniLM-L6-v2")._offsets_tokenizer.encode(text, add_special_tokens=False).ids
    by_ids = client.embeddings.create(model="all-MiniLM-L6-v2", input=[ids, ids[:3]], encoding_format="float")
    assert np.allclose(by_ids.data[0].embedding, vector, atol=1e-4)
    assert by_ids.usage.prompt_tokens == len(ids) + 3

    raw = _post(hearth_server, "/embeddings", {"model": "all-MiniLM-L6-v2", "input": ids, "encoding_format": "base64"})
    decoded = np.frombuffer(__import__("base64").b64decode(raw.json()["data"][0]["embedding"]), dtype="<f4")
    assert np.allclose(decoded, vector, atol=1e-4)
    with pytest.raises(openai.BadRequestError, match="vocabulary"):
        client.embeddings.create(model="all-MiniLM-L6-v2", input=[[10**9]])

    models = {m.id: m.model_extra for m in client.models.list().data}
    assert models["all-MiniLM-L6-v2"]["type"] == "embeddings"
    assert models[hearth_server.model_id]["type"] == "llm"


def test_the_schema_lists_the_real_status_codes(hearth_server: Any) -> None:
    schema = httpx.get(f"{hearth_server.root}/openapi.json").json()
    operation = schema["paths"]["/v1/chat/completions"]["post"]
    assert {"400", "401", "404", "413"} <= set(operation["responses"])
    for path in schema["paths"].values():
        for op in path.values():
            assert "422" not in op["responses"]
    assert "ErrorResponse" in schema["components"]["schemas"]
    bad = _post(hearth_server, "/chat/completions", {"model": hearth_server.model_id, "messages": [{"role": "x"}]})
    assert bad.status_code == 400 and "messages" in bad.json()["error"]["message"]


def test_answers_become_conversations_only_when_wanted(client: openai.OpenAI, hearth_server: Any) -> None:
    def conversations() -> int:
        hearth_server.server.log.drain()
        store = ConversationStore(hearth_server.home / "hearth.db")
        try:
            return sum(len(store.messages(c.id)) for c in store.list())
        finally:
            store.close()

    before = conversations()
    quiet = client.with_options(default_headers={"X-Hearth-Save-Conversation": "false"})
    reply = quiet.chat.completions.create(model=hearth_server.model_id, max_tokens=2,
                                          messages=[{"role": "user", "content": "Hi"}])  # fmt: skip
    client.completions.create(model=hearth_server.model_id, prompt="Hi", max_tokens=2,
                              extra_body={"hearth_save_conversation": False})  # fmt: skip
    assert conversations() == before
    logged = read_log(hearth_server.server.log.path, limit=50)
    entry = next(e for e in logged if e.response_id == reply.id)
    assert entry.ok and entry.conversation_id is None and entry.completion_tokens <= 2
    assert json.loads(entry.request)["messages"][0]["content"] == "Hi"

    settings = hearth_server.server._defaults()  # the setting (Settings → Local server), off
    settings.server.save_conversations = False
    try:
        client.chat.completions.create(model=hearth_server.model_id, max_tokens=2,
                                       messages=[{"role": "user", "content": "Hello"}])  # fmt: skip
        assert conversations() == before
        saved = client.with_options(default_headers={"X-Hearth-Save-Conversation": "true"})
        saved.chat.completions.create(model=hearth_server.model_id, max_tokens=2,
                                      messages=[{"role": "user", "content": "Hello"}])  # fmt: skip
        assert conversations() == before + 2  # a client may still ask for it
    finally:
        settings.server.save_conversations = True

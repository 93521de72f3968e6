"""Hearth's own OpenAI-compatible server (issue 11, part 1), through the real ``openai`` client
against the real server on 127.0.0.1 (a free port), SmolLM2 loaded by the server itself.

The server starts once per session (tests/api_servers.py) with an API key; what it serves is
logged in its own data folder, read back here through the conversation store.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import jsonschema
import numpy as np
import openai
import pytest

from desktop_app.core.conversations.store import ConversationStore, StoredMessage
from desktop_app.core.models.fingerprint import sha256_file

PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
    "required": ["name", "age"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def client(hearth_server: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=hearth_server.url, api_key=hearth_server.key, max_retries=0)


def logged(hearth_server: Any, response_id: str, timeout: float = 15) -> StoredMessage:
    """The answer the server stored for ``response_id`` (in an "API: …" conversation); it is
    stored once generation has ended, which for a client that went away is a moment later."""
    deadline = time.monotonic() + timeout
    while True:
        hearth_server.server.log.drain()
        store = ConversationStore(hearth_server.home / "hearth.db")
        try:
            for conversation in store.list():
                for message in store.messages(conversation.id):
                    api = message.provenance.settings.get("api", {}) if message.provenance else {}
                    if api.get("id") == response_id:
                        assert conversation.title.startswith("API: ")
                        return message
        finally:
            store.close()
        if time.monotonic() > deadline:
            raise AssertionError(f"{response_id} was not logged")
        time.sleep(0.1)


def test_models_are_the_library_and_the_documents_embedding_model(client: openai.OpenAI, hearth_server: Any) -> None:
    ids = [m.id for m in client.models.list().data]
    assert hearth_server.model_id in ids
    assert "all-MiniLM-L6-v2" in ids
    assert client.models.retrieve(hearth_server.model_id).id == hearth_server.model_id


def test_chat_completion_is_answered_and_logged_with_full_provenance(
    client: openai.OpenAI, hearth_server: Any, smollm2_path: Any
) -> None:
    request: dict[str, Any] = {
        "model": hearth_server.model_id,
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a colour."}],
        "max_tokens": 8,
        "temperature": 0.8,
        "top_p": 0.9,
        "seed": 11,
    }
    first = client.chat.completions.create(**request)
    again = client.chat.completions.create(**request)
    text = first.choices[0].message.content
    assert text and first.choices[0].finish_reason in ("stop", "length")
    assert again.choices[0].message.content == text  # the same seed and settings give the same answer
    assert 0 < first.usage.completion_tokens <= 8
    sha256 = sha256_file(smollm2_path)
    assert first.system_fingerprint == f"hearth-{sha256[:16]}"
    assert first.model_extra["hearth"]["model_sha256"] == sha256

    message = logged(hearth_server, first.id)
    assert message.content == text
    provenance = message.provenance
    assert provenance.model_sha256 == sha256 and provenance.model_path == str(smollm2_path)
    assert provenance.seed == 11
    sampling = provenance.settings["sampling"]
    assert (sampling["temperature"], sampling["top_p"], sampling["max_tokens"]) == (0.8, 0.9, 8)
    assert provenance.settings["system_prompt"] == "Be brief."
    assert provenance.settings["load"]["n_ctx"] == 2048
    assert provenance.settings["template"]["sha256"]  # the chat template the prompt was written in
    assert first.model_extra["hearth"]["template"] == provenance.settings["template"]
    api = provenance.settings["api"]
    assert api["endpoint"] == "/v1/chat/completions" and api["client"].startswith("OpenAI/Python")
    assert api["messages"][-1] == {"role": "user", "content": "Name a colour."}
    assert api["stream"] is False


def test_streaming_sends_the_text_as_it_is_written(client: openai.OpenAI, hearth_server: Any) -> None:
    stream = client.chat.completions.create(
        model=hearth_server.model_id,
        messages=[{"role": "user", "content": "Write a sentence about rain."}],
        max_tokens=12,
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces: list[str] = []
    finish = None
    usage = None
    response_id = ""
    for chunk in stream:
        response_id = chunk.id
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content:
                pieces.append(choice.delta.content)
            finish = choice.finish_reason or finish
    assert len(pieces) > 1  # several events, not one block at the end
    assert finish in ("stop", "length")
    assert usage is not None and usage.completion_tokens <= 12
    message = logged(hearth_server, response_id)
    assert message.content == "".join(pieces)
    assert message.provenance.settings["api"]["stream"] is True


def test_json_schema_output_validates(client: openai.OpenAI, hearth_server: Any) -> None:
    response = client.chat.completions.create(
        model=hearth_server.model_id,
        messages=[{"role": "user", "content": "Describe a person as JSON with a name and an age."}],
        max_tokens=48,
        seed=3,
        response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON}},
    )
    data = json.loads(response.choices[0].message.content)
    jsonschema.validate(data, PERSON)
    assert logged(hearth_server, response.id).provenance.settings["api"]["response_format"]["type"] == "json_schema"


def test_completions_continue_the_prompt_and_honour_stop(client: openai.OpenAI, hearth_server: Any) -> None:
    plain = client.completions.create(model=hearth_server.model_id, prompt="1, 2, 3, 4,", max_tokens=12, temperature=0)
    assert plain.choices[0].text.startswith(" 5")
    stopped = client.completions.create(
        model=hearth_server.model_id, prompt="1, 2, 3, 4,", max_tokens=12, temperature=0, stop=[" 7"]
    )
    assert stopped.choices[0].text == " 5, 6,"
    assert stopped.choices[0].finish_reason == "stop"
    assert logged(hearth_server, stopped.id).provenance.settings["api"]["stop"] == [" 7"]


def test_embeddings_come_from_the_documents_embedding_model(client: openai.OpenAI) -> None:
    texts = ["The cat sat on the mat.", "A cat was sitting on a mat.", "Quarterly tax filing deadlines."]
    response = client.embeddings.create(model="all-MiniLM-L6-v2", input=texts)  # the client asks for base64
    vectors = np.array([d.embedding for d in response.data])
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-3)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    floats = client.embeddings.create(model="all-MiniLM-L6-v2", input=texts[0], encoding_format="float")
    assert np.allclose(floats.data[0].embedding, vectors[0], atol=1e-5)
    with pytest.raises(openai.NotFoundError, match="all-MiniLM-L6-v2"):
        client.embeddings.create(model="text-embedding-3-small", input="x")


def test_a_client_that_disconnects_stops_its_generation(client: openai.OpenAI, hearth_server: Any) -> None:
    stream = client.chat.completions.create(
        model=hearth_server.model_id,
        messages=[{"role": "user", "content": "Write a."}],
        max_tokens=1500,
        stream=True,
        extra_body={"grammar": 'root ::= "a" root'},  # never ends by itself
    )
    received = 0
    response_id = ""
    for chunk in stream:
        response_id = chunk.id
        received += sum(1 for c in chunk.choices if c.delta.content)
        if received >= 3:
            break
    stream.close()
    message = logged(hearth_server, response_id)  # stored once the engine has stopped
    assert message.stopped
    assert message.provenance.timings["gen_tokens"] < 200

    # A plain request whose client gives up is stopped too, and the next request is served at once.
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{hearth_server.url}/chat/completions",
            headers={"Authorization": f"Bearer {hearth_server.key}"},
            json={"model": hearth_server.model_id, "messages": [{"role": "user", "content": "Write a."}],
                  "max_tokens": 1500, "grammar": 'root ::= "a" root'},
            timeout=1.0,
        )  # fmt: skip
    started = time.monotonic()
    after = client.chat.completions.create(
        model=hearth_server.model_id, messages=[{"role": "user", "content": "Hi"}], max_tokens=2
    )
    assert time.monotonic() - started < 10  # not queued behind 1500 tokens
    hearth_server.server.log.drain()
    stats = hearth_server.server.stats()
    assert after.choices[0].message.content
    assert stats.last is not None and stats.last.ok


def test_requests_are_answered_one_at_a_time(client: openai.OpenAI, hearth_server: Any) -> None:
    spans: dict[str, tuple[float, float]] = {}

    def ask(name: str) -> None:
        stream = client.chat.completions.create(
            model=hearth_server.model_id,
            messages=[{"role": "user", "content": f"Tell a story about {name}."}],
            max_tokens=10,
            stream=True,
        )
        first = last = 0.0
        for chunk in stream:
            if any(c.delta.content for c in chunk.choices):
                last = time.monotonic()
                first = first or last
        spans[name] = (first, last)

    threads = [threading.Thread(target=ask, args=(n,)) for n in ("a fox", "a ship")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    (a_first, a_last), (b_first, _b_last) = sorted(spans.values())
    assert a_first > 0 and b_first > 0
    assert b_first >= a_last  # the second began writing after the first had finished


def test_a_wrong_or_missing_key_is_refused(hearth_server: Any) -> None:
    wrong = openai.OpenAI(base_url=hearth_server.url, api_key="not-the-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.chat.completions.create(
            model=hearth_server.model_id, messages=[{"role": "user", "content": "Hi"}], max_tokens=2
        )
    response = httpx.get(f"{hearth_server.url}/models")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"
    assert any("API key" in e.message for e in hearth_server.server.stats().errors)


def test_errors_come_in_openai_shape(client: openai.OpenAI, hearth_server: Any) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hi"}])
    assert missing.value.body["code"] == "model_not_found"
    assert hearth_server.model_id in missing.value.body["message"]  # says what is available
    with pytest.raises(openai.NotFoundError):  # a stream refused before it starts: its HTTP status too
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hi"}], stream=True)
    headers = {"Authorization": f"Bearer {hearth_server.key}"}
    bad = httpx.post(f"{hearth_server.url}/chat/completions", headers=headers, json={"model": "x", "messages": "hi"})
    assert bad.status_code == 400
    assert bad.json()["error"]["type"] == "invalid_request_error"
    with pytest.raises(openai.BadRequestError, match="tools"):  # the older "functions" form: said, not dropped
        client.chat.completions.create(
            model=hearth_server.model_id,
            messages=[{"role": "user", "content": "Hi"}],
            extra_body={"functions": [{"name": "f", "parameters": {"type": "object"}}]},
        )

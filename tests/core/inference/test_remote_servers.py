"""Remote OpenAI-compatible backends (issue 11, part 2) against real servers started by the tests
on loopback: llama-cpp-python's own server (``python -m llama_cpp.server``) on SmolLM2, and
Hearth's own server from part 1. Nothing is mocked.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from desktop_app.core.cancel import CancelToken
from desktop_app.core.conversations.chat import make_remote_provenance
from desktop_app.core.conversations.store import ConversationStore
from desktop_app.core.errors import HearthError
from desktop_app.core.inference.engine import Message
from desktop_app.core.inference.remote import (
    OutputRule,
    RemoteClient,
    RemoteReply,
    RemoteRequestError,
    ServerGoneError,
    normalise_url,
)
from desktop_app.core.inference.remote_chat import RemoteChat
from desktop_app.core.models.fingerprint import sha256_file
from desktop_app.core.settings import SamplingSettings

SHORT = SamplingSettings(max_tokens=8, seed=5)
ANSWER = {"type": "object", "properties": {"answer": {"type": "string", "maxLength": 40}}, "required": ["answer"]}


@pytest.fixture(scope="module")
def llama(llama_cpp_server: Any) -> RemoteClient:
    client = RemoteClient(llama_cpp_server.url, llama_cpp_server.key, "lab box")
    yield client
    client.close()


@pytest.fixture(scope="module")
def hearth(hearth_server: Any) -> RemoteClient:
    client = RemoteClient(hearth_server.root, hearth_server.key, "another Hearth")
    yield client
    client.close()


@pytest.mark.parametrize(
    ("given", "root"),
    [("127.0.0.1:8080", "http://127.0.0.1:8080"), ("http://gpu-box:8000/v1/", "http://gpu-box:8000"),
     ("https://lab.example.org/llm/v1", "https://lab.example.org/llm")],
)  # fmt: skip
def test_addresses_are_normalised(given: str, root: str) -> None:
    assert normalise_url(given) == root


def test_a_wrong_address_is_plain_words() -> None:
    with pytest.raises(HearthError, match="not a server address"):
        normalise_url("ftp://x")


def test_llama_cpp_server_is_recognised_and_says_what_it_does_not_know(
    llama: RemoteClient, llama_cpp_server: Any
) -> None:
    assert llama.model_ids() == [llama_cpp_server.model_id]
    assert llama.kind() == "llama-cpp-python"
    model = llama.describe_model(llama_cpp_server.model_id, "e1")
    assert model.n_ctx == 2048  # its default, assumed (it does not report it) and said so
    assert any("assumed" in note for note in model.notes)
    assert any("sha256" in item for item in model.info.unavailable)
    assert llama.count_tokens(llama_cpp_server.model_id, "Hello world, hello world.") > 3


def test_remote_chat_streams_and_its_provenance_names_the_server(
    llama: RemoteClient, llama_cpp_server: Any, hearth_home: Path
) -> None:
    model = llama.describe_model(llama_cpp_server.model_id, "e1")
    chat = RemoteChat(llama, model)
    messages = [Message("system", "Be brief."), Message("user", "Name a fruit.")]
    items = list(chat.stream_chat(messages, SHORT))
    reply = items[-1]
    assert isinstance(reply, RemoteReply)
    pieces = [i for i in items[:-1] if isinstance(i, str)]
    assert len(pieces) > 1 and "".join(pieces) == reply.text
    assert reply.finish in ("stop", "length") and reply.seed == 5
    assert 0 < reply.timings.gen_tokens <= 8 and reply.timings.ttft_s > 0
    again = chat.client.generate(model.model_id, messages, SHORT)
    assert again.text == reply.text  # the seed is sent: the same answer again

    provenance = make_remote_provenance(model, SHORT, "Be brief.", reply)
    remote = provenance.settings["remote"]
    assert remote["url"] == llama_cpp_server.root and remote["endpoint"] == "lab box"
    assert remote["model_reported"] == llama_cpp_server.model_id  # what the server said it ran
    assert remote["server"]["kind"] == "llama-cpp-python"
    assert any("sha256" in item for item in remote["unavailable"])
    assert provenance.model_sha256 == "" and provenance.seed == 5
    store = ConversationStore()
    conversation = store.create("remote")
    stored = store.add_message(conversation.id, "assistant", reply.text, provenance)
    assert store.messages(conversation.id)[0].provenance == stored.provenance  # survives the database
    store.close()


def test_json_schema_and_grammar_constraints_reach_the_server(llama: RemoteClient, llama_cpp_server: Any) -> None:
    sampling = SamplingSettings(max_tokens=40, seed=2)
    reply = llama.generate(llama_cpp_server.model_id, [Message("user", "What is 2+2? Answer in JSON.")], sampling,
                           rule=OutputRule(schema=ANSWER))  # fmt: skip
    jsonschema.validate(json.loads(reply.text), ANSWER)
    label = llama.generate(llama_cpp_server.model_id, [Message("user", "Is water wet?")], sampling,
                           rule=OutputRule(gbnf='root ::= "yes" | "no"'))  # fmt: skip
    assert label.text in ("yes", "no")


def test_cancel_closes_the_stream_and_the_server_serves_the_next_request(
    llama: RemoteClient, llama_cpp_server: Any
) -> None:
    cancel = CancelToken()
    received = 0
    reply = None
    for item in llama.stream_chat(llama_cpp_server.model_id, [Message("user", "Count to 300 in words.")],
                                  SamplingSettings(max_tokens=300), cancel):  # fmt: skip
        if isinstance(item, RemoteReply):
            reply = item
        else:
            received += 1
            if received == 3:
                cancel.cancel()
    assert reply is not None and reply.finish == "cancelled" and reply.timings.gen_tokens < 20
    started = time.monotonic()
    assert llama.generate(llama_cpp_server.model_id, [Message("user", "Hi")], SamplingSettings(max_tokens=2)).text
    assert time.monotonic() - started < 15  # not waiting for 300 tokens


def test_a_wrong_key_is_refused_in_plain_words(llama_cpp_server: Any) -> None:
    client = RemoteClient(llama_cpp_server.url, "wrong-key")
    with pytest.raises(RemoteRequestError, match="refused the API key") as refused:
        client.model_ids()
    assert refused.value.status == 401 and "Settings → Servers" in refused.value.hint
    client.close()


def test_a_server_that_is_not_there_is_plain_words() -> None:
    from api_servers import free_port

    client = RemoteClient(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ServerGoneError, match="cannot be reached") as gone:
        client.model_ids()
    assert "running" in gone.value.hint
    # Why, in words: no exception class name (issue 21 saw "(ConnectError)").
    assert "nothing is listening at that address" in gone.value.message
    assert "Error" not in gone.value.message
    client.close()
    client = RemoteClient("http://no-such-host.invalid:8080")  # .invalid never resolves (RFC 2606)
    with pytest.raises(ServerGoneError, match="no computer of that name was found"):
        client.model_ids()
    client.close()


def test_another_hearth_reports_the_model_file_sha256(
    hearth: RemoteClient, hearth_server: Any, smollm2_path: Path
) -> None:
    assert hearth.kind() == "hearth"
    model = hearth.describe_model(hearth_server.model_id, "e2")
    chat = RemoteChat(hearth, model)
    reply = hearth.generate(hearth_server.model_id, [Message("user", "Name a river.")], SHORT)
    assert reply.text and reply.model_reported == hearth_server.model_id
    sha256 = sha256_file(smollm2_path)
    provenance = make_remote_provenance(model, SHORT, "", reply)
    assert provenance.model_sha256 == sha256  # Hearth says, per answer, which file answered
    assert provenance.model_path == str(smollm2_path) and provenance.quant
    assert not any("sha256" in item for item in provenance.settings["remote"]["unavailable"])
    assert provenance.settings["remote"]["server"]["kind"] == "hearth"
    # Once loaded there, /props names it too, with its context size; token counts are the model's own.
    info = hearth.server_info(hearth_server.model_id)
    assert info.model_sha256 == sha256 and info.n_ctx == 2048
    assert chat.count_tokens("Hello world") == hearth.count_tokens(hearth_server.model_id, "Hello world") > 0
    assert not chat.estimated


def test_a_server_that_goes_away_mid_reply_is_plain_words(smollm2_path: Path, tmp_path: Path) -> None:
    from desktop_app.core.server.model_access import EngineQueue
    from desktop_app.core.server.runner import LocalServer
    from desktop_app.core.settings import LoadSettings, Settings

    config = Settings(load=LoadSettings(n_ctx=512))
    queue = EngineQueue(config)
    server = LocalServer(queue, "127.0.0.1", 0, None, defaults=lambda: config, db_path=tmp_path / "log.db")
    server.start()
    client = RemoteClient(server.url)
    try:
        endless = OutputRule(gbnf='root ::= "a" root')
        stream = client.stream_chat(smollm2_path.stem, [Message("user", "Write a.")], SamplingSettings(), rule=endless)
        assert isinstance(next(stream), str)
        server.stop()  # the server goes away while the reply is being written
        with pytest.raises(ServerGoneError, match="broke off"):
            for _item in stream:
                pass
    finally:
        server.stop()
        queue.close()
        client.close()

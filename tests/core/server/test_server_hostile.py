"""Hostile requests to Hearth's server (issue 18, the local server; issue 23 item 1), each sent to
the real server on 127.0.0.1: a rebinding Host, a foreign Origin, a 40 MB body, a 4,000-message
conversation, a grammar llama.cpp would crash on, an empty prompt. Each ends in a plain-words
refusal or a safe answer, and the server goes on serving."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from desktop_app.core.server import guard
from desktop_app.core.server.request_log import MAX_STORED_CHARS, bounded


@pytest.fixture(scope="module")
def client(hearth_server: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=hearth_server.url, api_key=hearth_server.key, max_retries=0)


def _headers(hearth_server: Any, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {hearth_server.key}", **extra}


def _still_serving(client: openai.OpenAI, hearth_server: Any) -> None:
    reply = client.chat.completions.create(
        model=hearth_server.model_id, messages=[{"role": "user", "content": "Hi"}], max_tokens=2
    )
    assert reply.choices[0].finish_reason in ("stop", "length")


@pytest.mark.parametrize(
    "host",
    ["attacker.example", "attacker.example:{port}", "127.0.0.1.nip.io:{port}", "localhost.attacker.example",
     "192.168.1.20:{port}", "0.0.0.0:{port}", ""],
)  # fmt: skip
def test_a_rebinding_host_is_refused(hearth_server: Any, host: str) -> None:
    port = hearth_server.url.split(":")[-1].split("/")[0]
    response = httpx.get(f"{hearth_server.url}/models", headers=_headers(hearth_server, Host=host.format(port=port)))
    assert response.status_code == 403
    assert "Host" in response.json()["error"]["message"]


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST", "127.0.0.1"])
def test_loopback_names_are_served(hearth_server: Any, host: str) -> None:
    port = hearth_server.url.split(":")[-1].split("/")[0]
    response = httpx.get(f"{hearth_server.url}/models", headers=_headers(hearth_server, Host=host.format(port=port)))
    assert response.status_code == 200


@pytest.mark.parametrize("origin", ["http://attacker.example", "https://evil.test:8765", "null", "file://"])
def test_a_foreign_origin_is_refused(hearth_server: Any, origin: str) -> None:
    for method, path, body in (("GET", "/models", None), ("POST", "/chat/completions", "{}")):
        headers = _headers(hearth_server, Origin=origin, **{"Content-Type": "text/plain"})
        response = httpx.request(method, f"{hearth_server.url}{path}", content=body, headers=headers)
        assert response.status_code == 403
        assert "Origin" in response.json()["error"]["message"]


def test_a_page_on_this_computer_may_ask(hearth_server: Any) -> None:
    for origin in ("http://localhost:8888", "http://127.0.0.1:3000"):
        response = httpx.get(f"{hearth_server.url}/models", headers=_headers(hearth_server, Origin=origin))
        assert response.status_code == 200


def test_a_body_without_a_json_content_type_is_refused(hearth_server: Any) -> None:
    """What a browser can send cross-site without asking first (FastAPI >= 0.132 refuses it)."""
    response = httpx.post(
        f"{hearth_server.url}/chat/completions",
        headers=_headers(hearth_server, **{"Content-Type": "text/plain"}),
        content=json.dumps({"model": hearth_server.model_id, "messages": [{"role": "user", "content": "Hi"}]}),
    )
    assert response.status_code == 400


def test_a_40_mb_body_is_refused_with_413(client: openai.OpenAI, hearth_server: Any) -> None:
    huge = b'{"model": "m", "messages": [{"role": "user", "content": "' + b"x" * (40 * 1024 * 1024) + b'"}]}'
    response = httpx.post(f"{hearth_server.url}/chat/completions", headers=_headers(hearth_server), content=huge)
    assert response.status_code == 413
    assert "larger than" in response.json()["error"]["message"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(40):
            yield b"y" * (1024 * 1024)

    response = httpx.post(f"{hearth_server.url}/completions", headers=_headers(hearth_server), content=chunks())
    assert response.status_code == 413
    _still_serving(client, hearth_server)


def test_a_4000_message_request_is_planned_quickly(client: openai.OpenAI, hearth_server: Any) -> None:
    """The planner walks all 4,000 messages (the latest alone is too long, so nothing fits) and
    refuses in words, in seconds: the old one re-rendered the conversation per dropped message
    (~95 minutes). Answering such a request, with the cut the old loop made, is checked on the
    engine itself (tests/core/inference/test_prompt_fit.py): here it would time prompt reading."""
    messages = [{"role": "system", "content": "Answer in one word."}]
    for i in range(4000):
        messages.append({"role": "user" if i % 2 == 0 else "assistant", "content": f"Line {i} of a long talk."})
    messages.append({"role": "user", "content": "word " * 2100})
    started = time.monotonic()
    with pytest.raises(openai.BadRequestError, match="more than this model's context"):
        client.chat.completions.create(model=hearth_server.model_id, messages=messages, max_tokens=3)  # type: ignore[arg-type]
    assert time.monotonic() - started < 90  # generous on a busy machine

    too_many = messages + [{"role": "user", "content": "x"}] * 1000
    with pytest.raises(openai.BadRequestError, match="4096"):
        client.chat.completions.create(model=hearth_server.model_id, messages=too_many, max_tokens=3)  # type: ignore[arg-type]
    _still_serving(client, hearth_server)


def test_the_request_log_keeps_no_huge_copies() -> None:
    messages = [{"role": "user", "content": "z" * 1000}] * 500
    kept = bounded({"messages": messages, "stream": False})
    assert kept["messages"]["omitted"] is True and kept["messages"]["items"] == 500
    assert len(str(kept)) < MAX_STORED_CHARS
    assert bounded({"prompt": "short"}) == {"prompt": "short"}


def test_a_bad_grammar_is_a_400_and_the_server_still_serves(client: openai.OpenAI, hearth_server: Any) -> None:
    for grammar in ("b", "root ::= foo", 'root ::= root "a"', "   "):
        with pytest.raises(openai.BadRequestError, match="grammar"):
            client.completions.create(model=hearth_server.model_id, prompt="Hi", max_tokens=2,
                                      extra_body={"grammar": grammar})  # fmt: skip
        with pytest.raises(openai.BadRequestError, match="grammar"):
            client.chat.completions.create(model=hearth_server.model_id, messages=[{"role": "user", "content": "Hi"}],
                                           max_tokens=2, extra_body={"grammar": grammar})  # fmt: skip
    _still_serving(client, hearth_server)
    good = client.completions.create(model=hearth_server.model_id, prompt="Yes or no?", max_tokens=4,
                                     extra_body={"grammar": 'root ::= "yes" | "no"'})  # fmt: skip
    assert good.choices[0].text in ("yes", "no")


def test_an_empty_prompt_is_a_400_in_words(client: openai.OpenAI, hearth_server: Any) -> None:
    prompts: list[Any] = ["", [], [""], [[]]]
    for prompt in prompts:
        with pytest.raises(openai.BadRequestError, match="empty"):
            client.completions.create(model=hearth_server.model_id, prompt=prompt, max_tokens=2)
    with pytest.raises(openai.BadRequestError, match="vocabulary"):
        client.completions.create(model=hearth_server.model_id, prompt=[10**9], max_tokens=2)
    _still_serving(client, hearth_server)


@pytest.mark.parametrize(
    ("bound", "host", "allowed"),
    [("127.0.0.1", "127.0.0.1:8765", True), ("127.0.0.1", "[::1]:8765", True), ("127.0.0.1", "app.localhost", True),
     ("127.0.0.1", "evil.example", False), ("127.0.0.1", "192.168.1.20", False),
     ("192.168.1.20", "192.168.1.20:8765", True), ("192.168.1.20", "evil.example", False),
     ("0.0.0.0", "my-laptop.local:8765", True)],
)  # fmt: skip
def test_which_hosts_a_server_answers(bound: str, host: str, allowed: bool) -> None:
    """Listening on every address needs the API key, so any name may reach it; otherwise only
    this computer's names and the address chosen."""

    async def app(_scope: Any, _receive: Any, _send: Any) -> None:  # never reached here
        raise AssertionError

    assert guard.RequestGuard(app, bound).host_allowed(host) is allowed
    assert guard.RequestGuard(app, "0.0.0.0").origin_allowed("http://my-laptop.local") is False

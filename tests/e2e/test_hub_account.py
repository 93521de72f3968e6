"""Signing in to Hugging Face (core/hub/account.py) against the Hub stand-in on 127.0.0.1: the token
is checked with whoami-v2, kept where huggingface_hub keeps it (HF_TOKEN_PATH), opens a gated
repository's files, and is gone after signing out; wrong tokens and HF_TOKEN are said plainly."""

from __future__ import annotations

from pathlib import Path

import pytest
from hubstub import GATED_REPO, STUB_USER, VALID_TOKEN, HubStub

from desktop_app.core.errors import HearthError
from desktop_app.core.fit.result import Verdict
from desktop_app.core.hub import account
from desktop_app.core.hub import client as hub_client


def token_file() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_TOKEN_PATH)


def test_sign_in_opens_gated_files_and_sign_out_closes_them(hub_stub: HubStub) -> None:
    assert not account.current().signed_in
    page = hub_client.open_repo(GATED_REPO)
    assert {b.verdict for b in hub_client.badges(page, 2048).values()} == {Verdict.UNKNOWN}

    signed = account.sign_in(f"  {VALID_TOKEN}\n")  # pasted with spaces and a line end
    assert signed.signed_in and signed.name == STUB_USER and not signed.from_environment
    assert signed.summary == f"Signed in as {STUB_USER}."
    assert token_file().read_text().strip() == VALID_TOKEN  # where huggingface_hub and `hf` read it
    whoami = [s for s in hub_stub.requests() if s.path == "/api/whoami-v2"]
    assert whoami and all(s.status == 200 for s in whoami)

    hub_stub.reset_log()
    assert account.current().name == STUB_USER  # remembered: showing it asks the Hub nothing
    assert hub_stub.requests() == []
    hub_client.HEADERS.clear()
    (badge,) = hub_client.badges(page, 2048).values()
    assert badge.verdict is not Verdict.UNKNOWN  # the header was read with the token

    out = account.sign_out()
    assert not out.signed_in and not token_file().exists()
    from huggingface_hub.utils import get_stored_tokens

    assert VALID_TOKEN not in get_stored_tokens().values()
    hub_client.HEADERS.clear()
    assert {b.verdict for b in hub_client.badges(page, 2048).values()} == {Verdict.UNKNOWN}


def test_a_wrong_token_is_refused_in_plain_words_and_nothing_is_saved(hub_stub: HubStub) -> None:
    with pytest.raises(HearthError, match="did not accept this token") as caught:
        account.sign_in("hf_notAValidToken")
    assert "settings/tokens" in caught.value.hint
    assert not token_file().exists() and not account.current().signed_in
    with pytest.raises(HearthError, match="Paste an access token first"):
        account.sign_in("   ")


def test_a_token_from_hf_token_is_said_and_not_signed_out(hub_stub: HubStub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", VALID_TOKEN)
    now = account.current()
    assert now.signed_in and now.from_environment and not now.name
    assert account.check().name == STUB_USER  # "Check" asks the Hub whose token it is
    with pytest.raises(HearthError, match="HF_TOKEN environment variable"):
        account.sign_out()
    assert account.current().signed_in

"""Signing in to Hugging Face with an access token, kept where huggingface_hub keeps it.

Gated repositories (Llama, Gemma...) share their files only with signed-in users who accepted
their terms. The token goes to huggingface_hub's own token file (``HF_TOKEN_PATH``, by default
``~/.cache/huggingface/token``), so ``hf`` and every other tool on this computer share the
sign-in, and Hearth never keeps a copy of it. Only the account's name is remembered, next to a
hash of the token, so showing who is signed in asks the Hub nothing; the Hub is asked only when
the user signs in (or checks the token).

``HF_TOKEN`` in the environment wins over the file, as everywhere in huggingface_hub: Hearth
says so rather than pretending to sign out of it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from desktop_app.core import paths
from desktop_app.core.atomic_files import write_json_atomically
from desktop_app.core.errors import HearthError

log = logging.getLogger(__name__)

ACCOUNT_FILE = "hub-account.json"
ENV_VARS = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
TOKENS_PAGE = "/settings/tokens"


@dataclass(frozen=True)
class Account:
    """Who Hearth reaches the Hub as, as far as it knows without asking the Hub."""

    signed_in: bool
    name: str = ""  # the account's user name; "" when not known on this computer yet
    from_environment: bool = False  # the token comes from HF_TOKEN, not the token file
    token_file: str = ""  # where huggingface_hub keeps the token

    @property
    def summary(self) -> str:
        if not self.signed_in:
            return "Not signed in. Public models work without an account; gated ones need one."
        who = f"Signed in as {self.name}" if self.name else "Signed in (with a token whose account Hearth has not seen)"
        return who + (" through the HF_TOKEN environment variable." if self.from_environment else ".")


def token_file() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_TOKEN_PATH)


def _environment_token() -> str:
    return next((os.environ[v].strip() for v in ENV_VARS if os.environ.get(v, "").strip()), "")


def _fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def _remembered() -> dict[str, str]:
    try:
        data = json.loads((paths.home() / ACCOUNT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _remember(token: str, name: str) -> None:
    write_json_atomically(paths.home() / ACCOUNT_FILE, {_fingerprint(token): name})


def current() -> Account:
    """The sign-in as it stands, read from this computer only (no request to the Hub)."""
    from huggingface_hub import get_token

    token = get_token()
    if not token:
        return Account(False, token_file=str(token_file()))
    from_env = _environment_token() == token
    return Account(True, _remembered().get(_fingerprint(token), ""), from_env, str(token_file()))


def _who(token: str) -> str:
    """The account name the Hub gives for ``token`` (one request to its whoami-v2)."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    from desktop_app.core.hub.client import endpoint, hub_errors

    with hub_errors():
        try:
            # An HfApi of our own: huggingface_hub's module-level whoami keeps the endpoint it
            # had when first imported, not the one configured now (a mirror, a test's stand-in).
            info = HfApi(endpoint=endpoint()).whoami(token=token)
        except HfHubHTTPError as exc:
            if exc.response is not None and exc.response.status_code == 401:
                raise HearthError(
                    "Hugging Face did not accept this token.",
                    f"Copy it again from {endpoint()}{TOKENS_PAGE} (it starts with hf_); a read token is enough.",
                ) from None
            raise
    return str(info.get("name") or "")


def sign_in(token: str) -> Account:
    """Checks ``token`` with the Hub and saves it where huggingface_hub keeps it."""
    from huggingface_hub import login

    from desktop_app.core.hub.client import endpoint, hub_errors

    token = token.strip()
    if not token:
        raise HearthError("Paste an access token first.", f"Create one on {endpoint()}{TOKENS_PAGE}.")
    if token.startswith("api_org"):
        raise HearthError("That is an organisation's token.", "Sign in with a personal access token (hf_…).")
    name = _who(token)  # a plain-words error for a wrong token, before anything is written
    try:
        with hub_errors():
            login(token=token, add_to_git_credential=False)
    except (OSError, ValueError) as exc:
        raise HearthError(f"The token could not be saved in {token_file()} ({exc}).") from None
    _remember(token, name)
    log.info("Signed in to the Hub as %s", name)
    return current()


def check() -> Account:
    """Asks the Hub whose the current token is (the user pressed "Check")."""
    from huggingface_hub import get_token

    token = get_token()
    if not token:
        return current()
    _remember(token, _who(token))
    return current()


def sign_out() -> Account:
    """Removes the saved token (and its entry among huggingface_hub's stored tokens), as
    ``hf auth logout`` does. A token in HF_TOKEN cannot be removed from here: said plainly."""
    from huggingface_hub import get_token, logout
    from huggingface_hub.utils import get_stored_tokens

    env = _environment_token()
    token = get_token()
    if token and env == token:
        raise HearthError(
            "Hearth reaches Hugging Face with the token in the HF_TOKEN environment variable.",
            "Remove HF_TOKEN from the environment and restart Hearth to sign out.",
        )
    if not token:
        return current()
    names = [name for name, stored in get_stored_tokens().items() if stored == token]
    try:
        if names:
            logout(token_name=names[0])
        else:  # a token file from an older login, with no stored-tokens entry
            token_file().unlink(missing_ok=True)
    except FileNotFoundError:
        pass  # logout also asks git to forget the Hub's credentials; without git there are none
    except OSError as exc:
        raise HearthError(f"The saved token could not be removed ({exc}).") from None
    if get_token() == token:  # e.g. logout() could not remove the file
        token_file().unlink(missing_ok=True)
    (paths.home() / ACCOUNT_FILE).unlink(missing_ok=True)
    return current()

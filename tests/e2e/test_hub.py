"""Browsing the Hub through huggingface_hub against the loopback stand-in (tests/hubstub.py):
the real Hub is not reachable here, so a server on 127.0.0.1 speaks its HTTP API and serves
the real SmolLM2 and Gemma files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hubstub import (
    GATED_REPO,
    GEMMA_FILE,
    GEMMA_REPO,
    HOSTILE_FILE,
    HOSTILE_REPO,
    SMOL_FILE,
    SMOL_REPO,
    SPLIT_REPO,
    SPLIT_STEM,
    VALID_TOKEN,
    HubStub,
    closed_port,
    file_hashes,
    point_hub_at,
    subprocess_env,
)

from desktop_app.core.errors import HearthError
from desktop_app.core.fit import badges as fit_badges
from desktop_app.core.fit import plan as fit_plan
from desktop_app.core.hub import client as hub_client
from desktop_app.core.models import gguf_meta, library


def test_search_finds_gguf_repos_sorted_as_asked(hub_stub: HubStub) -> None:
    by_downloads = hub_client.search("", sort="downloads")
    assert [r.repo_id for r in by_downloads] == [GEMMA_REPO, SMOL_REPO, GATED_REPO, SPLIT_REPO, HOSTILE_REPO]
    assert "acme/not-a-gguf-model" not in {r.repo_id for r in by_downloads}  # filter=gguf
    assert hub_client.search("", sort="likes")[0].repo_id == GATED_REPO
    recent = hub_client.search("", sort="recent")
    dates = [r.last_modified.isoformat() if r.last_modified else "" for r in recent]
    assert dates == sorted(dates, reverse=True)
    smol = hub_client.search("smollm2")
    assert [r.repo_id for r in smol] == [SMOL_REPO, SPLIT_REPO]
    assert smol[0].downloads == 5000 and smol[0].likes == 40 and not smol[0].gated
    assert len(hub_client.search("", limit=2)) == 2
    # The request is the one HfApi.list_models sends.
    (request,) = [s for s in hub_stub.requests() if s.path.startswith("/api/models?")][-1:]
    assert "filter=gguf" in request.path and "sort=downloads" in request.path and "limit=2" in request.path


def test_repo_page_lists_every_gguf_file_with_size_sha256_and_card(hub_stub: HubStub, smollm2_path: Path) -> None:
    page = hub_client.open_repo(f"https://huggingface.co/{SMOL_REPO}/tree/main")
    assert page.repo_id == SMOL_REPO
    assert page.revision == hub_stub.repos[SMOL_REPO].sha
    assert page.license == "apache-2.0"
    assert page.base_models == ["HuggingFaceTB/SmolLM2-135M-Instruct"]
    assert page.parameters == gguf_meta.read_local(smollm2_path).n_params
    assert page.architecture == "llama" and page.context_length == 8192
    assert not page.gated and not page.gated_message
    (model,) = page.models  # README.md is not a model
    assert model.name == SMOL_FILE and model.quant == "Q4_1"
    assert model.size == smollm2_path.stat().st_size
    assert model.first.sha256 == file_hashes(smollm2_path)[0]
    assert [g.quant for g in page.groups] == ["Q4_1"]


def test_a_gated_repo_says_so_plainly(hub_stub: HubStub) -> None:
    page = hub_client.open_repo(GATED_REPO)
    assert page.gated == "manual"
    assert "gated repository" in page.gated_message and "HF_TOKEN" in page.gated_message
    assert page.license == "llama-community"


def test_a_hostile_file_name_is_refused_not_listed(hub_stub: HubStub) -> None:
    page = hub_client.open_repo(HOSTILE_REPO)
    assert page.refused == [HOSTILE_FILE]
    assert [m.name for m in page.models] == ["fine-Q8_0.gguf"]
    with pytest.raises(HearthError, match="not a safe file name"):
        page.find(HOSTILE_FILE)


def test_unknown_repo_is_a_plain_error(hub_stub: HubStub) -> None:
    with pytest.raises(HearthError, match="no model repository"):
        hub_client.open_repo("nobody/nothing-here")
    with pytest.raises(HearthError, match="not a Hub repository"):
        hub_client.open_repo("just some words")


def test_fit_badges_come_from_range_read_headers_and_recompute_offline(
    hub_stub: HubStub, smollm2_path: Path, gemma_path: Path
) -> None:
    hw = fit_badges.machine()
    for repo, local in ((SMOL_REPO, smollm2_path), (GEMMA_REPO, gemma_path)):
        page = hub_client.open_repo(repo)
        hub_stub.reset_log()
        badges = hub_client.badges(page, 2048, hw)
        (model,) = page.models
        expected = fit_plan.plan(gguf_meta.read_local(local), hw, 2048)
        assert badges[model.name].verdict == expected.verdict
        assert badges[model.name].result == expected  # the remote header plans exactly like the local file
        # Only the header travelled, by Range requests to the CDN.
        cdn_gets = [s for s in hub_stub.requests("GET") if s.path.startswith("/repos/")]
        assert cdn_gets and all(s.status == 206 and s.range.startswith("bytes=") for s in cdn_gets)
        assert hub_stub.bytes_sent(model.first.path) < local.stat().st_size // 10

        # Another context length: recomputed from the cached header, no request at all.
        hub_stub.reset_log()
        again = hub_client.badges(page, 8192, hw)
        assert hub_stub.requests() == []
        assert again[model.name].result == fit_plan.plan(gguf_meta.read_local(local), hw, 8192)
        assert hub_client.cached_badge(page, model, 4096, hw) == fit_badges.badge_for(
            gguf_meta.read_local(local), 4096, hw
        )


def test_gated_headers_need_a_token_which_never_reaches_the_cdn(
    hub_stub: HubStub, monkeypatch: pytest.MonkeyPatch, smollm2_path: Path
) -> None:
    page = hub_client.open_repo(GATED_REPO)
    badges = hub_client.badges(page, 2048)
    assert {b.verdict for b in badges.values()} == {"unknown"}
    assert "gated" in next(iter(badges.values())).detail

    monkeypatch.setenv("HF_TOKEN", VALID_TOKEN)
    hub_stub.reset_log()
    badges = hub_client.badges(page, 2048)
    (badge,) = badges.values()
    assert badge.verdict == fit_plan.plan(gguf_meta.read_local(smollm2_path), fit_badges.machine(), 2048).verdict
    resolves = [s for s in hub_stub.requests() if "/resolve/" in s.path]
    cdn = [s for s in hub_stub.requests() if s.path.startswith("/repos/")]
    assert resolves and all(s.authorized for s in resolves)
    assert cdn and not any(s.authorized for s in cdn)


def test_offline_is_a_clear_error_and_the_library_still_works(
    monkeypatch: pytest.MonkeyPatch, smollm2_path: Path
) -> None:
    point_hub_at(monkeypatch, f"http://127.0.0.1:{closed_port()}")  # nothing listens there
    with pytest.raises(HearthError) as info:
        hub_client.search("llama")
    assert info.value.message == "You are offline or the Hub is unreachable."
    with pytest.raises(HearthError, match="offline or the Hub is unreachable"):
        hub_client.open_repo(SMOL_REPO)
    models = library.list_models(other_apps=False)
    assert smollm2_path in [m.path for m in models]


def test_hf_hub_offline_mode_is_respected(monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # what HF_HUB_OFFLINE=1 sets at import
    with pytest.raises(HearthError, match="offline mode is on"):
        hub_client.search("llama")


def hearth(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "desktop_app", *args], capture_output=True, text=True, env=env, timeout=300, check=False
    )


def test_cli_search_and_files(hub_stub: HubStub, hearth_home: Path, gemma_path: Path) -> None:
    env = subprocess_env(hub_stub, hearth_home)
    out = hearth("hub", "search", "gemma", "--json", env=env)
    assert out.returncode == 0, out.stderr
    assert [r["repo_id"] for r in json.loads(out.stdout)] == [GEMMA_REPO]

    out = hearth("hub", "search", "", "--sort", "likes", "--limit", "2", env=env)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert GATED_REPO in lines[1] and "(gated)" in lines[1] and len(lines) == 3

    out = hearth("hub", "files", GEMMA_REPO, "--ctx", "4096", "--json", env=env)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    (model,) = data["models"]
    assert model["name"] == GEMMA_FILE and model["quant"] == "Q4_K_M" and model["size"] == gemma_path.stat().st_size
    expected = fit_plan.plan(gguf_meta.read_local(gemma_path), fit_badges.machine(), 4096)
    assert model["fit"]["verdict"] == expected.verdict
    assert model["fit"]["plan"]["n_ctx"] == 4096

    out = hearth("hub", "files", GEMMA_REPO, "--ctx", "4096", env=env)
    assert out.returncode == 0, out.stderr
    assert "Q4_K_M" in out.stdout and GEMMA_FILE in out.stdout
    assert fit_badges.VERDICT_LABELS[expected.verdict] in out.stdout
    assert "licence gemma" in out.stdout


def test_cli_offline(hearth_home: Path, hub_stub: HubStub) -> None:
    env = subprocess_env(hub_stub, hearth_home, HF_ENDPOINT=f"http://127.0.0.1:{closed_port()}")
    out = hearth("hub", "search", "llama", env=env)
    assert out.returncode == 2
    assert "You are offline or the Hub is unreachable." in out.stderr
    assert "Traceback" not in out.stderr


def test_a_split_model_is_one_entry_and_its_fit_reads_every_part(hub_stub: HubStub, smollm2_split: list[Path]) -> None:
    page = hub_client.open_repo(SPLIT_REPO)
    (model,) = page.models
    assert model.name == f"Q4_1/{SPLIT_STEM}.gguf" and model.quant == "Q4_1" and model.is_split
    assert [p.path for p in model.parts] == [f"Q4_1/{p.name}" for p in smollm2_split]
    assert model.size == sum(p.stat().st_size for p in smollm2_split)
    hw = fit_badges.machine()
    badge = hub_client.badges(page, 2048, hw)[model.name]
    local = library.read_header(smollm2_split[0])  # both parts' tensors
    assert badge.result == fit_plan.plan(local, hw, 2048)
    assert {s.file for s in hub_stub.requests() if s.path.startswith("/repos/")} == {p.path for p in model.parts}

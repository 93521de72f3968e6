"""The recommended models (core/hub/recommended.py): the list's figures hold up, each fit is the fit
code's plan for this machine, tiers follow the machine, openness is said as it is, and none of it
touches the network."""

from __future__ import annotations

import dataclasses
import socket
from typing import Any

import pytest

from desktop_app.core.fit import badges as fit_badges
from desktop_app.core.fit import plan as fit_plan
from desktop_app.core.fit.result import Verdict
from desktop_app.core.fit.shapes import header_for
from desktop_app.core.hardware import GPU, HardwareInfo
from desktop_app.core.hub import recommended
from desktop_app.core.hub.client import RepoPage
from desktop_app.core.hub.recommended import RECOMMENDED, Openness

GIB = 1024**3


def machine(ram_gib: float, vram_gib: float = 0) -> HardwareInfo:
    ram = int(ram_gib * GIB)
    gpus = [GPU("NVIDIA RTX", "nvidia", int(vram_gib * GIB), int(vram_gib * GIB))] if vram_gib else []
    backend = "CUDA" if vram_gib else "CPU"
    return HardwareInfo("Linux", "x86_64", ram, ram, 4, 8, ["AVX2"], backend, bool(vram_gib), "0.3.36", gpus)


def test_the_lists_figures_give_the_parameter_counts_the_makers_state() -> None:
    # A typo in a layer count or width shows here: the planned header's parameters are the model's.
    for model in RECOMMENDED:
        counted = header_for(model.shape).n_params
        # Gemma 3 4B-27B count their image encoder (0.4B), which the text GGUF files leave out.
        tolerance = 0.11 if model.shape.architecture == "gemma3" else 0.02
        assert abs(counted - model.parameters) / model.parameters < tolerance, model.name
    assert len({m.repo_id for m in RECOMMENDED}) == len(RECOMMENDED)
    families = {m.name.split()[0] for m in RECOMMENDED}
    assert {"Qwen3", "Llama", "Gemma", "Mistral", "Phi-4", "OLMo"} <= families


def test_each_fit_is_the_plan_of_a_q4_k_m_file_on_this_machine() -> None:
    laptop = machine(8)
    recs = recommended.recommend(8192, laptop)
    assert [r.model.parameters for r in recs] == sorted(r.model.parameters for r in recs)
    for rec in recs:
        ctx = min(8192, rec.model.context_length)
        assert rec.n_ctx == ctx
        expected = fit_plan.plan(header_for(rec.model.shape, "Q4_K_M", rec.model.name), laptop, ctx)
        assert rec.badge.result == expected, rec.model.name
    olmo = next(r for r in recs if r.model.name == "OLMo 2 7B Instruct")
    assert olmo.n_ctx == 4096  # capped at what it was trained for


def test_tiers_follow_ram_and_vram() -> None:
    def verdicts(hw: HardwareInfo) -> dict[str, Verdict]:
        return {r.model.name: r.badge.verdict for r in recommended.recommend(4096, hw)}

    laptop = verdicts(machine(8))
    assert laptop["Qwen3 4B"] is Verdict.CPU and laptop["OLMo 2 1B Instruct"] is Verdict.CPU
    assert laptop["Qwen3 32B"] is Verdict.TOO_LARGE and laptop["Gemma 3 27B"] is Verdict.TOO_LARGE
    gaming = verdicts(machine(32, vram_gib=16))
    assert gaming["Qwen3 8B"] is Verdict.FULL_GPU
    assert gaming["Qwen3 32B"] is Verdict.PARTIAL_GPU  # about 19 GiB of weights: not all in 16 GiB
    workstation = verdicts(machine(64, vram_gib=24))
    assert workstation["Qwen3 32B"] is Verdict.FULL_GPU
    assert not any(v is Verdict.TOO_LARGE for v in workstation.values())


def test_openness_is_said_honestly() -> None:
    fully_open = {m.name for m in RECOMMENDED if m.openness is Openness.FULL}
    assert {"OLMo 2 1B Instruct", "OLMo 2 7B Instruct", "OLMo 2 13B Instruct"} <= fully_open
    assert not any(
        m.name.startswith(("Llama", "Gemma", "Qwen3", "Mistral", "Phi")) for m in RECOMMENDED if m.name in fully_open
    )
    olmo = recommended.find("allenai/OLMo-2-1124-7B-Instruct-GGUF")
    assert olmo is not None
    assert olmo.card_line() == (
        "Apache 2.0 · 7.3B parameters · 4,096 tokens of context · open weights and open training data"
    )
    llama = recommended.find("bartowski/Meta-Llama-3.1-8B-Instruct-GGUF")
    assert (
        llama is not None and "custom terms" in llama.card_line() and "training data not published" in llama.card_line()
    )

    # The Hub's card wins where it names the training data; else Hearth's list says so, marked as such.
    page = RepoPage(olmo.repo_id, "abc", datasets=["allenai/olmo-mix-1124", "allenai/dolmino-mix-1124"])
    assert recommended.openness_facts(page, olmo) == (
        "Training data named on its Hub card: allenai/olmo-mix-1124, allenai/dolmino-mix-1124"
    )
    bare = RepoPage(olmo.repo_id, "abc")
    assert "from Hearth's list: open weights and open training data" in recommended.openness_facts(bare, olmo)
    assert recommended.openness_facts(RepoPage("someone/else", "abc"), None) == (
        "Its Hub card does not name its training data."
    )


def test_recommending_makes_no_network_request(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("the recommended list tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    recs = recommended.recommend(4096, fit_badges.machine())
    assert len(recs) == len(RECOMMENDED) and all(r.badge.result is not None for r in recs)


def test_the_verdict_and_the_cards_figure_are_one_figure_and_too_large_says_what_would_fit() -> None:
    # Issue 21: 23.5 GB, no GPU, part of it in use: "22 of 22 fit" while the cards said 24 / 29 / 34 GB of
    # RAM (the peak the memory use shows, not what the verdict compared).
    hw = dataclasses.replace(machine(23.5), ram_available=int(17 * GIB))
    recs = recommended.recommend(8192, hw)
    for rec in recs:
        result = rec.badge.result
        assert result is not None
        usable = result.breakdown.cpu.budget
        shown = result.ram_required  # the figure the card shows
        assert rec.fits == (shown <= usable), rec.model.name
        words = recommended.memory_words(rec)
        assert recommended.human_bytes(shown) in words, (rec.model.name, words)
        if not rec.fits:
            assert rec.remedy.startswith(("Would fit with", "Needs about")), rec.model.name
            assert "can be used now" in words
        else:
            assert rec.remedy == ""
    too_large = [r for r in recs if not r.fits]
    assert {"Qwen3 32B", "Gemma 3 27B"} <= {r.model.name for r in too_large}
    # A smaller file is offered only where it fits: its plan is that of a real Q3_K_M header.
    q3 = header_for(next(m for m in RECOMMENDED if m.name == "Qwen3 14B").shape, "Q3_K_M")
    q4 = header_for(next(m for m in RECOMMENDED if m.name == "Qwen3 14B").shape, "Q4_K_M")
    assert 0.7 < sum(t.n_bytes for t in q3.tensors) / sum(t.n_bytes for t in q4.tensors) < 0.9
    # On an 8 GB laptop the 32B model needs more than any remedy gives: the missing memory is said.
    laptop = {r.model.name: r for r in recommended.recommend(8192, machine(8))}
    assert laptop["Qwen3 32B"].remedy.startswith("Needs about") and "more free memory" in laptop["Qwen3 32B"].remedy
    assert "Q3_K_M" in laptop["Qwen3 8B"].remedy or laptop["Qwen3 8B"].fits

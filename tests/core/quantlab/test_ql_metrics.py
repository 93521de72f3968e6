"""The lab's maths on known inputs: windows, KL divergence exact and top-K, the on-disk store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from desktop_app.core.quantlab import metrics


def test_windows_follow_llama_perplexity() -> None:
    """llama-perplexity's windows (perplexity.cpp): the tokenized text (BOS first when the model adds
    one) cut into whole windows, each window's first token overwritten with BOS, the second half scored."""
    tokens = list(range(100, 300))  # 200 text tokens
    with_bos = metrics.plan_windows(tokens, 64, bos=1)
    sequence = [1, *tokens]  # 201 tokens: 3 whole windows, the 9-token tail dropped
    assert [len(w.tokens) for w in with_bos] == [64, 64, 64]
    for k, w in enumerate(with_bos):
        assert w.tokens[0] == 1
        assert w.tokens[1:] == sequence[64 * k + 1 : 64 * (k + 1)]  # in step with the text, no drift
    assert with_bos[1].tokens[1] == 164  # text token 163 sat under the BOS and is not fed
    assert all(w.first_scored == 32 and w.n_scored == 31 for w in with_bos)
    assert with_bos[0].targets == with_bos[0].tokens[33:]
    without = metrics.plan_windows(tokens, 64, bos=None)
    assert [w.tokens for w in without] == [tokens[0:64], tokens[64:128], tokens[128:192]]
    short = metrics.plan_windows(tokens[:20], 64, bos=None)
    assert len(short) == 1 and short[0].n_scored == 20 - 1 - 10


def test_kl_is_zero_for_the_same_distribution_and_top_k_bounds_it_from_below() -> None:
    rng = np.random.default_rng(0)
    ref = metrics.log_softmax(rng.normal(0, 3, size=(16, 500)))
    other = metrics.log_softmax(np.asarray(ref) + rng.normal(0, 0.5, size=(16, 500)))
    assert np.allclose(metrics.kl_full(ref, ref), 0.0, atol=1e-6)
    exact = metrics.kl_full(ref, other)
    assert (exact > 0).all()
    previous = np.zeros(16)
    for k in (4, 32, 128, 500):
        idx, lp = metrics.top_k(ref, k)
        approx = metrics.kl_top_k(idx, lp, other)
        assert (approx <= exact + 1e-6).all()
        assert (approx >= previous - 1e-6).all()  # more of the distribution kept: closer to exact
        previous = approx
    assert np.allclose(previous, exact, atol=1e-5)  # K = vocabulary: exact


def test_the_16_bit_form_is_llama_cpps_and_keeps_log_probabilities_to_its_step() -> None:
    rng = np.random.default_rng(2)
    logits = rng.normal(0, 4, size=(12, 3000)).astype(np.float32)
    steps, scale, offset = metrics.quantize_log_probs(logits)
    exact = metrics.log_softmax(logits).astype(np.float64)
    back = metrics.dequantize_log_probs(steps, scale, offset).astype(np.float64)
    top = exact.max(axis=-1, keepdims=True)
    resolved = exact > top - metrics.LOG_PROB_RANGE  # the span resolved below the most likely token
    # Within half a step, plus the renormalisation's shift (under half a step): one step in all.
    assert np.all(np.abs(back - exact)[resolved] <= scale.max() + 1e-5)
    assert np.allclose(np.exp(back.astype(np.float64)).sum(axis=-1), 1.0, atol=1e-6)
    spread = np.minimum(metrics.LOG_PROB_RANGE, logits.max(-1) - logits.min(-1))
    assert np.allclose(scale, spread / 65535, rtol=1e-6)
    assert (steps.argmax(axis=-1) == logits.argmax(axis=-1)).all()


def test_the_reference_store_round_trips(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 2, size=(150, 300)).astype(np.float32)  # more rows than one block
    targets = list(rng.integers(0, 300, size=150))
    for top_k in (0, 16):
        folder = tmp_path / f"k{top_k}"
        meta = metrics.ReferenceStore.choose(150, 300, top_k)
        assert meta.method == ("full" if top_k == 0 else "top-k")
        store = metrics.ReferenceStore.create(folder, meta)
        nll = np.concatenate([store.write(0, logits[:70], targets[:70]), store.write(70, logits[70:], targets[70:])])
        store.flush()
        assert np.allclose(nll, metrics.token_nll(metrics.log_softmax(logits), targets))
        opened = metrics.ReferenceStore.open(folder)
        acc = metrics.Accumulator()
        opened.compare(0, logits, targets, acc)
        stats = acc.stats()
        assert stats.n == 150 and stats.top1_agreement == 1.0
        assert stats.kl_divergence is not None and abs(stats.kl_divergence) < 1e-4
        assert stats.ppl_ratio == pytest.approx(1.0, abs=1e-4)
    # Exact by default for any vocabulary and length; top-K only when asked or the disk is short.
    assert metrics.ReferenceStore.choose(100_000, 262_144).method == "full"
    short = metrics.ReferenceStore.choose(100_000, 262_144, free_bytes=10 * 1024**3)
    assert short.method == "top-k" and short.k == metrics.DEFAULT_TOP_K and short.reason == "disk"
    assert "disk could not hold" in metrics.describe_method(short)
    assert metrics.describe_method(metrics.ReferenceStore.choose(10, 10)).startswith("exact")


def test_accumulator_perplexity() -> None:
    acc = metrics.Accumulator()
    acc.add(np.full(4, np.log(10.0)))
    assert acc.perplexity == pytest.approx(10.0)
    acc = metrics.Accumulator()
    acc.add(np.full(4, np.log(10.0)), np.array([0.1, 0.2, 0.3, 0.4]), np.array([True, True, False, True]))
    assert acc.kl_mean == pytest.approx(0.25)
    assert acc.top1_agreement == pytest.approx(0.75)


def llama_perplexity_figures(nll: np.ndarray, nll_base: np.ndarray, kld: np.ndarray, same: np.ndarray) -> dict:
    """The closing figures of ``llama-perplexity --kl-divergence``, written out independently from
    tools/perplexity/perplexity.cpp (kl_divergence): plain sums, as that loop keeps them."""
    n = len(nll)

    def mean_unc(values: np.ndarray) -> tuple[float, float]:
        f = float(np.sum(values)) / n
        df = float(np.sum(values * values)) / n - f * f
        return f, (np.sqrt(df / (n - 1)) if df > 0 and n > 10 else 0.0)

    log_ppl, log_ppl_unc = mean_unc(nll)
    log_base, log_base_unc = mean_unc(nll_base)
    cov = (float(np.sum(nll * nll_base)) / n - (float(np.sum(nll)) / n) * (float(np.sum(nll_base)) / n)) / (n - 1)
    ratio_unc = np.sqrt(log_ppl_unc**2 + log_base_unc**2 - 2 * cov)
    p_diff = np.exp(-nll) - np.exp(-nll_base)
    mse, mse_unc = mean_unc(p_diff**2)
    kl, kl_unc = mean_unc(kld)
    ordered = np.sort(kld)
    top = float(np.sum(same)) / n
    return {
        "perplexity": np.exp(log_ppl),
        "perplexity_unc": np.exp(log_ppl) * log_ppl_unc,
        "ppl_ratio": np.exp(log_ppl - log_base),
        "ppl_ratio_unc": np.exp(log_ppl - log_base) * ratio_unc,
        "kl_divergence": kl,
        "kl_unc": kl_unc,
        "kl_p99": (1 - (0.99 * (n - 1)) % 1) * ordered[int(0.99 * (n - 1))]
        + ((0.99 * (n - 1)) % 1) * ordered[min(int(0.99 * (n - 1)) + 1, n - 1)],
        "kl_max": ordered[-1],
        "rms_dp": np.sqrt(mse),
        "rms_dp_unc": 0.5 / np.sqrt(mse) * mse_unc,
        "top1_agreement": top,
        "top1_unc": np.sqrt(top * (1 - top) / (n - 1)),
    }


def test_uncertainties_follow_llama_perplexitys_formulas() -> None:
    """The same per-token data through the lab's accumulator (in several pieces, as windows arrive)
    and through llama-perplexity's closing formulas."""
    rng = np.random.default_rng(5)
    n = 1000
    nll_base = rng.gamma(2.0, 1.5, size=n)
    nll = nll_base + rng.normal(0.05, 0.3, size=n)  # a slightly worse variant, correlated with the base
    kld = rng.gamma(0.6, 0.1, size=n)
    same = rng.random(n) < 0.83
    acc = metrics.Accumulator()
    for lo in range(0, n, 255):
        acc.add(nll[lo : lo + 255], kld[lo : lo + 255], same[lo : lo + 255], nll_base[lo : lo + 255])
    stats = acc.stats()
    for key, value in llama_perplexity_figures(nll, nll_base, kld, same).items():
        assert getattr(stats, key) == pytest.approx(value, rel=1e-9), key
    assert stats.ppl_ratio_unc is not None and stats.perplexity_unc > stats.ppl_ratio_unc * stats.perplexity

"""The lab's maths on known inputs: windows, KL divergence exact and top-K, the on-disk store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from desktop_app.core.quantlab import metrics


def test_windows_follow_llama_perplexity() -> None:
    tokens = list(range(100, 300))  # 200 text tokens
    with_bos = metrics.plan_windows(tokens, 64, bos=1)
    assert [w.tokens[0] for w in with_bos] == [1, 1, 1]  # 3 x 63 text tokens; the 11-token tail is dropped
    assert [len(w.tokens) for w in with_bos] == [64, 64, 64]
    assert with_bos[1].tokens[1] == 100 + 63  # no text token lost between windows
    assert all(w.first_scored == 32 and w.n_scored == 31 for w in with_bos)
    assert with_bos[0].targets == with_bos[0].tokens[33:]
    without = metrics.plan_windows(tokens, 64, bos=None)
    assert [len(w.tokens) for w in without] == [64, 64, 64]
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


def test_the_reference_store_round_trips(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    ref = metrics.log_softmax(rng.normal(0, 2, size=(10, 300)))
    for top_k in (0, 16):
        folder = tmp_path / f"k{top_k}"
        meta = metrics.ReferenceStore.choose(10, 300, top_k)
        assert meta.method == ("full" if top_k == 0 else "top-k")
        store = metrics.ReferenceStore.create(folder, meta)
        store.write(0, ref[:6])
        store.write(6, ref[6:])
        store.flush()
        opened = metrics.ReferenceStore.open(folder)
        kl, same = opened.compare(0, ref)
        assert np.allclose(kl, 0.0, atol=1e-6) and same.all()
    # A distribution too big for the budget is kept as top-K automatically.
    big = metrics.ReferenceStore.choose(10_000, 262_144)
    assert big.method == "top-k" and big.k == metrics.DEFAULT_TOP_K


def test_accumulator_perplexity() -> None:
    acc = metrics.Accumulator()
    acc.add(np.full(4, np.log(10.0)))
    acc.add(np.full(4, np.log(10.0)), np.array([0.1, 0.2, 0.3, 0.4]), np.array([True, True, False, True]))
    assert acc.perplexity == pytest.approx(10.0)
    assert acc.kl_mean == pytest.approx(0.25)
    assert acc.top1_agreement == pytest.approx(0.75)

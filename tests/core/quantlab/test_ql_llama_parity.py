"""The lab's figures are llama-perplexity's (tools/perplexity/perplexity.cpp of the vendored llama.cpp):
its windows on a model that adds BOS (Gemma 3), and the exact KL divergence between two real variants,
each against an independent computation written here with llama-cpp-python and numpy in float64."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from desktop_app.core.quantlab.measure import EvalText, run_comparison
from tests.quantlab_helpers import Variants, fast_settings

WINDOW = 128


def window_log_probs(model: Path, text: str, window: int) -> tuple[list[np.ndarray], list[list[int]]]:
    """llama-perplexity's windows, done by hand: the text tokenized with BOS where the model adds
    one, cut into whole windows of ``window``, each window's first token set to BOS; log-softmax in
    float64 of the logits of its second half, and the tokens they predict."""
    import llama_cpp

    llm = llama_cpp.Llama(
        str(model), n_ctx=window, n_batch=window, logits_all=True, flash_attn=True, verbose=False, seed=1
    )  # flash attention on, as the lab loads models (its rounding differs in the 4th digit)
    add_bos = bool(llama_cpp.llama_vocab_get_add_bos(llm._model.vocab))
    sequence = llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=False)
    rows, targets = [], []
    for k in range(len(sequence) // window):
        chunk = list(sequence[k * window : (k + 1) * window])
        if add_bos:
            chunk[0] = llm.token_bos()
        llm.reset()
        llm.eval(chunk)
        first = window // 2
        logits = np.asarray(llm.scores[first : window - 1], dtype=np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        rows.append(logits - np.log(np.exp(logits).sum(axis=1, keepdims=True)))
        targets.append(chunk[first + 1 :])
    del llm
    return rows, targets


def nll(rows: list[np.ndarray], targets: list[list[int]]) -> np.ndarray:
    return np.concatenate([-r[np.arange(len(t)), t] for r, t in zip(rows, targets, strict=True)])


def test_a_bos_models_perplexity_is_llama_perplexitys(gemma_path: Path, tmp_path: Path) -> None:
    text = EvalText.sample().text[:2400]  # about 600 tokens: 4 windows of 128
    settings = fast_settings(tokens=0, window=WINDOW, n_ctx=WINDOW)
    run = run_comparison([gemma_path], settings, EvalText(text, "Alice, the first 4,000 characters"), save=False)
    [gemma] = run.results
    rows, targets = window_log_probs(gemma_path, text, WINDOW)
    expected = nll(rows, targets)
    assert gemma.n_scored == len(expected) == len(rows) * (WINDOW - 1 - WINDOW // 2)
    assert gemma.perplexity == pytest.approx(math.exp(expected.mean()), rel=1e-4)
    standard_error = expected.std(ddof=0) / math.sqrt(len(expected) - 1)
    assert gemma.perplexity_unc == pytest.approx(math.exp(expected.mean()) * standard_error, rel=1e-3)


def test_kl_divergence_is_exact_between_two_real_variants(variants: Variants) -> None:
    text = EvalText.sample().text[:3000]
    settings = fast_settings(tokens=0, window=WINDOW, n_ctx=WINDOW)
    run = run_comparison([variants.f16, variants.q4_0], settings, EvalText(text, "Alice"), save=False)
    ref, q4 = run.results
    assert ref.is_reference and run.kl_method.startswith("exact") and q4.kl_method.startswith("exact")
    ref_rows, targets = window_log_probs(variants.f16, text, WINDOW)
    q4_rows, same_targets = window_log_probs(variants.q4_0, text, WINDOW)
    assert targets == same_targets
    p = np.exp(np.concatenate(ref_rows))
    kl = (p * (np.concatenate(ref_rows) - np.concatenate(q4_rows))).sum(axis=1)
    top1 = (np.concatenate(ref_rows).argmax(axis=1) == np.concatenate(q4_rows).argmax(axis=1)).mean()
    assert q4.n_scored == len(kl)
    assert q4.kl_divergence == pytest.approx(kl.mean(), abs=1e-4)
    assert q4.kl_p99 is not None and q4.kl_p99 == pytest.approx(np.percentile(kl, 99), rel=2e-3, abs=2e-4)
    assert q4.top1_agreement == pytest.approx(top1, abs=1.5 / len(kl))  # a tie may fall either way
    ratio = math.exp(nll(q4_rows, targets).mean() - nll(ref_rows, targets).mean())
    assert q4.ppl_ratio == pytest.approx(ratio, rel=1e-3)
    assert q4.kl_unc is not None and 0 < q4.kl_unc < q4.kl_divergence
    assert q4.rms_dp is not None and q4.rms_dp > 0 and q4.top1_unc is not None and q4.top1_unc > 0

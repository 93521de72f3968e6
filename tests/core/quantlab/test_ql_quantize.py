"""Making variants with llama.cpp's quantiser: real files, real progress, real cancel."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop_app.core.cancel import CancelToken, Progress
from desktop_app.core.errors import Cancelled, HearthError
from desktop_app.core.models import gguf_meta
from desktop_app.core.quantlab.quantize import REQUANTIZE_WARNING, default_output_path, quant_type, quantize
from tests.quantlab_helpers import Variants


def test_variants_are_valid_ggufs_of_the_requested_types(variants: Variants) -> None:
    infos = {
        name: gguf_meta.read_local(path)
        for name, path in (("F16", variants.f16), ("Q8_0", variants.q8_0), ("Q4_0", variants.q4_0))
    }
    for name, info in infos.items():
        assert info.quant == name
        assert info.architecture == "llama"
    # Same model: same tensors, same parameter count, same tokenizer.
    assert infos["F16"].n_params == infos["Q8_0"].n_params == infos["Q4_0"].n_params
    assert sorted(t.name for t in infos["F16"].tensors) == sorted(t.name for t in infos["Q4_0"].tensors)
    sizes = [p.stat().st_size for p in (variants.f16, variants.q8_0, variants.q4_0)]
    assert sizes[0] > sizes[1] > sizes[2]
    assert 1.8 < sizes[0] / sizes[1] < 2.1  # F16 is about twice Q8_0


def test_progress_follows_the_tensors_and_ends_complete(variants: Variants) -> None:
    progress = variants.q4_0_progress
    done = [p.done for p in progress]
    assert done == sorted(done), "progress never goes backwards"
    assert progress[-1].fraction == 1.0
    tensor_reports = [p for p in progress if p.message.startswith("Quantising ")]
    assert len(tensor_reports) >= 200  # one per tensor (SmolLM2 has 272)
    assert "token_embd.weight" in " ".join(p.message for p in tensor_reports)


def test_cancel_kills_the_quantiser_and_leaves_no_partial_file(variants: Variants, tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "cancelled-Q8_0.gguf"
    cancel = CancelToken()
    seen: list[Progress] = []

    def on_progress(progress: Progress) -> None:
        seen.append(progress)
        if (progress.fraction or 0) > 0.3:
            cancel.cancel()

    with pytest.raises(Cancelled):
        quantize(variants.f16, out, "Q8_0", progress=on_progress, cancel=cancel)
    assert any((p.fraction or 0) > 0.3 for p in seen)
    assert seen[-1].fraction is not None and seen[-1].fraction < 1.0
    assert list(out_dir.iterdir()) == []  # neither the output nor its .partial


def test_requantising_needs_consent_and_warns(smollm2_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "requantized-Q4_0.gguf"
    with pytest.raises(HearthError, match="already quantised"):
        quantize(smollm2_path, out, "Q4_0")
    assert not out.exists()
    result = quantize(smollm2_path, out, "Q4_0", allow_requantize=True)
    assert result.requantized
    assert result.warnings[0] == REQUANTIZE_WARNING
    assert gguf_meta.read_local(out).quant == "Q4_0"


def test_refuses_what_cannot_work(variants: Variants, tmp_path: Path) -> None:
    with pytest.raises(HearthError, match="not a quantisation type"):
        quant_type("Q9_9")
    with pytest.raises(HearthError, match="already exists"):
        quantize(variants.f16, variants.q8_0, "Q8_0")
    with pytest.raises(HearthError, match="already Q8_0"):
        quantize(variants.q8_0, tmp_path / "out" / "x.gguf", "Q8_0", allow_requantize=True)
    assert not (tmp_path / "out").exists()


def test_default_output_goes_to_the_models_folder_named_after_the_type(
    variants: Variants, smollm2_path: Path, hearth_home: Path
) -> None:
    assert default_output_path(variants.f16, "q4_k_m") == hearth_home / "models" / "SmolLM2-135M-Instruct-Q4_K_M.gguf"
    assert default_output_path(smollm2_path, "Q8_0").name == "SmolLM2-135M-Instruct.Q8_0.gguf"

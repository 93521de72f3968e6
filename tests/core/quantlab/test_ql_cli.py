"""`hearth compare` and `hearth quantize` as a script uses them (in process, real models)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from desktop_app.cli import run
from desktop_app.core.models import gguf_meta
from desktop_app.core.quantlab import saved as saved_comparisons
from tests.quantlab_helpers import Variants

ROW_KEYS = {
    "model",
    "size_bytes",
    "load_s",
    "peak_rss_bytes",
    "prompt_tok_s",
    "gen_tok_s",
    "perplexity",
    "kl_divergence",
    "top1_agreement",
    "answer",
}


def test_compare_json_has_one_row_per_model(
    variants: Variants, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = tmp_path / "eval.txt"
    helpers = Path(__file__).parents[2] / "quantlab_helpers.py"  # some text that is always there
    text.write_text(helpers.read_text(encoding="utf-8") * 3, encoding="utf-8")
    export = tmp_path / "run.csv"
    code = run(
        [
            "compare", str(variants.q4_0), str(variants.q8_0),
            "--text", str(text), "--tokens", "130", "--window", "64",
            "--prompt", "Say hi.", "--seed", "7", "--max-tokens", "4",
            "--export", str(export), "--json",
        ]
    )  # fmt: skip
    out = capsys.readouterr()
    assert code == 0, out.err
    rows = json.loads(out.out)
    assert len(rows) == 2
    for row in rows:
        assert set(row) >= ROW_KEYS
        assert set(row["model"]) >= {"path", "sha256", "quant"}
        assert isinstance(row["answer"], str)
    # Q8_0 has more bits per weight than Q4_0, so it is the reference although listed second.
    assert [r["model"]["quant"] for r in rows] == ["Q8_0", "Q4_0"]
    assert rows[0]["reference"] and rows[0]["kl_divergence"] == 0.0
    assert rows[1]["kl_divergence"] > 0 and 0 < rows[1]["top1_agreement"] <= 1
    assert "%" in out.err  # progress went to stderr, the JSON alone to stdout
    saved = saved_comparisons.load(rows[0]["run_id"])
    assert saved.text_source == str(text) and saved.settings.sampling.seed == 7
    assert export.read_text(encoding="utf-8").splitlines()[0].startswith("name,quant,")


def test_quantize_makes_a_variant_with_progress(
    variants: Variants, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_path = tmp_path / "made-Q4_0.gguf"
    code = run(["quantize", str(variants.f16), "q4_0", "-o", str(out_path)])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert out.out.strip().startswith(str(out_path))
    assert "100%" in out.err and "Quantising" in out.err
    assert gguf_meta.read_local(out_path).quant == "Q4_0"


def test_quantize_refuses_a_quantised_source_without_consent(
    smollm2_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code = run(["quantize", str(smollm2_path), "Q4_0", "-o", str(out_dir / "x.gguf")])
    err = capsys.readouterr().err
    assert code == 2
    assert "already quantised" in err and "allow" in err
    assert list(out_dir.iterdir()) == []

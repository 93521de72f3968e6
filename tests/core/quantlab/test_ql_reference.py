"""The reference of a comparison is the variant with the most information (issue 21): a Q8_0 made
*from* a Q4_1 holds only the Q4_1's information, so it is never the reference, and it says what it
was made from wherever it is shown (its sidecar, written by the quantiser, records it)."""

from __future__ import annotations

import shutil
from pathlib import Path

from desktop_app.core.models.files import write_sidecar
from desktop_app.core.quantlab import variants
from desktop_app.core.quantlab.measure import measuring_order


def test_a_variant_made_by_requantising_is_never_the_reference(tmp_path: Path, smollm2_path: Path) -> None:
    original = variants.describe_variant(smollm2_path)
    assert original.requantized_from == "" and original.label == original.name
    # The same bytes under another name, recorded as made from the Q4_1 file: more bits per weight
    # cannot make it hold more of the original model.
    made = tmp_path / "SmolLM2-135M-Instruct-Q8_0.gguf"
    shutil.copyfile(smollm2_path, made)
    write_sidecar(made, {"origin": "quantize", "made_from": str(smollm2_path), "source_quant": "Q4_1",
                         "requantized": True})  # fmt: skip
    requant = variants.describe_variant(made)
    assert requant.requantized_from == "Q4_1"
    assert requant.label == "SmolLM2-135M-Instruct-Q8_0 (made from Q4_1)"
    assert requant.to_dict()["requantized_from"] == "Q4_1"
    boosted = variants.Variant(**{**requant.__dict__, "bits_per_weight": 8.5})
    for pair in ([original, boosted], [boosted, original]):
        assert variants.pick_reference(pair) is original
        assert measuring_order(pair)[0] is original
    (group,) = variants.group_variants([boosted, original])
    assert group.reference is original and group.variants[0] is original
    # Only re-quantised files: the one with the most bits per weight is the best there is.
    assert variants.pick_reference([requant, boosted]) is boosted

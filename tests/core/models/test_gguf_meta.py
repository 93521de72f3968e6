"""GGUF header reading on the real test models, and clear errors for broken files."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop_app.core.errors import ModelLoadError
from desktop_app.core.models import gguf_meta


def test_reads_smollm2_header(smollm2_path: Path) -> None:
    info = gguf_meta.read_local(smollm2_path)
    assert info.architecture == "llama"
    assert info.quant == "Q4_1"
    assert info.n_layers == 30  # SmolLM2-135M: 30 blocks, 9 heads, 3 KV heads
    assert info.n_heads == 9
    assert info.n_kv_heads == 3
    assert info.context_length == 8192
    assert info.chat_template and "im_start" in info.chat_template
    assert 130e6 < info.n_params < 140e6
    # The tensor table accounts for the whole file: header + aligned tensor data.
    assert info.expected_file_size == smollm2_path.stat().st_size


def test_reads_gemma_header(gemma_path: Path) -> None:
    info = gguf_meta.read_local(gemma_path)
    assert info.architecture == "gemma3"
    assert info.quant == "Q4_K_M"
    assert info.arch_get("attention.sliding_window") == 512
    assert info.expected_file_size == gemma_path.stat().st_size


def test_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.gguf"
    empty.write_bytes(b"")
    with pytest.raises(ModelLoadError, match="empty"):
        gguf_meta.read_local(empty)


def test_not_gguf(tmp_path: Path) -> None:
    fake = tmp_path / "notes.gguf"
    fake.write_text("just some text, renamed to .gguf\n" * 10)
    with pytest.raises(ModelLoadError, match="not a GGUF model file"):
        gguf_meta.read_local(fake)


@pytest.mark.parametrize("keep", [100, 2_000_000, 50_000_000])
def test_truncated(tmp_path: Path, smollm2_path: Path, keep: int) -> None:
    """Cut in the header, in the middle of the tokenizer, and in the weights."""
    broken = tmp_path / "partial.gguf"
    with smollm2_path.open("rb") as src:
        broken.write_bytes(src.read(keep))
    with pytest.raises(ModelLoadError, match=r"incomplete|truncated"):
        gguf_meta.read_local(broken)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="Cannot read"):
        gguf_meta.read_local(tmp_path / "nope.gguf")

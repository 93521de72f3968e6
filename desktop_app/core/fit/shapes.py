"""A model's GGUF header from its published architecture, so a model not downloaded yet can be
planned by the same fit code as a file (the recommended models on the first-run page).

The header holds what llama.cpp's converter writes for a dense decoder (token embedding, per
block the attention and feed-forward weights and their norms, the output layer), with the
tensor types llama.cpp's quantiser picks for the file type (``llama_tensor_get_type``): for
Q4_K_M, Q6_K for the output layer (the token embedding when the output reuses it) and for
``attn_v`` / ``ffn_down`` in the blocks ``use_more_bits`` chooses, Q4_K elsewhere; a row whose
length is not a multiple of 256 falls back as llama.cpp falls back (Q4_K to Q5_0, Q6_K to Q8_0).
Built from Gemma 3 270M's figures this gives that file's tensor table byte for byte.

What the header cannot know is left out: the tokenizer's merges (a few MB of RAM).
"""

from __future__ import annotations

from dataclasses import dataclass

from desktop_app.core.errors import HearthError
from desktop_app.core.models.gguf_meta import GGUFInfo, TensorInfo

# The norms of each block, per architecture (their size hardly matters; their count does a little,
# since llama.cpp's graph metadata grows per tensor).
_BLOCK_NORMS: dict[str, tuple[str, ...]] = {
    "gemma3": ("attn_norm", "attn_q_norm", "attn_k_norm", "ffn_norm", "post_attention_norm", "post_ffw_norm"),
    "qwen3": ("attn_norm", "attn_q_norm", "attn_k_norm", "ffn_norm"),
    "olmo2": ("attn_q_norm", "attn_k_norm", "post_attention_norm", "post_ffw_norm"),
}
_DEFAULT_NORMS = ("attn_norm", "ffn_norm")

# llama.cpp's fallback when a row's length is not a multiple of a K-quant's 256-value block.
_FALLBACK = {"Q4_K": "Q5_0", "Q5_K": "Q5_1", "Q6_K": "Q8_0", "Q3_K": "IQ4_NL", "Q2_K": "Q4_0"}
# File types as llama.cpp's LlamaFileType numbers them (general.file_type).
_FILE_TYPES = {"Q4_K_M": 15, "Q5_K_M": 17, "Q6_K": 18, "Q8_0": 7, "Q4_0": 2, "Q3_K_M": 12}


@dataclass(frozen=True)
class ModelShape:
    """The figures of a model's config.json that decide its memory."""

    architecture: str  # llama.cpp's name for it: llama, qwen3, gemma3, phi3, olmo2...
    n_layer: int
    n_embd: int
    n_head: int
    n_head_kv: int
    head_dim: int
    n_ff: int
    n_vocab: int
    context_length: int
    tied_embeddings: bool = False  # the output layer reuses the token embedding
    sliding_window: int = 0


def _use_more_bits(i: int, n: int) -> bool:
    """llama.cpp's choice of the blocks that get more bits in an _M quant."""
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def _tensor_type(name: str, row: int, quant: str, layer: int, n_layer: int, tied: bool) -> str:
    output = name == "output" or (name == "token_embd" and tied)  # a tied embedding is the output too
    if quant == "Q4_K_M":
        more_bits = name in ("attn_v", "ffn_down") and _use_more_bits(layer, n_layer)
        wanted = "Q6_K" if output or more_bits else "Q4_K"
    elif quant == "Q3_K_M":  # llama.cpp gives attn_v, attn_output and ffn_down Q4_K (a few Q5_K), the rest Q3_K
        wanted = "Q6_K" if output else "Q4_K" if name in ("attn_v", "attn_output", "ffn_down") else "Q3_K"
    elif quant == "Q8_0":
        wanted = "Q8_0"
    else:
        wanted = "Q6_K" if output else quant
    if wanted in _FALLBACK and row % 256:
        wanted = _FALLBACK[wanted]
    return wanted


def _norm_width(shape: ModelShape, norm: str) -> int:
    """Q and K norms are per head dimension (Qwen 3, Gemma 3), or over the whole row (OLMo 2)."""
    if norm == "attn_q_norm":
        return shape.n_head * shape.head_dim if shape.architecture == "olmo2" else shape.head_dim
    if norm == "attn_k_norm":
        return shape.n_head_kv * shape.head_dim if shape.architecture == "olmo2" else shape.head_dim
    return shape.n_embd


def header_for(shape: ModelShape, quant: str = "Q4_K_M", name: str = "") -> GGUFInfo:
    """The header a ``quant`` GGUF of a model of ``shape`` would have (no file behind it)."""
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    if quant not in _FILE_TYPES:
        raise HearthError(f"Hearth cannot plan a {quant} file from a model's figures.", "Use Q4_K_M.")
    arch = shape.architecture
    tensors: list[TensorInfo] = []
    offset = 0

    def add(tensor: str, dims: tuple[int, ...], type_name: str) -> None:
        nonlocal offset
        ggml_type = GGMLQuantizationType[type_name]
        block, size = GGML_QUANT_SIZES[ggml_type]
        n = 1
        for d in dims:
            n *= d
        n_bytes = n // block * size
        tensors.append(TensorInfo(tensor, dims, int(ggml_type), offset, n_bytes))
        offset += (n_bytes + 31) // 32 * 32  # GGUF aligns each tensor to 32 bytes

    def weight(tensor: str, dims: tuple[int, int], layer: int = -1) -> None:
        base = tensor.rsplit(".", 2)[-2] if layer >= 0 else tensor.split(".")[0]
        add(tensor, dims, _tensor_type(base, dims[0], quant, layer, shape.n_layer, shape.tied_embeddings))

    n_q, n_kv = shape.n_head * shape.head_dim, shape.n_head_kv * shape.head_dim
    weight("token_embd.weight", (shape.n_embd, shape.n_vocab))
    for il in range(shape.n_layer):
        blk = f"blk.{il}"
        for norm in _BLOCK_NORMS.get(arch, _DEFAULT_NORMS):
            add(f"{blk}.{norm}.weight", (_norm_width(shape, norm),), "F32")
        weight(f"{blk}.attn_q.weight", (shape.n_embd, n_q), il)
        weight(f"{blk}.attn_k.weight", (shape.n_embd, n_kv), il)
        weight(f"{blk}.attn_v.weight", (shape.n_embd, n_kv), il)
        weight(f"{blk}.attn_output.weight", (n_q, shape.n_embd), il)
        weight(f"{blk}.ffn_gate.weight", (shape.n_embd, shape.n_ff), il)
        weight(f"{blk}.ffn_up.weight", (shape.n_embd, shape.n_ff), il)
        weight(f"{blk}.ffn_down.weight", (shape.n_ff, shape.n_embd), il)
    add("output_norm.weight", (shape.n_embd,), "F32")
    if not shape.tied_embeddings:
        weight("output.weight", (shape.n_embd, shape.n_vocab))

    metadata: dict[str, object] = {
        "general.architecture": arch,
        "general.name": name,
        "general.file_type": _FILE_TYPES[quant],
        f"{arch}.context_length": shape.context_length,
        f"{arch}.embedding_length": shape.n_embd,
        f"{arch}.block_count": shape.n_layer,
        f"{arch}.feed_forward_length": shape.n_ff,
        f"{arch}.attention.head_count": shape.n_head,
        f"{arch}.attention.head_count_kv": shape.n_head_kv,
        f"{arch}.attention.key_length": shape.head_dim,
        f"{arch}.attention.value_length": shape.head_dim,
    }
    if shape.sliding_window:
        metadata[f"{arch}.attention.sliding_window"] = shape.sliding_window
    return GGUFInfo(version=3, metadata=metadata, tensors=tensors)

"""Will this model fit this machine? A memory plan from the GGUF tensor table.

The plan follows what llama.cpp (as built into llama-cpp-python 0.3.36, with the
settings Hearth's engine passes) really allocates, read from its source:

* **Weights** come from the tensor table, layer by layer, not from the file size.
  ``token_embd`` always stays on the CPU (llama.cpp keeps the input layer there);
  the output layer is ``output.weight`` or, when a model ties its embeddings, a
  second copy of ``token_embd`` on the device that runs the output layer. GPU
  layers are the *last* ones: with ``n_gpu_layers = k`` of ``L + 1`` (the output
  layer counts), blocks ``L + 1 - k .. L - 1`` and the output run on the GPU.
* On the CPU, llama.cpp maps the file (``mmap`` with ``MAP_POPULATE``) and keeps
  the byte range from the first to the last tensor the CPU uses; everything in that
  range is resident. Weights of types the CPU build "repacks" for faster matmuls
  (Q4_0, Q4_K, IQ4_NL, MXFP4 with AVX2; more on ARM) get a second, repacked copy.
* **KV cache**: ``n_ctx`` is padded to 256 cells; each layer holds K and V rows of
  ``head_count_kv * key_length`` (``value_length``) values in the KV type, whose
  real block size comes from ``gguf.GGML_QUANT_SIZES`` (q8_0: 34 bytes per 32
  values, q4_0: 18 bytes per 32). Sliding-window layers (gemma2/3, cohere2,
  gpt-oss...) use a second cache of ``pad256(min(n_ctx, n_swa + n_ubatch))`` cells,
  unless llama.cpp's ``swa_full`` is on: llama-cpp-python leaves it at llama.cpp's
  default (on), so Hearth's engine today gives every layer the full context.
* **Compute**: llama.cpp reserves a graph buffer sized for a full 512-token batch
  with logits for every token (``n_vocab * 512 * 4`` bytes; 512 MiB for Gemma 3's
  262k vocabulary). On a GPU all of it is allocated. On the CPU the buffer is
  ordinary ``malloc`` memory and only the part a real batch touches becomes
  resident: the activations of up to 512 prompt tokens and one row of logits.
* **Runtime**: measured constants for llama.cpp + llama-cpp-python + Hearth's chat
  set-up (see ``RUNTIME_*`` below); a GPU runtime (CUDA context, cuBLAS) on top.

``ram_bytes`` is what loading the model and generating adds to the process's peak
resident memory (RSS). tests/e2e/test_fit_accuracy.py measures that in a fresh
process and holds the estimate to 10% on both test models at 512-8192 tokens.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from desktop_app.core.errors import HearthError
from desktop_app.core.fit.result import (
    FitResult,
    GpuShare,
    KvLayout,
    LayerPlacement,
    MemoryBreakdown,
    PlanAssumptions,
    RamShare,
    Verdict,
)
from desktop_app.core.hardware import GPU, HardwareInfo
from desktop_app.core.models.gguf_meta import GGUFInfo, TensorInfo
from desktop_app.core.units import human_bytes

MIB = 1024**2
GIB = 1024**3


# KV cache types llama.cpp accepts for K and V (quantised V needs flash attention, which Hearth enables).
KV_TYPES = ("f16", "bf16", "f32", "q8_0", "q5_1", "q5_0", "q4_1", "q4_0", "iq4_nl")

# llama-cpp-python's defaults, which Hearth's engine keeps: n_batch = min(n_ctx, 512), n_ubatch = 512.
N_BATCH = 512
N_UBATCH = 512
CTX_PAD = 256  # llama_context pads n_ctx to a multiple of 256 (and so the SWA cache)
# llama-cpp-python does not set swa_full, so llama.cpp's default (true: full-size SWA cache) applies.
ENGINE_SWA_FULL = True
ENGINE_FLASH_ATTN = True

# Measured with llama-cpp-python 0.3.36 on Linux x86-64: what a process holds besides weights, KV
# cache and compute buffer, fitted on the two test models and five synthetic ones (vocabularies of
# 20k-262k tokens, 0-200k BPE merges, 38-272 tensors; 512 and 8192 tokens of context), within 3 MB:
# a fixed part (llama.cpp's context, its thread pool, Hearth's chat template), llama.cpp's graph
# and scheduler metadata per tensor, its token tables (and the samplers' per-token arrays) per
# vocabulary entry and BPE merge, and the KV cache's cell bookkeeping per cell.
RUNTIME_FIXED_BYTES = 7_600_000
RUNTIME_PER_TENSOR = 23_000
RUNTIME_PER_VOCAB_TOKEN = 172
RUNTIME_PER_MERGE = 112
RUNTIME_PER_KV_CELL = 250
# Not measurable on this project's machines (no GPU): published figures for a CUDA context with
# cuBLAS (VRAM), and the host memory the CUDA runtime maps into the process.
CUDA_RUNTIME_VRAM = 400 * MIB
CUDA_RUNTIME_RAM = 256 * MIB
OTHER_GPU_RUNTIME_VRAM = 256 * MIB  # Vulkan, ROCm, SYCL...
# Memory left free for the OS and the rest of the app.
RAM_MARGIN_MIN, RAM_MARGIN_SHARE = 512 * MIB, 0.05
VRAM_MARGIN_MIN, VRAM_MARGIN_SHARE = 256 * MIB, 0.05

# Sliding-window attention in llama.cpp: arch -> (pattern, dense_first, always_swa, default window).
# Pattern n: layer il is SWA when il % n < n - 1 (dense_first: when il % n != 0). "always" means the
# arch uses SWA even without a sliding_window key; otherwise only when the key is > 0.
_SWA_ARCHS: dict[str, tuple[int, bool, bool, int]] = {
    "gemma2": (2, False, True, 4096),
    "gemma3": (6, False, False, 0),
    "gemma3n": (5, False, True, 0),
    "gemma-embedding": (6, False, True, 0),
    "cohere2": (4, False, True, 0),
    "cohere2moe": (4, True, True, 0),
    "exaone4": (4, False, False, 4096),
    "exaone-moe": (4, False, True, 128),
    "gpt-oss": (2, False, True, 0),
    "llama4": (4, False, False, 8192),
    "olmo2": (4, False, False, 0),
    "afmoe": (4, False, False, 0),
    "mellum": (4, False, False, 0),
    "plamo3": (8, False, False, 0),
    "smallthinker": (4, True, False, 4096),
    "laguna": (4, True, False, 0),
    "muse-glimmer": (4, False, True, 0),
}
_BLOCK = re.compile(r"^blk\.(\d+)\.")


@dataclass(frozen=True)
class _Shape:
    """What the plan needs from a GGUF header."""

    arch: str
    n_layer: int
    n_vocab: int
    n_embd: int
    n_ff: int  # widest feed-forward activation per token (MoE: the experts used)
    n_head: int
    n_q: int  # query width: heads x key length
    k_row: list[int]  # per layer: K values per cell (0: no KV cache, e.g. a recurrent layer)
    v_row: list[int]
    swa: list[bool]
    n_swa: int
    layer_tensors: list[list[TensorInfo]]
    input_tensors: list[TensorInfo]  # token_embd & co: always on the CPU
    output_tensors: list[TensorInfo]  # output, output_norm & co: with the output layer
    tied_output: TensorInfo | None  # token_embd, when the output layer reuses it
    single_file: bool  # tensor offsets describe one file (not a merged split model)
    n_merges: int
    n_tensors: int
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Options:
    kv_type: str
    swa_full: bool
    flash_attn: bool
    cpu_features: frozenset[str]


@dataclass
class _Usage:
    weights: int = 0
    weights_repacked: int = 0
    kv: int = 0
    compute: int = 0
    compute_reserved: int = 0
    runtime: int = 0
    # Mapped file pages counted in ``weights`` that are read once and never again (tensors that
    # were repacked or sent to the GPU but lie inside the mapped range): resident, yet clean
    # and reclaimable, so the OS drops them first when memory runs short. Not part of the fit.
    reclaimable: int = 0

    @property
    def total(self) -> int:
        return self.weights + self.weights_repacked + self.kv + self.compute + self.runtime

    @property
    def required(self) -> int:
        """What must stay resident: the total less the reclaimable file pages."""
        return self.total - self.reclaimable

    def to_dict(self) -> dict[str, int]:
        data = asdict(self)
        data["total"] = self.total
        data["required"] = self.required
        return data


@dataclass(frozen=True)
class _Budget:
    ram: int  # RAM the model may use (available now minus the margin)
    vram: int  # GPU memory the model may use (free minus runtime and margin); 0 without a usable GPU
    gpu: GPU | None
    gpu_runtime_vram: int
    gpu_runtime_ram: int
    unified: bool  # Apple Silicon: GPU memory is RAM


# -- the model's shape ----------------------------------------------------------------------------


def _per_layer(value: Any, n_layer: int, default: int) -> list[int]:
    if isinstance(value, list) and value:
        items = [int(v) for v in value]
        return (items + [items[-1]] * n_layer)[:n_layer]
    if value is None or isinstance(value, list):
        return [default] * n_layer
    return [int(value)] * n_layer


def _swa_layers(info: GGUFInfo, n_layer: int) -> tuple[list[bool], int, str | None]:
    """Which layers use sliding-window attention, the window, and a note when unsure."""
    arch = info.architecture
    window = int(info.arch_get("attention.sliding_window", 0) or 0)
    pattern = info.arch_get("attention.sliding_window_pattern")
    known = _SWA_ARCHS.get(arch)
    if known is None:
        if isinstance(pattern, list) and window > 0:
            flags = [bool(v) for v in pattern][:n_layer]
            return flags + [False] * (n_layer - len(flags)), window, None
        note = None
        if window > 0:
            note = (
                f"This {arch} model declares a sliding window of {window:,} tokens; Hearth plans its KV cache "
                "as full attention, which may overstate it."
            )
        return [False] * n_layer, 0, note
    n_pattern, dense_first, always, default_window = known
    if not always and window <= 0:
        return [False] * n_layer, 0, None
    window = window or default_window
    if isinstance(pattern, list):
        flags = [bool(v) for v in pattern][:n_layer]
        return flags + [False] * (n_layer - len(flags)), window, None
    if isinstance(pattern, int) and not isinstance(pattern, bool):
        n_pattern = pattern
    if dense_first:
        flags = [n_pattern == 0 or il % n_pattern != 0 for il in range(n_layer)]
    else:
        flags = [n_pattern == 0 or il % n_pattern < n_pattern - 1 for il in range(n_layer)]
    return flags, window, None


def _shape(info: GGUFInfo) -> _Shape:
    n_layer = info.n_layers
    if n_layer <= 0 or not info.tensors:
        raise HearthError(
            f"“{info.name or 'This model'}” has no layer count or tensor table in its header, so its memory "
            "cannot be planned.",
            "It may not be a language model Hearth can run.",
        )
    notes: list[str] = []
    n_embd = info.embedding_length
    heads = _per_layer(info.arch_get("attention.head_count"), n_layer, 0)
    n_head = max(heads) if heads else 0
    kv_value = info.arch_get("attention.head_count_kv")
    heads_kv = _per_layer(kv_value, n_layer, 0) if kv_value is not None else list(heads)
    head_dim = n_embd // n_head if n_head else 0
    key_len = int(info.arch_get("attention.key_length", 0) or 0) or head_dim
    value_len = int(info.arch_get("attention.value_length", 0) or 0) or head_dim
    k_row = [h * key_len for h in heads_kv]
    v_row = [h * value_len for h in heads_kv]
    kv_lora = int(info.arch_get("attention.kv_lora_rank", 0) or 0)
    if kv_lora:  # multi-head latent attention (DeepSeek): one compressed K row per cell, no V
        rope_dim = int(info.arch_get("rope.dimension_count", 0) or 0)
        k_row = [kv_lora + rope_dim] * n_layer
        v_row = [0] * n_layer
    if info.arch_get("ssm.state_size") is not None or info.architecture.startswith("rwkv"):
        notes.append("Recurrent layers keep a small fixed state instead of a KV cache; it is not counted.")
        if kv_value is None or not isinstance(kv_value, list):
            k_row = [0] * n_layer if kv_value is None else k_row
            v_row = [0] * n_layer if kv_value is None else v_row
    ff = _per_layer(info.arch_get("feed_forward_length"), n_layer, 0)
    n_ff = max(ff) if ff else 0
    expert_ff = int(info.arch_get("expert_feed_forward_length", 0) or 0)
    experts_used = int(info.arch_get("expert_used_count", 0) or 0)
    if expert_ff and experts_used:
        shared = int(info.arch_get("expert_shared_count", 0) or 0)
        n_ff = max(n_ff, expert_ff * (experts_used + shared))
    swa, n_swa, swa_note = _swa_layers(info, n_layer)
    if swa_note:
        notes.append(swa_note)

    layer_tensors: list[list[TensorInfo]] = [[] for _ in range(n_layer)]
    input_tensors: list[TensorInfo] = []
    output_tensors: list[TensorInfo] = []
    by_name = {t.name: t for t in info.tensors}
    for t in info.tensors:
        m = _BLOCK.match(t.name)
        if m and int(m.group(1)) < n_layer:
            layer_tensors[int(m.group(1))].append(t)
        elif t.name.startswith(("token_embd", "per_layer_token_embd", "token_types", "position_embd")):
            input_tensors.append(t)
        else:  # output, output_norm, rope_freqs, extra blocks (MTP): with the output layer
            output_tensors.append(t)
    embd = by_name.get("token_embd.weight")
    tied = embd if "output.weight" not in by_name else None
    n_vocab = embd.shape[1] if embd is not None and len(embd.shape) > 1 else 0
    n_vocab = n_vocab or len(info.get("tokenizer.ggml.tokens") or []) or int(info.arch_get("vocab_size", 0) or 0)
    merges = info.get("tokenizer.ggml.merges")
    spans = sorted((t.offset, t.offset + t.n_bytes) for t in info.tensors)
    single_file = all(spans[i][1] <= spans[i + 1][0] for i in range(len(spans) - 1))
    return _Shape(
        arch=info.architecture,
        n_layer=n_layer,
        n_vocab=n_vocab,
        n_embd=n_embd,
        n_ff=n_ff,
        n_head=n_head,
        n_q=n_head * key_len,
        k_row=k_row,
        v_row=v_row,
        swa=swa,
        n_swa=n_swa,
        layer_tensors=layer_tensors,
        input_tensors=input_tensors,
        output_tensors=output_tensors,
        tied_output=tied,
        single_file=single_file,
        n_merges=len(merges) if merges is not None else 0,
        n_tensors=len(info.tensors),
        notes=tuple(notes),
    )


# -- sizes ------------------------------------------------------------------------------------------


def _kv_type_size(kv_type: str) -> tuple[int, int]:
    """(values per block, bytes per block) of a KV cache type, from llama.cpp's own table."""
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    key = kv_type.strip().lower()
    if key not in KV_TYPES:
        raise HearthError(f"Unknown KV cache type “{kv_type}”.", f"Use one of: {', '.join(KV_TYPES)}.")
    block, size = GGML_QUANT_SIZES[GGMLQuantizationType[key.upper()]]
    return int(block), int(size)


def _row_bytes(n_values: int, kv_type: str) -> int:
    block, size = _kv_type_size(kv_type)
    return math.ceil(n_values / block) * size


def _pad(n: int, to: int) -> int:
    return (n + to - 1) // to * to


def kv_cells(info: GGUFInfo, n_ctx: int, swa_full: bool = ENGINE_SWA_FULL) -> tuple[int, int]:
    """(cells of the full-attention cache, cells of the sliding-window cache) at ``n_ctx``."""
    return _cells(_shape(info), _pad(max(1, n_ctx), CTX_PAD), swa_full)


def _cells(shape: _Shape, n_ctx_pad: int, swa_full: bool) -> tuple[int, int]:
    if not shape.n_swa or swa_full or not any(shape.swa):
        return n_ctx_pad, n_ctx_pad
    n_ubatch = min(N_UBATCH, n_ctx_pad)
    return n_ctx_pad, _pad(min(n_ctx_pad, shape.n_swa + n_ubatch), CTX_PAD)


def _kv_per_cell(shape: _Shape, kv_type: str) -> list[int]:
    """Bytes of K plus V per cache cell, per layer."""
    return [
        (_row_bytes(k, kv_type) if k else 0) + (_row_bytes(v, kv_type) if v else 0)
        for k, v in zip(shape.k_row, shape.v_row, strict=True)
    ]


def _repacks(t: TensorInfo, features: frozenset[str]) -> bool:
    """Whether llama.cpp's CPU backend keeps a second, repacked copy of this weight
    (ggml-cpu/repack.cpp: ggml_repack_get_optimal_repack_type)."""
    if len(t.shape) < 2 or not t.name.endswith(".weight"):
        return False
    # Features come from llama.cpp's system info ("AVX2", "REPACK", "DOTPROD"...) or, before
    # llama_cpp is loaded, from the OS (hardware._cpu_features: no REPACK marker, and only "NEON"
    # on ARM). Repacking is on in every default build; ARM laptops (Apple M1 on) have dot products.
    if any(f in features for f in ("LLAMAFILE", "OPENMP", "BMI2")) and "REPACK" not in features:
        return False  # llama.cpp's own report, from a build without the repack buffer type
    rows = t.shape[1]
    name = t.type_name
    x86 = "AVX2" in features
    neon = "NEON" in features
    dot = neon and ("DOTPROD" in features or "ARM_FMA" not in features)
    i8mm = neon and "MATMUL_INT8" in features
    if name in ("Q4_0", "IQ4_NL", "MXFP4"):
        return (x86 and rows % 8 == 0) or (dot and rows % 4 == 0)
    if name == "Q4_K":
        return (x86 or dot) and rows % 8 == 0
    if name == "Q2_K":
        return ("AVX512F" in features or "AVX512" in features) and rows % 8 == 0
    if name in ("Q5_K", "Q6_K"):
        return dot and rows % 8 == 0
    if name == "Q8_0":
        return i8mm and rows % 4 == 0
    return False


def _activation_per_token(shape: _Shape) -> int:
    """Bytes of intermediate results per token of a batch: the widest moment of a layer (input,
    normalised input, gate/up/activated FFN, Q, K, V in f32) plus the 8-bit copies the CPU makes of
    matmul inputs. Checked against llama.cpp's CPU compute buffer for both test models."""
    kv_width = max(shape.k_row) if shape.k_row else 0
    return 4 * (2 * shape.n_embd + 3 * shape.n_ff + shape.n_q + 2 * kv_width) + shape.n_embd + shape.n_ff


# -- the plan ----------------------------------------------------------------------------------------


@dataclass
class _Layout:
    cpu: _Usage
    gpu: _Usage
    gpu_layers: int


@dataclass(frozen=True)
class _Group:
    """Tensors that move together (the input layer, one block, the output layer), summed once."""

    n_bytes: int
    repacked: int  # bytes the CPU backend would repack (when this group runs on the CPU)
    first: int  # file range of the group's tensors
    last: int
    largest: int  # the largest single tensor

    @classmethod
    def of(cls, tensors: list[TensorInfo], features: frozenset[str], repackable: bool = True) -> _Group:
        real = [t for t in tensors if t.n_bytes]
        if not real:
            return cls(0, 0, -1, -1, 0)
        return cls(
            n_bytes=sum(t.n_bytes for t in real),
            repacked=sum(t.n_bytes for t in real if repackable and _repacks(t, features)),
            first=min(t.offset for t in real),
            last=max(t.offset + t.n_bytes for t in real),
            largest=max(t.n_bytes for t in real),
        )


@dataclass(frozen=True)
class _Prepared:
    """The shape plus per-group sums for one set of CPU features: what every layout needs."""

    shape: _Shape
    opts: _Options
    input: _Group
    layers: list[_Group]
    output: _Group
    tied_bytes: int  # token_embd's size when the output layer reuses it, else 0
    tied_repacks: bool
    kv_per_cell: list[int]  # per layer, in the plan's KV type

    @classmethod
    def of(cls, shape: _Shape, opts: _Options) -> _Prepared:
        features = opts.cpu_features
        tied = shape.tied_output
        return cls(
            shape=shape,
            opts=opts,
            input=_Group.of(shape.input_tensors, features, repackable=False),  # GET_ROWS: never repacked
            layers=[_Group.of(tensors, features) for tensors in shape.layer_tensors],
            output=_Group.of(shape.output_tensors, features),
            tied_bytes=tied.n_bytes if tied is not None else 0,
            tied_repacks=tied is not None and _repacks(tied, features),
            kv_per_cell=_kv_per_cell(shape, opts.kv_type),
        )


def _layout(model: _Prepared, n_ctx_pad: int, n_batch: int, gpu_layers: int, budget: _Budget) -> _Layout:
    """Memory per device when ``gpu_layers`` of the n_layer + 1 layers run on the GPU."""
    shape, opts = model.shape, model.opts
    n_layer = shape.n_layer
    gpu_layers = max(0, min(gpu_layers, n_layer + 1))
    first_gpu = n_layer + 1 - gpu_layers  # blocks >= first_gpu run on the GPU; the output when gpu_layers >= 1
    output_on_gpu = gpu_layers >= 1
    cpu, gpu = _Usage(), _Usage()

    # Weights. On the CPU, llama.cpp keeps the mapped range from the first to the last tensor the
    # CPU uses; tensors inside it that are repacked or sent to the GPU stay resident but unused.
    cpu_groups = [model.input, *model.layers[:first_gpu]]
    gpu_groups = list(model.layers[first_gpu:])
    (gpu_groups if output_on_gpu else cpu_groups).append(model.output)
    cpu_groups = [g for g in cpu_groups if g.n_bytes]
    cpu.weights_repacked = sum(g.repacked for g in cpu_groups)
    used_from_map = sum(g.n_bytes for g in cpu_groups) - cpu.weights_repacked
    if shape.single_file and cpu_groups:
        cpu.weights = max(g.last for g in cpu_groups) - min(g.first for g in cpu_groups)
    else:
        cpu.weights = sum(g.n_bytes for g in cpu_groups)
    cpu.reclaimable = max(0, cpu.weights - used_from_map)
    gpu.weights = sum(g.n_bytes for g in gpu_groups)
    if model.tied_bytes:
        if output_on_gpu:
            gpu.weights += model.tied_bytes  # the output layer's own copy of token_embd
        elif model.tied_repacks:
            cpu.weights_repacked += model.tied_bytes

    # KV cache: each layer's cache lives with the layer.
    full, swa_cells = _cells(shape, n_ctx_pad, opts.swa_full)
    layer_kv = [per_cell * (swa_cells if shape.swa[il] else full) for il, per_cell in enumerate(model.kv_per_cell)]
    cpu.kv = sum(layer_kv[:first_gpu] if first_gpu <= n_layer else layer_kv)
    gpu.kv = sum(layer_kv) - cpu.kv

    # Compute buffers: reserved for a full batch with logits for every token of it.
    n_ubatch = min(N_UBATCH, n_batch)
    masks = full * n_ubatch * 2 + (swa_cells * n_ubatch * 2 if any(shape.swa) and shape.n_swa else 0)
    activations = n_ubatch * _activation_per_token(shape)
    if not opts.flash_attn:  # without flash attention the full attention scores are materialised
        activations += full * n_ubatch * max(1, shape.n_head) * 4
    # The graph allocator reuses memory: the logits of a whole batch and the layers' activations are
    # never alive together, so the reserve is the larger of the two, plus the attention masks
    # (llama.cpp logs 258.5 MiB for Llama 3 8B at 8192 tokens: 250.5 MiB of logits + 8 MiB of mask).
    logits_all = shape.n_vocab * 4 * n_batch
    reserved = max(logits_all, activations) + masks
    cells = full + (swa_cells if any(shape.swa) and shape.n_swa else 0)
    runtime = (
        RUNTIME_FIXED_BYTES
        + RUNTIME_PER_TENSOR * shape.n_tensors
        + RUNTIME_PER_VOCAB_TOKEN * shape.n_vocab
        + RUNTIME_PER_MERGE * shape.n_merges
        + RUNTIME_PER_KV_CELL * cells
    )
    cpu.runtime = runtime
    if gpu_layers == 0:
        cpu.compute_reserved = reserved
        cpu.compute = activations + shape.n_vocab * 4  # what a batch touches: one row of logits
    else:
        gpu.compute_reserved = gpu.compute = reserved
        if gpu_layers < n_layer + 1:  # CPU blocks still compute there; their weights may be copied over
            cpu_layer_max = max((g.largest for g in cpu_groups if g is not model.input), default=0)
            gpu.compute += cpu_layer_max
            gpu.compute_reserved = gpu.compute
            cpu.compute = cpu.compute_reserved = activations + n_ubatch * shape.n_embd * 4
        else:
            cpu.compute = cpu.compute_reserved = n_ubatch * shape.n_embd * 4 * 2 + masks
        gpu.runtime = budget.gpu_runtime_vram
        cpu.runtime += budget.gpu_runtime_ram
    return _Layout(cpu, gpu, gpu_layers)


def _budget(hw: HardwareInfo) -> tuple[_Budget, list[str]]:
    notes: list[str] = []
    ram = hw.ram_available - max(RAM_MARGIN_MIN, int(hw.ram_total * RAM_MARGIN_SHARE))
    gpu: GPU | None = None
    usable = [g for g in hw.gpus if _backend_drives(hw.backend, g)] if hw.gpu_offload else []
    if hw.gpus and not usable and not hw.notes:
        notes.append(
            f"This computer has a GPU ({hw.gpus[0].name}), but the installed llama.cpp ({hw.backend}) cannot use "
            "it: the plan is for the CPU only."
        )
    if usable:
        gpu = max(usable, key=lambda g: g.vram_free)
        if len(usable) > 1:
            notes.append(
                f"Planned for the GPU with the most free memory ({gpu.name}); llama.cpp can also "
                f"split layers across all {len(usable)} GPUs."
            )
    if gpu is None:
        return _Budget(ram, 0, None, 0, 0, False), notes
    if gpu.unified_memory:
        runtime_vram, runtime_ram = 0, 0
        vram = min(gpu.vram_free, ram)
    else:
        runtime_vram = CUDA_RUNTIME_VRAM if hw.backend == "CUDA" else OTHER_GPU_RUNTIME_VRAM
        runtime_ram = CUDA_RUNTIME_RAM if hw.backend == "CUDA" else 0
        vram = gpu.vram_free - max(VRAM_MARGIN_MIN, int(gpu.vram_total * VRAM_MARGIN_SHARE))
    return _Budget(ram, vram, gpu, runtime_vram, runtime_ram, gpu.unified_memory), notes


def _backend_drives(backend: str, gpu: GPU) -> bool:
    if backend == "Vulkan":
        return True
    return (gpu.vendor == "nvidia" and backend == "CUDA") or (gpu.vendor == "apple" and backend == "Metal")


def _fits(layout: _Layout, budget: _Budget) -> bool:
    if budget.unified:  # one pool: the GPU share counts against RAM too
        return layout.gpu.total <= budget.vram and layout.cpu.required + layout.gpu.total <= budget.ram
    return layout.cpu.required <= budget.ram and (layout.gpu_layers == 0 or layout.gpu.total <= budget.vram)


def _best(model: _Prepared, n_ctx_pad: int, n_batch: int, budget: _Budget) -> _Layout | None:
    """The layout with the most GPU layers that fits; None when nothing fits."""
    total = model.shape.n_layer + 1
    if budget.gpu is not None and budget.vram > 0:
        full = _layout(model, n_ctx_pad, n_batch, total, budget)
        if _fits(full, budget):
            return full
        # VRAM use grows with the layer count: the largest k whose GPU share fits, then check RAM.
        lo, hi = 0, total - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            trial = _layout(model, n_ctx_pad, n_batch, mid, budget)
            vram_ok = trial.gpu.total <= budget.vram
            if budget.unified:
                vram_ok = vram_ok and trial.cpu.required + trial.gpu.total <= budget.ram
            if vram_ok:
                lo = mid
            else:
                hi = mid - 1
        if lo >= 1:
            partial = _layout(model, n_ctx_pad, n_batch, lo, budget)
            if _fits(partial, budget):
                return partial
    cpu_only = _layout(model, n_ctx_pad, n_batch, 0, budget)
    return cpu_only if _fits(cpu_only, budget) else None


def _largest_ctx(limit: int, ok: Any) -> int:
    """The largest multiple of 256 up to ``limit`` for which ``ok(n_ctx)`` holds (monotonic); 0 if none."""
    steps = list(range(CTX_PAD, _pad(limit, CTX_PAD) + 1, CTX_PAD))
    lo, hi = 0, len(steps)
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(steps[mid]):
            lo = mid + 1
        else:
            hi = mid
    return steps[lo - 1] if lo else 0


def plan(
    info: GGUFInfo,
    hw: HardwareInfo,
    n_ctx: int,
    kv_type: str = "f16",
    *,
    swa_full: bool = ENGINE_SWA_FULL,
    flash_attn: bool = ENGINE_FLASH_ATTN,
) -> FitResult:
    """The memory plan for ``info`` at ``n_ctx`` tokens of context on ``hw``.

    Works from a header alone (local or read remotely with gguf_meta.read_remote), so it
    answers before anything is downloaded. ``gpu_layers`` in the result can be passed to
    llama.cpp as ``n_gpu_layers``. The defaults match how Hearth's engine loads models.
    Raises HearthError for an unknown KV type or a header without a layer table.
    """
    shape = _shape(info)
    opts = _Options(kv_type.strip().lower(), swa_full, flash_attn, frozenset(hw.cpu_features))
    _kv_type_size(opts.kv_type)  # validates
    notes: list[str] = list(hw.notes)
    budget, budget_notes = _budget(hw)
    notes.extend(budget_notes)
    notes.extend(shape.notes)
    trained = info.context_length
    requested = max(1, int(n_ctx))
    if trained and requested > trained:
        notes.append(f"Context reduced to {trained:,}, the most this model was trained for.")
        requested = trained
    n_ctx_pad = _pad(requested, CTX_PAD)
    n_batch = min(requested, N_BATCH)

    model = _Prepared.of(shape, opts)
    chosen = _best(model, n_ctx_pad, n_batch, budget)
    layout = chosen or _layout(model, n_ctx_pad, n_batch, 0, budget)
    if chosen is None:
        verdict = Verdict.TOO_LARGE
    elif chosen.gpu_layers == shape.n_layer + 1:
        verdict = Verdict.FULL_GPU
    elif chosen.gpu_layers > 0:
        verdict = Verdict.PARTIAL_GPU
    else:
        verdict = Verdict.CPU

    limit = trained or 131072

    def fits_at(ctx: int) -> bool:
        return _best(model, ctx, min(ctx, N_BATCH), budget) is not None

    def full_gpu_at(ctx: int) -> bool:
        best = _best(model, ctx, min(ctx, N_BATCH), budget)
        return best is not None and best.gpu_layers == shape.n_layer + 1

    max_ctx = _largest_ctx(limit, fits_at)
    max_ctx_gpu = _largest_ctx(limit, full_gpu_at) if budget.gpu is not None and budget.vram > 0 else 0
    if trained:
        max_ctx, max_ctx_gpu = min(max_ctx, trained), min(max_ctx_gpu, trained)

    cpu, gpu = layout.cpu, layout.gpu
    full_cells, swa_cells = _cells(shape, n_ctx_pad, swa_full)
    n_swa_layers = sum(1 for il in range(shape.n_layer) if shape.swa[il] and shape.n_swa)
    per_token = sum(model.kv_per_cell)
    breakdown = MemoryBreakdown(
        cpu=RamShare(**cpu.to_dict(), budget=budget.ram, available=hw.ram_available, total_ram=hw.ram_total),
        layers=LayerPlacement(
            blocks=shape.n_layer,
            offloadable=shape.n_layer + 1,
            gpu=layout.gpu_layers,
            first_gpu_block=shape.n_layer + 1 - layout.gpu_layers if layout.gpu_layers else None,
            token_embd_on="cpu",
            output_on="gpu" if layout.gpu_layers else "cpu",
            tied_output=shape.tied_output is not None,
        ),
        kv=KvLayout(
            type=opts.kv_type,
            cells=full_cells,
            swa_cells=swa_cells if n_swa_layers else None,
            swa_layers=n_swa_layers,
            sliding_window=shape.n_swa or None,
            swa_full=swa_full,
            bytes_per_token=per_token,
        ),
        assumptions=PlanAssumptions(
            n_batch=n_batch,
            n_ubatch=min(N_UBATCH, n_batch),
            flash_attn=flash_attn,
            mmap=True,
            cpu_features=sorted(opts.cpu_features),
        ),
        gpu=None
        if budget.gpu is None
        else GpuShare(
            **gpu.to_dict(),
            budget=budget.vram,
            free=budget.gpu.vram_free,
            total_vram=budget.gpu.vram_total,
            name=budget.gpu.name,
            unified_memory=budget.unified,
        ),
    )
    notes.extend(_explain(shape, layout, verdict, budget, opts, requested, n_swa_layers, swa_full))
    ram = cpu.total
    vram = gpu.total if layout.gpu_layers else 0
    return FitResult(
        verdict=verdict,
        gpu_layers=layout.gpu_layers if verdict is not Verdict.TOO_LARGE else 0,
        n_layers=shape.n_layer + 1,
        ram_bytes=ram,
        ram_required=cpu.required,
        vram_bytes=vram,
        weights_bytes=cpu.weights + cpu.weights_repacked + (gpu.weights if layout.gpu_layers else 0),
        kv_bytes=cpu.kv + gpu.kv,
        compute_bytes=cpu.compute + (gpu.compute if layout.gpu_layers else 0),
        max_ctx=max_ctx,
        max_ctx_full_gpu=max_ctx_gpu,
        n_ctx=n_ctx_pad,
        kv_type=opts.kv_type,
        breakdown=breakdown,
        notes=notes,
    )


def _explain(
    shape: _Shape,
    layout: _Layout,
    verdict: Verdict,
    budget: _Budget,
    opts: _Options,
    n_ctx: int,
    n_swa_layers: int,
    swa_full: bool,
) -> list[str]:
    """The reasons, in plain words."""
    lines = []
    cpu, gpu = layout.cpu, layout.gpu
    if cpu.compute_reserved > cpu.compute * 2 and layout.gpu_layers == 0:
        lines.append(
            f"llama.cpp reserves {human_bytes(cpu.compute_reserved)} as working space (room for the scores of a whole "
            "batch of words), "
            f"but a chat only touches about {human_bytes(cpu.compute)} of it on the CPU."
        )
    if cpu.weights_repacked:
        lines.append(
            f"{human_bytes(cpu.weights_repacked)} of weights are kept a second time, rearranged for faster CPU maths."
        )
    if cpu.reclaimable > cpu.total // 20:
        lines.append(
            f"{human_bytes(cpu.reclaimable)} of the mapped file is read once while loading and not used again; "
            "it shows in the memory use, but the system can drop it when memory runs short."
        )
    if n_swa_layers:
        if swa_full:
            lines.append(
                f"{n_swa_layers} of {shape.n_layer} layers only look at the last {shape.n_swa:,} tokens, but "
                "llama.cpp keeps a full-size cache for them as loaded now."
            )
        else:
            lines.append(
                f"{n_swa_layers} of {shape.n_layer} layers only look at the last {shape.n_swa:,} tokens, so their "
                "cache stays small."
            )
    if verdict is Verdict.TOO_LARGE:
        need = cpu.required if not layout.gpu_layers else cpu.required + gpu.total
        lines.append(
            f"It needs about {human_bytes(need)} at {n_ctx:,} tokens; "
            f"{human_bytes(max(0, budget.ram))} of RAM can be used now."
        )
    elif verdict is Verdict.PARTIAL_GPU:
        lines.append(
            f"{layout.gpu_layers} of {shape.n_layer + 1} layers fit in the GPU's {human_bytes(max(0, budget.vram))}; "
            "the rest run on the CPU, which is slower."
        )
    elif verdict is Verdict.CPU and budget.gpu is not None:
        lines.append(
            f"Not even one layer fits in the GPU's {human_bytes(max(0, budget.vram))} next to the compute buffer."
        )
    return lines


# -- helpers for the engine and the UI ----------------------------------------------------------


def recommended_gpu_layers(path: str | Path, n_ctx: int, hw: HardwareInfo | None = None, kv_type: str = "f16") -> int:
    """n_gpu_layers for loading ``path`` at ``n_ctx``: every layer when it all fits, as many as fit
    otherwise, 0 on a CPU build or when nothing fits (llama.cpp then runs it on the CPU, from disk)."""
    from desktop_app.core import hardware
    from desktop_app.core.models import library

    hw = hw or hardware.detect()
    if not hw.gpu_offload:
        return 0
    result = plan(library.read_header(Path(path)), hw, n_ctx, kv_type)
    return result.gpu_layers

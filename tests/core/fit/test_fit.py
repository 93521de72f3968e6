"""The memory plan (core/fit/plan.py) on the real test models' headers and on described machines.

No GPU exists on the machines these tests run on, so GPUs are *described*: a HardwareInfo
with an NVIDIA (or Apple) GPU of a given size and a CUDA (or Metal) build, exactly the
record hardware.detect() returns on such a machine. The plan is pure arithmetic on that
record and the header, so nothing is mocked away. Expected sizes are computed here from
the tensor table and llama.cpp's rules, independently of fit/plan.py's code paths.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

from desktop_app.core.errors import HearthError
from desktop_app.core.fit import plan as fit_plan
from desktop_app.core.hardware import GPU, HardwareInfo
from desktop_app.core.models import gguf_meta
from desktop_app.core.models.gguf_meta import GGUFInfo, TensorInfo

GIB = 1024**3
MIB = 1024**2
AVX2 = ["SSE3", "SSSE3", "AVX", "AVX2", "F16C", "FMA", "BMI2", "LLAMAFILE", "OPENMP", "REPACK"]
CUDA_NOTE = (
    "This computer has an NVIDIA GPU, but the installed llama.cpp was built without CUDA: "
    "models run on the CPU only. Reinstall llama-cpp-python with CMAKE_ARGS=-DGGML_CUDA=on."
)


def machine(
    ram_gib: float = 16,
    vram_gib: float | None = None,
    backend: str = "CUDA",
    vendor: str = "nvidia",
    features: list[str] | None = None,
    unified: bool = False,
    offload: bool | None = None,
    notes: list[str] | None = None,
) -> HardwareInfo:
    """A machine as hardware.detect() describes it; ``vram_gib`` None means no GPU."""
    gpus = []
    if vram_gib is not None:
        vram = int(vram_gib * GIB)
        gpus.append(GPU(f"Described {vendor} GPU", vendor, vram, vram, unified_memory=unified))
    ram = int(ram_gib * GIB)
    return HardwareInfo(
        os="Linux",
        machine="x86_64",
        ram_total=ram,
        ram_available=ram,
        cpu_physical_cores=8,
        cpu_logical_cores=16,
        cpu_features=features if features is not None else AVX2,
        backend=backend if vram_gib is not None else "CPU",
        gpu_offload=(vram_gib is not None) if offload is None else offload,
        llama_cpp_version="0.3.36",
        gpus=gpus,
        notes=notes or [],
    )


@pytest.fixture(scope="module")
def smollm(smollm2_path: Path) -> GGUFInfo:
    return gguf_meta.read_local(smollm2_path)


@pytest.fixture(scope="module")
def gemma(gemma_path: Path) -> GGUFInfo:
    return gguf_meta.read_local(gemma_path)


def kv_row_bytes(values: int, kv_type: str) -> int:
    block, size = GGML_QUANT_SIZES[GGMLQuantizationType[kv_type.upper()]]
    return values // block * size


def data_bytes(info: GGUFInfo) -> int:
    return max(t.offset + t.n_bytes for t in info.tensors) - min(t.offset for t in info.tensors)


# -- CPU plans on the real headers --------------------------------------------------------------


@pytest.mark.parametrize("n_ctx", [512, 2048, 8192])
def test_smollm2_cpu_plan_from_the_tensor_table(smollm: GGUFInfo, n_ctx: int) -> None:
    result = fit_plan.plan(smollm, machine(vram_gib=None), n_ctx)
    assert result.verdict == "cpu"
    assert result.gpu_layers == 0
    assert result.n_layers == 31  # 30 blocks + the output layer, as llama.cpp counts
    # Q4_1 weights are not repacked on x86: the mapped tensor data is all there is.
    assert result.weights_bytes == data_bytes(smollm)
    # 30 layers x (K + V) x 3 KV heads x 64 values x n_ctx cells x 2 bytes (f16)
    assert result.kv_bytes == 30 * 2 * 3 * 64 * n_ctx * 2
    cpu = result.breakdown.cpu
    assert (
        result.ram_bytes
        == cpu.total
        == sum(getattr(cpu, k) for k in ("weights", "weights_repacked", "kv", "compute", "runtime"))
    )
    # llama.cpp reserves logits for a whole batch (49152 x 512 floats) but a chat touches one row.
    assert cpu.compute_reserved > 49152 * 512 * 4 > cpu.compute
    assert result.vram_bytes == 0
    assert result.max_ctx == 8192  # the trained context; 16 GiB holds it easily
    assert result.max_ctx_full_gpu == 0


def test_gemma_cpu_plan_counts_repacked_q4_k(gemma: GGUFInfo) -> None:
    q4k = sum(t.n_bytes for t in gemma.tensors if t.type_name == "Q4_K")
    assert q4k > 0
    on_x86 = fit_plan.plan(gemma, machine(vram_gib=None), 2048)
    assert on_x86.breakdown.cpu.weights_repacked == q4k  # AVX2 repacks every Q4_K matmul weight
    # The same from the OS's flags, before llama_cpp is loaded (hardware._cpu_features)
    from_os = fit_plan.plan(gemma, machine(vram_gib=None, features=["SSSE3", "AVX", "AVX2", "F16C", "FMA"]), 2048)
    assert from_os.breakdown.cpu.weights_repacked == q4k
    older_cpu = fit_plan.plan(gemma, machine(vram_gib=None, features=["SSE3", "SSSE3", "AVX"]), 2048)
    assert older_cpu.breakdown.cpu.weights_repacked == 0  # no AVX2: no Q4_K repacking
    no_repack_build = [f for f in AVX2 if f != "REPACK"]  # llama.cpp's report of a build without it
    no_repack = fit_plan.plan(gemma, machine(vram_gib=None, features=no_repack_build), 2048)
    assert no_repack.breakdown.cpu.weights_repacked == 0
    assert on_x86.ram_bytes - older_cpu.ram_bytes == q4k


def test_context_beyond_training_is_capped(smollm: GGUFInfo) -> None:
    result = fit_plan.plan(smollm, machine(vram_gib=None), 100_000)
    assert result.n_ctx == 8192
    assert any("trained" in note for note in result.notes)


def test_context_is_padded_like_llama_cpp(smollm: GGUFInfo) -> None:
    assert fit_plan.plan(smollm, machine(vram_gib=None), 500).n_ctx == 512
    assert fit_plan.plan(smollm, machine(vram_gib=None), 1000).kv_bytes == 30 * 2 * 192 * 1024 * 2


# -- KV cache types and sliding windows --------------------------------------------------------------


@pytest.mark.parametrize("kv_type", ["q8_0", "q4_0", "q5_1", "bf16"])
def test_kv_types_scale_with_their_block_sizes(smollm: GGUFInfo, kv_type: str) -> None:
    f16 = fit_plan.plan(smollm, machine(vram_gib=None), 4096, "f16")
    other = fit_plan.plan(smollm, machine(vram_gib=None), 4096, kv_type)
    # 3 KV heads x 64 = 192 values per row: whole blocks of 32 for every quantised type
    assert other.kv_bytes == 30 * 2 * kv_row_bytes(192, kv_type) * 4096
    assert f16.kv_bytes == 30 * 2 * kv_row_bytes(192, "f16") * 4096
    assert other.kv_type == kv_type
    assert other.breakdown.kv.bytes_per_token * 4096 == other.kv_bytes


def test_unknown_kv_type(smollm: GGUFInfo) -> None:
    with pytest.raises(HearthError, match="KV cache type"):
        fit_plan.plan(smollm, machine(vram_gib=None), 2048, "q3_k")


def test_gemma_sliding_window_layers(gemma: GGUFInfo) -> None:
    # gemma3: window 512 from the header; every 6th layer (5, 11, 17) attends globally.
    assert fit_plan.kv_cells(gemma, 8192, swa_full=False) == (8192, 1024)  # pad256(min(8192, 512 + 512))
    assert fit_plan.kv_cells(gemma, 8192, swa_full=True) == (8192, 8192)
    row = 1 * 256 * 2  # 1 KV head x 256 values x f16, for K and again for V
    small = fit_plan.plan(gemma, machine(vram_gib=None), 8192, swa_full=False)
    assert small.kv_bytes == 3 * 2 * row * 8192 + 15 * 2 * row * 1024
    assert small.breakdown.kv.swa_layers == 15
    # What Hearth's engine does today: llama-cpp-python keeps llama.cpp's swa_full=true.
    full = fit_plan.plan(gemma, machine(vram_gib=None), 8192)
    assert full.kv_bytes == 18 * 2 * row * 8192
    assert full.ram_bytes > small.ram_bytes
    assert any("full-size cache" in note for note in full.notes)
    # Below the window the two are the same.
    assert fit_plan.plan(gemma, machine(vram_gib=None), 512, swa_full=False).kv_bytes == (
        fit_plan.plan(gemma, machine(vram_gib=None), 512).kv_bytes
    )


def test_models_without_sliding_window_ignore_swa_full(smollm: GGUFInfo) -> None:
    assert fit_plan.plan(smollm, machine(vram_gib=None), 8192, swa_full=False).kv_bytes == (
        fit_plan.plan(smollm, machine(vram_gib=None), 8192, swa_full=True).kv_bytes
    )


# -- GPU plans on described machines --------------------------------------------------------------


def test_full_offload_on_an_8_gib_gpu(gemma: GGUFInfo) -> None:
    result = fit_plan.plan(gemma, machine(ram_gib=16, vram_gib=8), 8192)
    assert result.verdict == "full_gpu"
    assert result.gpu_layers == result.n_layers == 19
    gpu, cpu = result.breakdown.gpu, result.breakdown.cpu
    embd = next(t for t in gemma.tensors if t.name == "token_embd.weight")
    others = sum(t.n_bytes for t in gemma.tensors if t.name != "token_embd.weight")
    # token_embd stays on the CPU; the tied output layer gets its own copy on the GPU.
    assert cpu.weights == embd.n_bytes
    assert gpu.weights == others + embd.n_bytes
    assert cpu.kv == 0
    assert gpu.kv == result.kv_bytes
    assert gpu.compute >= 262144 * 512 * 4  # logits for a whole batch are allocated on a GPU
    assert gpu.runtime == fit_plan.CUDA_RUNTIME_VRAM
    assert result.vram_bytes == gpu.total
    assert result.max_ctx_full_gpu == 32768


def test_partial_offload_puts_the_last_layers_on_the_gpu(smollm: GGUFInfo) -> None:
    big = fit_plan.plan(smollm, machine(vram_gib=8), 8192)
    # A GPU that holds the runtime and compute buffer but only about half of the layers' KV cache.
    small_gpu = machine(vram_gib=(big.vram_bytes - big.kv_bytes // 2 + fit_plan.VRAM_MARGIN_MIN) / GIB)
    result = fit_plan.plan(smollm, small_gpu, 8192)
    assert result.verdict == "partial_gpu"
    assert 1 <= result.gpu_layers < result.n_layers
    layers = result.breakdown.layers
    assert layers.first_gpu_block == result.n_layers - result.gpu_layers
    assert layers.output_on == "gpu"
    per_layer_kv = 2 * 192 * 8192 * 2
    assert result.breakdown.gpu.kv == (result.gpu_layers - 1) * per_layer_kv  # the output layer has none
    assert result.breakdown.cpu.kv == (31 - result.gpu_layers) * per_layer_kv
    assert result.vram_bytes <= result.breakdown.gpu.budget
    # One more layer would not have fitted.
    assert any("layers fit" in note for note in result.notes)


def test_more_vram_never_means_fewer_gpu_layers(smollm: GGUFInfo) -> None:
    full = fit_plan.plan(smollm, machine(vram_gib=8), 8192)
    fixed = full.vram_bytes - full.kv_bytes - full.breakdown.gpu.weights
    variable = full.vram_bytes - fixed
    counts = [
        fit_plan.plan(
            smollm, machine(vram_gib=(fixed + variable * share + fit_plan.VRAM_MARGIN_MIN) / GIB), 8192
        ).gpu_layers
        for share in (0.2, 0.4, 0.6, 0.8, 1.01)
    ]
    assert counts == sorted(counts)
    assert counts[-1] == 31


def test_verdict_changes_with_context(gemma: GGUFInfo) -> None:
    need_2k = fit_plan.plan(gemma, machine(vram_gib=8), 2048).vram_bytes
    hw = machine(vram_gib=(need_2k + fit_plan.VRAM_MARGIN_MIN + 16 * MIB) / GIB)
    assert fit_plan.plan(gemma, hw, 2048).verdict == "full_gpu"
    long = fit_plan.plan(gemma, hw, 32768)
    assert long.verdict == "partial_gpu"
    assert 2048 <= long.max_ctx_full_gpu < 32768
    assert fit_plan.plan(gemma, hw, long.max_ctx_full_gpu).verdict == "full_gpu"
    assert fit_plan.plan(gemma, hw, long.max_ctx_full_gpu + 256).verdict != "full_gpu"


def test_too_large_and_the_largest_context_that_fits(gemma: GGUFInfo) -> None:
    at_2k = fit_plan.plan(gemma, machine(ram_gib=64, vram_gib=None), 2048).ram_bytes
    hw = dataclasses.replace(
        machine(ram_gib=64, vram_gib=None), ram_available=at_2k + fit_plan.RAM_MARGIN_MIN + 8 * MIB, ram_total=2 * GIB
    )
    assert fit_plan.plan(gemma, hw, 2048).verdict == "cpu"
    result = fit_plan.plan(gemma, hw, 32768)
    assert result.verdict == "too_large"
    assert result.gpu_layers == 0
    assert 2048 <= result.max_ctx < 32768
    assert fit_plan.plan(gemma, hw, result.max_ctx).verdict == "cpu"
    assert fit_plan.plan(gemma, hw, result.max_ctx + 256).verdict == "too_large"
    assert "fits up to" in result.summary


def test_nothing_fits(smollm: GGUFInfo) -> None:
    hw = dataclasses.replace(machine(vram_gib=None), ram_available=600 * MIB)
    result = fit_plan.plan(smollm, hw, 2048)
    assert result.verdict == "too_large"
    assert result.max_ctx == 0
    assert result.summary == "Too large for this computer"


def test_cpu_build_on_a_machine_with_an_nvidia_gpu(smollm: GGUFInfo) -> None:
    hw = machine(vram_gib=8, backend="CPU", offload=False, notes=[CUDA_NOTE])
    result = fit_plan.plan(smollm, hw, 2048)
    assert result.verdict == "cpu"
    assert result.vram_bytes == 0
    assert CUDA_NOTE in result.notes
    assert result.breakdown.gpu is None or result.gpu_layers == 0


def test_apple_unified_memory_counts_against_ram(gemma: GGUFInfo) -> None:
    # Apple Silicon: the GPU's budget is a share of the same RAM (hardware.apple_gpu).
    hw = machine(ram_gib=8, vram_gib=8 * 2 / 3, backend="Metal", vendor="apple", unified=True)
    result = fit_plan.plan(gemma, hw, 8192)
    assert result.verdict == "full_gpu"
    assert result.breakdown.gpu.runtime == 0
    assert result.ram_bytes + result.vram_bytes <= hw.ram_available


def test_recommended_gpu_layers(smollm2_path: Path) -> None:
    assert fit_plan.recommended_gpu_layers(smollm2_path, 2048, machine(vram_gib=None)) == 0
    assert fit_plan.recommended_gpu_layers(smollm2_path, 2048, machine(vram_gib=8)) == 31


def test_result_serialises_with_the_fields_the_ui_and_cli_use(gemma: GGUFInfo) -> None:
    data = json.loads(json.dumps(fit_plan.plan(gemma, machine(vram_gib=8), 4096).to_dict()))
    for key in (
        "verdict",
        "gpu_layers",
        "n_layers",
        "ram_bytes",
        "vram_bytes",
        "weights_bytes",
        "kv_bytes",
        "compute_bytes",
        "max_ctx",
        "max_ctx_full_gpu",
        "breakdown",
        "notes",
        "summary",
    ):
        assert key in data
    assert set(data["breakdown"]) >= {"cpu", "gpu", "layers", "kv", "assumptions"}


# -- a larger model: the laptop of the user story -------------------------------------------------------


def llama_8b_q4_k_m() -> GGUFInfo:
    """The header of Llama 3.1 8B Instruct Q4_K_M as the tensor table describes it (32 blocks,
    4096 wide, 14336 FFN, 32 heads / 8 KV heads, 128256 tokens, untied output)."""
    q4k, q6k, f32 = (GGMLQuantizationType.Q4_K, GGMLQuantizationType.Q6_K, GGMLQuantizationType.F32)
    shapes: list[tuple[str, tuple[int, ...], GGMLQuantizationType]] = [("token_embd.weight", (4096, 128256), q4k)]
    for i in range(32):
        more_bits = i < 4 or i >= 28 or (i - 4) % 3 == 2  # llama.cpp's use_more_bits for attn_v/ffn_down
        shapes += [
            (f"blk.{i}.attn_norm.weight", (4096,), f32),
            (f"blk.{i}.attn_q.weight", (4096, 4096), q4k),
            (f"blk.{i}.attn_k.weight", (4096, 1024), q4k),
            (f"blk.{i}.attn_v.weight", (4096, 1024), q6k if more_bits else q4k),
            (f"blk.{i}.attn_output.weight", (4096, 4096), q4k),
            (f"blk.{i}.ffn_norm.weight", (4096,), f32),
            (f"blk.{i}.ffn_gate.weight", (4096, 14336), q4k),
            (f"blk.{i}.ffn_up.weight", (4096, 14336), q4k),
            (f"blk.{i}.ffn_down.weight", (14336, 4096), q6k if more_bits else q4k),
        ]
    shapes += [("output_norm.weight", (4096,), f32), ("output.weight", (4096, 128256), q6k)]
    tensors, offset = [], 0
    for name, shape, kind in shapes:
        block, size = GGML_QUANT_SIZES[kind]
        n = 1
        for d in shape:
            n *= d
        tensors.append(TensorInfo(name, shape, int(kind), offset, n // block * size))
        offset += (n // block * size + 31) // 32 * 32
    metadata = {
        "general.architecture": "llama",
        "general.name": "Llama 3.1 8B Instruct",
        "general.file_type": 15,
        "llama.block_count": 32,
        "llama.context_length": 131072,
        "llama.embedding_length": 4096,
        "llama.feed_forward_length": 14336,
        "llama.attention.head_count": 32,
        "llama.attention.head_count_kv": 8,
        "llama.rope.dimension_count": 128,
    }
    return GGUFInfo(3, metadata, tensors, header_bytes=8 * MIB, data_offset=8 * MIB)


def test_8b_model_on_a_16_gib_laptop_with_an_8_gib_gpu() -> None:
    info = llama_8b_q4_k_m()
    hw = machine(ram_gib=16, vram_gib=8)
    short = fit_plan.plan(info, hw, 8192)
    assert short.verdict == "full_gpu"
    gpu = short.breakdown.gpu
    # llama.cpp reports for this file: 4403 MiB of weights on the GPU, 282 MiB (token_embd) on the CPU,
    # a 1024 MiB KV cache at 8192 tokens, and a ~258 MiB compute buffer with flash attention.
    assert 4350 * MIB < gpu.weights < 4450 * MIB
    assert 275 * MIB < short.breakdown.cpu.weights < 290 * MIB
    assert gpu.kv == 1024 * MIB
    assert 250 * MIB < gpu.compute < 300 * MIB
    # At the full 128k context the KV cache alone is 16 GiB: most layers (and their cache) move to the CPU.
    huge = fit_plan.plan(info, hw, 131072)
    assert huge.kv_bytes == 16 * GIB
    assert huge.verdict == "partial_gpu"
    assert huge.gpu_layers < 12
    assert huge.breakdown.cpu.kv > huge.breakdown.gpu.kv
    assert 8192 <= short.max_ctx_full_gpu < 131072
    assert fit_plan.plan(info, hw, short.max_ctx_full_gpu + 8192).verdict == "partial_gpu"
    # The same laptop without a usable GPU: the CPU holds it up to a point, not at 128k.
    cpu_only = fit_plan.plan(info, machine(ram_gib=16, vram_gib=None), 131072)
    assert cpu_only.verdict == "too_large"
    assert 32768 <= cpu_only.max_ctx < 131072
    # Half the weights' RSS on x86 is a repacked copy; the file pages behind it are reclaimable.
    cpu_short = fit_plan.plan(info, machine(ram_gib=16, vram_gib=None), 8192).breakdown.cpu
    assert cpu_short.weights_repacked > 2 * GIB
    # (plus the alignment padding between tensors: under a kilobyte here)
    assert cpu_short.weights_repacked <= cpu_short.reclaimable < cpu_short.weights_repacked + 1024
    assert cpu_short.required == cpu_short.total - cpu_short.reclaimable
    # A quantised cache stretches the fully-on-GPU context by the block-size ratio (less the fixed parts).
    q8 = fit_plan.plan(info, hw, 8192, "q8_0")
    assert q8.kv_bytes == 32 * 2 * 8192 * (1024 // 32 * 34)
    assert q8.max_ctx_full_gpu > short.max_ctx_full_gpu

"""What this machine offers: RAM, CPU, GPUs with VRAM, and the llama.cpp backend."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import os
import platform
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

GIB = 1024**3


@dataclass(frozen=True)
class GPU:
    name: str
    vendor: str  # "nvidia" | "apple"
    vram_total: int
    vram_free: int
    unified_memory: bool = False


@dataclass(frozen=True)
class HardwareInfo:
    os: str
    machine: str
    ram_total: int
    ram_available: int
    cpu_physical_cores: int
    cpu_logical_cores: int
    cpu_features: list[str]
    backend: str  # "CPU" | "CUDA" | "Metal" | "Vulkan" | ... : what this llama.cpp build offloads to
    gpu_offload: bool
    llama_cpp_version: str
    gpus: list[GPU] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def memory() -> tuple[int, int]:
    """(total, available) RAM in bytes."""
    import psutil

    vm = psutil.virtual_memory()
    return int(vm.total), int(vm.available)


def physical_cores() -> int:
    import psutil

    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


_BACKEND_LIBS = {
    "cuda": "CUDA",
    "metal": "Metal",
    "vulkan": "Vulkan",
    "hip": "ROCm",
    "sycl": "SYCL",
    "opencl": "OpenCL",
}
_CPU_FLAGS = ("sse3", "ssse3", "avx", "avx2", "avx512f", "avx512_bf16", "avx_vnni", "f16c", "fma", "amx_int8")


def llama_backend() -> tuple[str, bool, str, list[str]]:
    """(backend, gpu_offload, llama_cpp_version, cpu_features) of the installed llama.cpp build.

    Importing llama_cpp loads its shared libraries (slow, and not wanted before the window
    is up), so unless it is already loaded the answer is read from the files it ships:
    each ggml backend is a library of its own (libggml-cuda.so, libggml-metal.dylib, ...).
    """
    if "llama_cpp" in sys.modules:
        return _llama_backend_loaded()
    try:
        version = importlib.metadata.version("llama_cpp_python")
    except importlib.metadata.PackageNotFoundError:
        return "unavailable", False, "", []
    spec = importlib.util.find_spec("llama_cpp")
    libs: list[str] = []
    for location in (spec.submodule_search_locations or []) if spec else []:
        libs += [p.name.lower() for p in Path(location).glob("lib/*ggml*")]
    backend = "CPU"
    for key, name in _BACKEND_LIBS.items():
        if any(f"ggml-{key}" in lib for lib in libs):
            backend = name
            break
    return backend, backend != "CPU", version, _cpu_features()


def _llama_backend_loaded() -> tuple[str, bool, str, list[str]]:
    import llama_cpp

    from desktop_app.core.llama_cpu_libs import load_llama_cpu_libs

    load_llama_cpu_libs()  # a CPU-variant build reports no CPU features before it
    info = llama_cpp.llama_print_system_info().decode("utf-8", errors="replace")
    offload = bool(llama_cpp.llama_supports_gpu_offload())
    backend = "CPU"
    for name in ("CUDA", "Metal", "Vulkan", "ROCm", "HIP", "SYCL", "OpenCL"):
        if re.search(rf"\b{name}\b", info, flags=re.IGNORECASE):
            backend = name
            break
    features = re.findall(r"\b([A-Z][A-Z0-9_]+) = 1\b", info)
    return backend, offload, llama_cpp.__version__, features or _cpu_features()


def _os_cpu_flags() -> set[str]:
    """The CPU's feature flags as Linux reports them (empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    return cpu_flags(text)


def cpu_flags(cpuinfo: str) -> set[str]:
    match = re.search(r"^flags\s*:\s*(.*)$", cpuinfo, flags=re.MULTILINE)
    return set(match.group(1).split()) if match else set()


def _cpu_features() -> list[str]:
    """The SIMD features llama.cpp's CPU kernels use, as the OS reports them."""
    if platform.machine() in ("arm64", "aarch64"):
        return ["NEON"]
    flags = _os_cpu_flags()
    return [f.upper() for f in _CPU_FLAGS if f in flags]


AMX_NOTE = "AMX present, not used (llama.cpp's AMX code is unreliable)"


def amx_note(flags: set[str]) -> str | None:
    """Intel AMX is compiled out of Hearth's llama.cpp (its AMX kernel segfaults on the first prompt,
    upstream llama.cpp #20824): where the CPU has it, say so rather than let the user wonder."""
    return AMX_NOTE if flags & {"amx_tile", "amx_int8", "amx_bf16"} else None


def nvidia_gpus() -> list[GPU]:
    try:
        import pynvml
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - no driver / no GPU: simply none
        return []
    gpus = []
    try:
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            name = pynvml.nvmlDeviceGetName(handle)
            mem = pynvml.nvmlDeviceGetMemoryInfo(handle)
            gpus.append(
                GPU(
                    name=name.decode() if isinstance(name, bytes) else str(name),
                    vendor="nvidia",
                    vram_total=int(mem.total),
                    vram_free=int(mem.free),
                )
            )
    finally:
        pynvml.nvmlShutdown()
    return gpus


def apple_gpu(ram_total: int) -> GPU | None:
    """Apple Silicon shares RAM with the GPU; Metal lets a process wire about 2/3 of
    it (3/4 above 36 GiB) by default, the figure llama.cpp itself is held to."""
    if platform.system() != "Darwin" or platform.machine() != "arm64":
        return None
    share = 0.75 if ram_total > 36 * GIB else 2 / 3
    budget = int(ram_total * share)
    return GPU("Apple Silicon GPU", "apple", budget, budget, unified_memory=True)


def detect() -> HardwareInfo:
    total, available = memory()
    backend, offload, version, features = llama_backend()
    gpus = nvidia_gpus()
    apple = apple_gpu(total)
    if apple:
        gpus.append(apple)
    notes = []
    amx = amx_note(_os_cpu_flags())
    if amx:
        notes.append(amx)
    if any(g.vendor == "nvidia" for g in gpus) and backend != "CUDA":
        notes.append(
            "This computer has an NVIDIA GPU, but the installed llama.cpp was built without CUDA: "
            "models run on the CPU only. Reinstall llama-cpp-python with CMAKE_ARGS=-DGGML_CUDA=on."
        )
    return HardwareInfo(
        os=f"{platform.system()} {platform.release()}",
        machine=platform.machine(),
        ram_total=total,
        ram_available=available,
        cpu_physical_cores=physical_cores(),
        cpu_logical_cores=os.cpu_count() or 1,
        cpu_features=features,
        backend=backend,
        gpu_offload=offload,
        llama_cpp_version=version,
        gpus=gpus,
        notes=notes,
    )


def summary_lines(hw: HardwareInfo) -> list[str]:
    """What this computer offers a model, in plain words (the first-run page)."""
    from desktop_app.core.units import human_bytes

    lines = [f"Memory: {human_bytes(hw.ram_total)} in all, {human_bytes(hw.ram_available)} free now"]
    usable = [g for g in hw.gpus if hw.gpu_offload]
    for gpu in usable:
        if gpu.unified_memory:
            lines.append(f"GPU: {gpu.name}, sharing up to {human_bytes(gpu.vram_total)} of the memory")
        else:
            lines.append(f"GPU: {gpu.name} with {human_bytes(gpu.vram_total)} ({human_bytes(gpu.vram_free)} free)")
    if not usable:
        lines.append("GPU: none that this llama.cpp build can use, so models run on the CPU")
    features = ", ".join(f for f in hw.cpu_features if f in ("AVX2", "AVX512F", "NEON"))
    cores = f"{hw.cpu_physical_cores} cores" + (f", {features}" if features else "")
    if hw.backend == "unavailable":
        lines.append("llama.cpp: not installed, so no model can run")
    elif hw.gpu_offload:
        lines.append(f"llama.cpp: runs on {hw.backend} and the CPU ({cores})")
    else:
        lines.append(f"llama.cpp: runs on the CPU ({cores})")
    return lines + list(hw.notes)

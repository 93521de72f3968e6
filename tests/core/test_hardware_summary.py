"""What the first-run page says about this computer (core/hardware.py summary_lines), for the machines
people have: a CPU-only laptop, an NVIDIA GPU with a CUDA build, one without, an Apple Silicon Mac."""

from __future__ import annotations

from desktop_app.core.hardware import GPU, HardwareInfo, summary_lines

GIB = 1024**3


def machine(backend: str = "CPU", gpus: list[GPU] | None = None, notes: list[str] | None = None) -> HardwareInfo:
    offload = backend != "CPU"
    return HardwareInfo(
        "Linux",
        "x86_64",
        16 * GIB,
        9 * GIB,
        4,
        8,
        ["SSE3", "AVX2"],
        backend,
        offload,
        "0.3.36",
        gpus or [],
        notes or [],
    )


def test_a_cpu_only_laptop() -> None:
    assert summary_lines(machine()) == [
        "Memory: 16.0 GB in all, 9.0 GB free now",
        "GPU: none that this llama.cpp build can use, so models run on the CPU",
        "llama.cpp: runs on the CPU (4 cores, AVX2)",
    ]


def test_a_gpu_the_build_can_use_and_one_it_cannot() -> None:
    rtx = GPU("NVIDIA GeForce RTX 4060", "nvidia", 8 * GIB, 7 * GIB)
    lines = summary_lines(machine("CUDA", [rtx]))
    assert lines[1] == "GPU: NVIDIA GeForce RTX 4060 with 8.0 GB (7.0 GB free)"
    assert lines[2] == "llama.cpp: runs on CUDA and the CPU (4 cores, AVX2)"
    note = "This computer has an NVIDIA GPU, but the installed llama.cpp was built without CUDA: ..."
    lines = summary_lines(machine("CPU", [rtx], [note]))
    assert lines[1].startswith("GPU: none that this llama.cpp build can use") and lines[-1] == note


def test_apple_silicon_shares_its_memory() -> None:
    apple = GPU("Apple Silicon GPU", "apple", 10 * GIB, 10 * GIB, unified_memory=True)
    assert summary_lines(machine("Metal", [apple]))[1] == "GPU: Apple Silicon GPU, sharing up to 10.0 GB of the memory"


def test_amx_is_named_as_present_and_not_used() -> None:
    """An AMX Xeon (flags as its /proc/cpuinfo lists them): the first-run page and `hearth hardware`
    say AMX is there but not used, since llama.cpp's AMX code is compiled out (it crashes)."""
    from desktop_app.core.hardware import AMX_NOTE, amx_note, cpu_flags

    xeon = "processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_bf16 amx_bf16 amx_tile amx_int8\nbugs\t\t:\n"
    laptop = "processor\t: 0\nflags\t\t: fpu sse avx2 fma\n"
    assert amx_note(cpu_flags(xeon)) == AMX_NOTE == "AMX present, not used (llama.cpp's AMX code is unreliable)"
    assert amx_note(cpu_flags(laptop)) is None
    assert summary_lines(machine(notes=[AMX_NOTE]))[-1] == AMX_NOTE

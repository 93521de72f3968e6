"""Is the llama.cpp in a folder fit to ship to other people's computers?

A plain ``pip install llama-cpp-python`` compiles llama.cpp with ``-march=native``: one CPU library
(``libggml-cpu.so``) full of the build machine's newest instructions, which dies with "Illegal
instruction" on a laptop without them (AVX-512, most of all). For distribution llama.cpp is built
with ``-DGGML_NATIVE=OFF -DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=ON``: one library per CPU
generation (``libggml-cpu-x64.so`` … ``libggml-cpu-sapphirerapids.so``) and ggml loads the best one
the running CPU has. This tells the two apart, and counts the wide-vector instructions in each
library (with objdump, where there is one) so that a report says what a library demands.

    python packaging/cpu_variants.py .venv/lib/python3.11/site-packages/llama_cpp/lib
"""

from __future__ import annotations

import functools
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# The variant every CPU of the architecture runs: it must be there, and must not need AVX.
BASELINE_VARIANT = {"x86_64": "x64", "aarch64": "armv8.0_1"}
CPU_LIBRARY = re.compile(r"^(?:lib)?ggml-cpu(?:-(?P<variant>[A-Za-z0-9_.]+?))?\.(?:so|dll|dylib)$")
BUILD_FLAGS = "-DGGML_NATIVE=OFF -DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=ON"
_REGISTER = {"zmm": re.compile(r"%zmm\d+|%k[1-7]\b"), "ymm": re.compile(r"%ymm\d+")}
# Intel AMX: tile configuration, loads/stores and the tile dot products. llama.cpp's AMX kernel
# segfaults on the first prompt on CPUs that have AMX (upstream llama.cpp #20824), and ggml loads
# the variant that uses it (sapphirerapids) on any such CPU: no library Hearth ships may hold it.
_AMX = re.compile(r"\s(ldtilecfg|sttilecfg|tileloadd\w*|tilestored|tilezero|tilerelease|tdp\w+)\b")
AMX_FLAGS = "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"


@dataclass
class CpuLibraries:
    single: Path | None  # libggml-cpu.so: all CPU code in one library, built for one CPU
    variants: dict[str, Path]  # variant name -> libggml-cpu-<variant>.so


def find_cpu_libraries(folder: Path) -> CpuLibraries:
    """The ggml CPU libraries in folder, under the names ggml loads (not the .so.0 copies)."""
    single: Path | None = None
    variants: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        match = CPU_LIBRARY.match(path.name)
        if not match:
            continue
        if match.group("variant"):
            variants[match.group("variant")] = path
        else:
            single = path
    return CpuLibraries(single, variants)


def machine() -> str:
    name = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(name, name)


@functools.cache
def _instruction_counts(library: Path) -> dict[str, int] | None:
    objdump = shutil.which("objdump")
    if objdump is None:
        return None
    done = subprocess.run(
        [objdump, "-d", "--no-show-raw-insn", str(library)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        return None
    counts = dict.fromkeys([*_REGISTER, "amx"], 0)
    for line in done.stdout.splitlines():
        for name, pattern in _REGISTER.items():
            if pattern.search(line):
                counts[name] += 1
        if _AMX.search(line):
            counts["amx"] += 1
    return counts


def wide_instructions(library: Path) -> dict[str, int] | None:
    """How many instructions use AVX-512 (zmm or mask registers) and AVX/AVX2 (ymm) registers;
    None when objdump is not there (Windows, macOS without binutils)."""
    counts = _instruction_counts(library)
    return None if counts is None else {name: counts[name] for name in _REGISTER}


def amx_instructions(library: Path) -> int | None:
    """How many Intel AMX instructions the library holds; None without objdump."""
    counts = _instruction_counts(library)
    return None if counts is None else counts["amx"]


def amx_problems(folder: Path) -> list[str]:
    """Every ggml CPU library in folder that holds AMX code (empty: none, or no objdump to tell)."""
    found = find_cpu_libraries(folder)
    problems = []
    for path in [p for p in (found.single, *found.variants.values()) if p is not None]:
        count = amx_instructions(path)
        if count:
            problems.append(
                f"{path.name} holds {count:,} Intel AMX instructions: llama.cpp's AMX code crashes on "
                f"processors that have AMX (llama.cpp #20824). Build with {AMX_FLAGS} in CFLAGS and "
                "CXXFLAGS, or leave the AMX variant out (packaging/make_build_env.py does)."
            )
    return problems


# ggml's CPU variants built with AMX (GGML_CPU_ALL_VARIANTS: sapphirerapids is the one).
AMX_VARIANTS = frozenset({"sapphirerapids"})


def drop_amx_variants(folder: Path) -> list[Path]:
    """Deletes the CPU variants that hold AMX code (by name, and by their instructions where objdump
    can tell), so ggml picks the next best variant on an AMX processor. Returns what was removed."""
    removed = []
    for name, path in find_cpu_libraries(folder).variants.items():
        if name in AMX_VARIANTS or amx_instructions(path):
            for copy in folder.glob(path.name + "*"):  # the .so and any versioned copies
                copy.unlink()
            removed.append(path)
    return removed


def distribution_problems(folder: Path, arch: str | None = None, system: str | None = None) -> list[str]:
    """Plain-words reasons why the llama.cpp in folder would crash on some users' CPUs (empty: fit)."""
    arch = arch or machine()
    system = system or sys.platform
    found = find_cpu_libraries(folder)
    if system == "darwin":
        # Apple's CPUs share one baseline (M1) and the Metal build keeps one CPU library; the
        # deployment target is checked separately (packaging/build.py).
        return [] if found.single or found.variants else [f"no ggml CPU library in {folder}"]
    amx = amx_problems(folder) if arch == "x86_64" else []
    if not found.variants:
        if found.single is None:
            return [f"no ggml CPU library in {folder}"]
        counts = wide_instructions(found.single)
        what = ""
        if counts and counts["zmm"]:
            what = f" It holds {counts['zmm']:,} AVX-512 instructions: most laptops have no AVX-512."
        return [
            f"llama.cpp's CPU code is a single library ({found.single.name}) built for the build machine's "
            f"CPU, and crashes with 'Illegal instruction' on older or smaller CPUs.{what} Rebuild "
            f'llama-cpp-python with CMAKE_ARGS="{BUILD_FLAGS}" (packaging/make_build_env.py does).',
            *amx,
        ]
    problems = list(amx)
    baseline = BASELINE_VARIANT.get(arch)
    if baseline and baseline not in found.variants:
        problems.append(
            f"llama.cpp's CPU variants ({', '.join(sorted(found.variants))}) lack the baseline '{baseline}' "
            "that every CPU runs."
        )
    elif baseline:
        counts = wide_instructions(found.variants[baseline])
        if counts and (counts["zmm"] or counts["ymm"]):
            problems.append(
                f"The baseline CPU library {found.variants[baseline].name} uses AVX instructions "
                f"({counts['ymm']:,} AVX, {counts['zmm']:,} AVX-512): it was built with -march=native."
            )
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: cpu_variants.py LLAMA_CPP_LIB_FOLDER\n")
        return 2
    folder = Path(argv[0])
    found = find_cpu_libraries(folder)
    for name, path in [("(single)", found.single), *found.variants.items()]:
        if path is not None:
            counts = _instruction_counts(path)
            detail = (
                f"AVX-512 {counts['zmm']:,}, AVX {counts['ymm']:,}, AMX {counts['amx']:,}" if counts else "no objdump"
            )
            sys.stdout.write(f"{name:16} {path.name:36} {detail}\n")
    problems = distribution_problems(folder)
    for problem in problems:
        sys.stdout.write(f"NOT FIT TO SHIP: {problem}\n")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The single-variant (native) CPU library detector, over the venv's real llama.cpp and over CPU
libraries compiled here with and without AVX-512."""

from __future__ import annotations

import importlib.util
import platform
import shutil
import subprocess
from pathlib import Path

import cpu_variants
import pytest

LLAMA_LIB = Path(importlib.util.find_spec("llama_cpp").submodule_search_locations[0]) / "lib"  # not imported: slow
pytestmark = pytest.mark.skipif(platform.machine() != "x86_64", reason="x86_64 CPU variants")

# A loop gcc vectorises with whatever the flags allow (ymm for AVX2, zmm for AVX-512).
KERNEL = "void axpy(float *y, const float *x, float a, int n) { for (int i = 0; i < n; i++) y[i] += a * x[i]; }\n"


def compile_cpu_library(folder: Path, name: str, *flags: str) -> Path:
    source = folder / "kernel.c"
    source.write_text(KERNEL)
    out = folder / name
    subprocess.run(["gcc", "-shared", "-fPIC", "-O3", *flags, "-o", str(out), str(source)], check=True)
    return out


def test_the_dev_venvs_native_llama_build_is_not_fit_to_ship() -> None:
    found = cpu_variants.find_cpu_libraries(LLAMA_LIB)
    if found.variants:
        pytest.skip("this venv already has a distribution build of llama.cpp")
    assert found.single is not None and found.single.name == "libggml-cpu.so"
    problems = cpu_variants.distribution_problems(LLAMA_LIB, "x86_64", "linux")
    assert len(problems) == 1
    assert "single library (libggml-cpu.so)" in problems[0]
    assert "-DGGML_CPU_ALL_VARIANTS=ON" in problems[0]
    counts = cpu_variants.wide_instructions(found.single)
    if counts and counts["zmm"]:  # built on this AVX-512 machine with -march=native
        assert f"{counts['zmm']:,} AVX-512 instructions" in problems[0]


@pytest.mark.skipif(shutil.which("gcc") is None or shutil.which("objdump") is None, reason="needs gcc and objdump")
def test_variant_layouts_compiled_here(tmp_path: Path) -> None:
    good = tmp_path / "good"
    good.mkdir()
    compile_cpu_library(good, "libggml-cpu-x64.so", "-march=x86-64")
    compile_cpu_library(good, "libggml-cpu-haswell.so", "-march=haswell")
    compile_cpu_library(good, "libggml-cpu-skylakex.so", "-march=skylake-avx512", "-mprefer-vector-width=512")
    (good / "libggml-cpu-x64.so.0").write_bytes((good / "libggml-cpu-x64.so").read_bytes())  # not a variant name
    found = cpu_variants.find_cpu_libraries(good)
    assert sorted(found.variants) == ["haswell", "skylakex", "x64"] and found.single is None
    assert cpu_variants.distribution_problems(good, "x86_64", "linux") == []
    assert cpu_variants.wide_instructions(found.variants["x64"]) == {"zmm": 0, "ymm": 0}
    assert (cpu_variants.wide_instructions(found.variants["haswell"]) or {})["ymm"] > 0
    assert (cpu_variants.wide_instructions(found.variants["skylakex"]) or {})["zmm"] > 0

    native_baseline = tmp_path / "native-baseline"
    native_baseline.mkdir()
    compile_cpu_library(native_baseline, "libggml-cpu-x64.so", "-march=skylake-avx512", "-mprefer-vector-width=512")
    compile_cpu_library(native_baseline, "libggml-cpu-haswell.so", "-march=haswell")
    [problem] = cpu_variants.distribution_problems(native_baseline, "x86_64", "linux")
    assert "libggml-cpu-x64.so uses AVX instructions" in problem

    no_baseline = tmp_path / "no-baseline"
    no_baseline.mkdir()
    compile_cpu_library(no_baseline, "libggml-cpu-haswell.so", "-march=haswell")
    [problem] = cpu_variants.distribution_problems(no_baseline, "x86_64", "linux")
    assert "lack the baseline 'x64'" in problem

    single = tmp_path / "single"
    single.mkdir()
    compile_cpu_library(single, "libggml-cpu.so", "-march=skylake-avx512", "-mprefer-vector-width=512")
    [problem] = cpu_variants.distribution_problems(single, "x86_64", "linux")
    assert "AVX-512 instructions" in problem
    # macOS keeps one CPU library (Apple's CPUs share the M1 baseline): not a problem there
    assert cpu_variants.distribution_problems(single, "aarch64", "darwin") == []


# An Intel AMX tile dot product, as llama.cpp's AMX kernel does it (compiled, never run: no CPU here
# needs to have AMX for the guard to be tested).
AMX_KERNEL = """
#include <immintrin.h>
void tile_dot(const void *a, const void *b, void *c, const void *config) {
    _tile_loadconfig(config);
    _tile_loadd(1, a, 64);
    _tile_loadd(2, b, 64);
    _tile_zero(0);
    _tile_dpbssd(0, 1, 2);
    _tile_stored(0, c, 64);
    _tile_release();
}
"""
needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None or shutil.which("objdump") is None, reason="gcc, objdump")


def compile_amx_library(folder: Path, name: str, *flags: str) -> Path:
    source = folder / "amx.c"
    source.write_text(AMX_KERNEL)
    out = folder / name
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", *flags, "-o", str(out), str(source)], check=True)
    return out


@needs_gcc
def test_the_installed_llama_cpp_holds_no_amx_code() -> None:
    """scripts/setup.sh compiles llama.cpp with AMX off on every machine (llama.cpp #20824: its AMX
    kernel segfaults on the first prompt): checked on the built libraries, so it holds here too."""
    found = cpu_variants.find_cpu_libraries(LLAMA_LIB)
    libraries = [p for p in (found.single, *found.variants.values()) if p is not None]
    assert libraries
    for library in libraries:
        assert cpu_variants.amx_instructions(library) == 0, library
    assert cpu_variants.amx_problems(LLAMA_LIB) == []


@needs_gcc
def test_a_cpu_library_with_amx_code_is_not_fit_to_ship_and_is_left_out(tmp_path: Path) -> None:
    folder = tmp_path / "variants"
    folder.mkdir()
    compile_cpu_library(folder, "libggml-cpu-x64.so", "-march=x86-64")
    compile_cpu_library(folder, "libggml-cpu-icelake.so", "-march=icelake-server")
    amx = compile_amx_library(folder, "libggml-cpu-sapphirerapids.so", "-march=sapphirerapids")
    assert (cpu_variants.amx_instructions(amx) or 0) >= 6
    assert cpu_variants.amx_instructions(folder / "libggml-cpu-icelake.so") == 0
    [problem] = cpu_variants.distribution_problems(folder, "x86_64", "linux")
    assert "libggml-cpu-sapphirerapids.so holds" in problem and "AMX" in problem and "#20824" in problem

    removed = cpu_variants.drop_amx_variants(folder)
    assert [p.name for p in removed] == ["libggml-cpu-sapphirerapids.so"]
    assert sorted(cpu_variants.find_cpu_libraries(folder).variants) == ["icelake", "x64"]
    assert cpu_variants.distribution_problems(folder, "x86_64", "linux") == []

    # A single native library: AMX is named beside the single-library problem.
    single = tmp_path / "single"
    single.mkdir()
    compile_amx_library(single, "libggml-cpu.so", "-march=sapphirerapids")
    problems = cpu_variants.distribution_problems(single, "x86_64", "linux")
    assert len(problems) == 2 and "AMX" in problems[1]


@needs_gcc
def test_the_no_amx_flags_setup_uses_remove_amx_from_a_native_build(tmp_path: Path) -> None:
    """-march=sapphirerapids turns AMX on, as -march=native does on an AMX Xeon; the flags scripts/setup.sh
    adds take it out again, whatever order the build system puts them in."""
    source = tmp_path / "amx_guarded.c"
    # The guard llama.cpp's AMX code sits behind: compiled only when the compiler has AMX on.
    source.write_text("#if defined(__AMX_INT8__)\n" + AMX_KERNEL + "#else\nint no_amx;\n#endif\n")
    on = tmp_path / "on.so"
    off = tmp_path / "off.so"
    gcc = ["gcc", "-shared", "-fPIC"]
    subprocess.run([*gcc, "-march=sapphirerapids", "-o", str(on), str(source)], check=True)
    no_amx = cpu_variants.AMX_FLAGS.split()
    subprocess.run([*gcc, *no_amx, "-march=sapphirerapids", "-o", str(off), str(source)], check=True)
    assert (cpu_variants.amx_instructions(on) or 0) > 0
    assert cpu_variants.amx_instructions(off) == 0
    setup = (Path(__file__).resolve().parents[2] / "scripts" / "setup.sh").read_text()
    assert cpu_variants.AMX_FLAGS in setup

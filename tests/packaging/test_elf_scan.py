"""The glibc / RUNPATH scanner over real ELF files: the venv's llama.cpp and libraries compiled here."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

import elf_scan
import pytest

LLAMA_LIB = Path(importlib.util.find_spec("llama_cpp").submodule_search_locations[0]) / "lib"  # not imported: slow


def compile_library(folder: Path, name: str, *flags: str) -> Path:
    source = folder / "lib.c"
    # memcpy@GLIBC_2.14 on x86_64 and a stdio call: the library needs versioned glibc symbols.
    source.write_text(
        "#include <string.h>\n#include <stdio.h>\nint f(char *d, const char *s, size_t n)"
        ' { memcpy(d, s, n); return printf("%s", d); }\n'
    )
    out = folder / name
    subprocess.run(["gcc", "-shared", "-fPIC", "-O1", *flags, "-o", str(out), str(source)], check=True)
    return out


def test_glibc_versions_match_binutils_on_the_real_llama_library() -> None:
    library = LLAMA_LIB / "libllama.so"
    info = elf_scan.read_elf(library)
    assert "libc.so.6" in info.needed
    assert info.runpath == ["$ORIGIN"]
    if shutil.which("objdump") is None:
        pytest.skip("no objdump to compare with")
    listing = subprocess.run(["objdump", "-T", str(library)], capture_output=True, text=True, check=True).stdout
    expected = max(elf_scan.parse_glibc(v) or (0,) for v in re.findall(r"GLIBC_[0-9.]+", listing))
    assert info.glibc == expected
    # every version objdump lists as needed is in the version-needs table
    assert {v for _, v in info.versions} >= set(re.findall(r"\b(GLIBC_[0-9.]+)\b", listing))


def test_floor_names_the_file_that_sets_it_and_skips_other_files(tmp_path: Path) -> None:
    compile_library(tmp_path, "libplain.so")
    shutil.copy(LLAMA_LIB / "libllama.so", tmp_path / "libllama.so")
    (tmp_path / "notes.txt").write_text("not an ELF file")
    (tmp_path / "short.so").write_bytes(b"\x7fELF\x02\x01")  # truncated
    infos = list(elf_scan.elf_files(tmp_path))
    assert sorted(i.path.name for i in infos) == ["libllama.so", "libplain.so"]
    floor, needing = elf_scan.glibc_floor(infos)
    assert floor == max(i.glibc for i in infos) >= (2, 2, 5)
    assert all(i.glibc == floor for i in infos if i.path in needing)


def test_runpaths_outside_the_bundle_are_reported(tmp_path: Path) -> None:
    compile_library(tmp_path, "libinside.so", "-Wl,-rpath,$ORIGIN/../lib")
    compile_library(tmp_path, "libbuildmachine.so", "-Wl,-rpath,/root/.pyenv/versions/3.11.7/lib")
    found = elf_scan.foreign_runpaths(elf_scan.elf_files(tmp_path))
    assert [(p.name, entry) for p, entry in found] == [("libbuildmachine.so", "/root/.pyenv/versions/3.11.7/lib")]


def test_oldest_distributions_for_a_glibc_floor() -> None:
    assert "RHEL/AlmaLinux/Rocky Linux 8" in elf_scan.oldest_distributions((2, 28))
    assert "Ubuntu 22.04" in elf_scan.oldest_distributions((2, 35))
    assert "Debian 12" in elf_scan.oldest_distributions((2, 36))
    assert "Ubuntu 22.04" not in elf_scan.oldest_distributions((2, 36))

"""What a Linux bundle's ELF files ask of the system they run on.

- the newest glibc symbol version any of them needs (``GLIBC_2.34`` and so on): the bundle
  starts on a distribution whose glibc is at least that, and nowhere older;
- RUNPATH/RPATH entries that name a folder outside the bundle (a build machine's path);
- the libraries they link by name (DT_NEEDED), e.g. to find GPL-only ones.

Reads the ELF headers itself (no binutils needed, so it works in a bare build container), and only
the few sections it needs, so a 400 MB libtorch costs a few reads.

    python packaging/elf_scan.py dist/Hearth          prints the glibc floor and what sets it
"""

from __future__ import annotations

import re
import struct
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

ELF_MAGIC = b"\x7fELF"
SHT_DYNAMIC = 6
SHT_GNU_VERNEED = 0x6FFFFFFE
DT_NULL, DT_NEEDED, DT_RPATH, DT_RUNPATH = 0, 1, 15, 29
GLIBC_VERSION = re.compile(r"^GLIBC_(\d+)\.(\d+)(?:\.(\d+))?$")


class NotElfError(Exception):
    pass


@dataclass
class ElfInfo:
    path: Path
    needed: list[str] = field(default_factory=list)
    runpath: list[str] = field(default_factory=list)  # RUNPATH and RPATH entries, as written
    # (library, version) pairs from .gnu.version_r, e.g. ("libc.so.6", "GLIBC_2.34")
    versions: list[tuple[str, str]] = field(default_factory=list)

    @property
    def glibc(self) -> tuple[int, ...]:
        """The newest GLIBC_x.y this file needs; (0,) when it needs none."""
        found = [parse_glibc(v) for _, v in self.versions]
        return max((v for v in found if v), default=(0,))


def parse_glibc(version: str) -> tuple[int, ...] | None:
    match = GLIBC_VERSION.match(version)
    return tuple(int(g) for g in match.groups() if g is not None) if match else None


def version_text(version: tuple[int, ...]) -> str:
    return ".".join(str(n) for n in version)


class _Reader:
    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        ident = handle.read(16)
        if len(ident) < 16 or ident[:4] != ELF_MAGIC:
            raise NotElfError
        self.is64 = ident[4] == 2
        self.order = "<" if ident[5] == 1 else ">"

    def unpack(self, fmt: str, offset: int) -> tuple[int, ...]:
        size = struct.calcsize(self.order + fmt)
        self.handle.seek(offset)
        data = self.handle.read(size)
        if len(data) < size:
            raise NotElfError  # truncated: not a usable ELF file
        return struct.unpack(self.order + fmt, data)

    def read(self, offset: int, size: int) -> bytes:
        self.handle.seek(offset)
        return self.handle.read(size)


def _string(table: bytes, offset: int) -> str:
    end = table.find(b"\0", offset)
    return table[offset : end if end >= 0 else len(table)].decode("utf-8", errors="replace")


def read_elf(path: Path) -> ElfInfo:
    """The dynamic-linking facts of one ELF file; raises NotElfError for anything else."""
    with path.open("rb") as handle:
        elf = _Reader(handle)
        if elf.is64:
            shoff, shentsize, shnum = elf.unpack("Q", 0x28)[0], *elf.unpack("HH", 0x3A)
            section_fmt = "IIQQQQIIQQ"
        else:
            shoff, shentsize, shnum = elf.unpack("I", 0x20)[0], *elf.unpack("HH", 0x2E)
            section_fmt = "IIIIIIIIII"
        # (type, offset, size, link, info) of each section header
        sections = []
        for index in range(shnum):
            fields = elf.unpack(section_fmt, shoff + index * shentsize)
            sections.append((fields[1], fields[4], fields[5], fields[6], fields[7]))

        def strtab(index: int) -> bytes:
            if not 0 <= index < len(sections):
                return b""
            _, offset, size, _, _ = sections[index]
            return elf.read(offset, size)

        info = ElfInfo(path)
        for kind, offset, size, link, count in sections:
            if kind == SHT_DYNAMIC:
                names = strtab(link)
                entry_fmt = "qQ" if elf.is64 else "iI"
                entry_size = struct.calcsize(entry_fmt)
                for at in range(offset, offset + size, entry_size):
                    tag, value = elf.unpack(entry_fmt, at)
                    if tag == DT_NULL:
                        break
                    if tag == DT_NEEDED:
                        info.needed.append(_string(names, value))
                    elif tag in (DT_RPATH, DT_RUNPATH):
                        info.runpath += [p for p in _string(names, value).split(":") if p]
            elif kind == SHT_GNU_VERNEED:
                names = strtab(link)
                at = offset
                for _ in range(count):  # sh_info holds the number of Verneed entries
                    _, aux_count, file_name, aux, following = elf.unpack("HHIII", at)
                    library = _string(names, file_name)
                    aux_at = at + aux
                    for _ in range(aux_count):
                        _, _, _, name, aux_next = elf.unpack("IHHII", aux_at)
                        info.versions.append((library, _string(names, name)))
                        aux_at += aux_next
                    if not following:
                        break
                    at += following
        return info


def elf_files(folder: Path) -> Iterator[ElfInfo]:
    """Every ELF file under folder (symbolic links are skipped: their target is scanned)."""
    for path in sorted(folder.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        try:
            yield read_elf(path)
        except (NotElfError, OSError):
            continue


def glibc_floor(infos: Iterable[ElfInfo]) -> tuple[tuple[int, ...], list[Path]]:
    """The newest glibc version any file needs, and the files that need exactly that one."""
    floor: tuple[int, ...] = (0,)
    needing: list[Path] = []
    for info in infos:
        version = info.glibc
        if version > floor:
            floor, needing = version, [info.path]
        elif version == floor and version != (0,):
            needing.append(info.path)
    return floor, needing


# The oldest release of common distributions with each glibc (from their package archives).
DISTRIBUTIONS: list[tuple[tuple[int, ...], str]] = [
    ((2, 28), "Debian 10, RHEL/AlmaLinux/Rocky Linux 8"),
    ((2, 31), "Ubuntu 20.04, Debian 11, openSUSE Leap 15.3, Linux Mint 20"),
    ((2, 34), "RHEL/AlmaLinux/Rocky Linux 9, Fedora 35"),
    ((2, 35), "Ubuntu 22.04, Fedora 36, Linux Mint 21"),
    ((2, 36), "Debian 12, Fedora 37"),
    ((2, 39), "Ubuntu 24.04, Fedora 40"),
]


def oldest_distributions(floor: tuple[int, ...]) -> str:
    """The oldest common distributions whose glibc is at least floor."""
    for version, names in DISTRIBUTIONS:
        if version >= floor:
            return names
    return f"distributions with glibc {version_text(floor)}"


def foreign_runpaths(infos: Iterable[ElfInfo]) -> list[tuple[Path, str]]:
    """RUNPATH/RPATH entries that do not start at the file's own folder ($ORIGIN): on a user's
    machine they name a folder of the build machine, or nothing."""
    return [
        (info.path, entry)
        for info in infos
        for entry in info.runpath
        if not (entry.startswith("$ORIGIN") or entry.startswith("${ORIGIN}"))
    ]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: elf_scan.py FOLDER\n")
        return 2
    folder = Path(argv[0])
    infos = list(elf_files(folder))
    floor, needing = glibc_floor(infos)
    sys.stdout.write(f"{len(infos)} ELF files; they need glibc {version_text(floor)} or newer, set by:\n")
    for path in needing:
        sys.stdout.write(f"  {path.relative_to(folder)}\n")
    for path, entry in foreign_runpaths(infos):
        sys.stdout.write(f"RUNPATH outside the bundle: {path.relative_to(folder)}: {entry}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

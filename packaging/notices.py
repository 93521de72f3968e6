"""THIRD-PARTY-NOTICES and LICENSES/ for a bundle, from the files the bundle actually holds.

hearth.spec hands this the list PyInstaller is about to collect: (where the file goes in the
bundle, where it comes from). Each source file is traced to what it belongs to:

- an installed distribution (through every distribution's RECORD): its name, version, licence
  (PEP 639 License-Expression, the License field or the classifiers) and licence files (from
  the .dist-info, or LICENSE/NOTICE files in the package, or a licence header in its module);
- Python itself (the standard library, lib-dynload, libpython): the PSF licence from the
  interpreter's own LICENSE.txt;
- a system library the build machine provided (Debian: dpkg; RHEL/AlmaLinux: rpm): its package,
  licence and copyright file;
- Hearth (this repository): LICENSE;
- a model folder whose README has a ``license:`` line (the bundled embedding model).

Anything it cannot trace or find a licence text for stops the build by name, and so does a
library that may not ship with an MIT program (GPL-only, e.g. libreadline). The result:

    <out>/THIRD-PARTY-NOTICES.txt   one entry per component: version, licence, where it is
    <out>/LICENSES/<component>/...  the licence texts
    <out>/inventory.json            what each bundled binary belongs to (build.py checks it
                                    against the finished bundle)
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STANDARD_TEXTS = Path(__file__).resolve().parent / "licenses"  # texts for components that ship none
# SPDX id -> file in STANDARD_TEXTS
STANDARD_IDS = {"Apache-2.0": "Apache-2.0.txt", "LGPL-3.0-only": "LGPL-3.0.txt", "GPL-3.0-only": "GPL-3.0.txt"}
LICENCE_NAMES = re.compile(r"^(LICEN[CS]E|COPYING|NOTICE|COPYRIGHT|AUTHORS|THIRDPARTYNOTICES|THIRD[-_]PARTY)", re.I)
# Libraries an MIT-licensed program may not ship (GPL without a linking exception).
FORBIDDEN = {re.compile(r"^lib(readline|history)\.so"): "GNU Readline is GPL-3.0 (drop the readline module)"}
APACHE_2 = re.compile(r"apache(?: software)?(?: license)?(?:,?(?: version)?[ -]?2(?:\.0)?(?: license)?)?", re.I)
# Licence classifiers -> SPDX, for distributions without License-Expression.
CLASSIFIERS = {
    "Apache Software License": "Apache-2.0",
    "MIT License": "MIT",
    "BSD License": "BSD",
    "Python Software Foundation License": "PSF-2.0",
    "Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "ISC License (ISCL)": "ISC",
    "The Unlicense (Unlicense)": "Unlicense",
}
# Qt for Python is offered as LGPL-3.0 OR GPL-2.0 OR GPL-3.0: Hearth uses it under LGPL-3.0,
# whose text builds on the GPL-3.0's, so both texts ship.
CHOSEN = {
    "pyside6-essentials": ("LGPL-3.0-only", ["LGPL-3.0-only", "GPL-3.0-only"]),
    "pyside6-addons": ("LGPL-3.0-only", ["LGPL-3.0-only", "GPL-3.0-only"]),
    "shiboken6": ("LGPL-3.0-only", ["LGPL-3.0-only", "GPL-3.0-only"]),
}
EXTRA_NOTES = {
    "pyside6-essentials": (
        "Qt and Qt for Python are used under the GNU LGPL version 3. The Qt libraries are the separate files "
        "in PySide6/Qt/lib (PySide6/*.dll on Windows, Frameworks on macOS) and may be replaced with "
        "compatible builds of your own. Their source code is at https://download.qt.io/official_releases/qt/ "
        "and https://code.qt.io/cgit/pyside/pyside-setup.git/ (tag v{version})."
    ),
    "pyinstaller": (
        "The program's start-up code (the executable) is PyInstaller's bootloader, under the GPL-2.0 with "
        "PyInstaller's exception that allows it in programs under any licence (see COPYING.txt)."
    ),
}


class NoticeError(Exception):
    pass


@dataclass
class Component:
    key: str  # folder name under LICENSES/
    name: str
    version: str
    licence: str
    kind: str  # "python package", "Python", "system library", "Hearth", "model", "executable"
    homepage: str = ""
    licence_files: list[Path] = field(default_factory=list)  # sources to copy
    note: str = ""
    bundled: list[str] = field(default_factory=list)  # bundle paths of its binaries
    file_count: int = 0


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# -- tracing files to what they belong to --------------------------------------------------------


@functools.cache
def installed_files() -> dict[str, importlib.metadata.Distribution]:
    """Every installed file -> its distribution, keyed by normalised path without touching the disk
    (torch alone lists 15,000 files)."""
    by_file: dict[str, importlib.metadata.Distribution] = {}
    for dist in importlib.metadata.distributions():
        for entry in dist.files or []:
            by_file[os.path.normpath(os.path.abspath(str(dist.locate_file(entry))))] = dist
    return by_file


def python_roots() -> list[Path]:
    """Folders (and files) that are Python itself. A python.org, pyenv, Windows or macOS framework
    Python is its own folder; a distribution's Python lives in /usr, among system libraries, so
    there it is the standard library's folders and libpython alone."""
    # The base interpreter's paths: in a venv, platstdlib would otherwise be the venv's own lib/.
    paths = sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_exec_prefix})
    roots = {Path(paths["stdlib"]), Path(paths["platstdlib"])}
    if Path(sys.base_prefix).resolve() not in (Path("/usr"), Path("/usr/local")):
        roots.add(Path(sys.base_prefix))
    libdir, soname = sysconfig.get_config_var("LIBDIR"), sysconfig.get_config_var("INSTSONAME")
    if libdir and soname:
        roots.add(Path(libdir) / soname)
    return sorted({root.resolve() for root in roots}, key=lambda p: -len(p.parts))


class Tracer:
    def __init__(self) -> None:
        self.by_file = installed_files()
        self.python_roots = python_roots()
        self.components: dict[str, Component] = {}
        self.unknown: list[str] = []

    def add(self, dest: str, source: str, is_binary: bool) -> None:
        component = self._component_for(Path(source))
        if component is None:
            self.unknown.append(f"{dest} (from {source})")
            return
        component.file_count += 1
        if is_binary:
            component.bundled.append(dest.replace("\\", "/"))

    def _component_for(self, source: Path) -> Component | None:
        resolved = Path(os.path.realpath(source))
        dist = self.by_file.get(os.path.normpath(os.path.abspath(source))) or self.by_file.get(str(resolved))
        if dist is not None:
            if _norm(dist.metadata["Name"]) == "hearth":
                return self._hearth()
            return self._distribution(dist)
        if resolved.is_relative_to(ROOT):
            return self._hearth()
        if any(resolved == root or resolved.is_relative_to(root) for root in self.python_roots):
            return self._python()
        return self._system(source)

    def _hearth(self) -> Component:
        if "hearth" not in self.components:
            try:
                version = importlib.metadata.version("hearth")
            except importlib.metadata.PackageNotFoundError:
                version = "0.0.0"
            self.components["hearth"] = Component(
                "hearth", "Hearth", version, "MIT", "Hearth", licence_files=[ROOT / "LICENSE"]
            )
        return self.components["hearth"]

    def _python(self) -> Component:
        if "python" not in self.components:
            candidates = [
                Path(sysconfig.get_paths()["stdlib"]) / "LICENSE.txt",
                Path(sys.base_prefix) / "LICENSE.txt",
                Path(sys.base_prefix) / "LICENSE",
            ]
            found = [p for p in candidates if p.is_file()][:1]
            if not found:
                raise NoticeError(
                    "Python's own LICENSE.txt (the PSF licence) is not in this Python installation "
                    f"({', '.join(map(str, candidates))}); build with a python.org, pyenv or distribution Python."
                )
            self.components["python"] = Component(
                "python",
                "Python",
                sys.version.split()[0],
                "PSF-2.0",
                "Python",
                "https://www.python.org/",
                licence_files=found,
                note="The Python interpreter and standard library; LICENSE.txt also lists the licences of the "
                "code Python itself includes.",
            )
        return self.components["python"]

    def _distribution(self, dist: importlib.metadata.Distribution) -> Component:
        key = _norm(dist.metadata["Name"])
        if key in self.components:
            return self.components[key]
        meta = dist.metadata
        licence, texts = CHOSEN.get(key, (distribution_licence(dist), []))
        files = distribution_licence_files(dist)
        files += [STANDARD_TEXTS / STANDARD_IDS[spdx] for spdx in texts]
        if not files and spdx_id(licence) in STANDARD_IDS:
            files = [STANDARD_TEXTS / STANDARD_IDS[spdx_id(licence)]]
        if not files:
            files = module_licence_header(dist)
        urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL") or [] if ", " in u)
        homepage = _field(meta, "Home-page") or urls.get("Homepage") or next(iter(urls.values()), "")
        note = EXTRA_NOTES.get(key, "").format(version=meta["Version"])
        component = Component(key, meta["Name"], meta["Version"], licence, "python package", homepage, files, note)
        self.components[key] = component
        return component

    def _system(self, source: Path) -> Component | None:
        package = system_package(source)
        if package is None:
            return None
        name, version, licence, files = package
        key = f"system-{name}"
        if key not in self.components:
            self.components[key] = Component(key, name, version, licence, "system library", licence_files=files)
        return self.components[key]


def spdx_id(licence: str) -> str:
    """The SPDX id for the ways metadata spells the licences we hold texts for ('Apache 2.0',
    'Apache Software License', 'Apache License, Version 2.0' -> 'Apache-2.0')."""
    return "Apache-2.0" if APACHE_2.fullmatch(licence.strip()) else licence.strip()


def _field(meta: importlib.metadata.PackageMetadata, name: str) -> str:
    values = meta.get_all(name) or []
    return str(values[0]).strip() if values else ""


def distribution_licence(dist: importlib.metadata.Distribution) -> str:
    meta = dist.metadata
    expression = _field(meta, "License-Expression")
    if expression:
        return expression
    text = _field(meta, "License")
    if text and "\n" not in text and len(text) <= 80 and text.upper() != "UNKNOWN":
        return text
    for classifier in meta.get_all("Classifier") or []:
        if classifier.startswith("License ::"):
            leaf = classifier.split("::")[-1].strip()
            return CLASSIFIERS.get(leaf, leaf)
    return ""


def distribution_licence_files(dist: importlib.metadata.Distribution) -> list[Path]:
    """Licence files the distribution installed: in its .dist-info (licenses/ at any depth), or
    LICENSE/NOTICE files at the top of its packages."""
    found = []
    for entry in dist.files or []:
        parts = Path(str(entry)).parts
        in_licenses_folder = parts[0].endswith(".dist-info") and len(parts) > 2 and parts[1] == "licenses"
        at_top = len(parts) <= 2 and LICENCE_NAMES.match(parts[-1]) and not parts[-1].endswith((".py", ".pyc", ".pyi"))
        if not (in_licenses_folder or at_top):
            continue
        path = Path(str(dist.locate_file(entry)))
        if path.is_file():
            found.append(path)
    return sorted(set(found))


def module_licence_header(dist: importlib.metadata.Distribution) -> list[Path]:
    """A distribution without licence files may carry its licence as the header of its module
    (nvidia-ml-py's pynvml.py does): the module itself is then the licence file."""
    for entry in dist.files or []:
        parts = Path(str(entry)).parts
        if parts[-1].startswith(("example", "test", "setup", "conftest")):
            continue
        if (len(parts) == 1 and parts[0].endswith(".py")) or (len(parts) == 2 and parts[1] == "__init__.py"):
            path = Path(str(dist.locate_file(entry)))
            try:
                head = path.read_text(encoding="utf-8", errors="replace")[:6000]
            except OSError:
                continue
            if "Copyright" in head and re.search(r"Redistribution and use|Permission is hereby granted", head):
                return [path]
    return []


def system_package(source: Path) -> tuple[str, str, str, list[Path]] | None:
    """(package, version, licence, copyright files) of a system file, from dpkg or rpm."""
    candidates = [str(source)]
    try:
        candidates.append(str(source.resolve()))
    except OSError:
        pass
    candidates += [c.replace("/usr/lib/", "/lib/", 1) for c in candidates if c.startswith("/usr/lib/")]
    candidates += [c.replace("/lib/", "/usr/lib/", 1) for c in candidates if c.startswith("/lib/")]
    if shutil.which("dpkg-query"):
        for candidate in dict.fromkeys(candidates):
            done = subprocess.run(["dpkg-query", "-S", candidate], capture_output=True, text=True, check=False)
            if done.returncode == 0 and ":" in done.stdout:
                package = done.stdout.split(":", 1)[0].split(",")[0].strip()
                version = subprocess.run(
                    ["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True, check=False
                ).stdout.strip()
                plain = package.split(":")[0]
                copyright_file = Path("/usr/share/doc") / plain / "copyright"
                licence = debian_licence(copyright_file)
                return plain, version, licence, [copyright_file] if copyright_file.is_file() else []
    if shutil.which("rpm"):
        for candidate in dict.fromkeys(candidates):
            done = subprocess.run(
                ["rpm", "-qf", "--queryformat", "%{NAME}\t%{VERSION}-%{RELEASE}\t%{LICENSE}\n", candidate],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode == 0 and done.stdout.count("\t") >= 2:
                name, version, licence = done.stdout.splitlines()[0].split("\t")[:3]
                listed = subprocess.run(["rpm", "-qL", name], capture_output=True, text=True, check=False).stdout
                files = [Path(line) for line in listed.splitlines() if line.startswith("/") and Path(line).is_file()]
                return name, version, licence, files
    return None


def debian_licence(copyright_file: Path) -> str:
    """The licences a Debian copyright file names (machine-readable format), e.g. 'Apache-2.0'."""
    try:
        text = copyright_file.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    names = dict.fromkeys(m.strip() for m in re.findall(r"^License:\s*(\S[^\n]*)$", text, flags=re.M))
    return (", ".join(names) + " (by file, see its copyright file)") if names else "see its copyright file"


def model_components(entries: Iterable[tuple[str, str]]) -> list[Component]:
    """Model folders in the bundle: a README.md with a YAML ``license:`` line beside config.json."""
    found = []
    for dest, source in entries:
        path = Path(source)
        if path.name != "README.md" or not (path.parent / "config.json").is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        match = re.search(r"^license:\s*(\S+)\s*$", text.split("\n---", 1)[0], flags=re.M | re.I)
        if not match:
            continue
        spdx = {"apache-2.0": "Apache-2.0", "mit": "MIT"}.get(match.group(1).lower(), match.group(1))
        name_match = re.search(r"^#\s+(\S+)", text, flags=re.M)
        name = name_match.group(1) if name_match else path.parent.name
        folder = str(Path(dest).parent).replace("\\", "/")
        files = [STANDARD_TEXTS / STANDARD_IDS[spdx]] if spdx in STANDARD_IDS else []
        found.append(
            Component(
                f"model-{re.sub(r'[^A-Za-z0-9.-]+', '-', name).strip('-').lower()}",
                name,
                "",
                spdx,
                "model",
                licence_files=files,
                note=f"Model weights in {folder}; its model card is {dest}.",
            )
        )
    return found


# -- writing and checking --------------------------------------------------------------------------


def collect(entries: Iterable[tuple[str, str, str]], extra_sources: Iterable[str] = ()) -> list[Component]:
    """Components of (dest, source, typecode) entries as PyInstaller lists them (PYMODULE,
    EXTENSION, BINARY, DATA...). extra_sources: files in the bundle outside those lists (the
    bootloader). Raises NoticeError naming what it cannot account for."""
    entries = list(entries)
    tracer = Tracer()
    for dest, source, typecode in entries:
        if source and typecode not in {"SYMLINK", "DEPENDENCY", "OPTION"}:
            tracer.add(dest, source, typecode in {"BINARY", "EXTENSION"})
    for source in extra_sources:
        tracer.add(Path(source).name, source, False)
    problems = [f"no known origin: {item}" for item in tracer.unknown]
    components = list(tracer.components.values()) + model_components((d, s) for d, s, _ in entries)
    for component in components:
        if not component.licence:
            problems.append(f"{component.name} {component.version}: no licence in its metadata")
        if not component.licence_files:
            problems.append(f"{component.name} {component.version} ({component.licence}): no licence text found")
        for path in component.licence_files:
            if not path.is_file():
                problems.append(f"{component.name}: licence file {path} is missing")
        for dest in component.bundled:
            for pattern, why in FORBIDDEN.items():
                if pattern.match(dest.rsplit("/", 1)[-1]):
                    problems.append(f"{dest}: {why}")
    if problems:
        raise NoticeError("Third-party notices cannot be written:\n  " + "\n  ".join(problems))
    order = {"Hearth": 0, "executable": 1, "Python": 2, "python package": 3, "model": 4, "system library": 5}
    return sorted(components, key=lambda c: (order.get(c.kind, 9), c.name.lower()))


def write(components: list[Component], out: Path) -> None:
    """THIRD-PARTY-NOTICES.txt, LICENSES/ and inventory.json into out."""
    licences = out / "LICENSES"
    shutil.rmtree(licences, ignore_errors=True)
    lines = [
        "Hearth — third-party notices",
        "",
        "Hearth is MIT-licensed (LICENSES/hearth/LICENSE). This copy of Hearth also contains the",
        "components below, each under its own licence; their licence texts are in LICENSES/<name>/.",
        "This file is generated from the files the bundle holds (packaging/notices.py).",
        "",
    ]
    inventory = []
    for component in components:
        folder = licences / component.key
        folder.mkdir(parents=True, exist_ok=True)
        copied = []
        for source in component.licence_files:
            target = folder / _unique_name(folder, source)
            shutil.copyfile(source, target)
            copied.append(target.relative_to(out).as_posix())
        version = f" {component.version}" if component.version else ""
        lines.append(f"{component.name}{version} — {component.licence} ({component.kind})")
        if component.homepage:
            lines.append(f"  {component.homepage}")
        if component.note:
            lines.append(f"  {component.note}")
        shown = ", ".join(copied) if len(copied) <= 4 else f"LICENSES/{component.key}/ ({len(copied)} files)"
        lines.append(f"  Licence texts: {shown}")
        lines.append("")
        inventory.append(
            {
                "key": component.key,
                "name": component.name,
                "version": component.version,
                "licence": component.licence,
                "kind": component.kind,
                "licence_files": copied,
                "binaries": sorted(component.bundled),
            }
        )
    (out / "THIRD-PARTY-NOTICES.txt").write_text("\n".join(lines), encoding="utf-8")
    (out / "inventory.json").write_text(json.dumps(inventory, indent=1) + "\n", encoding="utf-8")


def _unique_name(folder: Path, source: Path) -> str:
    """torch has dozens of files all called LICENSE: keep the folders they came from in the name."""
    parts = source.parts
    if "licenses" in parts:
        tail = parts[len(parts) - 1 - parts[::-1].index("licenses") + 1 :]
        name = "__".join(tail)
    else:
        name = source.name
    if not (folder / name).exists():
        return name
    return f"{source.parent.name}__{name}"


BINARY_SUFFIXES = (".so", ".dll", ".dylib", ".pyd")


def check_bundle(licences_dir: Path, contents: Path) -> list[str]:
    """What the finished bundle holds that its notices do not account for: every shared library in
    contents must be listed in inventory.json, and every listed licence file must be there."""
    inventory_file = licences_dir / "inventory.json"
    if not inventory_file.is_file() or not (licences_dir / "THIRD-PARTY-NOTICES.txt").is_file():
        return [f"no THIRD-PARTY-NOTICES.txt / inventory.json in {licences_dir}"]
    inventory = json.loads(inventory_file.read_text(encoding="utf-8"))
    listed = {path for item in inventory for path in item["binaries"]}
    problems = []
    for item in inventory:
        for relative in item["licence_files"]:
            if not (licences_dir / relative).is_file():
                problems.append(f"{item['name']}: {relative} is missing")
    for path in sorted(contents.rglob("*")):
        name = path.name
        if path.is_symlink() or not path.is_file():
            continue
        if not (name.endswith(BINARY_SUFFIXES) or ".so." in name):
            continue
        relative = path.relative_to(contents).as_posix()
        if relative not in listed:
            problems.append(f"{relative} is in the bundle but not in its notices")
        for pattern, why in FORBIDDEN.items():
            if pattern.match(name):
                problems.append(f"{relative}: {why}")
    return problems

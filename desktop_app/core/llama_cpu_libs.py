"""Loads llama.cpp's CPU code when it ships as one library per CPU generation.

The installers build llama.cpp with ``GGML_BACKEND_DL`` and ``GGML_CPU_ALL_VARIANTS``: its CPU
code is then ``libggml-cpu-<variant>`` files (x64, sse42, haswell, skylakex, ...) and ggml picks
the best one the running CPU supports, so one bundle runs on laptops without AVX-512. ggml looks
for them next to the *executable* and in the current folder, which is neither the venv's
``python`` nor the app's folder for ``llama_cpp/lib``: this points it at ``llama_cpp/lib``.
A build with the CPU code linked in (the usual pip install) already has its backend: a no-op.
"""

from __future__ import annotations

import ctypes
import os
import threading
from pathlib import Path

_LOCK = threading.Lock()


def load_llama_cpu_libs() -> None:
    """Call before the first llama.cpp function that needs a backend (model load, system info)."""
    import llama_cpp.llama_cpp as capi

    with _LOCK:
        ggml = _ggml_of(capi._lib)
        ggml.ggml_backend_reg_count.restype = ctypes.c_size_t
        ggml.ggml_backend_reg_count.argtypes = []
        if ggml.ggml_backend_reg_count() > 0:
            return
        ggml.ggml_backend_load_all_from_path.restype = None
        ggml.ggml_backend_load_all_from_path.argtypes = [ctypes.c_char_p]
        ggml.ggml_backend_load_all_from_path(os.fsencode(Path(capi.__file__).parent / "lib"))


def _ggml_of(libllama: ctypes.CDLL) -> ctypes.CDLL:
    """The ggml that libllama itself uses. llama_cpp._ggml opens ``libggml.so`` while libllama links
    ``libggml.so.0``: two files in a pip install, hence two registries, so ask libllama's handle
    (dlsym searches its dependencies). Windows' GetProcAddress does not, but there ggml.dll has one
    name and is loaded once."""
    try:
        libllama.ggml_backend_reg_count  # noqa: B018 - resolves the symbol or raises
        return libllama
    except AttributeError:
        from llama_cpp._ggml import libggml

        return libggml

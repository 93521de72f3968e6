"""A flag llama.cpp can poll from native code, so Stop interrupts prompt processing for free.

llama.cpp calls its abort callback before every node of the compute graph. A Python
callback there costs a trip through ctypes and the GIL per node, which slowed prompt
processing by 10-15% (benchmarks/bench_chat.py). Instead the callback is the C
library's ``strlen`` and its argument a two-byte buffer: it returns 0 (keep going) while
the buffer is empty and 1 (abort) once its first byte is set. ``strlen`` returns a
size_t, and llama.cpp reads the low byte of the return register as its bool on every
common ABI (x86-64 SysV and Windows, arm64): exactly 0 or 1 here. Where no C library
can be found, a Python callback does the same job, slower.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import sys
from typing import Any

log = logging.getLogger(__name__)


@functools.cache
def _native_strlen() -> int | None:
    try:
        libc = ctypes.cdll.msvcrt if sys.platform == "win32" else ctypes.CDLL(ctypes.util.find_library("c"))
        return ctypes.cast(libc.strlen, ctypes.c_void_p).value
    except (OSError, AttributeError, TypeError):
        log.info("No C library strlen: Stop during prompt processing uses a Python callback")
        return None


class AbortFlag:
    """``callback`` and ``data`` for llama_set_abort_callback; ``set()`` from any thread."""

    def __init__(self, callback_type: Any) -> None:
        self._buffer = ctypes.create_string_buffer(2)  # b"\0\0": strlen 0
        address = _native_strlen()
        if address is not None:
            self.callback = callback_type(address)
        else:
            self.callback = callback_type(lambda _data: self.is_set)
        self.data = ctypes.cast(self._buffer, ctypes.c_void_p)

    def set(self) -> None:
        self._buffer[0] = b"x"

    @property
    def is_set(self) -> bool:
        return self._buffer[0] != b"\0"

"""This process's memory: resident now, its peak, and its VRAM on NVIDIA GPUs."""

from __future__ import annotations

import contextlib
import os
import sys


def rss_bytes() -> int:
    """Resident memory now."""
    import psutil

    return int(psutil.Process().memory_info().rss)


def peak_rss_bytes(sampled: int = 0) -> int:
    """The most resident memory this process has held (at least ``sampled``).

    Linux: VmHWM, the high-water mark of this process image. Not ru_maxrss: it survives
    exec, so a child started from a large process (pytest with torch loaded, the GUI)
    would report its parent's peak. Windows: the peak working set. Elsewhere (macOS):
    ru_maxrss, which there is reset by exec.
    """
    peak = max(sampled, rss_bytes())
    if sys.platform.startswith("linux"):
        try:
            with open("/proc/self/status", encoding="ascii") as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        return max(peak, int(line.split()[1]) * 1024)
        except OSError:
            return peak
    elif sys.platform == "win32":
        import psutil

        return max(peak, int(getattr(psutil.Process().memory_info(), "peak_wset", 0)))
    else:
        import resource

        return max(peak, int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))  # bytes on macOS
    return peak


def process_vram_bytes(pid: int | None = None) -> int | None:
    """GPU memory held by ``pid`` (default: this process) on NVIDIA GPUs; None when unknown."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - no driver, no GPU
        return None
    pid = pid or os.getpid()
    used, found = 0, False
    try:
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            for proc in pynvml.nvmlDeviceGetComputeRunningProcesses(handle):
                if proc.pid == pid and proc.usedGpuMemory is not None:
                    used += int(proc.usedGpuMemory)
                    found = True
    except Exception:  # noqa: BLE001 - per-process accounting is not available everywhere
        return None
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()
    return used if found else None

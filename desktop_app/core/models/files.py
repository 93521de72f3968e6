"""Model files on disk: split-file names, safe relative names, sidecars, the HF cache, disk space.

Shared by the library (what is here) and downloads (what arrives), so neither imports the other.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path, PurePosixPath
from typing import Any

from desktop_app.core.atomic_files import write_json_atomically
from desktop_app.core.errors import HearthError
from desktop_app.core.units import human_bytes

SIDECAR_SUFFIX = ".hearth.json"
DISK_HEADROOM = 16 << 20  # left free on top of the file, for the OS and the sidecar
# `name-00001-of-00003.gguf`: one part of a split model.
SPLIT_RE = re.compile(r"^(?P<stem>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.gguf$", re.IGNORECASE)


_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))}


def unsafe_reason(name: str) -> str:
    """Why a file name from the Hub is not safe as a relative path, or "" when it is.

    Safe means: forward-slash separated parts (the repository's own folders), none of
    them empty, ``.`` or ``..``, no backslash, no absolute path or drive letter, no
    control characters, nothing Windows would treat specially.
    """
    if not name:
        return "the name is empty"
    if any(ord(c) < 32 or c == "\x7f" for c in name):
        return "the name contains control characters"
    if "\\" in name:
        return "the name contains a backslash"
    if name.startswith("/") or name.startswith("~"):
        return "the name is an absolute path"
    if re.match(r"^[A-Za-z]:", name):
        return "the name starts with a drive letter"
    if len(name) > 1024:
        return "the name is too long"
    for part in name.split("/"):
        if part in ("", ".", ".."):
            return "the name climbs out of its folder (“..”) or has an empty part"
        if ":" in part:
            return "the name contains a colon"
        if part != part.strip() or part.endswith("."):
            return "a part of the name ends with a space or a dot"
        if part.split(".")[0].upper() in _WINDOWS_RESERVED:
            return "the name is reserved on Windows"
        if len(part.encode("utf-8")) > 255:
            return "a part of the name is too long"
    return ""


def safe_relative_path(name: str) -> PurePosixPath:
    """``name`` as a relative path; HearthError when it is not safe."""
    reason = unsafe_reason(name)
    if reason:
        raise HearthError(f"Refused to download “{name}”: {reason}.", "The repository's file names are not safe.")
    return PurePosixPath(name)


def hf_cache_dir() -> Path:
    """The shared Hugging Face cache (``HF_HUB_CACHE``, else ``HF_HOME/hub``, else the default)."""
    from huggingface_hub import constants

    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    return Path(constants.HF_HUB_CACHE)


def check_disk_space(directory: Path, needed: int, name: str) -> None:
    """HearthError when ``needed`` bytes (plus a little headroom) will not fit in ``directory``."""
    probe = directory
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if needed + DISK_HEADROOM > free:
        raise HearthError(
            f"Not enough free disk space for “{name}”: it needs {human_bytes(needed)} and only "
            f"{human_bytes(free)} are free in {probe}.",
            "Free some space (or delete models you no longer use), then resume the download.",
        )


def sidecar_path(model_path: Path) -> Path:
    return model_path.with_name(model_path.name + SIDECAR_SUFFIX)


def read_sidecar(model_path: Path) -> dict[str, Any] | None:
    """Where a downloaded or imported file came from (``None`` when unrecorded)."""
    try:
        data = json.loads(sidecar_path(model_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_sidecar(model_path: Path, data: dict[str, Any]) -> None:
    write_json_atomically(sidecar_path(model_path), data)


def split_parts(path: Path) -> list[Path]:
    """Every part of a split model given any part (in order), or ``[path]``."""
    match = SPLIT_RE.match(path.name)
    if not match:
        return [path]
    stem, count = match.group("stem"), int(match.group("count"))
    return [path.with_name(f"{stem}-{i:05d}-of-{count:05d}.gguf") for i in range(1, count + 1)]

"""Settings files read tolerantly: the JSON object in a file, and a settings dataclass filled from it.

A missing, unreadable or malformed file gives the defaults, unknown keys are ignored, and a value
of the wrong type keeps its default (logged), so an older or newer file never stops the app from
starting. Files are written with :func:`desktop_app.core.atomic_files.write_json_atomically`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


def read_object(path: Path, what: str) -> dict[str, Any]:
    """The JSON object in ``path``: empty when the file is missing, and (logged, naming ``what``)
    when it cannot be read, is not JSON or holds something other than an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("%s %s unreadable (%s); using defaults", what, path, exc)
        return {}
    return data if isinstance(data, dict) else {}


def fill(kind: type[T], data: Any, what: str = "setting", exact_bools: bool = False) -> T:
    """``kind()`` with each known key of ``data`` converted to its default's type; a value that
    does not convert keeps the default. ``exact_bools``: a switch takes only true or false (else
    anything truthy counts, as ``bool()`` says)."""
    obj = kind()
    if not isinstance(data, dict):
        return obj
    for f in fields(kind):  # type: ignore[arg-type]
        if f.name not in data:
            continue
        default = getattr(obj, f.name)
        value = data[f.name]
        try:
            if exact_bools and isinstance(default, bool) and not isinstance(value, bool):
                raise TypeError
            setattr(obj, f.name, type(default)(value))
        except (TypeError, ValueError):
            log.warning("Ignoring bad %s %s=%r", what, f.name, value)
    return obj
